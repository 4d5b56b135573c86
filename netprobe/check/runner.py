"""Run every probe of one commune now, from every vantage point this machine can act as.

A vantage point is an inventory agent. In the lab (and on a host that runs several agents) an agent has
`netns:`: each one gets its own thread, which enters that network namespace before opening any socket
(setns affects the calling thread only), and runs its probes on its own event loop. Without a usable
namespace the machine probes as the configured agent (`--agent`, config `agent:`), or as itself.

Per vantage point, in order, all bounded by one deadline:
  1. ping (lines' CE/PE, devices) together with SNMP poll #1 (interface state; primes the counters),
  2. TCP (device ports, data-centre services) together with every other registered kind (e.g. HTTP),
  3. together: SNMP poll #2 (error/discard rates need two polls, RATE_GAP_S apart), and a traceroute
     to each failing line's CE followed by a ping burst to every hop on the way (per-hop loss).
Every batch is built and run through netprobe.probes.registry (make_probe, measure), as in the agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netprobe.check.model import Trace
from netprobe.check.trace import trace_path
from netprobe.engine.allowlist import AllowList
from netprobe.engine.targets import build_targets, enforce_allow_list
from netprobe.errors import ConfigError
from netprobe.inventory.loader import Inventory
from netprobe.inventory.model import PingSettings
from netprobe.probes import registry
from netprobe.probes.base import Measurement, Probe, ProbeKind, Role, Status, Target

NETNS_DIR = Path("/run/netns")
# between the two SNMP polls: agents cache interface counters (net-snmp: ifTable for ~3 s), so a shorter
# gap reads "no change" and every rate as 0
RATE_GAP_S = 3.5
LOCAL_AGENT = "local"


@dataclass(frozen=True)
class Vantage:
    name: str
    netns: str | None = None


@dataclass
class CheckSettings:
    ping_count: int = 50  # more packets than a routine burst: a 2 % threshold needs them
    ping_spacing_ms: float = 20.0
    ping_timeout_ms: float = 1000.0
    trace: bool = True
    budget_s: float = 12.0  # the whole check stays under 15 s
    max_ttl: int = 12


@dataclass
class VantageResult:
    vantage: Vantage
    measurements: list[Measurement] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    error: Exception | None = None
    elapsed_s: float = 0.0


Progress = Callable[[str, str, int, int], None]  # (vantage, step, done steps, total steps)


def vantage_points(inv: Inventory, slug: str, requested: str | None, configured: str | None) -> list[Vantage]:
    """The agents this machine can probe the commune as (see module doc)."""
    covering = [a for a in inv.agents if a.communes == "all" or slug in a.communes]
    if requested:
        match = [a for a in inv.agents if a.name == requested]
        if not match:
            names = ", ".join(inv.agent_names()) or "none"
            raise ConfigError(f"--agent {requested!r} is not an agent of the inventory (agents: {names})")
        a = match[0]
        if a.netns and not (NETNS_DIR / a.netns).exists():
            raise ConfigError(f"agent {a.name}'s namespace {a.netns!r} does not exist; is the lab up?")
        return [Vantage(a.name, a.netns)]
    in_netns = [Vantage(a.name, a.netns) for a in covering if a.netns and (NETNS_DIR / a.netns).exists()]
    if in_netns:
        return in_netns
    if configured and configured in inv.agent_names():
        agent = next(a for a in inv.agents if a.name == configured)
        return [Vantage(agent.name, None)]
    return [Vantage(LOCAL_AGENT, None)]


def commune_targets(inv: Inventory, slug: str, vantage: Vantage, settings: CheckSettings) -> list[Target]:
    agent = None if vantage.name == LOCAL_AGENT else vantage.name
    targets = build_targets(inv, agent=agent, communes=[slug])
    # the data-centre services every commune depends on, of every kind (tcp, http, ...)
    services = [t for t in build_targets(inv, agent=agent) if t.tags.get("kind") == Role.SERVICE.value]
    out = []
    for t in targets + services:
        if t.kind is ProbeKind.PING:
            t = dataclasses.replace(t, ping=check_ping_settings(t.ping, settings))
        out.append(t)
    return out


def check_ping_settings(base: PingSettings | None, settings: CheckSettings) -> PingSettings:
    base = base or PingSettings()
    return base.model_copy(
        update={
            "count": max(base.count, settings.ping_count),
            "spacing_ms": min(base.spacing_ms, settings.ping_spacing_ms),
            "timeout_ms": min(base.timeout_ms, settings.ping_timeout_ms),
        }
    )


def run_check(
    inv: Inventory,
    slug: str,
    vantages: Sequence[Vantage],
    allow: AllowList,
    settings: CheckSettings,
    progress: Progress | None = None,
    failing: Callable[[Target, Measurement], bool] | None = None,
) -> list[VantageResult]:
    """Probe from every vantage point in parallel threads; each returns when done or at the budget."""
    for v in vantages:  # refuse the whole check before anything is sent if one target is outside
        enforce_allow_list(commune_targets(inv, slug, v, settings), allow)
    results = [VantageResult(v) for v in vantages]
    threads = [
        threading.Thread(
            target=_vantage_thread,
            args=(r, inv, slug, allow, settings, progress, failing),
            daemon=True,
            name=f"check-{r.vantage.name}",
        )
        for r in results
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(settings.budget_s + 5.0)
    for r, t in zip(results, threads, strict=True):
        if t.is_alive() and r.error is None:
            r.error = TimeoutError(f"vantage point {r.vantage.name} did not finish in time")
    return results


def _vantage_thread(
    result: VantageResult,
    inv: Inventory,
    slug: str,
    allow: AllowList,
    settings: CheckSettings,
    progress: Progress | None,
    failing: Callable[[Target, Measurement], bool] | None,
) -> None:
    started = time.monotonic()
    try:
        if result.vantage.netns:
            from netprobe.lab.netns import enter

            enter(result.vantage.netns)
        asyncio.run(_probe(result, inv, slug, allow, settings, progress, failing))
    except Exception as exc:  # reported by the caller as UNKNOWN, with the one-line reason
        result.error = exc
    finally:
        result.elapsed_s = time.monotonic() - started


STEPS = ("ping+snmp", "tcp", "snmp-rates+traceroute", "done")


async def _probe(
    result: VantageResult,
    inv: Inventory,
    slug: str,
    allow: AllowList,
    settings: CheckSettings,
    progress: Progress | None,
    failing: Callable[[Target, Measurement], bool] | None,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.budget_s
    name = result.vantage.name

    def step(i: int) -> None:
        if progress is not None:
            progress(name, STEPS[min(i, len(STEPS) - 1)], i, len(STEPS))

    targets = commune_targets(inv, slug, result.vantage, settings)
    by_kind: dict[str, list[Target]] = {}
    for t in targets:
        by_kind.setdefault(t.kind, []).append(t)
    ping = by_kind.pop(ProbeKind.PING, [])
    snmp_targets = by_kind.pop(ProbeKind.SNMP, [])
    ctx = registry.ProbeContext(allow)
    icmp = registry.make_probe(ProbeKind.PING, ctx)
    snmp = registry.make_probe(ProbeKind.SNMP, ctx)
    if ping and (preflight := registry.spec(ProbeKind.PING).preflight) is not None:
        preflight()  # no ICMP socket at all: a PrivilegeError, the check cannot say anything
    step(0)
    first_poll = loop.time()
    pings, first = await asyncio.gather(
        registry.measure(icmp, ping, until=deadline - 3.0),
        registry.measure(snmp, snmp_targets, until=min(deadline - 6.0, loop.time() + 4.5)),
    )
    step(1)
    # TCP (and HTTP...) after SNMP #1: pysnmp's engine set-up blocks the event loop for a moment, which would
    # show up as connect time (ICMP is immune: kernel receive timestamps, send time read right before sendto)
    others = await asyncio.gather(
        *(registry.measure(registry.make_probe(k, ctx), ts, until=deadline - 3.0) for k, ts in sorted(by_kind.items()))
    )
    result.measurements += pings + [m for batch in others for m in batch]
    step(2)
    answered = [m.target for m in first if m.status is Status.OK]
    result.measurements += [m for m in first if m.status is not Status.OK]

    async def rates() -> list[Measurement]:
        if not answered:
            return []
        await asyncio.sleep(max(0.0, first_poll + RATE_GAP_S - loop.time()))
        return await registry.measure(snmp, answered, until=min(deadline, loop.time() + 4.0))

    async def tracing() -> list[Trace]:
        if not settings.trace or failing is None:
            return []
        bad = [m for m in pings if m.target.key.startswith("ping/line/") and m.target.key.endswith("/ce")]
        traces = await asyncio.gather(
            *(
                trace_path(
                    m.target.tags.get("line", ""),
                    name,
                    m.target.address,
                    allow,
                    max_ttl=settings.max_ttl,
                    deadline=deadline - 1.5,
                )
                for m in bad
                if failing(m.target, m)
            )
        )
        await _hop_loss(list(traces), icmp, allow, ping, settings, deadline)
        return list(traces)

    second, traces = await asyncio.gather(rates(), tracing())
    result.measurements += second
    result.traces += traces
    step(4)


async def _hop_loss(
    traces: list[Trace],
    icmp: Probe,
    allow: AllowList,
    already: list[Target],
    settings: CheckSettings,
    deadline: float,
) -> None:
    """Ping each hop's address (a burst, like the lines) and put its loss and RTT on the hop."""
    addresses = sorted({h.address for t in traces for h in t.hops if h.address and allow.allows(h.address)})
    if not addresses:
        return
    hop_settings = check_ping_settings(None, settings)
    targets = [
        Target(f"ping/hop/{a}", ProbeKind.PING, a, {"kind": "hop"}, "traceroute", ping=hop_settings) for a in addresses
    ]
    loop = asyncio.get_running_loop()
    if deadline - loop.time() < 1.0:
        return
    by_address = {m.target.address: m for m in await registry.measure(icmp, targets, until=deadline)}
    for t in traces:
        for h in t.hops:
            m = by_address.get(h.address or "")
            if m is None or m.status in (Status.ERROR, Status.NOT_ALLOWED):
                continue
            sent, received = m.fields.get("packets_transmitted"), m.fields.get("packets_received")
            if isinstance(sent, int) and isinstance(received, int) and sent > 0:
                h.sent, h.received = sent, received
                rtt = m.fields.get("median_response_ms")
                h.rtt_ms = float(rtt) if isinstance(rtt, int | float) else h.rtt_ms
