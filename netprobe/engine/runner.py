"""Run thousands of targets of mixed kinds at once: one probe per kind, each batch by its own budget.

The runner keeps one probe instance per kind across cycles (SNMP rates need the previous poll), checks
the allow-list before handing a target to a probe (and each probe checks again right before sending),
and runs each kind's batch through `netprobe.probes.registry.measure` — the same path the agent's
scheduler, `netprobe check` and `netprobe probe` take — so anything unexpected becomes data.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from netprobe.engine.allowlist import AllowList
from netprobe.probes import registry
from netprobe.probes.base import Measurement, Probe, ProbeKind, Status, Target
from netprobe.probes.icmp.probe import unsent_fields
from netprobe.probes.icmp.sockets import IcmpMode


@dataclass(frozen=True)
class RunnerSettings:
    max_packets_per_s: float = 10_000.0  # global ICMP pacing cap (config max_packets_per_s)
    icmp_mode: IcmpMode = IcmpMode.AUTO
    concurrency: int = 256  # TCP connects / SNMP polls / HTTP requests in flight per probe


class Runner:
    def __init__(self, allow: AllowList, settings: RunnerSettings | None = None) -> None:
        self.allow = allow
        self.settings = settings or RunnerSettings()
        s = self.settings
        self.context = registry.ProbeContext(allow, s.max_packets_per_s, s.icmp_mode.value, s.concurrency)
        self.probes: dict[str, Probe] = registry.make_probes(registry.kinds(), self.context)

    async def run(self, targets: Sequence[Target], max_s: float | None = None) -> list[Measurement]:
        """Probe every target once; one Measurement per target, in the order given."""
        results: dict[int, Measurement] = {}
        batches: dict[str, list[tuple[int, Target]]] = defaultdict(list)
        for i, t in enumerate(targets):
            if not self.allow.allows(t.address):
                fields = unsent_fields() if t.kind == ProbeKind.PING else {}
                refusal = self.allow.refusal(t.address, t.key)
                results[i] = Measurement(t, time.time(), Status.NOT_ALLOWED, fields, refusal)
            elif t.kind not in self.probes:
                results[i] = registry.error_measurement(t, time.time(), f"no probe of kind {t.kind!r} in this build")
            else:
                batches[t.kind].append((i, t))

        async def one_kind(kind: str, batch: list[tuple[int, Target]]) -> None:
            measured = await registry.measure(self.probes[kind], [t for _, t in batch], cap_s=max_s)
            for (i, _), m in zip(batch, measured, strict=True):
                results[i] = m

        await asyncio.gather(*(one_kind(k, b) for k, b in batches.items()))
        return [results[i] for i in range(len(targets))]
