"""Verdicts from stored history: feed observations in time order and evaluate on a fixed time grid.

The grid is aligned to multiples of `step_s` since the epoch, so replaying the same history over any
range that covers it gives the same verdicts at the same instants (reproducible from stored history).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from netprobe.health.engine import EngineSettings, HealthEngine
from netprobe.health.observation import Observation, from_points
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation
from netprobe.storage.point import Point, PointSource

# What the verdicts read from history (storage.schema measurement names).
INPUT_MEASUREMENTS = ("ping", "snmp_sys", "snmp_if")
SERVICE_MEASUREMENTS = ("tcp", "http")
SERVICE_LOOKBACK_NS = 3 * 86_400 * 10**9 // 24  # 3 h before the window: a slow service probe's last state


def grid(start: float, end: float, step_s: float) -> list[float]:
    """Evaluation instants: every multiple of step_s in [start, end], plus `end` itself."""
    first = math.ceil(start / step_s) * step_s
    n = max(0, math.floor((end - first) / step_s) + 1)
    times = [first + i * step_s for i in range(n)]
    if not times or times[-1] < end:
        times.append(end)
    return times


def default_step(topology: Topology) -> float:
    """Evaluate as often as the fastest reachability probe reports."""
    intervals = [n.ping_interval_s for n in topology.nodes.values() if n.ping_interval_s > 0]
    return min(intervals, default=30.0)


def replay(
    engine: HealthEngine, observations: Iterable[Observation], start: float, end: float, step_s: float
) -> Iterator[Evaluation]:
    """Evaluate at every grid instant in [start, end], each seeing only observations up to that instant."""
    ordered = sorted(observations, key=lambda o: o.time)
    i = 0
    for t in grid(start, end, step_s):
        j = i
        while j < len(ordered) and ordered[j].time <= t:
            j += 1
        engine.ingest(ordered[i:j])
        i = j
        yield engine.evaluate(t)


@dataclass(frozen=True)
class History:
    """A replay's outcome: the verdicts now, and every evaluation in the window of interest."""

    now: Evaluation
    window: list[Evaluation]
    withdrawn: dict[str, list[list[float]]] = field(default_factory=dict)  # see HealthEngine.withdrawn


def evaluate_history(
    topology: Topology,
    points: Iterable[Point],
    now: float,
    since_s: float,
    *,
    step_s: float | None = None,
    settings: EngineSettings | None = None,
    max_evaluations: int = 60,
) -> History:
    """Evaluate the window [now - since_s, now] on the grid; `points` should reach back warmup() further
    so the first evaluation already sees full windows (read_history does). Hysteresis starts at the
    window's start, so a state's `since` is never earlier than it. At most `max_evaluations` instants
    (the step grows with long windows): a province-wide replay stays interactive."""
    step = max(step_s or default_step(topology), since_s / max_evaluations)
    engine = HealthEngine(topology, settings)
    window = list(replay(engine, from_points(points), now - since_s, now, step))
    return History(window[-1], window, engine.withdrawn)


def warmup(topology: Topology) -> float:
    """History needed before the first evaluation that counts: the longest window (flaps, reboots)."""
    return max((n.thresholds.long_window_s for n in topology.nodes.values()), default=3600.0)


def read_history(source: PointSource, topology: Topology, now: float, since_s: float) -> list[Point]:
    """The points evaluate_history needs, read through the storage's PointSource protocol."""
    since_ns = int((now - since_s - warmup(topology)) * 1e9)
    until_ns = int(now * 1e9) + 1
    tags = {"province": topology.province} if topology.province else None
    points: list[Point] = []
    for measurement in INPUT_MEASUREMENTS:
        points.extend(source.read(measurement, since_ns, until_ns, tags))
    if topology.services:  # the data-centre services' probes (health.service judges them)
        service_tags = {**(tags or {}), "kind": "service"}
        for measurement in SERVICE_MEASUREMENTS:
            points.extend(source.read(measurement, int((now - since_s) * 1e9) - SERVICE_LOOKBACK_NS, until_ns,
                                      service_tags))  # fmt: skip
    return points
