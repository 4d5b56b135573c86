"""The small interface every probe implements.

A probe takes a batch of targets of its kind (batching lets ICMP share one socket and SNMP one event
loop) and returns one Measurement per target. A failure is data: a Measurement with a non-OK status and
an error text, never an exception escaping `run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from netprobe.inventory.model import PingSettings, SnmpSettings, SnmpV2c, SnmpV3, TcpSettings


class ProbeKind(StrEnum):
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


class Role(StrEnum):
    """What a target is, as a tag: bounded cardinality."""

    CE = "ce"  # the commune end of a dedicated line
    PE = "pe"  # the provider end of a dedicated line
    DEVICE = "device"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Target:
    key: str  # stable and unique, e.g. "ping/line/kinh-bac-vnpt-1/ce"; used for sharding and state
    kind: ProbeKind
    address: str
    tags: Mapping[str, str]  # schema tags: province, commune, site, line, device, provider, kind, target
    where: str = ""  # inventory file:line:col, for error messages
    port: int | None = None
    ping: PingSettings | None = None
    tcp: TcpSettings | None = None
    snmp: SnmpSettings | None = None
    snmp_profile: SnmpV2c | SnmpV3 | None = None
    interfaces: tuple[str | int, ...] = ()

    @property
    def interval_s(self) -> float:
        settings = {ProbeKind.PING: self.ping, ProbeKind.TCP: self.tcp, ProbeKind.SNMP: self.snmp}.get(self.kind)
        return settings.interval_s if settings is not None else 60.0


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
    kind: ProbeKind

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        """Probe every target; return one Measurement each, in any order, by `deadline` (loop.time())."""
        ...
