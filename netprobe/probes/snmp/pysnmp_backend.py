"""The pysnmp backend: v3 cases the built-in USM does not cover (DES, AES-192/256 key extension).

Imported only when such a profile is polled: pysnmp takes ~0.25 s to import and ~5 ms CPU per GET.
"""

from __future__ import annotations

from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
    next_cmd,
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
)
from pysnmp.proto import errind, rfc1902

from netprobe.inventory.model import SnmpSettings, SnmpV3
from netprobe.probes.snmp import ber
from netprobe.probes.snmp.common import (
    BadReply,
    Indication,
    SnmpAuthError,
    SnmpTimeout,
    Tagged,
    check_binds,
    raise_error_status,
)

# pysnmp's error indications that mean "your credentials (or access rights) are refused"
AUTH_INDICATIONS: tuple[type[errind.ErrorIndication], ...] = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.UnknownEngineID,
    errind.NotInTimeWindow,
    errind.UnknownCommunityName,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.NoAccessEntry,
    errind.NoSuchView,
    errind.NoGroupName,
    errind.NotInView,
)


def indication_error(indication: Any) -> Exception:
    """The typed error for a pysnmp errorIndication: its class decides the status, not its text."""
    text = str(indication)
    if isinstance(indication, errind.RequestTimedOut):
        return SnmpTimeout(f"no SNMP answer ({text})")
    if isinstance(indication, AUTH_INDICATIONS):
        return SnmpAuthError(f"SNMP authentication failed: {text}")
    return Indication(f"SNMP error: {text}")


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


def from_pysnmp(value: Any) -> Tagged:
    """pysnmp's value objects → (BER tag, plain value); subclasses first (Counter32 is an Integer)."""
    name = type(value).__name__
    if name in ("NoSuchObject", "NoSuchInstance", "EndOfMibView", "Null"):
        return ber.NO_SUCH_OBJECT, None
    for cls, tag in (
        (rfc1902.Counter64, ber.COUNTER64),
        (rfc1902.Counter32, ber.COUNTER32),
        (rfc1902.TimeTicks, ber.TIMETICKS),
        (rfc1902.Gauge32, ber.GAUGE32),
        (rfc1902.Unsigned32, ber.GAUGE32),
        (rfc1902.IpAddress, ber.IP_ADDRESS),
        (rfc1902.OctetString, ber.OCTET_STRING),
        (rfc1902.Integer32, ber.INTEGER),
        (rfc1902.Integer, ber.INTEGER),
        (rfc1902.ObjectName, ber.OID),
    ):
        if isinstance(value, cls):
            if tag in (ber.OCTET_STRING, ber.IP_ADDRESS):
                return tag, bytes(value)
            if tag == ber.OID:
                return tag, str(value)
            return tag, int(value)
    raise BadReply(f"unexpected value type {name}")


class PysnmpAgent:
    """v3 (and anything not v2c): pysnmp's engine does USM, keys, discovery and time windows."""

    def __init__(self, engine: SnmpEngine, auth: Any, transport: Any, ctx: Any) -> None:
        self.engine, self.auth, self.transport, self.ctx = engine, auth, transport, ctx

    async def _ask(self, oids: list[str], command: Any) -> list[tuple[str, Tagged]]:
        objs = (ObjectType(ObjectIdentity(o)) for o in oids)
        err_ind, err_status, err_index, var_binds = await command(
            self.engine, self.auth, self.transport, self.ctx, *objs, lookupMib=False
        )
        if err_ind:
            raise indication_error(err_ind)
        raise_error_status(int(err_status), int(err_index))
        binds = [(str(name), from_pysnmp(value)) for name, value in var_binds]
        return check_binds(binds, oids, command is get_cmd)

    async def get(self, oids: list[str]) -> list[Tagged]:
        return [v for _, v in await self._ask(oids, get_cmd)]

    async def next(self, oid: str) -> tuple[str, Tagged]:
        return (await self._ask([oid], next_cmd))[0]

    async def bulk(self, oid: str) -> list[tuple[str, Tagged]]:
        return [await self.next(oid)]  # the fallback path stays simple: one row per request


async def agent(
    engines: dict[tuple[str, ...], Any],
    transports: dict[tuple[str, int, float, int], Any],
    key: tuple[str, ...],
    p: SnmpV3,
    ip: Any,
    port: int,
    s: SnmpSettings,
    auth_key: str,
    priv_key: str,
) -> PysnmpAgent:
    """A PysnmpAgent for one target, reusing the engine of its credential set and its transport."""
    engine = engines.get(key)
    if engine is None:  # one engine per credential set: USM users are keyed by name, keys must not meet
        engine = engines[key] = SnmpEngine()
    auth = UsmUserData(
        p.user,
        authKey=auth_key,
        privKey=priv_key,
        authProtocol=AUTH_PROTOCOLS[p.auth_protocol],
        privProtocol=PRIV_PROTOCOLS[p.priv_protocol],
    )
    tkey = (ip.compressed, port, s.timeout_ms, s.retries)
    transport = transports.get(tkey)
    if transport is None:
        cls = UdpTransportTarget if ip.version == 4 else Udp6TransportTarget
        transport = await cls.create((ip.compressed, port), timeout=s.timeout_ms / 1000.0, retries=s.retries)
        transports[tkey] = transport
    return PysnmpAgent(engine, auth, transport, ContextData(contextName=p.context))
