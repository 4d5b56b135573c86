"""SNMP poll: system group + watched IF-MIB interfaces, v2c and v3 authPriv.

One poll is one GET: sysUpTime, sysName, sysDescr and, per watched interface, ifName, admin/oper status,
ifLastChange, ifHC{In,Out}Octets + ifHighSpeed (and the 32-bit ifIn/OutOctets + ifSpeed for agents
without ifXTable), errors and discards. Rates come from the previous poll of the same target, kept here
(netprobe.probes.snmp.counters decides wrap vs reset vs reboot).

Backends (docs/probes.md has the measurements): v2c and v3 USM with SHA/SHA-2 + AES are hand-encoded BER
over one shared socket per family (`fastv2c`, `usm`): ~0.35 / 0.55 ms CPU per poll where pysnmp needs
~5 ms; pysnmp (`pysnmp_backend`, imported on demand) does DES and AES key-extension profiles.
Isolation: every request has its own timeout × retries, a semaphore bounds polls in flight, so a dead
agent costs only its own timeout and never delays another target. Hostile answers are BAD_REPLY.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from netprobe.engine.allowlist import AllowList
from netprobe.errors import ConfigError
from netprobe.inventory.model import SnmpSettings, SnmpV2c, SnmpV3
from netprobe.probes.base import Measurement, ProbeError, ProbeKind, Status, Target, status_of
from netprobe.probes.snmp import ber, usm
from netprobe.probes.snmp import counters as C
from netprobe.probes.snmp.common import BadReply, SnmpTimeout, Tagged, TooBig, check_binds, raise_error_status
from netprobe.probes.snmp.fastv2c import V2cClient

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
MAX_PER_GET = 48  # varbinds per GET: stays under one 1,472-byte datagram for these OIDs

_KINDS: dict[str, tuple[int, ...]] = {
    "str": (ber.OCTET_STRING,),
    "int": (ber.INTEGER,),
    "ticks": (ber.TIMETICKS,),
    "c64": (ber.COUNTER64,),
    "c32": (ber.COUNTER32,),
    "gauge": (ber.GAUGE32,),
}
_ABSENT = (ber.NO_SUCH_OBJECT, ber.NO_SUCH_INSTANCE, ber.END_OF_MIB_VIEW, ber.NULL)


@dataclass(slots=True)
class _Previous:
    ticks: int
    wall: float
    interfaces: dict[int, C.IfCounters] = field(default_factory=dict)


def _value(tagged: Tagged, kind: str, oid: str) -> int | str | None:
    """A checked Python value from one varbind; None when the agent has no such object."""
    tag, value = tagged
    if tag in _ABSENT:
        return None
    if tag not in _KINDS[kind]:
        raise BadReply(f"{oid}: expected {kind}, got BER tag 0x{tag:02x}")
    if kind == "str":
        assert isinstance(value, bytes)
        return value[: MAX_TEXT * 4].decode("utf-8", "replace")[:MAX_TEXT]
    assert isinstance(value, int)
    return value


class SnmpProbe:
    kind = ProbeKind.SNMP

    def __init__(self, allow: AllowList, concurrency: int = 256, *, fast_v3: bool = True) -> None:
        self.allow = allow
        self.concurrency = concurrency
        self.fast_v3 = fast_v3  # False: every v3 poll through pysnmp (the reference implementation)
        self._active = 0  # runs in progress on this probe
        self._v2c = V2cClient()
        self._v3 = usm.V3Client()
        self._engines: dict[tuple[str, ...], Any] = {}  # pysnmp SnmpEngine per credential set
        self._transports: dict[tuple[str, int, float, int], Any] = {}
        self._previous: dict[str, _Previous] = {}
        self._if_index: dict[str, dict[str | int, int]] = {}  # per target: selector → ifIndex
        self._name_maps: dict[tuple[str, int, str], dict[str, int]] = {}  # per agent and column: name → ifIndex
        self._walk_locks: dict[tuple[str, int, str], asyncio.Lock] = {}

    def budget_s(self, targets: Sequence[Target]) -> float:
        """Waves of `concurrency` polls of timeout × tries; names are resolved by a walk on the first poll,
        so a few round trips more."""
        if not targets:
            return 0.0
        waves = -(-len(targets) // self.concurrency)
        worst = max((s := t.snmp or SnmpSettings()).timeout_ms * (s.retries + 1) for t in targets)
        return worst / 1000.0 * (waves + 4) + 1.0

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(t: Target) -> Measurement:
            async with gate:
                return await self.poll(t, deadline)

        self._active += 1
        try:
            return list(await asyncio.gather(*(one(t) for t in targets)))
        finally:
            self._active -= 1
            if self._active == 0:  # an overlapping run may still use the sockets
                self.close()

    def close(self) -> None:
        """Close the sockets (they belong to this event loop); per-target history and engine IDs stay."""
        self._v2c.close()
        self._v3.close()
        for engine in self._engines.values():
            engine.close_dispatcher()
        self._engines.clear()
        self._transports.clear()
        self._walk_locks.clear()  # asyncio locks belong to the loop that used them

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
        # each request has its own timeout × retries inside; this bound only keeps the poll inside the run
        budget = deadline - loop.time()
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

    # -- backends --------------------------------------------------------------------------------------

    async def _agent(self, target: Target, ip: Any, s: SnmpSettings) -> _Agent:
        p = target.snmp_profile
        where = target.where or target.key
        port = target.port or (p.port if p is not None else 161)
        if isinstance(p, SnmpV2c):
            community = p.community.resolve(where).encode()
            return _FastV2c(self._v2c, ip.compressed, port, community, s.timeout_ms / 1000.0, s.retries)
        assert isinstance(p, SnmpV3)
        # RFC 3414 section 11.2: USM passphrases are at least 8 characters (net-snmp refuses shorter ones too)
        auth_key = p.auth_key.resolve(where, min_length=8, what="SNMPv3 auth passphrase (RFC 3414)")
        priv_key = p.priv_key.resolve(where, min_length=8, what="SNMPv3 priv passphrase (RFC 3414)")
        if self.fast_v3 and usm.supported(p.auth_protocol, p.priv_protocol):
            creds = usm.Credentials(
                p.user.encode(),
                p.auth_protocol,
                auth_key.encode(),
                p.priv_protocol,
                priv_key.encode(),
                p.context.encode(),
            )
            return _FastV3(self._v3, ip.compressed, port, creds, s.timeout_ms / 1000.0, s.retries)
        from netprobe.probes.snmp import pysnmp_backend  # heavy: only for profiles the built-in USM lacks

        key = ("3", p.user, p.auth_protocol, auth_key, p.priv_protocol, priv_key)
        return await pysnmp_backend.agent(self._engines, self._transports, key, p, ip, port, s, auth_key, priv_key)

    # -- one poll ----------------------------------------------------------------------------------------

    async def _poll(self, target: Target, s: SnmpSettings, ip: Any, started: float) -> Measurement:
        agent = await self._agent(target, ip, s)
        t0 = time.perf_counter()
        try:
            indexes, missing = await self._resolve(target, agent)
            oids = [SYS_UPTIME, SYS_NAME, SYS_DESCR]
            for index in indexes.values():
                oids += [f"{col}.{index}" for col, _ in IF_COLUMNS.values()]
            values = await _get_all(agent, oids)
        except SnmpTimeout as exc:
            return Measurement(target, started, Status.TIMEOUT, {}, f"{exc}; for v2c also check the community")
        except ber.BerError as exc:
            return Measurement(target, started, Status.BAD_REPLY, {}, f"malformed reply: {exc}")
        except usm.UsmError as exc:
            return Measurement(target, started, Status.AUTH, {}, f"SNMPv3: {exc}")
        except ProbeError as exc:  # pysnmp's indications, typed by pysnmp_backend.indication_error
            return Measurement(target, started, status_of(exc), {}, str(exc))
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
            if all(tag in _ABSENT for tag, _ in chunk):  # no such ifIndex (any more): say so, no empty row
                missing.append(selector)
                self._if_index.pop(target.key, None)  # names may point elsewhere now: resolve again
                continue
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
            for column in (IF_NAME, IF_DESCR):
                self._name_maps.pop((target.address, target.port or 0, column), None)
        self._previous[target.key] = current
        error = f"interface(s) not found by ifName/ifDescr/ifIndex: {', '.join(map(str, missing))}" if missing else None
        return Measurement(target, started, Status.OK, fields, error, rows)

    def _row(
        self, selector: str | int, index: int, chunk: list[Tagged], ticks: int
    ) -> tuple[dict[str, Any], C.IfCounters | None]:
        v = {
            name: _value(val, kind, f"{oid}.{index}")
            for (name, (oid, kind)), val in zip(IF_COLUMNS.items(), chunk, strict=True)
        }
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
            *(
                x if isinstance(x, int) else None
                for x in (v["in_errors"], v["out_errors"], v["in_discards"], v["out_discards"])
            ),
        )
        return row, counters

    async def _resolve(self, target: Target, agent: _Agent) -> tuple[dict[str | int, int], list[str | int]]:
        """ifIndex of each watched interface; names are looked up by walking ifName, then ifDescr, once per
        agent (shared by every target on it, one walk at a time), and remembered until the agent reboots."""
        cached = self._if_index.get(target.key)
        if cached is not None:
            return cached, [s for s in target.interfaces if s not in cached]
        found: dict[str | int, int] = {s: s for s in target.interfaces if isinstance(s, int)}
        names = [s for s in target.interfaces if isinstance(s, str)]
        for column in (IF_NAME, IF_DESCR):
            wanted = [n for n in names if n not in found]
            if not wanted:
                break
            key = (target.address, target.port or 0, column)
            lock = self._walk_locks.setdefault(key, asyncio.Lock())
            async with lock:
                by_name = self._name_maps.get(key)
                if by_name is None:
                    walked = await _walk_names(agent, column)
                    by_name = self._name_maps[key] = {text: idx for idx, text in sorted(walked.items(), reverse=True)}
            for n in wanted:
                if n in by_name:
                    found[n] = by_name[n]
        self._if_index[target.key] = found
        return found, [s for s in target.interfaces if s not in found]


class _Agent(Protocol):
    async def get(self, oids: list[str]) -> list[Tagged]: ...

    async def next(self, oid: str) -> tuple[str, Tagged]: ...

    async def bulk(self, oid: str) -> list[tuple[str, Tagged]]:
        """The next rows after `oid` (GETBULK: up to ber.BULK_REPETITIONS of them; at least one)."""
        ...


class _FastV2c:
    """v2c: hand-encoded BER over the probe's shared socket."""

    def __init__(self, client: V2cClient, address: str, port: int, community: bytes, timeout: float, retries: int):
        self.client, self.address, self.port, self.community = client, address, port, community
        self.timeout, self.retries = timeout, retries

    async def _ask(self, oids: list[str], tag: int) -> list[tuple[str, Tagged]]:
        pdu = await self.client.get(self.address, self.port, self.community, oids, self.timeout, self.retries, tag)
        if pdu.tag != ber.RESPONSE:
            raise BadReply("a report where a response was expected")
        raise_error_status(pdu.error_status, pdu.error_index)
        binds = [(vb.oid, (vb.tag, vb.value)) for vb in pdu.varbinds]
        return check_binds(binds, oids, tag == ber.GET_REQUEST, ber.BULK_REPETITIONS if tag == ber.GET_BULK else 0)

    async def get(self, oids: list[str]) -> list[Tagged]:
        return [v for _, v in await self._ask(oids, ber.GET_REQUEST)]

    async def next(self, oid: str) -> tuple[str, Tagged]:
        return (await self._ask([oid], ber.GET_NEXT))[0]

    async def bulk(self, oid: str) -> list[tuple[str, Tagged]]:
        return await self._ask([oid], ber.GET_BULK)


class _FastV3(_FastV2c):
    """v3 authPriv with SHA-1/SHA-2 + AES: netprobe.probes.snmp.usm over the probe's shared socket."""

    def __init__(
        self, client: usm.V3Client, address: str, port: int, creds: usm.Credentials, timeout: float, retries: int
    ):
        self.v3, self.address, self.port, self.creds = client, address, port, creds
        self.timeout, self.retries = timeout, retries

    async def _ask(self, oids: list[str], tag: int) -> list[tuple[str, Tagged]]:
        pdu = await self.v3.request(self.address, self.port, self.creds, oids, self.timeout, self.retries, tag)
        if pdu.tag != ber.RESPONSE:
            raise BadReply("a report where a response was expected")
        raise_error_status(pdu.error_status, pdu.error_index)
        binds = [(vb.oid, (vb.tag, vb.value)) for vb in pdu.varbinds]
        return check_binds(binds, oids, tag == ber.GET_REQUEST, ber.BULK_REPETITIONS if tag == ber.GET_BULK else 0)


async def _get_all(agent: _Agent, oids: list[str]) -> list[Tagged]:
    """GET in chunks of MAX_PER_GET varbinds, halving the chunk when the agent answers tooBig."""
    values: list[Tagged] = []
    step, i = MAX_PER_GET, 0
    while i < len(oids):
        chunk = oids[i : i + step]
        try:
            values += await agent.get(chunk)
        except TooBig:
            if step == 1:
                raise BadReply("agent says tooBig for a single varbind") from None
            step = max(1, step // 2)
            continue
        i += len(chunk)
    return values


async def _walk_names(agent: _Agent, column: str) -> dict[int, str]:
    """index → text of one string column (ifName/ifDescr), by GETBULK; bounded in rows and requests."""
    out: dict[int, str] = {}
    oid = column
    for _ in range(MAX_WALK_ROWS):  # requests; each moves forward at least one row or the walk ends
        for name, tagged in await agent.bulk(oid):
            if not name.startswith(column + ".") or tagged[0] in _ABSENT:
                return out
            suffix = name[len(column) + 1 :]
            if not suffix.isdigit() or int(suffix) <= int(oid[len(column) + 1 :] or 0):
                raise BadReply(f"walk went backwards or sideways: {name} after {oid}")
            text = _value(tagged, "str", name)
            if isinstance(text, str):
                out[int(suffix)] = text
            oid = name
            if len(out) >= MAX_WALK_ROWS:
                return out
    return out
