"""The verdict engine inside the agent: live `link_health` points, hysteresis state kept across restarts.

Every measurement becomes observations (health.observation); every `evaluate_every_s` the engine judges
all lines and devices and its verdicts become `link_health` points. The engine's whole state (recent
observations, baselines, held states) is what `snapshot` returns: the agent saves it in its state
directory, so a restart or a reload continues the hysteresis instead of starting every line at UNKNOWN.
Runs on the agent's I/O thread (never on the probing event loop): evaluating 10k nodes takes a while.

Between those full evaluations, a batch carrying evidence of trouble (a ping that lost packets or was
slow past its node's degraded level, an SNMP poll that timed out) is judged at once: a burst that
lands just after an evaluation would otherwise wait a whole interval, and a line caught only by its
second or third burst would be named 2.2-3 intervals after the fault instead of 2. Those early
evaluations write only the verdicts that changed, and are spaced so they take at most
EARLY_CPU_SHARE of a core (a province-wide evaluation of ~0.3 s: one every 3 s at most; the lab's
few ms: one a second).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from netprobe.engine.agent import Plan
from netprobe.health.engine import HealthEngine
from netprobe.health.observation import Observation, Source, from_measurement
from netprobe.health.points import to_points
from netprobe.health.service import ServiceVerdicts
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation
from netprobe.inventory.loader import Inventory
from netprobe.probes.base import Measurement, ProbeKind, Target
from netprobe.storage.point import Point

log = logging.getLogger("netprobe.verdicts")
EARLY_CPU_SHARE = 0.1  # early evaluations (on trouble, between full ones) take at most this share of a core
EARLY_MIN_GAP_S = 1.0


def _trouble(o: Observation, topology: Topology) -> bool:
    """Evidence that may worsen a verdict: a burst that lost packets or was slow or jittery past its
    node's degraded level, an SNMP poll that timed out."""
    if o.source is Source.PING:
        if o.sent and (o.received or 0) < o.sent:
            return True
        node = topology.nodes.get(o.subject)
        if node is None:
            return False
        th = node.thresholds
        # a line's end is also judged against its provider edge (rtt_over_pe_ms): slower than that is news
        levels = [th.rtt_ms.degraded, th.rtt_over_pe_ms.degraded if o.role == "ce" else None]
        slow_ms = min((x for x in levels if x is not None), default=None)
        slow = o.rtt_ms is not None and slow_ms is not None and o.rtt_ms >= slow_ms
        jumpy = o.jitter_ms is not None and th.jitter_ms.degraded is not None and o.jitter_ms >= th.jitter_ms.degraded
        return slow or jumpy
    return o.source is Source.SNMP_SYS and not o.ok


class VerdictObserver:
    state_name = "verdicts"

    def __init__(
        self,
        inventory: Inventory,
        targets: Sequence[Target],
        agent: str,
        evaluate_every_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.agent = agent
        self.every = evaluate_every_s
        self.clock = clock
        self.topology = Topology.from_inventory(inventory)
        self.engine = HealthEngine(self.topology)
        self.nodes, self.communes = probed_subjects(targets)
        self._last: float | None = None  # last full evaluation; kept in the state so `run --once` from cron judges too
        self._last_any = 0.0  # last evaluation, full or early
        self._cost_s = 0.0  # how long the last evaluation took
        self._written: dict[tuple[str, str], object] = {}  # (kind, target) → the state last written
        self.services = ServiceVerdicts()  # web services: a row per fetch (health.service)
        # told of every evaluation, on this (the I/O) thread: the notifier (issue 17) opens incidents from it
        self.listeners: list[Callable[[Evaluation], object]] = []

    def observe(self, measurements: list[Measurement]) -> list[Point]:
        observations = [o for m in measurements for o in from_measurement(m, self.agent)]
        self.engine.ingest(observations)
        services = self.services.observe(measurements, self.agent)
        now = self.clock()
        if self._last is None:
            self._last = now  # the first verdicts after one interval of observations, not on the first batch
        full = now - self._last >= self.every
        early = (
            not full
            and self._written  # not before the first full evaluation
            and now - self._last_any >= max(EARLY_MIN_GAP_S, self._cost_s / EARLY_CPU_SHARE)
            and any(_trouble(o, self.topology) for o in observations)
        )
        if not (full or early):
            return services
        started = time.perf_counter()
        evaluation = self.engine.evaluate(now)
        self._cost_s = time.perf_counter() - started
        self._last_any = now
        if full:
            self._last = now
        if self.listeners:
            mine = self.mine(evaluation)
            for listener in self.listeners:
                try:
                    listener(mine)
                except Exception:  # a notifier bug must not stop the verdicts
                    log.exception("verdict listener %r failed", listener)
        points = [p for p in to_points(evaluation, self.topology, agent=self.agent) if self._ours(p)]
        if early:
            points = [p for p in points if self._written.get(_key(p)) != p.fields.get("state")]
        for p in points:
            self._written[_key(p)] = p.fields.get("state")
        return services + points

    def mine(self, evaluation: Evaluation) -> Evaluation:
        """The evaluation restricted to what this agent probes (as its link_health points are)."""
        return Evaluation(
            evaluation.time,
            {k: v for k, v in evaluation.nodes.items() if k in self.nodes},
            {k: v for k, v in evaluation.communes.items() if k in self.communes},
            {k: v for k, v in evaluation.agents.items() if k == self.agent},
        )

    def _ours(self, point: Point) -> bool:
        """Only verdicts on what this agent probes: the rest of the inventory is another agent's to judge."""
        kind, subject = point.tags.get("kind"), point.tags.get("target", "")
        if kind == "commune":
            return subject in self.communes
        if kind == "agent":
            return subject == self.agent
        return subject in self.nodes

    def snapshot(self) -> dict[str, Any]:
        return {"engine": self.engine.to_json(stream=True), "last_evaluated": self._last}

    def restore(self, blob: dict[str, Any]) -> None:
        self.engine = HealthEngine.from_json(self.topology, blob["engine"])
        last = blob.get("last_evaluated")
        self._last = float(last) if isinstance(last, int | float) else None

    def reload(self, inventory: Inventory, targets: Sequence[Target]) -> None:
        """A new inventory: keep the state of every line and device still in it."""
        state = self.engine.to_json()
        self.topology = Topology.from_inventory(inventory)
        self.engine = HealthEngine.from_json(self.topology, state)
        self.nodes, self.communes = probed_subjects(targets)


def _key(point: Point) -> tuple[str, str]:
    return point.tags.get("kind", ""), point.tags.get("target", "")


def probed_subjects(targets: Iterable[Target]) -> tuple[set[str], set[str]]:
    """The lines and devices (ids) and the communes (slugs) these targets probe."""
    nodes: set[str] = set()
    communes: set[str] = set()
    for t in targets:
        parts = t.key.split("/")
        if len(parts) >= 3 and parts[1] in ("line", "device"):
            nodes.add(parts[2])
            if commune := t.tags.get("commune"):
                communes.add(commune)
    return nodes, communes


def verdict_every_s(plan: Plan) -> float:
    """Judge as often as the fastest ping cycle (30 s by default): a verdict per fresh observation."""
    pings = [t.interval_s for t in plan.targets if t.kind is ProbeKind.PING]
    return min(pings, default=30.0)
