"""What `netprobe check` finds: per-item verdicts, findings (which part is at fault and what to do), traces.

Everything a person reads is a catalogue key plus parameters (`Msg`), rendered in vi or en at the end, so
the same result prints in either language and `--json` carries both the key and the rendered text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from netprobe.health.verdict import State

__all__ = ["State"]  # check speaks the engine's states (one judge: health/verdict.py)


def rank(state: State) -> tuple[int, int]:
    """How bad a state is, for "worst of": health's severity (UNKNOWN below OK, so one unmeasured thing does
    not hide the rest); between DOWN and UNREACHABLE (both 3) the fault itself, DOWN, comes first."""
    return (state.severity, -state.code)


def worst(states: list[State]) -> State:
    return max(states, key=rank, default=State.UNKNOWN)


class Exit(IntEnum):
    """Nagios plugin convention."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def exit_for(state: State) -> Exit:
    if state in (State.DOWN, State.UNREACHABLE):
        return Exit.CRITICAL
    if state in (State.DEGRADED, State.UNSTABLE):
        return Exit.WARNING
    if state is State.OK:
        return Exit.OK
    return Exit.UNKNOWN


class Part(StrEnum):
    LAN = "lan"
    LINE = "line"
    PROVIDER = "provider"
    DATACENTRE = "datacentre"
    AGENT = "agent"


class Msg:
    """A catalogue key and its parameters: `Msg("reason.loss", value=18.0, limit=10)`."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, {self.params!r})"


@dataclass
class PingStats:
    agent: str
    address: str
    status: str  # probes.base.Status value
    sent: int = 0
    received: int = 0
    loss_pct: float | None = None
    rtt_p50_ms: float | None = None
    rtt_p95_ms: float | None = None
    jitter_ms: float | None = None
    error: str | None = None

    @property
    def measured(self) -> bool:
        return self.status not in ("error", "not_allowed") and self.sent > 0


@dataclass
class IfStats:
    name: str
    oper_status: int | None = None  # IF-MIB: 1 up, 2 down
    admin_status: int | None = None
    errors_per_s: float | None = None  # in + out errors
    discards_per_s: float | None = None


@dataclass
class SnmpStats:
    agent: str
    status: str
    uptime_s: float | None = None
    interfaces: list[IfStats] = field(default_factory=list)
    error: str | None = None
    boot_time: float | None = None  # unix s: poll time − sysUpTime (shown "up since HH:MM"; not a flag)


@dataclass
class TcpStats:
    agent: str
    port: int
    status: str
    connect_ms: float | None = None
    error: str | None = None


@dataclass
class WebStats:
    """One HTTP(S) GET of a web service from one vantage point (netprobe.probes.http)."""

    agent: str
    status: str
    http_status: int | None = None
    total_ms: float | None = None
    ttfb_ms: float | None = None
    cert_days_left: float | None = None
    error: str | None = None


@dataclass
class Hop:
    ttl: int
    address: str | None  # None: no answer at this TTL
    sent: int
    received: int
    rtt_ms: float | None = None
    part: Part | None = None  # which part of the path this hop belongs to

    @property
    def loss_pct(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 100.0


@dataclass
class Trace:
    line: str
    agent: str
    destination: str
    hops: list[Hop]
    reached: bool
    error: str | None = None


@dataclass
class Item:
    """One row of the verdict table: a line (its CE), a line's PE, a device or a service."""

    kind: str  # "line", "pe", "device", "service"
    id: str
    label: str
    device_kind: str | None = None  # a device: router, switch, ... (shown translated)
    state: State = State.UNKNOWN
    provider: str | None = None
    circuit_id: str | None = None
    site: str | None = None
    address: str | None = None
    ping: list[PingStats] = field(default_factory=list)  # one per vantage point
    snmp: list[SnmpStats] = field(default_factory=list)
    tcp: list[TcpStats] = field(default_factory=list)
    web: list[WebStats] = field(default_factory=list)
    reasons: list[Msg] = field(default_factory=list)
    score: float | None = None  # the engine's score (0-100), as in status and Grafana
    judged_loss_pct: float | None = None  # the engine's loss over its window: the figure behind the state

    def best_ping(self) -> PingStats | None:
        """The vantage point that sees it best: what the line itself does (the others may add their own fault)."""
        measured = [p for p in self.ping if p.measured]
        if not measured:
            return None
        return min(measured, key=lambda p: (p.loss_pct if p.loss_pct is not None else 100.0, p.rtt_p50_ms or 0.0))


@dataclass
class Finding:
    part: Part
    state: State
    subject: str  # the line, device, service or agent at fault
    message: Msg  # what is wrong, in plain words
    evidence: list[Msg]
    next_step: Msg
    provider: str | None = None
    circuit_id: str | None = None
    hotline: str | None = None
    hop: int | None = None  # traceroute hop where the trouble starts
    loss_pct: float | None = None
    # False for trouble that is not the commune's (a data centre's own uplink): it warns, never more
    affects_commune: bool = True


@dataclass
class History:
    window_s: float
    unstable: dict[str, int]  # item id → hours (or verdict changes) that were not OK in the window
    source: str  # "local" / "influxdb"


@dataclass
class CheckResult:
    commune: str
    commune_name: str
    started: float
    duration_s: float
    agents: list[str]
    items: list[Item]
    findings: list[Finding]
    traces: list[Trace] = field(default_factory=list)
    history: History | None = None
    notes: list[Msg] = field(default_factory=list)

    def _item_states(self) -> list[State]:
        """Items' states for the verdict: gear UNREACHABLE behind a faulty line or device here is that
        fault's consequence, as bad as its cause (a flapping line is UNSTABLE, not CRITICAL because the
        gear behind it was dark during check's burst). Kept when no cause is in the list."""
        states = [i.state for i in self.items]
        causes: list[State] = [s for s in states if s is not State.UNREACHABLE]
        return causes if any(s.severity > State.OK.severity for s in causes) else states

    @property
    def state(self) -> State:
        return worst(self._item_states() + [f.state for f in self.findings if f.affects_commune])

    @property
    def exit(self) -> Exit:
        states = self._item_states()
        if not states or all(s is State.UNKNOWN for s in states):
            return Exit.UNKNOWN
        states += [f.state for f in self.findings if f.affects_commune]
        states += [State.DEGRADED for f in self.findings if not f.affects_commune]
        return exit_for(worst(states))
