"""The agent behind `netprobe run`: inventory → targets → scheduler → storage, with signals and state.

- SIGTERM/SIGINT: no new runs; runs in flight finish (each is bounded by its probe deadline); their
  points are written; the outbox gets a last flush; all within `stop_timeout_s` (systemd's
  TimeoutStopSec is 30 s). Points the database did not take stay in the durable outbox for next time.
- SIGHUP: the inventory is loaded again (in a thread, so probing goes on). An invalid inventory, an
  unknown agent or a target outside the allow-list is rejected, every error logged, and the running
  plan is kept.
- State that must survive a restart (the verdict engine's) is saved in the state directory
  (engine.state) on every cycle and on stop, and loaded at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from netprobe.config import Config
from netprobe.engine.scheduler import CycleReport, Scheduler
from netprobe.engine.selfmetrics import agent_point, cycle_line, rss_mb
from netprobe.engine.shard import Shard
from netprobe.engine.state import StateFile, StatefulObserver
from netprobe.engine.targets import build_targets, enforce_allow_list
from netprobe.errors import ConfigError, NetprobeError
from netprobe.inventory.loader import Inventory, load_inventory
from netprobe.probes import registry
from netprobe.probes.base import Measurement, Probe, Target
from netprobe.storage.drain import FlushResult
from netprobe.storage.point import Point

log = logging.getLogger("netprobe.agent")


class PointStore(Protocol):
    """What the agent needs from storage (storage.facade.Storage provides it)."""

    def write(self, points: Iterable[Point]) -> int: ...

    def start_background_flush(self) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> FlushResult: ...

    def self_metrics(self) -> dict[str, int]: ...

    def close(self, flush_timeout_s: float = 5.0) -> None: ...


ToPoints = Callable[[Measurement, str], list[Point]]
ProbeFactory = Callable[[Config, Iterable[str]], dict[str, Probe]]


@dataclass
class AgentOptions:
    inventory: Path
    agent: str | None = None  # --agent / config agent: None → the host name, every target
    shard: Shard | None = None
    slot_s: float = 1.0
    stop_timeout_s: float = 20.0
    state_every_s: float = 900.0  # verdict state is also saved on every stop; this bounds a crash's loss
    verdicts: bool = True


@dataclass
class Plan:
    """What one inventory load gives: the targets this agent probes."""

    inventory: Inventory
    targets: list[Target]
    agent: str
    total: int  # targets of this agent before sharding

    def describe(self) -> str:
        kinds = Counter(str(t.kind) for t in self.targets)
        by_kind = " ".join(f"{k}={kinds[k]}" for k in sorted(kinds))
        return f"targets={len(self.targets)} {by_kind}".rstrip()


def plan_targets(config: Config, options: AgentOptions) -> Plan:
    """Load the inventory and choose this agent's targets; raise NetprobeError with every problem."""
    inv = load_inventory(options.inventory)
    name = options.agent or config.agent
    known = inv.agent_names()
    if name and known and name not in known:
        raise ConfigError(
            f"{options.inventory}: agent {name!r} is not one of the inventory's agents ({', '.join(known)}); "
            "pass --agent with one of them or add it under agents:"
        )
    agent = name or socket.gethostname()
    targets = build_targets(inv, agent=name if name in known else None)
    enforce_allow_list(targets, config.allow_list())
    total = len(targets)
    if options.shard is not None:
        targets = options.shard.select(targets)
    return Plan(inv, targets, agent, total)


class Agent:
    def __init__(
        self,
        config: Config,
        options: AgentOptions,
        plan: Plan,
        store: PointStore,
        to_points: ToPoints,
        *,
        probe_factory: ProbeFactory,
        observers: Iterable[StatefulObserver] = (),
    ) -> None:
        self.config = config
        self.options = options
        self.store = store
        self.to_points = to_points
        self.plan = plan
        self.probe_factory = probe_factory
        self.probes: dict[str, Probe] = probe_factory(config, {t.kind for t in plan.targets})
        self.observers = list(observers)
        self.state = StateFile(config.state_path() / "agent-state.json")
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netprobe-io")  # one writer: ordered
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self.write_errors = 0
        self._saved = time.monotonic()
        self.points_written = 0
        self.scheduler = Scheduler(
            self.probes,
            self._on_results,
            self._on_cycle,
            agent=self.plan.agent,
            slot_s=options.slot_s,
        )
        self.scheduler.set_targets(self.plan.targets)
        self._restore_state()

    # ---- lifecycle --------------------------------------------------------------------------------
    async def run(self, once: bool = False) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        shard = f" shard={self.options.shard.index}/{self.options.shard.count}" if self.options.shard else ""
        log.info(
            "agent %s starting: %s%s inventory=%s pid=%d mode=%s",
            self.plan.agent,
            self.plan.describe(),
            shard,
            self.options.inventory,
            os.getpid(),
            "once" if once else "daemon",
        )
        if not self.plan.targets:
            log.warning(
                "agent %s has no targets in %s (agents: communes, --shard): nothing to probe until a reload",
                self.plan.agent,
                self.options.inventory,
            )
        try:
            if once:
                await self.scheduler.run_once()
            else:
                self.store.start_background_flush()
                self.scheduler.start()
                await self._stop.wait()
        finally:
            await self._shutdown(once)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0

    def _request_stop(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            log.warning("%s again: still finishing runs in flight (bounded by %.0f s)", sig.name, self._budget())
            return
        log.info("%s: stopping: %d runs in flight finish, then the outbox is flushed", sig.name, self.in_flight)
        self._stop.set()

    def _budget(self) -> float:
        return self.options.stop_timeout_s

    @property
    def in_flight(self) -> int:
        return self.scheduler.in_flight

    async def _shutdown(self, once: bool) -> None:
        started = time.monotonic()
        budget = self.options.stop_timeout_s
        # most of the budget for the probes in flight; the rest for the last flush
        finished = await self.scheduler.stop(None if once else budget * 0.6)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(1.0, budget * 0.7 - (time.monotonic() - started)))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._io, self._save_state)
        self._io.shutdown(wait=True)
        left = max(1.0, budget - (time.monotonic() - started))
        if once:  # the daemon's background drain flushes on close; a single cycle drains here
            result = await loop.run_in_executor(None, self.store.flush, left)
            if result.remaining or result.error:
                log.warning(
                    "outbox: %d points sent, %d still queued for the next run (%s)",
                    result.sent,
                    result.remaining,
                    result.error or "out of time",
                )
            left = max(1.0, budget - (time.monotonic() - started))
        await loop.run_in_executor(None, lambda: self.store.close(flush_timeout_s=left))
        log.info(
            "agent %s stopped in %.1f s: points_written=%d write_errors=%d%s",
            self.plan.agent,
            time.monotonic() - started,
            self.points_written,
            self.write_errors,
            "" if finished else " (some runs were cut at the stop deadline)",
        )

    # ---- reload -----------------------------------------------------------------------------------
    def _request_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Load the inventory again; keep the running plan if the new one has any problem."""
        log.info("SIGHUP: reloading the inventory %s", self.options.inventory)
        loop = asyncio.get_running_loop()
        try:
            plan = await loop.run_in_executor(None, plan_targets, self.config, self.options)
        except NetprobeError as exc:
            for line in str(exc).splitlines():
                log.error("reload rejected: %s", line)
            log.error("reload rejected: keeping the running inventory (%s)", self.plan.describe())
            return False
        except Exception:  # never let a reload kill a running agent
            log.exception("reload failed; keeping the running inventory (%s)", self.plan.describe())
            return False
        if self._stop.is_set():
            return False
        new_kinds = {t.kind for t in plan.targets} - set(self.probes)
        if new_kinds:
            try:
                self.probes.update(self.probe_factory(self.config, new_kinds))
            except NetprobeError as exc:
                log.error("reload rejected: %s; keeping the running inventory (%s)", exc, self.plan.describe())
                return False
        before = self.plan.describe()
        for observer in self.observers:
            await loop.run_in_executor(self._io, observer.reload, plan.inventory, plan.targets)
        self.plan = plan
        self.scheduler.set_targets(plan.targets)
        log.info("reloaded: %s (was %s)", plan.describe(), before)
        return True

    # ---- results ----------------------------------------------------------------------------------
    async def _on_results(self, measurements: list[Measurement]) -> None:
        # conversion, verdicts and the durable write run on the I/O thread, in order, off the probing loop
        await asyncio.get_running_loop().run_in_executor(self._io, self._store_results, measurements)

    def _store_results(self, measurements: list[Measurement]) -> None:
        points = [p for m in measurements for p in self.to_points(m, self.plan.agent)]
        for observer in self.observers:
            try:
                points += observer.observe(measurements)
            except Exception:
                log.exception("%s failed on %d measurements", type(observer).__name__, len(measurements))
        self._write_now(points)

    def _write_now(self, points: list[Point]) -> None:
        if not points:
            return
        try:
            self.store.write(points)
            self.points_written += len(points)
        except NetprobeError as exc:  # outbox full, disk full, unwritable: say it, keep probing
            self.write_errors += 1
            log.error("storage: %d points not written: %s", len(points), exc)
            raise

    def _on_cycle(self, report: CycleReport) -> None:
        task = asyncio.get_running_loop().create_task(self._report_cycle(report))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report_cycle(self, report: CycleReport) -> None:
        loop = asyncio.get_running_loop()
        try:
            outbox = await loop.run_in_executor(self._io, self.store.self_metrics)
        except Exception as exc:
            log.error("storage: cannot read outbox metrics: %s", exc)
            outbox = {}
        rss = rss_mb()
        log.info("%s", cycle_line(report, outbox=outbox, rss=rss))
        point = agent_point(
            report, agent=self.plan.agent, province=self.plan.inventory.province.slug, outbox=outbox, rss=rss
        )
        with contextlib.suppress(NetprobeError):  # logged by _write_now
            await loop.run_in_executor(self._io, self._write_now, [point])
        if self.observers and not self._stop.is_set() and time.monotonic() - self._saved >= self.options.state_every_s:
            self._saved = time.monotonic()
            await loop.run_in_executor(self._io, self._save_state)

    # ---- state ------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        saved = self.state.load()
        for observer in self.observers:
            blob = saved.get(observer.state_name)
            if blob is None:
                continue
            try:
                observer.restore(blob)
                log.info("restored %s state from %s", observer.state_name, self.state.path)
            except Exception as exc:  # a state file from another version must not stop the agent
                log.warning("ignoring saved %s state in %s: %s", observer.state_name, self.state.path, exc)

    def _save_state(self) -> None:
        if not self.observers:
            return
        started = time.monotonic()
        try:
            self.state.save({o.state_name: o.snapshot() for o in self.observers})
        except OSError as exc:
            log.error("cannot save state to %s: %s", self.state.path, exc.strerror)
            return
        finally:
            release_free_memory()
        size = self.state.path.stat().st_size / 2**20
        log.info("state saved: %s %.1f MB in %.1f s", self.state.path, size, time.monotonic() - started)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc's malloc_trim): a save's temporary objects
    otherwise leave the process at its peak, and a daemon that runs for months should not keep every
    peak it ever had. A no-op where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # the process's own symbols: libc is already loaded


def make_probes(config: Config, kinds: Iterable[str]) -> dict[str, Probe]:
    """The agent's long-lived probes, from the probe registry (the SNMP probe keeps counters between
    polls for rates). Each kind's preflight runs here, at start: a missing CAP_NET_RAW is one clear
    error, not a stream of failed measurements."""
    wanted = set(kinds)
    specs = registry.kinds()
    for kind in sorted(wanted):
        check = specs[kind].preflight if kind in specs else None
        if check is not None:
            check()  # raises PrivilegeError (a NetprobeError) with the ways to fix it
    ctx = registry.ProbeContext(config.allow_list(), config.max_packets_per_s)
    return registry.make_probes(wanted & set(specs), ctx)
