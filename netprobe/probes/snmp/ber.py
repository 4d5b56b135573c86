"""The slice of BER that SNMP GET needs (RFC 3416 PDUs, RFC 2578 application types), strict and bounded.

Why hand-encoded: pysnmp spends ~2–5 ms of CPU per GET in pyasn1 (measured), so one core does ~200–450
polls/s; these few functions do a GET in ~0.05 ms, and net-snmp's agent, not the client, becomes the limit.
The decoder trusts nothing: every length is checked against the buffer, nesting and sizes are bounded,
and anything unexpected raises BerError, which the probe reports as Status.BAD_REPLY.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
GET_REQUEST, GET_NEXT, RESPONSE, GET_BULK, REPORT = 0xA0, 0xA1, 0xA2, 0xA5, 0xA8
BULK_REPETITIONS = 25  # rows per GETBULK when walking interface names: ~1 KB of ifName answers
MAX_MESSAGE = 65_507  # one UDP datagram
MAX_VARBINDS = 512
MAX_OID_ARCS = 128


class BerError(ValueError):
    """Malformed or hostile BER."""


# -- encoding --------------------------------------------------------------------------------------------


def enc_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + enc_len(len(body)) + body


def enc_int(value: int, tag: int = INTEGER) -> bytes:
    length = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(tag, value.to_bytes(length, "big", signed=True))


def _base128(arc: int) -> bytes:
    if arc < 0:  # `arc >>= 7` never reaches 0 for a negative int: it would loop forever
        raise ValueError(f"OID sub-identifier {arc} is negative")
    chunk = [arc & 0x7F]
    arc >>= 7
    while arc:
        chunk.append(0x80 | (arc & 0x7F))
        arc >>= 7
    return bytes(reversed(chunk))


def enc_oid(dotted: str) -> bytes:
    try:
        arcs = [int(a) for a in dotted.strip(".").split(".")]
    except ValueError:
        raise ValueError(f"not an OID: {dotted}") from None
    if (
        not 2 <= len(arcs) <= MAX_OID_ARCS
        or any(not 0 <= a < 1 << 32 for a in arcs)  # RFC 2578: sub-identifiers are 0..2^32-1
        or arcs[0] > 2
        or (arcs[0] < 2 and arcs[1] > 39)
    ):
        raise ValueError(f"not an OID: {dotted}")
    body = _base128(arcs[0] * 40 + arcs[1]) + b"".join(_base128(a) for a in arcs[2:])
    return tlv(OID, body)


@lru_cache(maxsize=4096)
def _enc_varbinds_null(oids: tuple[str, ...]) -> bytes:
    null = b"\x05\x00"
    return tlv(SEQUENCE, b"".join(tlv(SEQUENCE, enc_oid(o) + null) for o in oids))


def enc_varbinds_null(oids: list[str]) -> bytes:
    """The varbind list of a GET (values NULL); cached: a poller asks the same OIDs every cycle."""
    return _enc_varbinds_null(tuple(oids))


def enc_pdu(tag: int, request_id: int, varbinds: bytes) -> bytes:
    """A PDU; for GETBULK the two integers are non-repeaters (0) and max-repetitions."""
    second, third = (0, BULK_REPETITIONS) if tag == GET_BULK else (0, 0)
    return tlv(tag, enc_int(request_id) + enc_int(second) + enc_int(third) + varbinds)


def v2c_get(community: bytes, request_id: int, oids: list[str], pdu_tag: int = GET_REQUEST) -> bytes:
    """A whole SNMPv2c GetRequest (or GetNextRequest) message."""
    pdu = enc_pdu(pdu_tag, request_id, enc_varbinds_null(oids))
    return tlv(SEQUENCE, enc_int(1) + tlv(OCTET_STRING, community) + pdu)


# -- decoding --------------------------------------------------------------------------------------------


def read_tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at pos; checked against `end`."""
    if pos + 2 > end:
        raise BerError("truncated TLV header")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tags are not SNMP")
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 3:
            raise BerError("indefinite or oversized length")
        if pos + n > end:
            raise BerError("truncated length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise BerError(f"length {length} runs past the message")
    return tag, pos, pos + length


def expect(buf: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    t, start, stop = read_tlv(buf, pos, end)
    if t != tag:
        raise BerError(f"expected tag 0x{tag:02x}, found 0x{t:02x}")
    return start, stop


def dec_int(buf: bytes, start: int, stop: int, *, signed: bool = True, max_bytes: int = 9) -> int:
    if stop == start:
        raise BerError("empty integer")
    if stop - start > max_bytes:
        raise BerError("integer too long")
    return int.from_bytes(buf[start:stop], "big", signed=signed)


def dec_oid(buf: bytes, start: int, stop: int) -> str:
    if stop == start:
        raise BerError("empty OID")
    if stop - start > MAX_OID_ARCS * 5:
        raise BerError("OID too long")
    raw = bytes(buf[start:stop])
    # Every datagram is decoded before it is matched to a request, so whoever can send one controls
    # what goes in the cache: only short OIDs (the IF-MIB/system ones polled are ~8-16 bytes) are cached,
    # bounding it to ~4 MB; unique long OIDs once pinned 170 MB.
    return _dec_oid_cached(raw) if len(raw) <= CACHED_OID_BYTES else _dec_oid(raw)


CACHED_OID_BYTES = 24


@lru_cache(maxsize=32768)
def _dec_oid_cached(buf: bytes) -> str:
    return _dec_oid(buf)


def _dec_oid(buf: bytes) -> str:
    subids: list[int] = []
    value = 0
    pending = False
    for b in buf:
        value = (value << 7) | (b & 0x7F)
        pending = bool(b & 0x80)
        if not pending:
            subids.append(value)
            value = 0
            if len(subids) > MAX_OID_ARCS:
                raise BerError("OID too long")
        elif value >> 32:
            raise BerError("OID arc too large")
    if pending:
        raise BerError("truncated OID arc")
    first = subids[0]
    top = min(first // 40, 2)
    return ".".join(map(str, [top, first - 40 * top, *subids[1:]]))


Value = int | bytes | str | None  # str: an IpAddress / OID as text; None: noSuchObject/noSuchInstance/endOfMibView


@dataclass(frozen=True, slots=True)
class VarBind:
    oid: str
    tag: int
    value: Value


def dec_value(buf: bytes, tag: int, start: int, stop: int) -> Value:
    if tag == INTEGER:
        return dec_int(buf, start, stop, max_bytes=5)
    if tag in (COUNTER32, GAUGE32, TIMETICKS):
        value = dec_int(buf, start, stop, signed=False, max_bytes=5)
        if value >> 32:
            raise BerError(f"32-bit value {value} out of range")
        return value
    if tag == COUNTER64:
        value = dec_int(buf, start, stop, signed=False, max_bytes=9)
        if value >> 64:
            raise BerError("Counter64 out of range")
        return value
    if tag in (OCTET_STRING, OPAQUE):
        return bytes(buf[start:stop])
    if tag == OID:
        return dec_oid(buf, start, stop)
    if tag == IP_ADDRESS:
        if stop - start != 4:
            raise BerError("IpAddress is not 4 bytes")
        return ".".join(str(b) for b in buf[start:stop])
    if tag in (NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW):
        if stop != start:
            raise BerError("NULL-like value with content")
        return None
    raise BerError(f"unknown value tag 0x{tag:02x}")


@dataclass(frozen=True, slots=True)
class Pdu:
    tag: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


def dec_pdu(buf: bytes, pos: int, end: int) -> Pdu:
    tag, start, stop = read_tlv(buf, pos, end)
    if tag not in (RESPONSE, REPORT):
        raise BerError(f"PDU type 0x{tag:02x} is not a response")
    numbers = []
    p = start
    for _ in range(3):
        s, e = expect(buf, p, stop, INTEGER)
        numbers.append(dec_int(buf, s, e, max_bytes=5))
        p = e
    vbl_start, vbl_stop = expect(buf, p, stop, SEQUENCE)
    varbinds: list[VarBind] = []
    append = varbinds.append
    p = vbl_start
    while p < vbl_stop:
        if len(varbinds) >= MAX_VARBINDS:
            raise BerError("too many varbinds")
        # Fast path, no call per TLV (a walk decodes thousands of varbinds): the varbind SEQUENCE, its OID and
        # its value all with one-byte lengths, the value an integer type or a string. Same checks as the
        # general path below; anything else (long lengths, other tags) takes the general path.
        if p + 6 <= vbl_stop and buf[p] == SEQUENCE and buf[p + 2] == OID:
            vb_len, oid_len = buf[p + 1], buf[p + 3]
            vb_stop = p + 2 + vb_len
            oe = p + 4 + oid_len
            if vb_len < 0x80 and oid_len < 0x80 and vb_stop <= vbl_stop and oe + 2 <= vb_stop:
                vtag, v_len = buf[oe], buf[oe + 1]
                if v_len < 0x80 and oe + 2 + v_len == vb_stop and vtag in _FAST_VALUE:
                    append(VarBind(dec_oid(buf, p + 4, oe), vtag, dec_value(buf, vtag, oe + 2, vb_stop)))
                    p = vb_stop
                    continue
        vb_start, vb_stop = expect(buf, p, vbl_stop, SEQUENCE)
        os_, oe = expect(buf, vb_start, vb_stop, OID)
        vtag, vs, ve = read_tlv(buf, oe, vb_stop)
        if ve != vb_stop:
            raise BerError("trailing bytes in a varbind")
        append(VarBind(dec_oid(buf, os_, oe), vtag, dec_value(buf, vtag, vs, ve)))
        p = vb_stop
    return Pdu(tag, numbers[0], numbers[1], numbers[2], varbinds)


_FAST_VALUE = frozenset({INTEGER, COUNTER32, GAUGE32, TIMETICKS, COUNTER64, OCTET_STRING})


def dec_v2c_message(buf: bytes) -> tuple[bytes, Pdu]:
    """(community, PDU) of an SNMPv1/v2c message; BerError for anything else."""
    if len(buf) > MAX_MESSAGE:
        raise BerError("message too large")
    start, stop = expect(buf, 0, len(buf), SEQUENCE)
    vs, ve = expect(buf, start, stop, INTEGER)
    if dec_int(buf, vs, ve) != 1:
        raise BerError("not an SNMPv2c message")
    cs, ce = expect(buf, ve, stop, OCTET_STRING)
    return bytes(buf[cs:ce]), dec_pdu(buf, ce, stop)
