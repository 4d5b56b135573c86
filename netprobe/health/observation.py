"""The normalised input of the verdicts: one Observation per probe result, from a live Measurement or a
stored Point — the same adapter core for both, so a verdict recomputed from history equals the live one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from netprobe.probes.base import Measurement
from netprobe.storage.point import Point

# Probe statuses that say nothing about the target: the agent could not (or would not) send.
LOCAL_STATUSES = frozenset({"error", "not_allowed"})


class Source(StrEnum):
    PING = "ping"
    SNMP_SYS = "snmp_sys"
    SNMP_IF = "snmp_if"


@dataclass(slots=True)  # not frozen: a frozen dataclass is ~3× slower to build, and we build millions
class Observation:
    time: float  # unix seconds the probe started
    source: Source
    subject: str  # line id (ce/pe ping) or device id
    role: str  # "ce", "pe" or "device"
    agent: str = ""  # the vantage point that measured it
    ok: bool = True  # the probe's status was ok
    sent: int = 0  # ping
    received: int = 0
    rtt_ms: float | None = None  # ping: median RTT of the burst
    jitter_ms: float | None = None
    uptime_s: float | None = None  # snmp_sys
    rebooted: bool = False
    ifname: str = ""  # snmp_if
    oper_status: int | None = None
    admin_status: int | None = None
    last_change_s: float | None = None
    errors_per_s: float | None = None  # in + out

    @property
    def sort_key(self) -> tuple[float, str, str, str, str, str]:
        return (self.time, self.source.value, self.subject, self.role, self.agent, self.ifname)

    @property
    def series(self) -> tuple[str, str, str]:
        """Which reachability series it belongs to: (subject, role, agent)."""
        return (self.subject, self.role, self.agent)

    @property
    def lost_all(self) -> bool:
        return self.source is Source.PING and self.sent > 0 and self.received == 0


def _float(fields: Mapping[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if type(value) is float:
        return value
    if type(value) is int:  # exact types: a bool is an int and is not a number here
        return float(value) if abs(value) < 2**1023 else None  # beyond a float: not a measurement
    return None


def _int(fields: Mapping[str, Any], name: str) -> int | None:
    value = _float(fields, name)
    return int(value) if value is not None and math.isfinite(value) else None


def observe(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, Any], time: float, agent: str | None = None
) -> Observation | None:
    """The adapter core: a schema row (measurement, tags, fields) → Observation; None when not judged.

    Rows from a local failure (status error/not_allowed) are not evidence about the target: dropped.
    """
    kind = tags.get("kind", "")
    subject = tags.get("line") if kind in ("ce", "pe") else tags.get("device") if kind == "device" else None
    if not subject:
        return None
    status = str(fields.get("status", "ok"))
    if status in LOCAL_STATUSES:
        return None
    who = agent if agent is not None else tags.get("agent", "")
    ok = status == "ok"
    if measurement == "ping":
        sent = _int(fields, "packets_transmitted")
        received = _int(fields, "packets_received")
        if sent is None or sent <= 0:
            if ok:
                return None  # a ping row without counts carries nothing to judge
            sent = 1
        received = 0 if received is None else max(0, min(received, sent))
        rtt = _float(fields, "median_response_ms")
        if rtt is None:
            rtt = _float(fields, "average_response_ms")
        return Observation(
            time,
            Source.PING,
            subject,
            kind,
            who,
            ok,
            sent,
            received,
            rtt if received > 0 else None,
            _float(fields, "jitter_ms") if received > 0 else None,
        )
    if measurement == "snmp_sys" and kind == "device":
        return Observation(
            time,
            Source.SNMP_SYS,
            subject,
            kind,
            who,
            ok,
            uptime_s=_float(fields, "uptime_s"),
            rebooted=fields.get("rebooted") is True,
        )
    if measurement == "snmp_if" and kind == "device":
        ifname = tags.get("ifname", "")
        if not ifname:
            return None
        errors = [e for e in (_float(fields, "in_errors_per_s"), _float(fields, "out_errors_per_s")) if e is not None]
        return Observation(
            time,
            Source.SNMP_IF,
            subject,
            kind,
            who,
            ok,
            ifname=ifname,
            oper_status=_int(fields, "oper_status"),
            admin_status=_int(fields, "admin_status"),
            last_change_s=_float(fields, "last_change_s"),
            errors_per_s=sum(errors) if errors else None,
        )
    return None


def from_point(point: Point) -> Observation | None:
    return observe(point.measurement, point.tags, point.fields, point.time_ns / 1e9)


def from_points(points: Iterable[Point]) -> list[Observation]:
    return [o for o in map(from_point, points) if o is not None]


_MEASUREMENT_OF_KIND = {"ping": "ping", "snmp": "snmp_sys"}


def from_measurement(m: Measurement, agent: str) -> list[Observation]:
    """A live probe result → observations (an SNMP poll gives one for the system and one per interface row),
    with the same rules as storage.schema.points_from_measurement, so live and replayed verdicts agree."""
    name = _MEASUREMENT_OF_KIND.get(str(m.target.kind))
    if name is None:
        return []
    tags = dict(m.target.tags)
    fields: dict[str, Any] = {**m.fields, "status": m.status.value}
    out = [observe(name, tags, fields, m.time, agent)]
    if name == "snmp_sys":
        for row in m.rows:
            ifname = row.get("ifname")
            if ifname not in (None, ""):
                row_fields = {k: v for k, v in row.items() if k != "ifname"}
                out.append(observe("snmp_if", {**tags, "ifname": str(ifname)}, row_fields, m.time, agent))
    return [o for o in out if o is not None]


# The fields each source carries, beyond its key and time: the columns of a stored series (signals.Series)
# and of the engine's saved state (one list per field keeps it several times smaller than one record each).
FIELDS: dict[Source, tuple[str, ...]] = {
    Source.PING: ("ok", "sent", "received", "rtt_ms", "jitter_ms"),
    Source.SNMP_SYS: ("ok", "uptime_s", "rebooted"),
    Source.SNMP_IF: ("ok", "oper_status", "admin_status", "last_change_s", "errors_per_s"),
}


def decode_series(data: dict[str, Any]) -> list[Observation]:
    source, subject, role, agent, ifname = data["key"]
    src = Source(source)
    t, ok = data["time"], data["ok"]
    if src is Source.PING:
        return [
            Observation(time, src, subject, role, agent, bool(k), sent, rec, rtt, jit)
            for time, k, sent, rec, rtt, jit in zip(
                t, ok, data["sent"], data["received"], data["rtt_ms"], data["jitter_ms"], strict=True
            )
        ]
    if src is Source.SNMP_SYS:
        return [
            Observation(time, src, subject, role, agent, bool(k), 0, 0, None, None, up, bool(reb))
            for time, k, up, reb in zip(t, ok, data["uptime_s"], data["rebooted"], strict=True)
        ]
    return [
        Observation(time, src, subject, role, agent, bool(k), 0, 0, None, None, None, False, ifname, op, ad, lc, err)
        for time, k, op, ad, lc, err in zip(
            t, ok, data["oper_status"], data["admin_status"], data["last_change_s"], data["errors_per_s"], strict=True
        )
    ]
