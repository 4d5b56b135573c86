"""Echo request building and reply parsing: pure functions over bytes, unit tested against icmplib.

Every probe of a run carries the same payload (a random per-run token, padded to the wanted size), so the
payload's share of the checksum is computed once and each packet only adds its id and sequence.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
ERROR_TYPES = {socket.AF_INET: (3, 11), socket.AF_INET6: (1, 3)}  # unreachable, time exceeded
_HDR = struct.Struct("!BBHHH")


def ones_sum(data: bytes) -> int:
    """The 32-bit one's-complement running sum of 16-bit big-endian words (not folded)."""
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def checksum(data: bytes) -> int:
    return fold(ones_sum(data))


class EchoBuilder:
    """Builds echo requests with a fixed payload; the checksum costs two additions per packet."""

    def __init__(self, family: socket.AddressFamily, payload: bytes) -> None:
        self.type = ECHO_REQUEST[family]
        self.payload = payload
        # IPv6: the kernel fills the ICMPv6 checksum (it covers a pseudo-header we do not see)
        self.with_checksum = family == socket.AF_INET
        self._base = ones_sum(bytes([self.type, 0]) + payload)

    def build(self, ident: int, seq: int) -> bytes:
        csum = fold(self._base + ident + seq) if self.with_checksum else 0
        return _HDR.pack(self.type, 0, csum, ident, seq) + self.payload


@dataclass(frozen=True, slots=True)
class Reply:
    """What one received datagram says: an echo reply from `source`, or an error about a probe to it."""

    is_error: bool
    icmp_type: int
    source: str  # for an echo reply: who answered; for an error: the probe's original destination
    ident: int
    seq: int
    token: bytes


def parse(
    data: bytes, family: socket.AddressFamily, header_included: bool, source: str, token_len: int
) -> Reply | None:
    """Decode one datagram; None for anything that is not ours to look at (short, other types, garbage)."""
    off = 0
    if header_included:
        if len(data) < 20:
            return None
        off = (data[0] & 0x0F) * 4
    if len(data) < off + 8:
        return None
    icmp_type = data[off]
    if icmp_type == ECHO_REPLY[family]:
        _, _, _, ident, seq = _HDR.unpack_from(data, off)
        return Reply(False, icmp_type, source, ident, seq, data[off + 8 : off + 8 + token_len])
    if icmp_type in ERROR_TYPES[family]:
        inner = off + 8  # the quoted original packet: its IP header, then our echo request header
        if family == socket.AF_INET:
            if len(data) < inner + 20:
                return None
            dest = socket.inet_ntop(socket.AF_INET, data[inner + 16 : inner + 20])
            inner += (data[inner] & 0x0F) * 4
        else:
            if len(data) < inner + 40:
                return None
            dest = socket.inet_ntop(socket.AF_INET6, data[inner + 24 : inner + 40])
            inner += 40
        if len(data) < inner + 8 or data[inner] != ECHO_REQUEST[family]:
            return None
        _, _, _, ident, seq = _HDR.unpack_from(data, inner)
        return Reply(True, icmp_type, dest, ident, seq, b"")
    return None
