"""Traceroute on demand (scapy): per-hop loss and RTT, to tell the provider's network from the commune side.

ICMP echo probes with TTL 1..max_hops, `probes_per_hop` each, all sent in one bounded scapy `sr()` call
(timeout-limited) — so the whole trace costs at most `timeout_s` after the last send. Each hop row says
who answered, how many of its probes came back and their RTTs. Needs root/CAP_NET_RAW (raw sockets).
Not stored as a time series: `netprobe check` uses it to show where along the path the loss starts.
The RTTs are scapy's user-space timestamps: good for "which hop", not for sub-millisecond figures.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netprobe.engine.allowlist import AllowList
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.probes.icmp.sockets import PRIVILEGE_HELP
from netprobe.probes.icmp.stats import ping_fields


@dataclass(frozen=True)
class TraceSettings:
    max_hops: int = 16
    probes_per_hop: int = 3
    timeout_s: float = 2.0
    inter_s: float = 0.0  # between sends; scapy's own loop


def hop_rows(max_hops: int, probes: int, answers: list[tuple[int, str, float, bool]]) -> list[dict[str, Any]]:
    """Rows per TTL from (ttl, responder, rtt_ms, reached_destination) answers; stops after the destination."""
    by_ttl: dict[int, list[tuple[str, float, bool]]] = {}
    for ttl, who, rtt, reached in answers:
        by_ttl.setdefault(ttl, []).append((who, rtt, reached))
    rows: list[dict[str, Any]] = []
    for ttl in range(1, max_hops + 1):
        got = by_ttl.get(ttl, [])
        samples: list[float | None] = [rtt for _, rtt, _ in got] + [None] * max(0, probes - len(got))
        stats = ping_fields(samples[:probes], probes)
        responders = sorted({w for w, _, _ in got})
        rows.append({"hop": ttl, "address": ",".join(responders) or "*", **stats})
        if any(reached for _, _, reached in got):
            break
    return rows


def loss_starts_at(rows: list[dict[str, Any]], threshold_pct: float = 0.0) -> int | None:
    """The hop from which every later hop loses more than `threshold_pct`; None when the path is clean.

    The last hop alone → loss on the commune side (its line or router); an earlier hop → the loss begins
    in the network between (the provider's, for a dedicated line). Silent hops (`*`, routers that do not
    answer) are skipped: they prove nothing either way.
    """
    answering = [r for r in rows if r["address"] != "*"]
    start: int | None = None
    for row in answering:
        if float(row["percent_packet_loss"]) > threshold_pct:
            start = start if start is not None else int(row["hop"])
        else:
            start = None
    return start


class TracerouteProbe:
    kind = ProbeKind.TRACEROUTE

    def __init__(self, allow: AllowList, settings: TraceSettings | None = None) -> None:
        self.allow = allow
        self.settings = settings or TraceSettings()

    def budget_s(self, targets: Sequence[Target]) -> float:
        """One trace at a time, each bounded by its own timeout after scapy's sends."""
        if not targets:
            return 0.0
        return len(targets) * (self.settings.timeout_s + 5.0) + 5.0

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        out = []
        for t in targets:  # on demand and few: one at a time keeps scapy's sniffers from seeing each other
            out.append(await self.trace(t, deadline))
        return out

    async def trace(self, target: Target, deadline: float) -> Measurement:
        started = time.time()
        try:
            ip = ipaddress.ip_address(target.address)
        except ValueError:
            return Measurement(target, started, Status.ERROR, {}, f"{target.address!r} is not an IP address")
        if not self.allow.allows(ip):
            return Measurement(target, started, Status.NOT_ALLOWED, {}, self.allow.refusal(target.address, target.key))
        if os.geteuid() != 0:
            return Measurement(target, started, Status.ERROR, {}, "traceroute: " + PRIVILEGE_HELP)
        loop = asyncio.get_running_loop()
        s = self.settings
        timeout = max(0.1, min(s.timeout_s, deadline - loop.time() - 0.5))
        try:
            answers = await asyncio.to_thread(_scapy_trace, ip.compressed, ip.version, s, timeout)
        except PermissionError:
            return Measurement(target, started, Status.ERROR, {}, "traceroute: " + PRIVILEGE_HELP)
        except OSError as exc:
            return Measurement(target, started, Status.ERROR, {}, f"traceroute: {exc}")
        rows = hop_rows(s.max_hops, s.probes_per_hop, answers)
        reached = any(r for *_, r in answers)
        fields: dict[str, float | int | str | bool] = {"hops": len(rows), "reached": reached}
        status = Status.OK if reached else Status.TIMEOUT
        error = None if reached else f"destination not reached within {s.max_hops} hops"
        return Measurement(target, started, status, fields, error, rows)


def _scapy_trace(address: str, version: int, s: TraceSettings, timeout: float) -> list[tuple[int, str, float, bool]]:
    """Blocking: one sr() of every (TTL, probe) echo; returns (ttl, responder, rtt_ms, reached)."""
    from scapy.config import conf  # imported here: scapy takes ~1 s to import

    conf.verb = 0
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.sendrecv import sr

    ident = os.getpid() & 0xFFFF
    packets: list[Any]
    if version == 4:
        packets = [
            IP(dst=address, ttl=ttl) / ICMP(id=ident, seq=ttl * 100 + k)
            for ttl in range(1, s.max_hops + 1)
            for k in range(s.probes_per_hop)
        ]
    else:
        packets = [
            IPv6(dst=address, hlim=ttl) / ICMPv6EchoRequest(id=ident, seq=ttl * 100 + k)
            for ttl in range(1, s.max_hops + 1)
            for k in range(s.probes_per_hop)
        ]
    answered, _ = sr(packets, timeout=timeout, inter=s.inter_s, verbose=0, multi=False)
    out = []
    for sent, got in answered:
        ttl = sent[IP].ttl if version == 4 else sent[IPv6].hlim
        who = got[IP].src if version == 4 else got[IPv6].src
        reached = (got.haslayer(ICMP) and got[ICMP].type == 0) if version == 4 else got.haslayer(ICMPv6EchoReply)
        out.append((int(ttl), str(who), (float(got.time) - float(sent.sent_time or got.time)) * 1000.0, bool(reached)))
    return out
