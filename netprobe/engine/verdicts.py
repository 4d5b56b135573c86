"""The verdict engine inside the agent: live `link_health` points, hysteresis state kept across restarts.

Every measurement becomes observations (health.observation); every `evaluate_every_s` the engine judges
all lines and devices and its verdicts become `link_health` points. The engine's whole state (recent
observations, baselines, held states) is what `snapshot` returns: the agent saves it in its state
directory, so a restart or a reload continues the hysteresis instead of starting every line at UNKNOWN.
Runs on the agent's I/O thread (never on the probing event loop): evaluating 10k nodes takes a while.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from netprobe.engine.agent import Plan
from netprobe.health.engine import HealthEngine
from netprobe.health.points import to_points
from netprobe.health.service import ServiceVerdicts
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation
from netprobe.inventory.loader import Inventory
from netprobe.probes.base import Measurement, ProbeKind, Target
from netprobe.storage.point import Point

log = logging.getLogger("netprobe.verdicts")


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
        self._last: float | None = None  # last evaluation; kept in the state so `run --once` from cron judges too
        self.services = ServiceVerdicts()  # web services: a row per fetch (health.service)
        # told of every evaluation, on this (the I/O) thread: the notifier (issue 17) opens incidents from it
        self.listeners: list[Callable[[Evaluation], object]] = []

    def observe(self, measurements: list[Measurement]) -> list[Point]:
        self.engine.ingest_measurements(measurements, self.agent)
        services = self.services.observe(measurements, self.agent)
        now = self.clock()
        if self._last is None:
            self._last = now  # the first verdicts after one interval of observations, not on the first batch
        if now - self._last < self.every:
            return services
        self._last = now
        evaluation = self.engine.evaluate(now)
        points = to_points(evaluation, self.topology, agent=self.agent)
        if self.listeners:
            mine = self.mine(evaluation)
            for listener in self.listeners:
                try:
                    listener(mine)
                except Exception:  # a notifier bug must not stop the verdicts
                    log.exception("verdict listener %r failed", listener)
        return services + [p for p in points if self._ours(p)]

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
