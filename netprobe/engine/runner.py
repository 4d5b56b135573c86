"""Run thousands of targets of mixed kinds at once: one probe per kind, each with its deadline.

The runner keeps one probe instance per kind across cycles (SNMP rates need the previous poll), checks
the allow-list before handing a target to a probe (and each probe checks again right before sending),
and turns anything unexpected into data: a probe that fails as a whole yields ERROR measurements for its
targets, never an exception out of `run`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import PingSettings, SnmpSettings, TcpSettings
from netprobe.probes.base import Measurement, Probe, ProbeKind, Status, Target
from netprobe.probes.icmp.probe import IcmpProbe, unsent_fields
from netprobe.probes.icmp.sockets import IcmpMode
from netprobe.probes.snmp.probe import SnmpProbe
from netprobe.probes.tcp.probe import TcpProbe
from netprobe.probes.traceroute.probe import TracerouteProbe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerSettings:
    max_packets_per_s: float = 10_000.0  # global ICMP pacing cap (config max_packets_per_s)
    icmp_mode: IcmpMode = IcmpMode.AUTO
    tcp_concurrency: int = 256
    snmp_concurrency: int = 256


def budget_s(kind: ProbeKind, targets: Sequence[Target], settings: RunnerSettings) -> float:
    """How long a batch may take: its own worst case plus a margin, so every loop has an end."""
    if not targets:
        return 0.0
    if kind is ProbeKind.PING:
        pings = [t.ping or PingSettings() for t in targets]
        pacing = sum(p.count for p in pings) / settings.max_packets_per_s
        per_target = max(p.count * p.spacing_ms + p.timeout_ms for p in pings) / 1000.0
        return pacing + per_target + 1.0
    if kind is ProbeKind.TCP:
        tcp = [t.tcp or TcpSettings() for t in targets]
        waves = -(-len(targets) // settings.tcp_concurrency)
        return max(s.timeout_ms for s in tcp) / 1000.0 * waves + 1.0
    if kind is ProbeKind.SNMP:
        snmp = [t.snmp or SnmpSettings() for t in targets]
        waves = -(-len(targets) // settings.snmp_concurrency)
        # names are resolved by a walk on the first poll: allow a few round trips more
        return max(s.timeout_ms * (s.retries + 1) for s in snmp) / 1000.0 * (waves + 4) + 1.0
    if kind is ProbeKind.TRACEROUTE:  # one trace at a time, each bounded by the probe's own timeout
        return len(targets) * 10.0 + 5.0
    return 60.0


class Runner:
    def __init__(self, allow: AllowList, settings: RunnerSettings | None = None) -> None:
        self.allow = allow
        self.settings = settings or RunnerSettings()
        s = self.settings
        self.probes: dict[ProbeKind, Probe] = {
            ProbeKind.PING: IcmpProbe(allow, s.max_packets_per_s, s.icmp_mode),
            ProbeKind.TCP: TcpProbe(allow, s.tcp_concurrency),
            ProbeKind.SNMP: SnmpProbe(allow, s.snmp_concurrency),
            ProbeKind.TRACEROUTE: TracerouteProbe(allow),
        }

    async def run(self, targets: Sequence[Target], max_s: float | None = None) -> list[Measurement]:
        """Probe every target once; one Measurement per target, in the order given."""
        loop = asyncio.get_running_loop()
        results: dict[int, Measurement] = {}
        batches: dict[ProbeKind, list[tuple[int, Target]]] = defaultdict(list)
        for i, t in enumerate(targets):
            if not self.allow.allows(t.address):
                fields = unsent_fields() if t.kind is ProbeKind.PING else {}
                refusal = self.allow.refusal(t.address, t.key)
                results[i] = Measurement(t, time.time(), Status.NOT_ALLOWED, fields, refusal)
            else:
                batches[t.kind].append((i, t))

        async def one_kind(kind: ProbeKind, batch: list[tuple[int, Target]]) -> None:
            only = [t for _, t in batch]
            budget = budget_s(kind, only, self.settings)
            deadline = loop.time() + (min(budget, max_s) if max_s else budget)
            try:
                measured = await asyncio.wait_for(self.probes[kind].run(only, deadline), deadline - loop.time() + 2.0)
            except Exception as exc:  # a probe bug or a hang must not take the others down
                log.exception("%s probe failed", kind)
                text = f"{kind} probe failed: {type(exc).__name__}: {exc}"
                measured = [Measurement(t, time.time(), Status.ERROR, {}, text) for t in only]
            by_key: dict[str, list[Measurement]] = defaultdict(list)
            for m in measured:
                by_key[m.target.key].append(m)
            for i, t in batch:
                got = by_key.get(t.key)
                results[i] = (
                    got.pop(0) if got else Measurement(t, time.time(), Status.ERROR, {}, "probe gave no result")
                )

        await asyncio.gather(*(one_kind(k, b) for k, b in batches.items()))
        return [results[i] for i in range(len(targets))]
