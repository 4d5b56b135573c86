"""ICMP echo at province scale: one socket per family, paced sends, kernel receive timestamps.

How a run goes (like fping, which is the reference it is benchmarked against):
- packets go out round by round (packet k to every target, then packet k+1), each target's packets at
  least `spacing_ms` apart, and all sends under one global cap (`max_packets_per_s`), paced from a fixed
  schedule so a late timer is caught up rather than stretching the run;
- replies are read by the event loop between send bursts (a full receive buffer is silent false loss)
  and matched by (source, id, seq) plus a random per-run token in the payload, so a stranger's echo reply
  or a stale one from an earlier run never counts;
- RTT = kernel receive timestamp (SO_TIMESTAMPNS) − the wall clock read right before sendto();
- a reply later than `timeout_ms` is a lost packet; a send the kernel refuses (EPERM from a firewall,
  ENOBUFS) is a transmitted and lost packet, because the line never carried it.
Every loop is bounded: the count per target, and the run's deadline.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from netprobe.engine.allowlist import AllowList
from netprobe.errors import PrivilegeError
from netprobe.inventory.model import PingSettings
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.probes.icmp.packets import EchoBuilder, parse
from netprobe.probes.icmp.sockets import SO_TIMESTAMPNS, IcmpMode, IcmpSocket, open_icmp_socket
from netprobe.probes.icmp.stats import ping_fields

TOKEN_LEN = 8
BURST = 64  # sends between two chances for the loop to read replies
CATCH_UP_S = 0.002  # how far behind schedule the pacer may send back-to-back to catch up
READS_PER_WAKEUP = 512  # bounded drain per readable event; the loop comes back if more is queued
_TS = struct.Struct("=qq")
_CMSG = socket.CMSG_SPACE(_TS.size)

RESULT_OK, RESULT_BAD_ADDRESS, RESULT_ERROR = 0, 1, 2  # Telegraf ping's result_code


@dataclass(slots=True)
class _Job:
    target: Target
    settings: PingSettings
    address: str  # canonical text, as recvmsg reports it
    family: socket.AddressFamily
    sent_ns: list[int] = field(default_factory=list)  # 0 = never left the host (EPERM/ENOBUFS)
    rtt_ms: list[float | None] = field(default_factory=list)
    started: float = 0.0
    last_send: float = -1e18
    errors: list[str] = field(default_factory=list)
    unreachable: str | None = None
    status: Status | None = None  # decided before sending (not allowed, bad address, no socket)


class IcmpProbe:
    kind = ProbeKind.PING

    def __init__(self, allow: AllowList, max_packets_per_s: float = 10_000.0, mode: IcmpMode = IcmpMode.AUTO) -> None:
        self.allow = allow
        self.rate = max_packets_per_s
        self.mode = mode
        self.token = os.urandom(TOKEN_LEN)
        # raw sockets see every echo reply on the host: our id tells ours apart (datagram: the kernel's)
        self.ident = int.from_bytes(os.urandom(2), "big")
        self._seq = 0

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        jobs = [self._job(t) for t in targets]
        live = [j for j in jobs if j.status is None]
        sockets: dict[socket.AddressFamily, IcmpSocket] = {}
        try:
            for fam in {j.family for j in live}:
                try:
                    sockets[fam] = open_icmp_socket(fam, self.mode)
                except PrivilegeError as exc:
                    for j in live:
                        if j.family == fam:
                            j.status, j.errors = Status.ERROR, [str(exc)]
            live = [j for j in live if j.status is None]
            if live:
                await self._exchange(live, sockets, deadline)
        finally:
            loop = asyncio.get_running_loop()
            for s in sockets.values():
                loop.remove_reader(s.sock.fileno())
                s.close()
        return [self._measure(j) for j in jobs]

    def _job(self, target: Target) -> _Job:
        settings = target.ping or PingSettings()
        try:
            ip = ipaddress.ip_address(target.address)
        except ValueError:
            job = _Job(target, settings, target.address, socket.AF_INET, status=Status.ERROR)
            job.errors.append(f"{target.address!r} is not an IP address")
            return job
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        job = _Job(target, settings, ip.compressed, family)
        if not self.allow.allows(ip):  # checked again here, right before any packet leaves
            job.status = Status.NOT_ALLOWED
            job.errors.append(self.allow.refusal(target.address, target.key))
        return job

    async def _exchange(self, jobs: list[_Job], sockets: dict[socket.AddressFamily, IcmpSocket], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        pending: dict[tuple[str, int, int], tuple[_Job, int]] = {}
        done = asyncio.Event()
        state = {"outstanding": 0, "sending": True}

        def on_readable(s: IcmpSocket) -> None:
            for _ in range(READS_PER_WAKEUP):
                try:
                    data, anc, _flags, addr = s.sock.recvmsg(2048, _CMSG)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break  # e.g. a queued ICMP error on a datagram socket; the probe times out instead
                rx_ns = 0
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TS.size:
                        sec, nsec = _TS.unpack_from(payload)
                        rx_ns = sec * 1_000_000_000 + nsec
                if not rx_ns:
                    rx_ns = time.time_ns()
                reply = parse(data, s.family, s.header_included, addr[0], TOKEN_LEN)
                if reply is None:
                    continue
                ident = 0 if s.mode is IcmpMode.DGRAM else reply.ident
                hit = pending.get((reply.source, ident, reply.seq))
                if hit is None or (not reply.is_error and reply.token != self.token[: len(reply.token)]):
                    continue
                job, k = hit
                if reply.is_error:
                    job.unreachable = f"ICMP type {reply.icmp_type} for packet {k}"
                    continue  # the reply never comes; the packet stays lost
                del pending[(reply.source, ident, reply.seq)]
                rtt = (rx_ns - job.sent_ns[k]) / 1e6
                if 0 <= rtt <= job.settings.timeout_ms:
                    job.rtt_ms[k] = rtt
                state["outstanding"] -= 1
                if state["outstanding"] <= 0 and not state["sending"]:
                    done.set()

        for s in sockets.values():
            loop.add_reader(s.sock.fileno(), on_readable, s)
        builders = {fam: EchoBuilder(fam, self._payload(jobs, fam)) for fam in sockets}
        last_send = await self._send_all(jobs, sockets, builders, pending, state, deadline)
        state["sending"] = False
        if state["outstanding"] > 0:
            longest = max(j.settings.timeout_ms for j in jobs) / 1000.0
            wait = min(deadline, last_send + longest) - loop.time()
            if wait > 0:
                try:
                    await asyncio.wait_for(done.wait(), wait)
                except TimeoutError:
                    pass

    def _payload(self, jobs: list[_Job], family: socket.AddressFamily) -> bytes:
        size = max((j.settings.size for j in jobs if j.family == family), default=56)
        return (self.token + bytes(max(0, size - TOKEN_LEN)))[:size]

    async def _send_all(
        self,
        jobs: list[_Job],
        sockets: dict[socket.AddressFamily, IcmpSocket],
        builders: dict[socket.AddressFamily, EchoBuilder],
        pending: dict[tuple[str, int, int], tuple[_Job, int]],
        state: dict[str, int | bool],
        deadline: float,
    ) -> float:
        loop = asyncio.get_running_loop()
        gap = 1.0 / self.rate
        slot = loop.time()  # the global pacing schedule: the earliest time the next packet may leave
        burst = 0
        rounds = max(j.settings.count for j in jobs)
        for k in range(rounds):
            for job in jobs:
                if k >= job.settings.count:
                    continue
                due = max(slot, job.last_send + job.settings.spacing_ms / 1000.0)
                now = loop.time()
                if due > now or burst >= BURST:
                    await asyncio.sleep(max(0.0, due - now))  # also lets the loop read replies
                    burst = 0
                    now = loop.time()
                if now >= deadline:
                    return now
                s = sockets[job.family]
                ident = 0 if s.mode is IcmpMode.DGRAM else self.ident
                seq = self._seq
                self._seq = (self._seq + 1) & 0xFFFF
                if k == 0:
                    job.started = time.time()
                job.last_send = now
                job.rtt_ms.append(None)
                packet = builders[job.family].build(self.ident, seq)
                key = (job.address, ident, seq)
                pending[key] = (job, k)
                t_ns = time.time_ns()
                try:
                    s.sock.sendto(packet, (job.address, 0))
                except OSError as exc:
                    del pending[key]
                    t_ns = 0
                    if exc.errno not in (errno.EPERM, errno.ENOBUFS, errno.EAGAIN):
                        job.errors.append(f"send: {exc.strerror}")
                        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                            job.unreachable = exc.strerror
                else:
                    state["outstanding"] = int(state["outstanding"]) + 1
                job.sent_ns.append(t_ns)
                slot = max(slot, now - CATCH_UP_S) + gap  # catch up a late timer, but bank no idle time
                burst += 1
        return loop.time()

    def _measure(self, job: _Job) -> Measurement:
        t = job.target
        if job.status is not None:
            code = RESULT_BAD_ADDRESS if job.errors and "not an IP" in job.errors[0] else RESULT_ERROR
            fields: dict[str, float | int | str | bool] = {"result_code": code}
            return Measurement(t, time.time(), job.status, fields, "; ".join(job.errors))
        fields = dict(ping_fields(job.rtt_ms))
        received = int(fields["packets_received"])
        fields["result_code"] = RESULT_OK if not job.errors else RESULT_ERROR
        if received:
            status, error = Status.OK, None
        elif job.unreachable:
            status, error = Status.UNREACHABLE, f"unreachable: {job.unreachable}"
        elif job.errors and len(job.errors) == len(job.rtt_ms):
            status, error = Status.ERROR, job.errors[0]
        else:
            status, error = Status.TIMEOUT, f"no reply to {len(job.rtt_ms)} echo requests"
        if len(job.rtt_ms) < job.settings.count:
            error = (error + "; " if error else "") + f"deadline reached after {len(job.rtt_ms)} of {job.settings.count}"
        return Measurement(t, job.started or time.time(), status, fields, error, samples=list(job.rtt_ms))
