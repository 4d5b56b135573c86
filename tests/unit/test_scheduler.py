"""The scheduler over real time with short intervals: spread, no overlap, lateness accounted."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence

from netprobe.engine.scheduler import ONCE, CycleReport, Scheduler, build_groups, phase_fraction
from netprobe.inventory.model import PingSettings, SnmpSettings
from netprobe.probes.base import Measurement, ProbeKind, Status, Target


def ping_target(i: int, interval_s: float = 1.0) -> Target:
    settings = PingSettings(interval_s=interval_s, count=1, spacing_ms=0, timeout_ms=50)
    return Target(f"ping/device/d{i}", ProbeKind.PING, "127.0.0.1", {"target": f"d{i}"}, ping=settings)


class RecordingProbe:
    """A probe that records when each target ran and how many runs of it overlapped; takes `busy_s`."""

    kind = ProbeKind.PING

    def __init__(self, busy_s: float | dict[str, float] = 0.0, block_s: float = 0.0) -> None:
        self.busy_s = busy_s
        self.block_s = block_s  # blocks the whole event loop once, as a CPU hog would
        self.starts: dict[str, list[float]] = {}
        self.running: dict[str, int] = {}
        self.max_overlap = 0
        self.deadlines: list[float] = []

    def budget_s(self, targets: Sequence[Target]) -> float:
        # as the ICMP probe's: its burst and timeout plus a margin (the scheduler caps it at the interval)
        return max((t.ping or PingSettings()).timeout_ms for t in targets) / 1000.0 + 1.0

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        now = time.time()
        self.deadlines.append(deadline - asyncio.get_running_loop().time())
        for t in targets:
            self.starts.setdefault(t.key, []).append(now)
            self.running[t.key] = self.running.get(t.key, 0) + 1
            self.max_overlap = max(self.max_overlap, self.running[t.key])
        if self.block_s:
            time.sleep(self.block_s)
            self.block_s = 0.0
        busy = self.busy_s
        wait = max(busy.get(t.key, 0.0) for t in targets) if isinstance(busy, dict) else busy
        await asyncio.sleep(wait)
        for t in targets:
            self.running[t.key] -= 1
        return [Measurement(t, now, Status.OK, {"packets_transmitted": 1}) for t in targets]


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.stop(5.0)


def make(probe: RecordingProbe, **kw: float) -> tuple[Scheduler, list[Measurement], list[CycleReport]]:
    results: list[Measurement] = []
    reports: list[CycleReport] = []

    async def on_results(ms: list[Measurement]) -> None:
        results.extend(ms)

    return Scheduler({ProbeKind.PING: probe}, on_results, reports.append, agent="a1", **kw), results, reports


def test_phase_is_stable_per_key_and_differs_between_agents() -> None:
    assert phase_fraction("dc1", "ping/line/x/ce") == phase_fraction("dc1", "ping/line/x/ce")
    assert phase_fraction("dc1", "ping/line/x/ce") != phase_fraction("dc2", "ping/line/x/ce")
    assert all(0.0 <= phase_fraction("a", f"k{i}") < 1.0 for i in range(1000))


def test_groups_spread_targets_evenly_over_slots() -> None:
    targets = [ping_target(i, interval_s=30.0) for i in range(3000)]
    (group,) = build_groups(targets, "dc1", slot_s=1.0)
    assert group.size == 3000 and group.slot_s == 1.0
    per_slot = [len(ts) for _, ts in group.slots]
    assert len(per_slot) == 30  # every second of the interval gets a batch
    assert max(per_slot) < 100 * 1.5 and min(per_slot) > 100 * 0.5  # no burst: ~100 ± noise each


def test_targets_run_once_per_interval_spread_over_it() -> None:
    probe = RecordingProbe()
    scheduler, results, reports = make(probe, slot_s=0.1)
    scheduler.set_targets([ping_target(i) for i in range(200)])
    asyncio.run(run_for(scheduler, 3.2))
    # each target ran about once per second, at the same offset inside each cycle
    for starts in probe.starts.values():
        assert 2 <= len(starts) <= 4
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(abs(g - 1.0) < 0.25 for g in gaps), gaps  # same phase every cycle (± a busy CI's jitter)
    offsets = [s % 1.0 for starts in probe.starts.values() for s in starts]
    buckets = [sum(1 for o in offsets if k / 5 <= o < (k + 1) / 5) for k in range(5)]
    assert all(abs(b / len(offsets) - 0.2) < 0.08 for b in buckets), buckets  # spread, not a burst
    assert probe.max_overlap == 1
    full = [r for r in reports if not r.partial]
    assert full and all(r.measurements == 200 and r.late == 0 and r.skipped == 0 for r in full)
    assert max(r.lag_p99_s for r in reports) < 0.5  # a loaded CI machine adds tens of ms, not a slot's worth
    assert len(results) == sum(r.measurements for r in reports)


def test_a_slow_target_never_runs_twice_at_once_and_its_lateness_is_counted() -> None:
    targets = [ping_target(i, interval_s=0.5) for i in range(20)]
    slow = targets[3].key
    probe = RecordingProbe(busy_s={slow: 0.8})  # longer than its interval
    scheduler, _, reports = make(probe, slot_s=0.05, late_after_s=0.1)
    scheduler.set_targets(targets)
    asyncio.run(run_for(scheduler, 3.0))
    assert probe.max_overlap == 1
    late = sum(r.late for r in reports)
    skipped = sum(r.skipped for r in reports)
    runs_of_slow = len(probe.starts[slow])
    assert late >= 1, "a deferred run is reported late"
    # every slot of the slow target is accounted for: it ran (possibly late) or was counted as skipped
    slots_of_slow = sum(1 for _ in range(6))  # ~6 cycles of 0.5 s in 3 s
    assert runs_of_slow + skipped >= slots_of_slow - 2
    # the fast targets were not held back by the slow one (except those batched in its slot)
    (group,) = build_groups(targets, "a1", slot_s=0.05)
    mates = {t.key for _, ts in group.slots if slow in {t.key for t in ts} for t in ts}
    fast_runs = [len(probe.starts[t.key]) for t in targets if t.key not in mates]
    assert min(fast_runs) >= 5


def test_a_blocked_loop_shows_as_lag() -> None:
    probe = RecordingProbe(block_s=0.6)
    scheduler, _, reports = make(probe, slot_s=0.05, late_after_s=0.3)
    scheduler.set_targets([ping_target(i) for i in range(50)])
    asyncio.run(run_for(scheduler, 2.5))
    assert max(r.lag_max_s for r in reports) >= 0.4
    assert sum(r.late for r in reports) >= 1


def test_run_once_probes_every_target_once() -> None:
    probe = RecordingProbe(busy_s=0.05)
    scheduler, results, reports = make(probe)
    scheduler.set_targets([ping_target(i, interval_s=30.0) for i in range(500)])
    asyncio.run(scheduler.run_once())
    assert sorted(len(s) for s in probe.starts.values()) == [1] * 500
    assert len(results) == 500
    (report,) = reports
    assert report.cycle == ONCE and report.measurements == 500 and report.errors == 0


def test_stop_waits_for_runs_in_flight() -> None:
    probe = RecordingProbe(busy_s=0.4)
    scheduler, results, _ = make(probe, slot_s=0.05)
    scheduler.set_targets([ping_target(i) for i in range(100)])

    async def scenario() -> bool:
        scheduler.start()
        await asyncio.sleep(1.3)
        return await scheduler.stop(5.0)

    assert asyncio.run(scenario())
    started = sum(len(s) for s in probe.starts.values())
    assert started > 0 and len(results) == started  # every run that began was handed over


def test_a_failing_probe_gives_error_measurements_not_a_crash() -> None:
    class Broken(RecordingProbe):
        async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
            raise RuntimeError("boom")

    scheduler, results, reports = make(Broken())
    scheduler.set_targets([ping_target(i) for i in range(10)])
    asyncio.run(scheduler.run_once())
    assert len(results) == 10 and all(m.status is Status.ERROR and "boom" in (m.error or "") for m in results)
    assert reports[0].errors == 10


def test_an_overrunning_probe_is_cut_at_its_deadline() -> None:
    probe = RecordingProbe(busy_s=60.0)
    scheduler, results, _ = make(probe)
    target = Target("k", ProbeKind.PING, "127.0.0.1", {}, ping=PingSettings(interval_s=1.0, count=1, timeout_ms=100))
    scheduler.set_targets([target])
    started = time.monotonic()
    asyncio.run(scheduler.run_once())
    assert time.monotonic() - started < 1.0 + 3.0  # capped at the interval, plus the grace
    assert results[0].status is Status.ERROR and "deadline" in (results[0].error or "")


class DeadAgentProbe:
    """An SNMP-kind probe whose target `dead` times out and `alive` answers; records every run."""

    kind = ProbeKind.SNMP

    def __init__(self) -> None:
        self.starts: dict[str, list[float]] = {}

    def budget_s(self, targets: Sequence[Target]) -> float:
        return 0.1

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        now = time.time()
        for t in targets:
            self.starts.setdefault(t.key, []).append(now)
        return [Measurement(t, now, Status.TIMEOUT if "dead" in t.key else Status.OK) for t in targets]


def snmp_target(name: str, interval_s: float) -> Target:
    settings = SnmpSettings(interval_s=interval_s)
    return Target(f"snmp/device/{name}", ProbeKind.SNMP, "127.0.0.1", {"target": name}, snmp=settings)


def test_a_timed_out_poll_is_confirmed_once_a_quarter_interval_later() -> None:
    probe = DeadAgentProbe()
    results: list[Measurement] = []

    async def on_results(ms: list[Measurement]) -> None:
        results.extend(ms)

    scheduler = Scheduler({ProbeKind.SNMP: probe}, on_results, lambda r: None, agent="a1", slot_s=0.1)
    scheduler.set_targets([snmp_target("dead", 2.0), snmp_target("alive", 2.0)])
    asyncio.run(run_for(scheduler, 4.2))
    dead, alive = probe.starts["snmp/device/dead"], probe.starts["snmp/device/alive"]
    # answered: once per interval, no extra poll (2 or 3 polls in the window, by its phase)
    assert all(abs(b - a - 2.0) < 0.2 for a, b in itertools.pairwise(alive))
    # every scheduled poll of `dead` is followed 0.5 s later (a quarter of 2 s) by one confirmation, never by a
    # confirmation's confirmation: the gaps alternate 0.5, 1.5, 0.5, ... (the window may end after a poll)
    gaps = [b - a for a, b in itertools.pairwise(dead)]
    expected = [0.5 if i % 2 == 0 else 1.5 for i in range(len(gaps))]
    assert len(gaps) >= 3 and all(abs(g - e) < 0.2 for g, e in zip(gaps, expected, strict=True))
    assert scheduler.confirmations == sum(1 for g in gaps if g < 1.0) >= 2
    assert sum(1 for m in results if m.status is Status.TIMEOUT) == len(dead)


def test_no_confirmation_when_it_would_run_into_the_next_poll() -> None:
    probe = DeadAgentProbe()

    async def on_results(ms: list[Measurement]) -> None:
        return None

    scheduler = Scheduler({ProbeKind.SNMP: probe}, on_results, lambda r: None, agent="a1", slot_s=0.1)
    scheduler.set_targets([snmp_target("dead", 0.3)])  # 0.075 s + a 0.1 s budget > half the interval
    asyncio.run(run_for(scheduler, 1.0))
    assert scheduler.confirmations == 0
