"""When each target is probed: spread over its interval, never twice at once, lateness counted.

The plan, per group of targets with the same probe kind and interval:
- every target has a stable phase inside the interval, from a hash of (agent, target key): the same
  second of every cycle, across restarts and reloads; two agents probing the same line do so at
  different moments; the load is spread evenly over the interval instead of a burst at its start;
- phases are quantised to slots of `slot_s` (default 1 s) so one probe call gets a batch (ICMP shares
  one socket, SNMP one event loop); slot times are anchored on the wall clock (cycle c starts at
  c × interval since the epoch);
- a target still running when its slot comes is not started twice: it is started as soon as its run
  ends (a catch-up batch) and counted late; if even that slot passes, the run is counted as skipped and
  logged — a late cycle is measured and reported, never silently lost;
- every probe call goes through netprobe.probes.registry.measure, the path `check` and `probe` take too:
  its deadline is the probe's own `budget_s` for the batch (count × spacing + timeout for ping, timeout
  × tries for SNMP, ...), capped at the interval; a probe that overruns it by GRACE_S is cancelled and
  its targets get an ERROR measurement (probe failures are data).
- an SNMP poll that timed out is confirmed once, CONFIRM_FRACTION of its interval later (at most
  CONFIRM_MAX_S): a hung agent or a rebooted device is then proven by two polls within ~1¼ intervals
  instead of two whole intervals (Zabbix's unreachable poller rechecks after 15 s the same way). A
  confirmation is never itself confirmed, so a dead agent costs two polls per interval, not more.
A cycle closes when all its slots have fired and all its batches have finished; `on_cycle` then gets
a CycleReport (the per-cycle log line and the `netprobe_agent` self-metrics are made from it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from netprobe.errors import NetprobeError
from netprobe.probes import registry
from netprobe.probes.base import Measurement, Probe, Status, Target
from netprobe.probes.registry import GRACE_S, complete, error_measurement

log = logging.getLogger("netprobe.scheduler")

__all__ = ["GRACE_S", "ONCE", "CycleReport", "Group", "Scheduler", "build_groups", "complete", "error_measurement"]

ONCE = -1  # the cycle number of `run --once`
CONFIRM_KINDS = frozenset({"snmp"})  # kinds whose timed-out runs get one confirming run (see above)
CONFIRM_FRACTION = 0.25
CONFIRM_MAX_S = 15.0

ResultsHandler = Callable[[list[Measurement]], Awaitable[None]]
CycleHandler = Callable[["CycleReport"], None]
Clock = Callable[[], float]


def phase_fraction(agent: str, key: str) -> float:
    """A stable position in [0, 1) for a target: where in its interval it is probed."""
    digest = hashlib.blake2b(f"{agent}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass
class Group:
    """Targets of one kind and interval, bucketed into slots (offset in seconds → targets)."""

    kind: str
    interval_s: float
    slot_s: float
    slots: list[tuple[float, list[Target]]]

    @property
    def size(self) -> int:
        return sum(len(ts) for _, ts in self.slots)


def build_groups(targets: Iterable[Target], agent: str, slot_s: float) -> list[Group]:
    by: dict[tuple[str, float], list[Target]] = defaultdict(list)
    for t in targets:
        by[(t.kind, t.interval_s)].append(t)
    groups = []
    for (kind, interval), members in sorted(by.items()):
        # at least 10 slots per interval, so short test intervals still spread
        width = min(slot_s, interval / 10.0)
        buckets: dict[int, list[Target]] = defaultdict(list)
        for t in members:
            buckets[int(phase_fraction(agent, t.key) * interval / width)].append(t)
        slots = [(i * width, buckets[i]) for i in sorted(buckets)]
        groups.append(Group(kind, interval, width, slots))
    return groups


@dataclass
class CycleReport:
    """What happened in one cycle of one group: the source of the log line and the self-metrics."""

    kind: str
    interval_s: float
    cycle: int  # wall-clock cycle number (start = cycle × interval), ONCE for `run --once`
    first_start: float = math.inf  # unix time of the first dispatch
    last_end: float = 0.0  # unix time the last batch finished (results handed over)
    measurements: int = 0
    ok: int = 0
    errors: int = 0  # agent-side: probe raised/overran, status ERROR, missing measurement
    late: int = 0  # runs started more than `late_after_s` after their slot (deferred ones included)
    skipped: int = 0  # runs that never happened because the previous one was still going
    partial: bool = False  # the agent started (or reloaded) in the middle of this cycle
    lags: list[float] = field(default_factory=list)  # per run: start − slot time, seconds
    # bookkeeping, not reported
    open_batches: int = 0
    slots_done: bool = False
    closed: bool = False

    @property
    def cycle_s(self) -> float:
        return max(0.0, self.last_end - self.first_start) if self.measurements else 0.0

    @property
    def lag_max_s(self) -> float:
        return max(self.lags, default=0.0)

    @property
    def lag_p99_s(self) -> float:
        if not self.lags:
            return 0.0
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]

    @property
    def probes_per_s(self) -> float:
        span = self.cycle_s if self.cycle == ONCE else self.interval_s
        return self.measurements / span if span > 0 else 0.0


class Scheduler:
    def __init__(
        self,
        probes: Mapping[str, Probe],
        on_results: ResultsHandler,
        on_cycle: CycleHandler,
        *,
        agent: str = "",
        slot_s: float = 1.0,
        late_after_s: float = 1.0,
        clock: Clock = time.time,
        confirm_kinds: frozenset[str] = CONFIRM_KINDS,
    ) -> None:
        self.probes = probes
        self.on_results = on_results
        self.on_cycle = on_cycle
        self.agent = agent
        self.slot_s = slot_s
        self.late_after_s = late_after_s
        self.clock = clock
        self.confirm_kinds = confirm_kinds
        self.confirmations = 0  # confirming runs started (self-metrics, tests)
        self.groups: list[Group] = []
        self._group_tasks: list[asyncio.Task[None]] = []
        self._batches: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()  # target keys with a run in flight
        self._overdue: dict[str, tuple[Target, float, CycleReport]] = {}  # waiting for their own run to end
        self._cycles: dict[tuple[str, float, int], CycleReport] = {}
        self._stopping = False

    # ---- targets ----------------------------------------------------------------------------------
    def set_targets(self, targets: Sequence[Target]) -> None:
        """(Re)plan. Runs in flight go on; the new plan starts at its next slot. Call before `start`."""
        usable = [t for t in targets if t.kind in self.probes]
        dropped = len(targets) - len(usable)
        if dropped:
            kinds = sorted({str(t.kind) for t in targets if t.kind not in self.probes})
            log.error("%d targets of kind %s are not probed: no such probe in this build", dropped, ",".join(kinds))
        old = {(g.kind, g.interval_s) for g in self.groups}
        self.groups = build_groups(usable, self.agent, self.slot_s)
        gone = old - {(g.kind, g.interval_s) for g in self.groups}
        for (kind, interval, _), report in list(self._cycles.items()):
            if (kind, interval) in gone:
                report.slots_done = True
                self._maybe_close(report)
        if self._group_tasks:  # running: restart the slot loops on the new plan
            self._cancel_group_tasks()
            self._start_group_tasks(reload=True)

    @property
    def target_count(self) -> int:
        return sum(g.size for g in self.groups)

    # ---- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the slot loops (the daemon)."""
        self._start_group_tasks(reload=False)

    async def run_once(self) -> None:
        """Every target once, now (no spreading); returns when every result is handed over."""
        now = self.clock()
        for g in self.groups:
            report = self._report(g, ONCE)
            targets = [t for _, ts in g.slots for t in ts]
            self._dispatch(g.kind, targets, [now] * len(targets), report, g.interval_s)
            report.slots_done = True
            self._maybe_close(report)
        await self.drain(None)

    async def stop(self, timeout_s: float | None) -> bool:
        """No new runs; wait (bounded) for runs in flight. False if some had to be cancelled."""
        self._stopping = True
        self._cancel_group_tasks()
        for report in self._cycles.values():
            report.partial = report.partial or not report.slots_done  # cut short by the stop
            report.slots_done = True
        for report in list(self._cycles.values()):
            self._maybe_close(report)
        return await self.drain(timeout_s)

    async def drain(self, timeout_s: float | None) -> bool:
        if not self._batches:
            return True
        _, pending = await asyncio.wait(set(self._batches), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        # catch-up batches may have been started by the ones that ended
        if self._batches and not self._stopping:
            return await self.drain(timeout_s)
        return not pending

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def _start_group_tasks(self, reload: bool) -> None:
        self._group_tasks = [asyncio.create_task(self._slot_loop(g, reload)) for g in self.groups if g.slots]

    def _cancel_group_tasks(self) -> None:
        for task in self._group_tasks:
            task.cancel()
        self._group_tasks = []

    async def _sleep_until(self, when: float) -> None:
        # in steps, so a wall-clock step (NTP) is noticed within a few seconds
        while (left := when - self.clock()) > 0:
            await asyncio.sleep(min(left, 5.0))

    async def _slot_loop(self, g: Group, reload: bool) -> None:
        offsets = [off for off, _ in g.slots]
        cycle, index = self._position(g, offsets)
        partial = index > 0 or reload
        while not self._stopping:
            offset, targets = g.slots[index]
            when = cycle * g.interval_s + offset
            if when - self.clock() > g.interval_s:  # the wall clock stepped back: resync
                log.warning("%s: the clock went back by %.0f s; resynchronising", g.kind, when - self.clock())
                cycle, index = self._position(g, offsets)
                partial = True
                continue
            await self._sleep_until(when)
            behind = self.clock() - when
            if behind > g.interval_s:  # suspended, stalled or a clock step forward: skip, but say so
                self._skip_to_now(g, cycle, index, offsets, behind)
                cycle, index = self._position(g, offsets)
                partial = True
                continue
            report = self._report(g, cycle)
            report.partial = report.partial or partial
            self._dispatch(g.kind, targets, [when] * len(targets), report, g.interval_s)
            index += 1
            if index == len(g.slots):
                report.slots_done = True
                self._maybe_close(report)
                cycle, index, partial = cycle + 1, 0, False

    def _position(self, g: Group, offsets: list[float]) -> tuple[int, int]:
        """The cycle and slot index of the next slot at or after now."""
        now = self.clock()
        cycle = math.floor(now / g.interval_s)
        into = now - cycle * g.interval_s
        index = next((i for i, off in enumerate(offsets) if off >= into), len(offsets))
        return (cycle + 1, 0) if index == len(offsets) else (cycle, index)

    def _skip_to_now(self, g: Group, cycle: int, index: int, offsets: list[float], behind: float) -> None:
        report = self._report(g, cycle)
        missed = sum(len(ts) for _, ts in g.slots[index:])
        report.skipped += missed
        report.slots_done = True
        self._maybe_close(report)
        log.warning(
            "%s every %gs: %.1f s behind schedule (stalled, suspended or clock step): %d runs skipped",
            g.kind,
            g.interval_s,
            behind,
            missed,
        )

    def _report(self, g: Group, cycle: int) -> CycleReport:
        key = (g.kind, g.interval_s, cycle)
        report = self._cycles.get(key)
        if report is None:
            report = self._cycles[key] = CycleReport(g.kind, g.interval_s, cycle)
        return report

    # ---- dispatch ---------------------------------------------------------------------------------
    def _dispatch(
        self, kind: str, targets: Sequence[Target], slots: Sequence[float], report: CycleReport, interval: float
    ) -> None:
        ready: list[Target] = []
        ready_slots: list[float] = []
        for t, slot in zip(targets, slots, strict=True):
            if t.key not in self._running:
                ready.append(t)
                ready_slots.append(slot)
            elif t.key in self._overdue:  # still running from two slots ago: this run cannot happen
                report.skipped += 1
                log.warning("%s: skipped one run: its run from the previous cycle is still going", t.key)
            else:
                self._overdue[t.key] = (t, slot, report)
                report.open_batches += 1  # the catch-up run belongs to this cycle
        if ready:
            self._start_batch(kind, ready, ready_slots, report, interval)

    def _start_batch(
        self, kind: str, targets: list[Target], slots: list[float], report: CycleReport, interval: float
    ) -> None:
        self._running.update(t.key for t in targets)
        report.open_batches += 1
        task = asyncio.create_task(self._run_batch(kind, targets, slots, report, interval))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _run_batch(
        self, kind: str, targets: list[Target], slots: list[float], report: CycleReport, interval: float
    ) -> None:
        started = self.clock()
        report.first_start = min(report.first_start, started)
        for slot in slots:
            lag = max(0.0, started - slot)
            report.lags.append(lag)
            if lag > self.late_after_s:
                report.late += 1
        measurements: list[Measurement] = []
        try:
            measurements = await self._probe(kind, targets, interval, started, report)
        finally:
            self._running.difference_update(t.key for t in targets)
            try:
                if measurements:
                    report.measurements += len(measurements)
                    report.ok += sum(1 for m in measurements if m.ok)
                    report.errors += sum(1 for m in measurements if m.status is Status.ERROR)
                    await self.on_results(measurements)
            except NetprobeError:  # e.g. storage full: already logged by the handler, one line
                report.errors += 1
            except Exception:
                report.errors += 1
                log.exception("%s: handing over %d results failed", kind, len(measurements))
            finally:
                report.last_end = max(report.last_end, self.clock())
                report.open_batches -= 1
                self._start_catch_up(kind, targets, interval)
                if report.cycle != ONCE:
                    self._start_confirmation(kind, measurements, interval)
                self._maybe_close(report)

    def _start_confirmation(self, kind: str, measurements: Sequence[Measurement], interval: float) -> None:
        if self._stopping or kind not in self.confirm_kinds:
            return
        timed_out = [m.target for m in measurements if m.status is Status.TIMEOUT]
        if timed_out:
            task = asyncio.create_task(self._confirm(kind, timed_out, interval))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _confirm(self, kind: str, targets: list[Target], interval: float) -> None:
        """One more run of targets that timed out, a short while later (never confirmed again)."""
        delay = min(interval * CONFIRM_FRACTION, CONFIRM_MAX_S)
        if delay + self.probes[kind].budget_s(targets) > interval / 2:
            return  # it would run into the next scheduled run: that one confirms
        await self._sleep_until(self.clock() + delay)
        ready = [t for t in targets if t.key not in self._running]
        if self._stopping or not ready:
            return
        self.confirmations += 1
        self._running.update(t.key for t in ready)
        try:
            measurements = await registry.measure(self.probes[kind], ready, cap_s=interval, started=self.clock())
        finally:
            self._running.difference_update(t.key for t in ready)
        try:
            await self.on_results(measurements)
        except NetprobeError:
            pass  # e.g. storage full: already logged by the handler
        except Exception:
            log.exception("%s: handing over %d confirming results failed", kind, len(measurements))

    async def _probe(
        self, kind: str, targets: list[Target], interval: float, started: float, report: CycleReport
    ) -> list[Measurement]:
        # the probe's own budget for this batch, at most the interval
        return await registry.measure(self.probes[kind], targets, cap_s=interval, started=started)

    def _start_catch_up(self, kind: str, ended: list[Target], interval: float) -> None:
        if self._stopping:
            for t in ended:
                if (entry := self._overdue.pop(t.key, None)) is not None:
                    entry[2].skipped += 1
                    entry[2].open_batches -= 1
                    self._maybe_close(entry[2])
            return
        by_report: dict[int, tuple[CycleReport, list[Target], list[float]]] = {}
        for t in ended:
            if (entry := self._overdue.pop(t.key, None)) is not None:
                target, slot, report = entry
                report.open_batches -= 1
                _, ts, ss = by_report.setdefault(id(report), (report, [], []))
                ts.append(target)
                ss.append(slot)
        for report, ts, ss in by_report.values():
            self._start_batch(kind, ts, ss, report, interval)

    def _maybe_close(self, report: CycleReport) -> None:
        if report.closed or not report.slots_done or report.open_batches > 0:
            return
        report.closed = True
        self._cycles.pop((report.kind, report.interval_s, report.cycle), None)
        if report.measurements or report.skipped:
            try:
                self.on_cycle(report)
            except Exception:
                log.exception("reporting cycle %d of %s failed", report.cycle, report.kind)
