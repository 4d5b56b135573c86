"""The small interface every probe implements.

A probe takes a batch of targets of its kind (batching lets ICMP share one socket and SNMP one event
loop) and returns one Measurement per target. A failure is data: a Measurement with a non-OK status and
an error text, never an exception escaping `run`. Each probe also says how long a batch may take
(`budget_s`): it knows its own pacing and concurrency. Which status a failure gets is decided by the
exception's type (`status_of`), never by its message text.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from netprobe.inventory.model import PingSettings, SnmpSettings, SnmpV2c, SnmpV3, TcpSettings


class ProbeKind(StrEnum):
    """The built-in kinds. A kind added as a folder (netprobe.probes.<kind>) is just its name: a Target's
    `kind` is a str, and these members are str too."""

    PING = "ping"
    TCP = "tcp"
    SNMP = "snmp"
    TRACEROUTE = "traceroute"


class Status(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"  # nothing came back in time
    REFUSED = "refused"  # TCP RST / ICMP port unreachable
    UNREACHABLE = "unreachable"  # ICMP host/net unreachable, no route
    AUTH = "auth"  # SNMP authentication/community/engine problem
    BAD_REPLY = "bad_reply"  # malformed or hostile reply
    NOT_ALLOWED = "not_allowed"  # outside the allow-list: never sent
    ERROR = "error"  # anything else (local error, privilege, resource)


class ProbeError(Exception):
    """A probe-level failure whose status is part of its type (subclasses set `status`)."""

    status = Status.ERROR


class BadReplyError(ProbeError):
    status = Status.BAD_REPLY


class AuthError(ProbeError):
    status = Status.AUTH


class NotAllowedError(ProbeError):
    status = Status.NOT_ALLOWED


_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def status_of(exc: BaseException) -> Status:
    """The Status a failure maps to, by the exception's type (and errno for a bare OSError)."""
    if isinstance(exc, ProbeError):
        return exc.status
    if isinstance(exc, TimeoutError):
        return Status.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return Status.REFUSED
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return Status.UNREACHABLE
    return Status.ERROR


class Role(StrEnum):
    """What a target is, as a tag: bounded cardinality."""

    CE = "ce"  # the commune end of a dedicated line
    PE = "pe"  # the provider end of a dedicated line
    DEVICE = "device"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # stable and unique, e.g. "ping/line/kinh-bac-vnpt-1/ce"; used for sharding and state
    kind: str  # a ProbeKind, or the name of a kind registered from its folder
    address: str
    tags: Mapping[str, str]  # schema tags: province, commune, site, line, device, provider, kind, target
    where: str = ""  # inventory file:line:col, for error messages
    port: int | None = None
    ping: PingSettings | None = None
    tcp: TcpSettings | None = None
    snmp: SnmpSettings | None = None
    snmp_profile: SnmpV2c | SnmpV3 | None = None
    interfaces: tuple[str | int, ...] = ()
    params: Any = None  # a registered kind's own settings (e.g. http: url, expect); may have interval_s

    @property
    def interval_s(self) -> float:
        by_kind: dict[str, Any] = {ProbeKind.PING: self.ping, ProbeKind.TCP: self.tcp, ProbeKind.SNMP: self.snmp}
        settings = by_kind.get(self.kind)
        if settings is None:
            settings = self.params
        interval = getattr(settings, "interval_s", None)
        return float(interval) if isinstance(interval, int | float) else 60.0


@dataclass(slots=True)
class Measurement:
    target: Target
    time: float  # unix seconds when the probe started
    status: Status
    fields: dict[str, float | int | str | bool] = field(default_factory=dict)
    error: str | None = None
    # extra rows that belong to this measurement, e.g. one per watched SNMP interface
    rows: list[dict[str, Any]] = field(default_factory=list)
    # ping: every packet's RTT in ms in send order, None for a lost packet (evidence, not a stored field)
    samples: list[float | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


class Probe(Protocol):
    @property
    def kind(self) -> str: ...

    def budget_s(self, targets: Sequence[Target]) -> float:
        """How long a batch of `targets` may take on this probe (its worst case plus a margin): the caller's
        deadline. The probe knows its pacing and concurrency; no caller has to."""
        ...

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        """Probe every target; return one Measurement each, in any order, by `deadline` (loop.time())."""
        ...


def waves_budget_s(count: int, concurrency: int, worst_ms: float, extra_waves: int = 0) -> float:
    """`budget_s` of a probe that runs `concurrency` targets at a time, each bounded by `worst_ms`: the waves
    it takes, plus `extra_waves` (round trips some targets need first) and a 1 s margin."""
    if count == 0:
        return 0.0
    waves = -(-count // concurrency)
    return worst_ms / 1000.0 * (waves + extra_waves) + 1.0


async def gather_bounded(
    targets: Sequence[Target], concurrency: int, each: Callable[[Target], Awaitable[Measurement]]
) -> list[Measurement]:
    """`each(target)` for every target, at most `concurrency` at a time (sockets and file descriptors are
    finite; 10,000 targets must not open 10,000 at once)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(t: Target) -> Measurement:
        async with gate:
            return await each(t)

    return list(await asyncio.gather(*(one(t) for t in targets)))
