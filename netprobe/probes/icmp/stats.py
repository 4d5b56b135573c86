"""Ping statistics from per-packet RTTs: pure functions, unit tested.

Definitions (documented in docs/probes.md so the figures can be defended in front of a provider):
- loss % = (transmitted - received) / transmitted × 100; a packet the kernel refused to send (EPERM,
  ENOBUFS) counts as transmitted and lost: it never reached the line.
- standard deviation: population (like ping's `mdev`), over received packets.
- median and p95: linear interpolation between closest ranks (numpy's default), over received packets.
- jitter: mean |RTTᵢ − RTTᵢ₋₁| over consecutive *replies* in send order (lost packets are skipped, so a
  lost packet between two replies does not hide the variation between them); needs two replies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear interpolation between ranks."""
    if not sorted_values:
        raise ValueError("percentile of nothing")
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    frac = pos - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * frac


def jitter(rtts_in_send_order: Sequence[float]) -> float | None:
    """Mean absolute difference between consecutive replies; None with fewer than two replies."""
    if len(rtts_in_send_order) < 2:
        return None
    diffs = [abs(b - a) for a, b in itertools.pairwise(rtts_in_send_order)]
    return sum(diffs) / len(diffs)


def ping_fields(samples: Sequence[float | None], transmitted: int | None = None) -> dict[str, float | int]:
    """Schema `ping` fields (without status/result_code) from per-packet RTTs in ms (None = lost)."""
    sent = len(samples) if transmitted is None else transmitted
    got = [s for s in samples if s is not None]
    fields: dict[str, float | int] = {
        "packets_transmitted": sent,
        "packets_received": len(got),
        "percent_packet_loss": (100.0 * (sent - len(got)) / sent) if sent else 100.0,
    }
    if not got:
        return fields
    ordered = sorted(got)
    mean = sum(got) / len(got)
    fields.update(
        minimum_response_ms=ordered[0],
        average_response_ms=mean,
        maximum_response_ms=ordered[-1],
        standard_deviation_ms=math.sqrt(sum((x - mean) ** 2 for x in got) / len(got)),
        median_response_ms=percentile(ordered, 50),
        p95_response_ms=percentile(ordered, 95),
    )
    j = jitter(got)
    if j is not None:
        fields["jitter_ms"] = j
    return fields
