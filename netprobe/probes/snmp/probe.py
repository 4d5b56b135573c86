"""SNMP poll (pysnmp ≥ 7, asyncio): system group + watched IF-MIB interfaces, v2c and v3 authPriv.

One poll is one GET: sysUpTime, sysName, sysDescr and, per watched interface, ifName, admin/oper status,
ifLastChange, ifHC{In,Out}Octets + ifHighSpeed (and the 32-bit ifIn/OutOctets + ifSpeed for agents
without ifXTable), errors and discards. Rates come from the previous poll of the same target, kept here
(netprobe.probes.snmp.counters decides wrap vs reset vs reboot).

Speed (measured, docs/probes.md): MIB lookup off (`lookupMib=False`, numeric OIDs: halves CPU), one
SnmpEngine per credential set and one transport per target reused across polls. Isolation: every poll
runs under its own timeout (timeout × (retries+1), capped by the run deadline) and a semaphore bounds
concurrency, so a dead agent costs only its own timeout and never delays another target.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    walk_cmd,
)
from pysnmp.proto import rfc1902

from netprobe.engine.allowlist import AllowList
from netprobe.errors import ConfigError
from netprobe.inventory.model import SnmpSettings, SnmpV2c, SnmpV3
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.probes.snmp import counters as C

SYS_UPTIME, SYS_NAME, SYS_DESCR = "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.1.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
# per-interface columns: name → (OID prefix, what it must be)
IF_COLUMNS: dict[str, tuple[str, str]] = {
    "name": (IF_NAME, "str"),
    "admin_status": ("1.3.6.1.2.1.2.2.1.7", "int"),
    "oper_status": ("1.3.6.1.2.1.2.2.1.8", "int"),
    "last_change": ("1.3.6.1.2.1.2.2.1.9", "ticks"),
    "hc_in": ("1.3.6.1.2.1.31.1.1.1.6", "c64"),
    "hc_out": ("1.3.6.1.2.1.31.1.1.1.10", "c64"),
    "high_speed": ("1.3.6.1.2.1.31.1.1.1.15", "gauge"),
    "in_octets": ("1.3.6.1.2.1.2.2.1.10", "c32"),
    "out_octets": ("1.3.6.1.2.1.2.2.1.16", "c32"),
    "speed": ("1.3.6.1.2.1.2.2.1.5", "gauge"),
    "in_discards": ("1.3.6.1.2.1.2.2.1.13", "c32"),
    "in_errors": ("1.3.6.1.2.1.2.2.1.14", "c32"),
    "out_discards": ("1.3.6.1.2.1.2.2.1.19", "c32"),
    "out_errors": ("1.3.6.1.2.1.2.2.1.20", "c32"),
}
MAX_TEXT = 255  # sysName/sysDescr longer than this are cut: a hostile agent must not bloat the database
MAX_WALK_ROWS = 10_000  # bounded interface-name walk
AUTH_ERRORS = ("unknownusername", "wrongdigest", "decryption", "unknownsecurityname", "unsupportedseclevel",
               "unknownengineid", "notintimewindow", "unknowncommunity", "authorization")  # fmt: skip

AUTH_PROTOCOLS = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol,
    "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES128": usmAesCfb128Protocol,
    "AES192": usmAesCfb192Protocol,
    "AES256": usmAesCfb256Protocol,
}
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (rfc1902.OctetString,),
    "int": (rfc1902.Integer32, rfc1902.Integer),
    "ticks": (rfc1902.TimeTicks,),
    "c64": (rfc1902.Counter64,),
    "c32": (rfc1902.Counter32,),
    "gauge": (rfc1902.Gauge32, rfc1902.Unsigned32),
}


class BadReply(Exception):
    """The agent answered something a well-behaved agent cannot: the poll is a BAD_REPLY."""


@dataclass(slots=True)
class _Previous:
    ticks: int
    wall: float
    interfaces: dict[int, C.IfCounters] = field(default_factory=dict)


def _value(vb_value: Any, kind: str, oid: str) -> int | str | None:
    """A checked Python value from one varbind; None when the agent has no such object."""
    if isinstance(vb_value, rfc1902.Null) or type(vb_value).__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
        return None
    if not isinstance(vb_value, _TYPES[kind]):
        raise BadReply(f"{oid}: expected {kind}, got {type(vb_value).__name__}")
    if kind == "str":
        return bytes(vb_value)[: MAX_TEXT * 4].decode("utf-8", "replace")[:MAX_TEXT]
    return int(vb_value)


class SnmpProbe:
    kind = ProbeKind.SNMP

    def __init__(self, allow: AllowList, concurrency: int = 256) -> None:
        self.allow = allow
        self.concurrency = concurrency
        self._engines: dict[tuple[str, ...], SnmpEngine] = {}
        self._transports: dict[tuple[str, int, float, int], Any] = {}
        self._previous: dict[str, _Previous] = {}
        self._if_index: dict[str, dict[str | int, int]] = {}

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(t: Target) -> Measurement:
            async with gate:
                return await self.poll(t, deadline)

        return list(await asyncio.gather(*(one(t) for t in targets)))

    async def poll(self, target: Target, deadline: float) -> Measurement:
        """One poll of one agent; every failure becomes a Measurement with a status."""
        started = time.time()
        loop = asyncio.get_running_loop()
        settings = target.snmp or SnmpSettings()
        try:
            ip = ipaddress.ip_address(target.address)
        except ValueError:
            return Measurement(target, started, Status.ERROR, {}, f"{target.address!r} is not an IP address")
        if not self.allow.allows(ip):
            return Measurement(target, started, Status.NOT_ALLOWED, {}, self.allow.refusal(target.address, target.key))
        if target.snmp_profile is None:
            return Measurement(target, started, Status.ERROR, {}, "no snmp_profile for this device")
        budget = min(settings.timeout_ms / 1000.0 * (settings.retries + 1) + 0.2, deadline - loop.time())
        if budget <= 0:
            return Measurement(target, started, Status.TIMEOUT, {}, "deadline passed before the poll")
        try:
            return await asyncio.wait_for(self._poll(target, settings, ip, started), budget)
        except TimeoutError:
            return Measurement(target, started, Status.TIMEOUT, {}, f"no SNMP answer within {budget:.1f} s")
        except ConfigError as exc:
            return Measurement(target, started, Status.ERROR, {}, str(exc))
        except BadReply as exc:
            return Measurement(target, started, Status.BAD_REPLY, {}, f"malformed reply: {exc}")
        except Exception as exc:  # pysnmp decoding a hostile packet, or a bug: data, not a crash
            return Measurement(target, started, Status.BAD_REPLY, {}, f"{type(exc).__name__}: {exc}"[:300])

    # -- pysnmp plumbing -------------------------------------------------------------------------------

    def _auth(self, target: Target) -> tuple[tuple[str, ...], Any, Any]:
        p = target.snmp_profile
        if isinstance(p, SnmpV2c):
            community = p.community.resolve(target.where or target.key)
            return ("2c", community), CommunityData(community, mpModel=1), ContextData()
        assert isinstance(p, SnmpV3)
        where = target.where or target.key
        auth_key, priv_key = p.auth_key.resolve(where), p.priv_key.resolve(where)
        key = ("3", p.user, p.auth_protocol, auth_key, p.priv_protocol, priv_key)
        data = UsmUserData(
            p.user,
            authKey=auth_key,
            privKey=priv_key,
            authProtocol=AUTH_PROTOCOLS[p.auth_protocol],
            privProtocol=PRIV_PROTOCOLS[p.priv_protocol],
        )
        return key, data, ContextData(contextName=p.context)

    async def _transport(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, s: SnmpSettings) -> Any:
        key = (ip.compressed, port, s.timeout_ms, s.retries)
        transport = self._transports.get(key)
        if transport is None:
            cls = UdpTransportTarget if ip.version == 4 else Udp6TransportTarget
            transport = await cls.create((ip.compressed, port), timeout=s.timeout_ms / 1000.0, retries=s.retries)
            self._transports[key] = transport
        return transport

    def _engine(self, key: tuple[str, ...]) -> SnmpEngine:
        # one engine per credential set: USM users are keyed by name, two keys for one name must not meet
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = SnmpEngine()
        return engine

    async def _get(self, engine: SnmpEngine, auth: Any, transport: Any, ctx: Any, oids: list[str]) -> list[Any]:
        err_ind, err_status, err_index, var_binds = await get_cmd(
            engine, auth, transport, ctx, *(ObjectType(ObjectIdentity(o)) for o in oids), lookupMib=False
        )
        if err_ind:
            raise _Indication(str(err_ind))
        if err_status:
            raise BadReply(f"agent error-status {err_status.prettyPrint()} at varbind {int(err_index)}")
        if len(var_binds) != len(oids):
            raise BadReply(f"{len(var_binds)} varbinds for {len(oids)} requested")
        values = []
        for (name, value), oid in zip(var_binds, oids, strict=True):
            if str(name) != oid:
                raise BadReply(f"answer for {name} where {oid} was asked")
            values.append(value)
        return values

    async def _walk(self, engine: SnmpEngine, auth: Any, transport: Any, ctx: Any, column: str) -> dict[int, str]:
        out: dict[int, str] = {}
        async for err_ind, err_status, _idx, var_binds in walk_cmd(
            engine, auth, transport, ctx, ObjectType(ObjectIdentity(column)), lookupMib=False, lexicographicMode=False
        ):
            if err_ind:
                raise _Indication(str(err_ind))
            if err_status:
                break
            for name, value in var_binds:
                text = _value(value, "str", str(name))
                suffix = str(name)[len(column) + 1 :]
                if text is not None and suffix.isdigit():
                    out[int(suffix)] = text
            if len(out) >= MAX_WALK_ROWS:
                break
        return out

    # -- one poll ----------------------------------------------------------------------------------------

    async def _poll(self, target: Target, s: SnmpSettings, ip: Any, started: float) -> Measurement:
        key, auth, ctx = self._auth(target)
        engine = self._engine(key)
        transport = await self._transport(ip, target.port or target.snmp_profile.port, s)  # type: ignore[union-attr]
        t0 = time.perf_counter()
        try:
            indexes, missing = await self._resolve(target, engine, auth, transport, ctx)
            oids = [SYS_UPTIME, SYS_NAME, SYS_DESCR]
            for index in indexes.values():
                oids += [f"{col}.{index}" for col, _ in IF_COLUMNS.values()]
            values = await self._get(engine, auth, transport, ctx, oids)
        except _Indication as exc:
            return self._indication(target, started, str(exc))
        response_ms = (time.perf_counter() - t0) * 1000.0
        wall = time.time()
        ticks = _value(values[0], "ticks", SYS_UPTIME)
        if not isinstance(ticks, int):
            raise BadReply("no sysUpTime")
        prev = self._previous.get(target.key)
        reboot = prev is not None and C.rebooted(prev.ticks, prev.wall, ticks, wall)
        seconds = C.elapsed_s(prev.ticks, prev.wall, ticks, wall) if prev is not None else 0.0
        fields: dict[str, float | int | str | bool] = {
            "uptime_s": ticks / C.TICKS_PER_S,
            "rebooted": reboot,
            "response_ms": response_ms,
        }
        for name, value, oid in (("sys_name", values[1], SYS_NAME), ("sys_descr", values[2], SYS_DESCR)):
            text = _value(value, "str", oid)
            if text is not None:
                fields[name] = text
        current = _Previous(ticks, wall)
        rows = []
        width = len(IF_COLUMNS)
        for n, (selector, index) in enumerate(indexes.items()):
            chunk = values[3 + n * width : 3 + (n + 1) * width]
            row, counters = self._row(selector, index, chunk, ticks)
            if counters is not None:
                current.interfaces[index] = counters
                old = prev.interfaces.get(index) if prev is not None and not reboot else None
                if reboot:
                    row["counter_event"] = C.EVENT_RESET
                elif old is not None:
                    speed = float(row["speed_mbps"]) * 1e6 if row.get("speed_mbps") else None
                    row.update(C.interface_rates(old, counters, seconds, reboot=False, speed_bps=speed))
            rows.append(row)
        if reboot:
            self._if_index.pop(target.key, None)  # ifIndex may be renumbered after a reboot
        self._previous[target.key] = current
        error = f"interface(s) not found by ifName/ifDescr/ifIndex: {', '.join(map(str, missing))}" if missing else None
        return Measurement(target, started, Status.OK, fields, error, rows)

    def _row(self, selector: str | int, index: int, chunk: list[Any], ticks: int) -> tuple[dict[str, Any], C.IfCounters | None]:
        v = {name: _value(val, kind, f"{oid}.{index}") for (name, (oid, kind)), val in zip(IF_COLUMNS.items(), chunk, strict=True)}
        name = selector if isinstance(selector, str) else (v["name"] or str(index))
        row: dict[str, Any] = {"ifname": name, "if_index": index}
        for field_name in ("oper_status", "admin_status"):
            status = v[field_name]
            if status is not None:
                if not isinstance(status, int) or not 1 <= status <= 7:
                    raise BadReply(f"{field_name} {status!r} outside IF-MIB's 1..7")
                row[field_name] = status
        if isinstance(v["last_change"], int):
            row["last_change_s"] = max(0, ticks - v["last_change"]) / C.TICKS_PER_S
        if isinstance(v["high_speed"], int) and v["high_speed"] > 0:
            row["speed_mbps"] = float(v["high_speed"])
        elif isinstance(v["speed"], int) and v["speed"] > 0:
            row["speed_mbps"] = v["speed"] / 1e6
        if isinstance(v["hc_in"], int) and isinstance(v["hc_out"], int):
            octets: tuple[int, int, int] = (v["hc_in"], v["hc_out"], 64)
        elif isinstance(v["in_octets"], int) and isinstance(v["out_octets"], int):
            octets = (v["in_octets"], v["out_octets"], 32)
        else:
            return row, None
        row["in_octets"], row["out_octets"] = octets[0], octets[1]
        counters = C.IfCounters(
            octets[0],
            octets[1],
            octets[2],
            *(x if isinstance(x, int) else None for x in (v["in_errors"], v["out_errors"], v["in_discards"], v["out_discards"])),
        )
        return row, counters

    async def _resolve(
        self, target: Target, engine: SnmpEngine, auth: Any, transport: Any, ctx: Any
    ) -> tuple[dict[str | int, int], list[str | int]]:
        """ifIndex of each watched interface (names looked up once by walking ifName, then ifDescr)."""
        cached = self._if_index.get(target.key)
        if cached is not None:
            return cached, [s for s in target.interfaces if s not in cached]
        found: dict[str | int, int] = {s: s for s in target.interfaces if isinstance(s, int)}
        names = [s for s in target.interfaces if isinstance(s, str)]
        for column in (IF_NAME, IF_DESCR):
            wanted = [n for n in names if n not in found]
            if not wanted:
                break
            by_name = {text: idx for idx, text in sorted((await self._walk(engine, auth, transport, ctx, column)).items())}
            for n in wanted:
                if n in by_name:
                    found[n] = by_name[n]
        self._if_index[target.key] = found
        return found, [s for s in target.interfaces if s not in found]

    def _indication(self, target: Target, started: float, text: str) -> Measurement:
        low = text.lower().replace(" ", "")
        if "timeout" in low or "timedout" in low:
            return Measurement(target, started, Status.TIMEOUT, {}, f"no SNMP answer ({text}); for v2c also check the community")
        if any(word in low for word in AUTH_ERRORS):
            return Measurement(target, started, Status.AUTH, {}, f"SNMP authentication failed: {text}")
        return Measurement(target, started, Status.ERROR, {}, f"SNMP error: {text}")


class _Indication(Exception):
    """pysnmp's errorIndication (timeout, auth failure...) carried out of the request helpers."""
