"""A small ICMP traceroute for `check`: which routers lie between the data centre and a failing line.

Only the path is learnt here (a few TTL-limited echo requests per hop, to the destination only, so the
allow-list check on the destination covers every packet sent). Per-hop loss is then measured by pinging
each hop's own address with the normal ICMP probe, because routers rate-limit the ICMP time-exceeded
messages a traceroute relies on (Linux: about one per second after a burst of six): TTL-expiry loss
would blame every router on the path, echo replies are not rate-limited that way.

IPv4 only for now (the lab and the province are IPv4); an IPv6 destination returns an empty trace.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time

from netprobe.check.model import Hop, Trace
from netprobe.engine.allowlist import AllowList
from netprobe.errors import PrivilegeError
from netprobe.probes.icmp.packets import EchoBuilder, parse
from netprobe.probes.icmp.sockets import IcmpMode, open_icmp_socket

TOKEN_LEN = 8


async def trace_path(
    line: str,
    agent: str,
    destination: str,
    allow: AllowList,
    *,
    max_ttl: int = 12,
    rounds: int = 5,
    spacing_s: float = 0.01,
    timeout_s: float = 1.0,
    deadline: float | None = None,
) -> Trace:
    """Send `rounds` echo requests per TTL (1..max_ttl) to `destination`; bounded by count and time."""
    trace = Trace(line, agent, destination, [], reached=False)
    try:
        ip = ipaddress.ip_address(destination)
    except ValueError:
        trace.error = f"{destination!r} is not an IP address"
        return trace
    if ip.version != 4:
        trace.error = "traceroute is IPv4 only"
        return trace
    if not allow.allows(ip):  # enforced right before sending
        trace.error = allow.refusal(destination, f"traceroute/{line}")
        return trace
    try:
        s = open_icmp_socket(socket.AF_INET, IcmpMode.RAW)
    except PrivilegeError as exc:
        trace.error = str(exc)
        return trace
    loop = asyncio.get_running_loop()
    end = min(deadline, loop.time() + rounds * max_ttl * spacing_s + timeout_s + 1) if deadline else None
    end = end if end is not None else loop.time() + rounds * max_ttl * spacing_s + timeout_s + 1
    token = os.urandom(TOKEN_LEN)
    builder = EchoBuilder(socket.AF_INET, token + b"\0" * 24)
    ident = int.from_bytes(os.urandom(2), "big")
    sent: dict[int, tuple[int, float]] = {}  # seq → (ttl, send time), until answered
    per_ttl_sent: dict[int, int] = {}
    answers: dict[int, list[tuple[str, float]]] = {}  # ttl → [(address, rtt ms)]
    dest_ttl: int | None = None
    try:
        seq = 0
        for _ in range(rounds):
            for ttl in range(1, max_ttl + 1):
                if dest_ttl is not None and ttl > dest_ttl:
                    break
                if loop.time() >= end:
                    break
                seq = (seq + 1) & 0xFFFF
                s.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                try:
                    s.sock.sendto(builder.build(ident, seq), (destination, 0))
                    sent[seq] = (ttl, time.monotonic())
                    per_ttl_sent[ttl] = per_ttl_sent.get(ttl, 0) + 1
                except OSError:
                    per_ttl_sent[ttl] = per_ttl_sent.get(ttl, 0) + 1  # refused locally: sent and lost
                dest_ttl = _drain(s.sock, ident, token, destination, sent, answers, dest_ttl)
                await asyncio.sleep(spacing_s)
        # wait for the stragglers, bounded
        while loop.time() < end and sent:
            await _readable(s.sock, min(0.05, max(end - loop.time(), 0.001)))
            dest_ttl = _drain(s.sock, ident, token, destination, sent, answers, dest_ttl)
            if dest_ttl is not None and all(t in answers for t in range(1, dest_ttl + 1)):
                break
    finally:
        s.close()
    last = dest_ttl if dest_ttl is not None else max(answers, default=0)
    for ttl in range(1, last + 1):
        got = answers.get(ttl, [])
        address = max({a for a, _ in got}, key=[a for a, _ in got].count) if got else None
        rtts = sorted(r for _, r in got)
        trace.hops.append(Hop(ttl, address, per_ttl_sent.get(ttl, 0), len(got), rtts[len(rtts) // 2] if rtts else None))
    trace.reached = bool(trace.hops) and trace.hops[-1].address == destination
    return trace


async def _readable(sock: socket.socket, timeout: float) -> None:
    """Return when `sock` has something to read, or after `timeout`."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await asyncio.wait_for(ready, timeout)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(sock.fileno())


def _drain(
    sock: socket.socket,
    ident: int,
    token: bytes,
    destination: str,
    sent: dict[int, tuple[int, float]],
    answers: dict[int, list[tuple[str, float]]],
    dest_ttl: int | None,
) -> int | None:
    """Read what is queued (bounded); return the smallest TTL at which the path ended (reply or unreachable)."""
    for _ in range(256):
        try:
            data, addr = sock.recvfrom(2048)
        except (BlockingIOError, InterruptedError):
            break
        now = time.monotonic()
        reply = parse(data, socket.AF_INET, True, addr[0], TOKEN_LEN)
        if reply is None or reply.ident != ident or reply.seq not in sent:
            continue
        if not reply.is_error and reply.token != token:
            continue
        if reply.is_error and reply.source != destination:
            continue
        ttl, t_sent = sent.pop(reply.seq)
        answers.setdefault(ttl, []).append((addr[0], (now - t_sent) * 1000.0))
        if not reply.is_error or reply.icmp_type == 3:
            # an echo reply, or an unreachable: either way the path ends at this TTL
            dest_ttl = ttl if dest_ttl is None else min(dest_ttl, ttl)
    return dest_ttl
