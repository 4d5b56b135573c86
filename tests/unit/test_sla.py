"""SLA arithmetic on constructed series with known outages (exact answers are computed by hand)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta, timezone

import pytest

from netprobe.report.sla import (
    Burst,
    LineInfo,
    build_report,
    burst_from_point,
    line_sla,
    month_bounds,
    outages,
    percentile,
    steps,
    timeline,
)
from netprobe.storage.point import Point

ICT = timezone(timedelta(hours=7))  # Vietnam: UTC+7, no DST
DAY = 86400.0


def series(
    start: float, end: float, every: float = 30.0, down: list[tuple[float, float]] | None = None, agent: str = "dc1"
) -> list[Burst]:
    """A burst every `every` s in [start, end); down (no reply) inside the given [a, b) windows."""
    out = []
    t = start
    while t < end:
        is_down = any(a <= t < b for a, b in down or [])
        out.append(Burst(t, agent, not is_down, 100.0 if is_down else 0.0, None if is_down else 5.0))
        t += every
    return out


def test_one_outage_inside_a_day() -> None:
    bursts = series(0, DAY, down=[(3600, 4200)])
    sla = line_sla("l1", "VNPT", bursts, 0, DAY, steps_h(0, DAY), [(0, DAY)])
    assert [(o.start_s, o.end_s) for o in sla.outages] == [(3600, 4200)]
    assert sla.outages[0].duration_s == 600
    assert not sla.outages[0].began_before and not sla.outages[0].ongoing
    assert sla.down_s == 600
    # the last burst (DAY-30) holds until the period's end: fully covered
    assert sla.up_s + sla.down_s == DAY
    assert sla.availability_pct == pytest.approx(100 * (1 - 600 / DAY))
    assert sla.unstable_hours == 1  # 01:00-02:00 only (the outage is 01:00-01:10)
    assert sla.mean_loss_pct == 0.0  # outage bursts are down time, not loss
    assert sla.p95_rtt_ms == 5.0


def test_outage_is_exact_to_one_interval_whatever_the_phase() -> None:
    """True outage [1000, 1700) with bursts at a 7 s phase: reported length within one interval."""
    bursts = series(7, 5000, every=30, down=[(1000, 1700)])
    sla = line_sla("l1", "VNPT", bursts, 0, 5000, [], [])
    (o,) = sla.outages
    assert abs(o.start_s - 1000) < 30 and abs(o.end_s - 1700) < 30
    assert abs(o.duration_s - 700) < 30


def steps_h(a: float, b: float) -> list[tuple[float, float]]:
    return [(t, min(t + 3600, b)) for t in range(int(a), int(b), 3600)]


def test_gap_without_data_is_not_up() -> None:
    # bursts stop at 10 000 s and resume at 13 600 s: one hour without any measurement
    bursts = series(0, 10_000) + series(13_600, 20_000)
    sla = line_sla("l1", "VNPT", bursts, 0, 20_000, [], [])
    last_before_gap = max(b.time_s for b in bursts if b.time_s < 10_000)
    nodata = 13_600 - (last_before_gap + 2.5 * 30)  # a burst holds 2.5 intervals at most
    assert sla.up_s == pytest.approx(20_000 - nodata)
    assert sla.down_s == 0
    assert sla.availability_pct == 100.0
    assert sla.coverage_pct == pytest.approx(100 * (20_000 - nodata) / 20_000)
    assert sla.outages == []


def test_gap_only_data_means_no_availability() -> None:
    sla = line_sla("l1", "VNPT", [], 0, 3600, [], [])
    assert sla.availability_pct is None and sla.coverage_pct == 0 and sla.outages == []


def test_outage_spanning_the_start_of_the_month() -> None:
    start, end = (t.timestamp() for t in month_bounds("2026-10", ICT))
    # down from 20 min before the month until 10 min into it
    bursts = series(start - 3600, start + 7200, down=[(start - 1200, start + 600)])
    sla = line_sla("l1", "VNPT", bursts, start, end, [], [])
    (o,) = sla.outages
    assert o.began_before and not o.ongoing
    assert (o.start_s, o.end_s) == (start, start + 600)
    assert sla.down_s == 600


def test_outage_spanning_the_end_of_the_month() -> None:
    start, end = (t.timestamp() for t in month_bounds("2026-10", ICT))
    bursts = series(end - 7200, end + 3600, down=[(end - 300, end + 900)])
    sla = line_sla("l1", "VNPT", bursts, start, end, [], [])
    (o,) = sla.outages
    assert o.ongoing and not o.began_before
    assert (o.start_s, o.end_s) == (end - 300, end)
    assert sla.down_s == 300


def test_data_ending_while_down_is_an_ongoing_outage() -> None:
    bursts = series(0, 3600, down=[(3000, 9999)])
    sla = line_sla("l1", "VNPT", bursts, 0, 7200, [], [])
    (o,) = sla.outages
    assert o.start_s == 3000 and o.ongoing


def test_month_bounds_in_province_time() -> None:
    start, end = month_bounds("2026-12", ICT)
    assert start.isoformat() == "2026-12-01T00:00:00+07:00"
    assert end.isoformat() == "2027-01-01T00:00:00+07:00"
    assert (end - start).days == 31
    for bad in ("2026-13x", "26-01", "2026/01", ""):
        with pytest.raises(ValueError):
            month_bounds(bad, ICT)


def test_second_vantage_point_keeps_the_line_up() -> None:
    """dc1's own uplink fails for 10 min; dc2 still reaches the line: no outage of the line."""
    dc1 = series(0, 7200, down=[(1800, 2400)], agent="dc1")
    dc2 = series(5, 7200, agent="dc2")
    sla = line_sla("l1", "VNPT", dc1 + dc2, 0, 7200, [], [])
    assert sla.outages == [] and sla.down_s == 0
    both = series(0, 7200, down=[(1800, 2400)], agent="dc1") + series(5, 7200, down=[(1800, 2400)], agent="dc2")
    (o,) = line_sla("l1", "VNPT", both, 0, 7200, [], []).outages
    # down once both see it down (dc2's first failure at 1805), up at the first reply from either (2400)
    assert (o.start_s, o.end_s) == (1805, 2400)


def test_lossy_hours_are_unstable_and_mean_loss_counts_them() -> None:
    bursts = [Burst(t, "dc1", True, 20.0 if 3600 <= t < 7200 else 0.0, 5.0) for t in range(0, 3 * 3600, 30)]
    sla = line_sla("l1", "VNPT", bursts, 0, 3 * 3600, steps_h(0, 3 * 3600), [], degraded_loss_pct=2.0)
    assert sla.unstable_hours == 1
    assert sla.mean_loss_pct == pytest.approx(20.0 / 3)
    assert sla.outages == []


def test_timeline_merges_adjacent_segments() -> None:
    segs = timeline(series(0, 300))
    assert (
        len(segs) == 1 and segs[0].state == "up" and (segs[0].start_s, segs[0].end_s) == (0, 270 + 2.5 * 30)
    )  # the last burst holds 2.5 intervals


def test_outages_of_separate_down_runs() -> None:
    segs = timeline(series(0, 3600, down=[(600, 900), (1800, 1830)]))
    assert [(o.start_s, o.end_s) for o in outages(segs, 0, 3600)] == [(600, 900), (1800, 1830)]


def test_percentile() -> None:
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)


def _point(t: float, received: int, status: str = "ok", agent: str = "dc1") -> Point:
    return Point(
        "ping",
        {"line": "l1", "kind": "ce", "agent": agent},
        {
            "packets_transmitted": 10,
            "packets_received": received,
            "percent_packet_loss": 100.0 * (10 - received) / 10,
            "median_response_ms": 4.0,
            "status": status,
        },
        int(t * 1e9),
    )


def test_agent_errors_are_no_data() -> None:
    assert burst_from_point(_point(0, 0, "error")) is None
    assert burst_from_point(_point(0, 0, "not_allowed")) is None
    b = burst_from_point(_point(0, 0, "timeout"))
    assert b is not None and not b.up and b.loss_pct == 100.0 and b.rtt_ms is None
    b = burst_from_point(_point(0, 8))
    assert b is not None and b.up and b.loss_pct == 20.0 and b.rtt_ms == 4.0


class ListSource:
    """A PointSource over a list (the real stores are exercised in the integration tests)."""

    def __init__(self, points: list[Point]) -> None:
        self.points = points

    def read(
        self, measurement: str, since_ns: int, until_ns: int, tags: Mapping[str, str] | None = None
    ) -> Iterator[Point]:
        for p in sorted(self.points, key=lambda p: p.time_ns):
            in_range = p.measurement == measurement and since_ns <= p.time_ns < until_ns
            if in_range and all(p.tags.get(k) == v for k, v in (tags or {}).items()):
                yield p


def test_build_report_per_line_and_provider() -> None:
    start, end = (t.timestamp() for t in month_bounds("2026-10", ICT))
    pts = [_point(t, 0 if start + 600 <= t < start + 1200 else 10) for t in range(int(start), int(start) + 7200, 30)]
    pts.append(_point(start + 5, 10, agent="dc2"))  # a lone burst of another agent early on
    report = build_report(
        ListSource(pts),
        [LineInfo("l1", "VNPT", "kinh-bac", "Phường Kinh Bắc", "BN-0123"), LineInfo("l2", "Viettel")],
        "2026-10",
        ICT,
        now_s=end + 10,
        provider=None,
    )
    l1 = report.lines[0]
    assert [(o.start_s - start, o.duration_s) for o in l1.outages] == [(600, 600)]
    assert l1.commune_name == "Phường Kinh Bắc" and l1.circuit_id == "BN-0123"
    assert report.lines[1].availability_pct is None  # no data at all for l2
    assert [p.provider for p in report.providers] == ["VNPT", "Viettel"]
    vnpt = report.providers[0]
    assert vnpt.availability_pct == pytest.approx(l1.availability_pct)
    daily = vnpt.daily_availability()
    assert len(daily) == 31 and daily[0] is not None and daily[1] is None
    only = build_report(
        ListSource(pts),
        [LineInfo("l1", "VNPT"), LineInfo("l2", "Viettel")],
        "2026-10",
        ICT,
        now_s=end,
        provider="viettel",
    )
    assert [x.line for x in only.lines] == ["l2"]


def test_running_month_ends_now() -> None:
    start, _ = (t.timestamp() for t in month_bounds("2026-10", ICT))
    pts = [_point(t, 10) for t in range(int(start), int(start) + 7200, 30)]
    report = build_report(ListSource(pts), [LineInfo("l1", "VNPT")], "2026-10", ICT, now_s=start + 3600)
    assert report.end_s == start + 3600
    assert report.lines[0].up_s == pytest.approx(3600)
    assert report.lines[0].availability_pct == 100.0


def test_steps_cover_the_period() -> None:
    start, end = month_bounds("2026-02", ICT)
    days = steps(start, end, timedelta(days=1))
    assert len(days) == 28 and days[0][0] == start.timestamp() and days[-1][1] == end.timestamp()


def _uptime(t: float, uptime_s: float, device: str = "rt1") -> Point:
    return Point("snmp_sys", {"device": device, "kind": "device"}, {"uptime_s": uptime_s, "status": "ok"}, int(t * 1e9))


def test_an_outage_the_commune_routers_boot_ended_is_not_the_providers() -> None:
    """Router off 10 min (power at the commune office), back at +1200 s: its sysUpTime restarts there."""
    start = month_bounds("2026-10", ICT)[0].timestamp()
    pts = [_point(t, 0 if start + 600 <= t < start + 1200 else 10) for t in range(int(start), int(start) + 7200, 30)]
    polls = [start + 300.0, start + 1260.0, start + 1560.0]
    boot = start + 1190.0
    pts += [_uptime(polls[0], 86_400.0)] + [_uptime(t, t - boot) for t in polls[1:]]
    info = LineInfo("l1", "VNPT", router="rt1")
    report = build_report(ListSource(pts), [info], "2026-10", ICT, now_s=start + 7200)
    (l1,) = report.lines
    assert l1.outages == [] and [(o.start_s - start, o.duration_s) for o in l1.local_outages] == [(600, 600)]
    assert l1.down_s == 0 and l1.availability_pct == 100.0 and l1.local_down_s == 600
    assert report.providers[0].outages == 0 and report.providers[0].availability_pct == 100.0
    assert l1.coverage_pct == pytest.approx(100.0)
    # no boot at the outage (the router was up all along): the provider's outage, as before
    steady = [p for p in pts if p.measurement == "ping"] + [_uptime(t, 86_400.0 + t - start) for t in polls]
    (l1,) = build_report(ListSource(steady), [info], "2026-10", ICT, now_s=start + 7200).lines
    assert [(o.start_s - start, o.duration_s) for o in l1.outages] == [(600, 600)] and l1.local_outages == []
    # a low uptime at the first poll netprobe ever made is when it booted, not a reboot it saw: the provider's
    unseen = [p for p in pts if p.measurement == "ping"] + [_uptime(t, t - boot) for t in polls[1:]]
    (l1,) = build_report(ListSource(unseen), [info], "2026-10", ICT, now_s=start + 7200).lines
    assert len(l1.outages) == 1 and l1.local_outages == []
