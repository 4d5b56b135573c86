"""The ICMP sockets: one per address family, opened once per run, tuned for thousands of targets.

Why netprobe owns the socket instead of using icmplib's: icmplib opens one socket per host, so with a raw
socket every socket sees every reply (measured: ~60% false loss and RTTs inflated to tens of ms at 200
concurrent hosts), and it timestamps replies in user space after the event loop wakes up (0.7 ms for a
5 µs RTT). One shared socket, a big receive buffer and kernel receive timestamps fix both.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import socket
import struct
from dataclasses import dataclass
from enum import StrEnum

from netprobe.errors import PrivilegeError

log = logging.getLogger(__name__)
_warned: list[bool] = []
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: SCM_TIMESTAMPNS has the same value
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SOL_RAW = 255
ICMP_FILTER = 1  # linux/icmp.h: bitmask of ICMP types to DROP on a raw IPv4 socket
ICMP6_FILTER = 1  # linux/icmpv6.h: 256-bit mask, set bit = block
RCVBUF_BYTES = 32 * 1024 * 1024  # 10k replies in flight need more than the 212 KB default (measured)
SNDBUF_BYTES = 4 * 1024 * 1024

ICMP_ECHO_REPLY, ICMP_UNREACH, ICMP_TIME_EXCEEDED = 0, 3, 11
ICMP6_UNREACH, ICMP6_TIME_EXCEEDED, ICMP6_ECHO_REPLY = 1, 3, 129

PRIVILEGE_HELP = (
    "ICMP needs a raw or datagram ICMP socket, and this process may open neither: run as root, "
    "or grant CAP_NET_RAW (`setcap cap_net_raw+ep $(readlink -f $(which python3))` or systemd "
    "AmbientCapabilities=CAP_NET_RAW), or open unprivileged ping for this group with "
    "`sysctl -w net.ipv4.ping_group_range='0 2147483647'`"
)


class IcmpMode(StrEnum):
    AUTO = "auto"  # raw when permitted, else datagram
    RAW = "raw"  # SOCK_RAW: root or CAP_NET_RAW; we choose the echo id and see every reply on the host
    DGRAM = "dgram"  # SOCK_DGRAM "ping socket": unprivileged when ping_group_range allows; kernel sets the id


@dataclass
class IcmpSocket:
    sock: socket.socket
    family: socket.AddressFamily
    mode: IcmpMode
    rcvbuf: int

    @property
    def header_included(self) -> bool:
        """Raw IPv4 sockets return the IP header; IPv6 raw and every datagram socket return ICMP only."""
        return self.mode is IcmpMode.RAW and self.family == socket.AF_INET

    def close(self) -> None:
        self.sock.close()


def _raw_filter(sock: socket.socket, family: socket.AddressFamily) -> None:
    """Let only echo replies and errors reach us: on lo a raw socket also sees our own echo requests."""
    if family == socket.AF_INET:
        allowed = (1 << ICMP_ECHO_REPLY) | (1 << ICMP_UNREACH) | (1 << ICMP_TIME_EXCEEDED)
        sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~allowed & 0xFFFFFFFF))
    else:
        words = [0xFFFFFFFF] * 8
        for t in (ICMP6_ECHO_REPLY, ICMP6_UNREACH, ICMP6_TIME_EXCEEDED):
            words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *words))


SO_ATTACH_FILTER = 26
_BPF_INSN = struct.Struct("HBBI")


def _bpf_program(family: socket.AddressFamily, ident: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF: keep echo replies carrying our id, and ICMP errors; drop the rest in the kernel.

    A raw socket gets a copy of every echo reply on the host (other pingers' too); filtering them before
    they are queued keeps our receive buffer and CPU for our own replies.
    """
    accept, drop = (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)
    if family == socket.AF_INET:  # the filter sees the IP header first
        return [
            (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): X = IP header length
            (0x50, 0, 0, 0),  # ldb [x+0]: ICMP type
            (0x15, 0, 2, ICMP_ECHO_REPLY),  # echo reply? → check id : → errors
            (0x48, 0, 0, 4),  # ldh [x+4]: ICMP id
            (0x15, 2, 3, ident),  # ours? → accept : drop
            (0x15, 1, 0, ICMP_UNREACH),  # unreachable → accept
            (0x15, 0, 1, ICMP_TIME_EXCEEDED),  # time exceeded → accept : drop
            accept,
            drop,
        ]
    return [  # IPv6 raw sockets: the filter sees the ICMPv6 header
        (0x30, 0, 0, 0),  # ldb [0]: type
        (0x15, 0, 2, ICMP6_ECHO_REPLY),
        (0x28, 0, 0, 4),  # ldh [4]: id
        (0x15, 2, 3, ident),
        (0x15, 1, 0, ICMP6_UNREACH),
        (0x15, 0, 1, ICMP6_TIME_EXCEEDED),
        accept,
        drop,
    ]


def attach_id_filter(s: IcmpSocket, ident: int) -> bool:
    """Install the BPF id filter on a raw socket; False (user-space filtering only) if the kernel refuses."""
    if s.mode is not IcmpMode.RAW:
        return False  # datagram sockets already get only their own replies
    code = b"".join(_BPF_INSN.pack(*insn) for insn in _bpf_program(s.family, ident))
    buf = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("HL", len(code) // _BPF_INSN.size, ctypes.addressof(buf))
    try:
        s.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    except OSError:
        return False
    return True


def _grow_rcvbuf(sock: socket.socket) -> int:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)  # root: beyond net.core.rmem_max
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)  # capped by rmem_max
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def open_icmp_socket(family: socket.AddressFamily, mode: IcmpMode = IcmpMode.AUTO) -> IcmpSocket:
    """Open and tune the shared socket for `family`; PrivilegeError (one line, three fixes) if not allowed."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    tries = [IcmpMode.RAW, IcmpMode.DGRAM] if mode is IcmpMode.AUTO else [mode]
    for m in tries:
        kind = socket.SOCK_RAW if m is IcmpMode.RAW else socket.SOCK_DGRAM
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EACCES):
                raise PrivilegeError(f"cannot open an ICMP socket: {exc.strerror}") from None
            continue
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if m is IcmpMode.RAW:
            _raw_filter(sock, family)
        rcvbuf = _grow_rcvbuf(sock)
        if rcvbuf < RCVBUF_BYTES // 4 and not _warned:
            _warned.append(True)  # once per process, not every cycle
            log.warning(
                "ICMP receive buffer is only %d KB (net.core.rmem_max caps it without CAP_NET_ADMIN); with "
                "thousands of targets replies may be dropped as false loss: sysctl -w net.core.rmem_max=%d",
                rcvbuf // 1024,
                RCVBUF_BYTES,
            )
        return IcmpSocket(sock, family, m, rcvbuf)
    where = f" (uid {os.geteuid()}, gid {os.getegid()}, ping_group_range {_ping_group_range()})"
    if mode is IcmpMode.DGRAM:
        raise PrivilegeError(
            "unprivileged (datagram) ICMP sockets are closed for this group by net.ipv4.ping_group_range"
            f"{where}: `sysctl -w net.ipv4.ping_group_range='0 2147483647'`, or use --mode auto/raw as root"
            " or with CAP_NET_RAW"
        )
    raise PrivilegeError(PRIVILEGE_HELP + where)


def _ping_group_range() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as f:
            return "'" + " ".join(f.read().split()) + "'"
    except OSError:
        return "unknown"
