"""Echo request building and reply parsing, cross-checked against icmplib's independent builder."""

from __future__ import annotations

import socket
import struct
from types import SimpleNamespace

from icmplib.sockets import ICMPv4Socket

from netprobe.probes.icmp.packets import EchoBuilder, checksum, parse

TOKEN = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def _icmplib_packet(ident: int, seq: int, payload: bytes) -> bytes:
    # only icmplib's packet builder and checksum, called unbound: no socket is opened
    builder = SimpleNamespace(_ICMP_ECHO_REQUEST=8, _checksum=lambda data: ICMPv4Socket._checksum(None, data))
    packet: bytes = ICMPv4Socket._create_packet(builder, ident, seq, payload)
    return packet


def test_ipv4_echo_matches_icmplib_for_many_ids_and_sizes() -> None:
    for size in (0, 1, 8, 56, 57, 1000):
        payload = (TOKEN * 200)[:size]
        builder = EchoBuilder(socket.AF_INET, payload)
        for ident, seq in ((0, 0), (1, 1), (0xFFFF, 0xFFFF), (0x1234, 0xFEDC), (4660, 77)):
            assert builder.build(ident, seq) == _icmplib_packet(ident, seq, payload)
            assert checksum(builder.build(ident, seq)) == 0  # a valid packet sums to zero


def test_ipv6_leaves_checksum_to_kernel() -> None:
    packet = EchoBuilder(socket.AF_INET6, TOKEN).build(7, 9)
    assert packet[:8] == struct.pack("!BBHHH", 128, 0, 0, 7, 9)


def _ipv4_header(src: str, dst: str, proto: int = 1) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))


def test_parse_echo_reply_with_ip_header() -> None:
    reply = struct.pack("!BBHHH", 0, 0, 0, 0xBEEF, 42) + TOKEN
    r = parse(_ipv4_header("127.0.0.9", "127.0.0.1") + reply, socket.AF_INET, True, "127.0.0.9", 8)
    assert r is not None and not r.is_error
    assert (r.source, r.ident, r.seq, r.token) == ("127.0.0.9", 0xBEEF, 42, TOKEN)


def test_parse_unreachable_quotes_original_destination() -> None:
    original = _ipv4_header("198.18.0.1", "198.18.9.9") + struct.pack("!BBHHH", 8, 0, 0, 0xBEEF, 7)
    error = struct.pack("!BBHI", 3, 1, 0, 0) + original
    r = parse(_ipv4_header("198.18.0.254", "198.18.0.1") + error, socket.AF_INET, True, "198.18.0.254", 8)
    assert r is not None and r.is_error
    assert (r.source, r.ident, r.seq) == ("198.18.9.9", 0xBEEF, 7)


def test_parse_ignores_garbage_and_echo_requests() -> None:
    assert parse(b"", socket.AF_INET, True, "x", 8) is None
    assert parse(b"\x45" + b"\0" * 10, socket.AF_INET, True, "x", 8) is None
    request = _ipv4_header("127.0.0.1", "127.0.0.1") + struct.pack("!BBHHH", 8, 0, 0, 1, 1)
    assert parse(request, socket.AF_INET, True, "127.0.0.1", 8) is None
    truncated_error = _ipv4_header("1.1.1.1", "2.2.2.2") + struct.pack("!BBHI", 3, 1, 0, 0) + b"\x45\0"
    assert parse(truncated_error, socket.AF_INET, True, "1.1.1.1", 8) is None
    v6_reply = struct.pack("!BBHHH", 129, 0, 0, 5, 6) + TOKEN
    r = parse(v6_reply, socket.AF_INET6, False, "::1", 8)
    assert r is not None and (r.ident, r.seq) == (5, 6)
