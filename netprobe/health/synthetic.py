"""Synthetic observation series and small topologies, for tests and scoring benchmarks of the verdicts.

Nothing here sends traffic: it builds the Observations a probe would have produced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from netprobe.health.observation import Observation, Source
from netprobe.health.topology import Node, Topology
from netprobe.inventory.model import Thresholds

LostAt = Callable[[float], int]  # burst time → packets lost in it
RttAt = Callable[[float], float]


def healthy(_t: float) -> int:
    return 0


def pings(
    subject: str,
    role: str,
    agent: str,
    start: float,
    end: float,
    *,
    interval_s: float = 30.0,
    count: int = 10,
    lost: LostAt = healthy,
    rtt: RttAt = lambda _t: 5.0,
    jitter_ms: float = 0.5,
    phase_s: float = 0.0,
) -> list[Observation]:
    """One burst every interval_s in [start, end) (offset by phase_s), as the ping probe reports it."""
    out = []
    t = start + phase_s
    while t < end:
        n_lost = max(0, min(count, lost(t)))
        received = count - n_lost
        out.append(
            Observation(
                t, Source.PING, subject, role, agent, received > 0, count, received,
                rtt(t) if received else None, jitter_ms if received > 1 else None,
            )
        )  # fmt: skip
        t += interval_s
    return out


def snmp_polls(
    device: str,
    agent: str,
    start: float,
    end: float,
    *,
    interval_s: float = 60.0,
    boot_time: Callable[[float], float] = lambda _t: -10_000_000.0,
    answered: Callable[[float], bool] = lambda _t: True,
    interfaces: dict[str, Callable[[float], tuple[int, float, float]]] | None = None,
) -> list[Observation]:
    """SNMP polls: sysUpTime from `boot_time(t)`; per interface (oper_status, last_change_s, errors/s), where
    last_change_s is seconds since the interface last changed state, as the SNMP probe reports it."""
    out = []
    t = start
    while t < end:
        ok = answered(t)
        out.append(
            Observation(t, Source.SNMP_SYS, device, "device", agent, ok, uptime_s=t - boot_time(t) if ok else None)
        )
        if ok:
            for name, state in sorted((interfaces or {}).items()):
                oper, last_change, errors = state(t)
                out.append(
                    Observation(
                        t, Source.SNMP_IF, device, "device", agent, True, ifname=name, oper_status=oper,
                        admin_status=1, last_change_s=last_change, errors_per_s=errors,
                    )
                )  # fmt: skip
        t += interval_s
    return out


def topology(
    communes: dict[str, Sequence[str]],
    devices: dict[str, tuple[str, str]] | None = None,
    agents: Sequence[str] = ("dc-a", "dc-b"),
    thresholds: Thresholds | None = None,
    providers: dict[str, str] | None = None,
) -> Topology:
    """communes: slug → line ids; devices: id → (commune, parent id)."""
    th = thresholds or Thresholds()
    nodes: dict[str, Node] = {}
    for commune, lines in communes.items():
        for line in lines:
            provider = (providers or {}).get(line, "VNPT")
            nodes[line] = Node(line, "line", commune, "ubnd", provider, line, None, th, tuple(agents))
    for device, (commune, parent) in (devices or {}).items():
        above = parent
        while above in nodes and nodes[above].kind == "device":
            above = nodes[above].parent or ""
        up = nodes.get(above)
        nodes[device] = Node(
            device,
            "device",
            commune,
            "ubnd",
            up.provider if up else None,
            above if up else None,
            parent,
            th,
            tuple(agents),
        )
    return Topology("test", nodes, tuple(agents), {c: c.replace("-", " ").title() for c in communes})
