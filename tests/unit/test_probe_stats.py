"""Ping statistics on recorded per-packet RTTs (ms; None = lost)."""

from __future__ import annotations

import math

import pytest

from netprobe.probes.icmp.stats import jitter, percentile, ping_fields

RECORDED = [10.2, None, 11.0, 30.5, 10.8, None, 10.4, 10.6, 10.5, 12.0]  # a commune line at 20% loss


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_jitter_is_mean_abs_difference_of_consecutive_replies() -> None:
    assert jitter([10.0, 12.0, 11.0, 15.0]) == pytest.approx((2 + 1 + 4) / 3)
    assert jitter([5.0]) is None
    # lost packets are skipped: the replies either side of a loss are consecutive replies
    got = [r for r in RECORDED if r is not None]
    assert ping_fields(RECORDED)["jitter_ms"] == pytest.approx(jitter(got))


def test_ping_fields_on_recorded_burst() -> None:
    f = ping_fields(RECORDED)
    got = [r for r in RECORDED if r is not None]
    assert f["packets_transmitted"] == 10
    assert f["packets_received"] == 8
    assert f["percent_packet_loss"] == 20.0
    assert f["minimum_response_ms"] == 10.2 and f["maximum_response_ms"] == 30.5
    assert f["average_response_ms"] == pytest.approx(sum(got) / 8)
    mean = sum(got) / 8
    assert f["standard_deviation_ms"] == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in got) / 8))
    assert f["median_response_ms"] == pytest.approx((10.6 + 10.8) / 2)
    assert f["p95_response_ms"] == pytest.approx(percentile(sorted(got), 95))
    assert f["p95_response_ms"] > 20  # the 30.5 ms outlier shows in p95, not in the median


def test_all_lost_has_only_counts() -> None:
    f = ping_fields([None, None, None])
    assert f == {"packets_transmitted": 3, "packets_received": 0, "percent_packet_loss": 100.0}


def test_refused_sends_count_as_transmitted_and_lost() -> None:
    # EPERM from a firewall: the packet was attempted, never carried: it is loss, not "not sent"
    f = ping_fields([1.0, None, 1.0, None], transmitted=4)
    assert f["percent_packet_loss"] == 50.0
