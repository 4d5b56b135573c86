"""BER for SNMP: round trips, and hostile input that must be refused (BerError), never crash or hang."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netprobe.probes.snmp import ber


def _response(request_id: int, varbinds: bytes, community: bytes = b"public") -> bytes:
    pdu = ber.tlv(ber.RESPONSE, ber.enc_int(request_id) + ber.enc_int(0) + ber.enc_int(0) + varbinds)
    return ber.tlv(ber.SEQUENCE, ber.enc_int(1) + ber.tlv(ber.OCTET_STRING, community) + pdu)


HUGE_ARC = b"\x2b" + b"\xff" * 6 + b"\x01"


def _vb(oid: str, tag: int, body: bytes) -> bytes:
    return ber.tlv(ber.SEQUENCE, ber.enc_oid(oid) + ber.tlv(tag, body))


def test_oid_round_trip_with_large_arcs() -> None:
    for oid in ("1.3.6.1.2.1.1.3.0", "1.3.6.1.4.1.2021.4294967295.128.16383.16384", "2.999.1"):
        _, s, e = ber.read_tlv(ber.enc_oid(oid), 0, len(ber.enc_oid(oid)))
        assert ber.dec_oid(ber.enc_oid(oid), s, e) == oid


def test_get_request_matches_net_snmp_bytes() -> None:
    # `snmpget -v2c -c public` for sysUpTime.0 with request-id 1 (captured with tcpdump)
    expected = bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c06082b060102010103000500")
    assert ber.v2c_get(b"public", 1, ["1.3.6.1.2.1.1.3.0"]) == expected


def test_decode_a_recorded_response() -> None:
    vbs = ber.tlv(
        ber.SEQUENCE,
        _vb("1.3.6.1.2.1.1.3.0", ber.TIMETICKS, (123456).to_bytes(3, "big"))
        + _vb("1.3.6.1.2.1.31.1.1.1.6.1", ber.COUNTER64, (2**64 - 1).to_bytes(8, "big"))
        + _vb("1.3.6.1.2.1.1.5.0", ber.OCTET_STRING, "Cổng UBND xã".encode())
        + _vb("1.3.6.1.2.1.2.2.1.8.9", ber.NO_SUCH_INSTANCE, b""),
    )
    community, pdu = ber.dec_v2c_message(_response(77, vbs))
    assert community == b"public" and pdu.request_id == 77 and pdu.tag == ber.RESPONSE
    assert [v.value for v in pdu.varbinds] == [123456, 2**64 - 1, "Cổng UBND xã".encode(), None]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated", bytes.fromhex("3026020101")),
        ("length past end", bytes.fromhex("30ff020101")),
        ("indefinite length", bytes.fromhex("3080020101")),
        ("huge length field", bytes.fromhex("3085ffffffffff")),
        ("multi-byte tag", bytes.fromhex("3f0100")),
        ("v1/v3 version", ber.tlv(ber.SEQUENCE, ber.enc_int(3) + ber.tlv(4, b"x"))),
        ("request, not response", ber.v2c_get(b"public", 1, ["1.3.6.1.2.1.1.3.0"])),
        ("Counter32 too big", _response(1, ber.tlv(0x30, _vb("1.3.6.1", ber.COUNTER32, b"\x01" * 5)))),
        ("Counter64 too long", _response(1, ber.tlv(0x30, _vb("1.3.6.1", ber.COUNTER64, b"\x01" * 12)))),
        ("unknown value tag", _response(1, ber.tlv(0x30, _vb("1.3.6.1", 0x47, b"\x01")))),
        ("empty integer", _response(1, ber.tlv(0x30, _vb("1.3.6.1", ber.INTEGER, b"")))),
        ("truncated OID arc", _response(1, ber.tlv(0x30, ber.tlv(0x30, ber.tlv(ber.OID, b"\x2b\x86") + b"\x05\x00")))),
        (
            "OID arc > 32 bits",
            _response(1, ber.tlv(0x30, ber.tlv(0x30, ber.tlv(ber.OID, b"\x2b" + b"\xff" * 6 + b"\x01") + b"\x05\x00"))),
        ),
        ("bad IpAddress", _response(1, ber.tlv(0x30, _vb("1.3.6.1", ber.IP_ADDRESS, b"\x01\x02")))),
        ("NULL with content", _response(1, ber.tlv(0x30, _vb("1.3.6.1", ber.NULL, b"\x01")))),
        ("too many varbinds", _response(1, ber.tlv(0x30, _vb("1.3.6.1", ber.NULL, b"") * 600))),
    ],
)
def test_hostile_messages_are_refused(name: str, message: bytes) -> None:
    with pytest.raises(ber.BerError):
        ber.dec_v2c_message(message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_ber_error(data: bytes) -> None:
    with contextlib.suppress(ber.BerError):
        ber.dec_v2c_message(data)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.binary(min_size=1, max_size=1))
def test_corrupting_one_byte_of_a_good_response_never_crashes(at: int, byte: bytes) -> None:
    good = _response(5, ber.tlv(0x30, _vb("1.3.6.1.2.1.1.3.0", ber.TIMETICKS, b"\x10\x00")))
    bad = good[: at % len(good)] + byte + good[at % len(good) + 1 :]
    with contextlib.suppress(ber.BerError):
        ber.dec_v2c_message(bad)


def _general_varbinds(msg: bytes) -> list[ber.VarBind]:
    """The varbinds as the general TLV-by-TLV path reads them (the reference for dec_pdu's fast path)."""
    start, stop = ber.expect(msg, 0, len(msg), ber.SEQUENCE)
    _s, e = ber.expect(msg, start, stop, ber.INTEGER)
    _s, e = ber.expect(msg, e, stop, ber.OCTET_STRING)
    _t, ps, pe = ber.read_tlv(msg, e, stop)
    p = ps
    for _ in range(3):
        _s, p = ber.expect(msg, p, pe, ber.INTEGER)
    vs, ve = ber.expect(msg, p, pe, ber.SEQUENCE)
    out = []
    while vs < ve:
        a, b = ber.expect(msg, vs, ve, ber.SEQUENCE)
        os_, oe = ber.expect(msg, a, b, ber.OID)
        tag, s, e2 = ber.read_tlv(msg, oe, b)
        assert e2 == b
        out.append(ber.VarBind(ber.dec_oid(msg, os_, oe), tag, ber.dec_value(msg, tag, s, e2)))
        vs = b
    return out


VALUES = st.one_of(
    st.tuples(st.just(ber.COUNTER32), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(ber.COUNTER64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(ber.INTEGER), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(ber.OCTET_STRING), st.binary(max_size=300)),  # > 127 bytes: long-form lengths
    st.tuples(st.just(ber.NO_SUCH_INSTANCE), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 2**20), min_size=1, max_size=40), VALUES), max_size=20))
def test_the_varbind_fast_path_reads_what_the_general_path_reads(rows: list[tuple[list[int], Any]]) -> None:
    body = b""
    for arcs, (tag, value) in rows:
        oid = "1.3." + ".".join(map(str, arcs))
        if value is None:
            enc = ber.tlv(tag, b"")
        elif isinstance(value, bytes):
            enc = ber.tlv(tag, value)
        elif tag == ber.INTEGER:
            enc = ber.enc_int(value)
        else:
            enc = ber.tlv(tag, value.to_bytes(value.bit_length() // 8 + 1, "big"))
        body += ber.tlv(ber.SEQUENCE, ber.enc_oid(oid) + enc)
    msg = _response(9, ber.tlv(ber.SEQUENCE, body))
    assert ber.dec_v2c_message(msg)[1].varbinds == _general_varbinds(msg)
