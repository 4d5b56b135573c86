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
import contextlib
import errno
import ipaddress
import logging
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
from netprobe.probes.icmp.packets import ECHO_REPLY, EchoBuilder, parse
from netprobe.probes.icmp.sockets import SO_TIMESTAMPNS, IcmpMode, IcmpSocket, attach_id_filter, open_icmp_socket
from netprobe.probes.icmp.stats import ping_fields

TOKEN_LEN = 8
BURST = 64  # sends between two chances for the loop to read replies
# The pacer wakes at most every TICK_S and then sends every packet whose slot has come: a packet never
# leaves before its slot, and one wake-up per packet (50k timer events for 10k targets) is avoided.
TICK_S = 0.001
CATCH_UP_S = 0.003  # how far behind schedule the pacer may send back-to-back to catch up
FINAL_DRAIN_ROUNDS = 200  # × READS_PER_WAKEUP: the most a final drain reads (100k datagrams)
READS_PER_WAKEUP = 512  # bounded drain per readable event; the loop comes back if more is queued
_TS = struct.Struct("=qq")
_ID_SEQ = struct.Struct("!HH")
_CMSG = socket.CMSG_SPACE(_TS.size)

RESULT_OK, RESULT_BAD_ADDRESS, RESULT_ERROR = 0, 1, 2  # Telegraf ping's result_code
SMALL_RCVBUF = 1 << 20
log = logging.getLogger("netprobe.probes.icmp")


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
    result_code: int = RESULT_ERROR  # Telegraf's code when nothing was sent


DEFAULT_SETTINGS = PingSettings()


def unsent_fields(result_code: int = RESULT_ERROR) -> dict[str, float | int | str | bool]:
    """Fields of a ping that never left (refused, bad address, no privilege): the schema's required counts
    (0 sent, 0 received, 100% loss) — the status says why, and verdicts must read it first."""
    return {**ping_fields([]), "result_code": result_code}


def check_privilege() -> None:
    """Open (and close) an ICMP socket once, so a missing CAP_NET_RAW is one clear PrivilegeError at
    start rather than a stream of failed measurements; warn about a receive buffer too small for scale."""
    probe_socket = open_icmp_socket(socket.AF_INET)  # raises PrivilegeError with the three ways to fix it
    if probe_socket.rcvbuf < SMALL_RCVBUF:
        log.warning(
            "ICMP receive buffer is only %d KB: replies may be dropped at scale (false loss); "
            "set net.core.rmem_max=33554432 (deploy/90-netprobe.conf)",
            probe_socket.rcvbuf // 1024,
        )
    probe_socket.close()


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Strict and ~3× faster than ipaddress.ip_address on text (matters at 10,000 targets per cycle)."""
    for family, cls in ((socket.AF_INET, ipaddress.IPv4Address), (socket.AF_INET6, ipaddress.IPv6Address)):
        try:
            return cls(socket.inet_pton(family, text))
        except OSError:
            continue
    return None


class _Session:
    """Replies in flight for one run, and the reader that matches them.

    `pending` maps (source, id, seq) to (the job's RTT list, packet index, send time ns, timeout ns): the
    hot path touches one dict and one list; it is also the count of replies still awaited.
    """

    def __init__(self, token: bytes, ident: int, builders: dict[tuple[socket.AddressFamily, int], EchoBuilder]) -> None:
        self.token = token
        self.ident = ident
        self.builders = builders
        self.pending: dict[tuple[str, int, int], tuple[list[float | None], int, int, int]] = {}
        self.jobs_by_list: dict[int, _Job] = {}  # id(rtt list) → job, for the rare ICMP error
        self.sending = True
        self.done = asyncio.Event()

    def on_readable(self, s: IcmpSocket) -> int:
        """Drain (bounded) the socket; the hot path decodes an echo reply inline, errors go through parse().
        Returns how many datagrams it read."""
        recvmsg, pending, token = s.sock.recvmsg, self.pending, self.token
        header = s.header_included
        reply_type = ECHO_REPLY[s.family]
        dgram = s.mode is IcmpMode.DGRAM
        unpack_ts, unpack_id_seq = _TS.unpack_from, _ID_SEQ.unpack_from
        read = 0
        for read in range(READS_PER_WAKEUP):  # the count read is the return value
            try:
                data, anc, _flags, addr = recvmsg(2048, _CMSG)
            except (BlockingIOError, InterruptedError):
                return read
            except OSError:
                return read  # e.g. a queued ICMP error on a datagram socket; the probe times out instead
            if anc and anc[0][1] == SO_TIMESTAMPNS and len(anc[0][2]) >= 16:  # the kernel's receive time
                sec, nsec = unpack_ts(anc[0][2])
                rx_ns = sec * 1_000_000_000 + nsec
            else:
                rx_ns = time.time_ns()
            off = (data[0] & 0x0F) * 4 if header and data else 0
            if len(data) >= off + 8 and data[off] == reply_type:
                ident, seq = unpack_id_seq(data, off + 4)
                key = (addr[0], 0 if dgram else ident, seq)
                hit = pending.get(key)
                if hit is None or data[off + 8 : off + 8 + TOKEN_LEN] != token[: len(data) - off - 8]:
                    continue  # someone else's ping, or a stale/duplicate reply
                del pending[key]
                rtts, k, sent_ns, timeout_ns = hit
                if 0 <= rx_ns - sent_ns <= timeout_ns:
                    rtts[k] = (rx_ns - sent_ns) / 1e6
                if not pending and not self.sending:
                    self.done.set()
                continue
            reply = parse(data, s.family, s.header_included, addr[0], TOKEN_LEN)
            if reply is not None and reply.is_error:
                hit = pending.get((reply.source, 0 if dgram else reply.ident, reply.seq))
                if hit is not None:  # the reply will never come; the packet stays lost
                    self.jobs_by_list[id(hit[0])].unreachable = f"ICMP type {reply.icmp_type} for packet {hit[1]}"
        return READS_PER_WAKEUP


class IcmpProbe:
    kind = ProbeKind.PING

    def __init__(self, allow: AllowList, max_packets_per_s: float = 10_000.0, mode: IcmpMode = IcmpMode.AUTO) -> None:
        self.allow = allow
        self.rate = max_packets_per_s
        self.mode = mode
        self._seq = 0

    def budget_s(self, targets: Sequence[Target]) -> float:
        """Every packet under the global pacing cap, plus the slowest target's own burst and timeout."""
        if not targets:
            return 0.0
        pings = [t.ping or DEFAULT_SETTINGS for t in targets]
        pacing = sum(p.count for p in pings) / self.rate
        per_target = max(p.count * p.spacing_ms + p.timeout_ms for p in pings) / 1000.0
        return pacing + per_target + 1.0

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
        settings = target.ping or DEFAULT_SETTINGS
        ip = parse_ip(target.address)
        if ip is None:
            job = _Job(target, settings, target.address, socket.AF_INET, status=Status.ERROR)
            job.result_code = RESULT_BAD_ADDRESS
            job.errors.append(f"{target.address!r} is not an IP address")
            return job
        family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        job = _Job(target, settings, ip.compressed, family)
        if not self.allow.allows(ip):  # checked again here, right before any packet leaves
            job.status = Status.NOT_ALLOWED
            job.errors.append(self.allow.refusal(target.address, target.key))
        return job

    async def _exchange(
        self, jobs: list[_Job], sockets: dict[socket.AddressFamily, IcmpSocket], deadline: float
    ) -> None:
        loop = asyncio.get_running_loop()
        # per run, so overlapping runs never take each other's replies: raw sockets see every echo reply on
        # the host, and the id (ours; the kernel's on datagram sockets) plus the payload token tell ours apart
        token = os.urandom(TOKEN_LEN)
        ident = int.from_bytes(os.urandom(2), "big")
        sizes = {(j.family, j.settings.size) for j in jobs}  # one builder per family and payload size (ping -s)
        builders = {
            (fam, size): EchoBuilder(fam, (token + bytes(max(0, size - TOKEN_LEN)))[:size]) for fam, size in sizes
        }
        session = _Session(token, ident, builders)
        for s in sockets.values():
            attach_id_filter(s, ident)
        for s in sockets.values():
            loop.add_reader(s.sock.fileno(), session.on_readable, s)
        last_send = await self._send_all(jobs, sockets, session, deadline)
        session.sending = False
        if session.pending:
            longest = max(j.settings.timeout_ms for j in jobs) / 1000.0
            wait = min(deadline, last_send + longest) - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.done.wait(), wait)
        # Whatever is queued now arrived before we stopped waiting: read it all (bounded). Its kernel
        # timestamp, not the moment a stalled loop got round to it, decides whether it was in time.
        for s in sockets.values():
            for _ in range(FINAL_DRAIN_ROUNDS):
                if not session.pending or not session.on_readable(s):
                    break

    async def _send_all(
        self, jobs: list[_Job], sockets: dict[socket.AddressFamily, IcmpSocket], session: _Session, deadline: float
    ) -> float:
        """Round-robin sends under the global cap; returns when the last packet left (loop time)."""
        loop = asyncio.get_running_loop()
        clock = loop.time
        wall_ns = time.time_ns
        pending = session.pending
        gap = 1.0 / self.rate
        slot = clock()  # the global pacing schedule: the earliest time the next packet may leave
        burst = 0
        rounds = max(j.settings.count for j in jobs)
        plan = [
            (
                j,
                j.rtt_ms,
                j.settings.count,
                sockets[j.family].sock.sendto,
                0 if sockets[j.family].mode is IcmpMode.DGRAM else session.ident,
                session.builders[(j.family, j.settings.size)].build,
                j.settings.spacing_ms / 1000.0,
                int(j.settings.timeout_ms * 1e6),
                (j.address, 0),
            )
            for j in jobs
        ]
        for j in jobs:
            session.jobs_by_list[id(j.rtt_ms)] = j
        ident = session.ident
        seq = self._seq
        for k in range(rounds):
            for job, rtts, count, sendto, key_ident, build, spacing, timeout_ns, sockaddr in plan:
                if k >= count:
                    continue
                due = job.last_send + spacing
                if slot > due:
                    due = slot
                now = clock()
                if due > now or burst >= BURST:
                    await asyncio.sleep(max(TICK_S, due - now) if due > now else 0)  # the loop reads replies here
                    burst = 0
                    now = clock()
                if now >= deadline:
                    self._seq = seq
                    return now
                if k == 0:
                    job.started = time.time()
                job.last_send = now
                rtts.append(None)
                packet = build(ident, seq)
                t_ns = wall_ns()
                try:
                    sendto(packet, sockaddr)
                except OSError as exc:
                    t_ns = 0
                    if exc.errno not in (errno.EPERM, errno.ENOBUFS, errno.EAGAIN):
                        job.errors.append(f"send: {exc.strerror}")
                        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                            job.unreachable = exc.strerror
                else:
                    # registered after the send: the reader only runs when this loop awaits
                    pending[(job.address, key_ident, seq)] = (rtts, k, t_ns, timeout_ns)
                job.sent_ns.append(t_ns)
                seq = (seq + 1) & 0xFFFF
                slot = (slot if slot > now - CATCH_UP_S else now - CATCH_UP_S) + gap  # catch up, bank no idle time
                burst += 1
        self._seq = seq
        return clock()

    def _measure(self, job: _Job) -> Measurement:
        t = job.target
        if job.status is not None:
            return Measurement(t, time.time(), job.status, unsent_fields(job.result_code), "; ".join(job.errors))
        fields: dict[str, float | int | str | bool] = dict(ping_fields(job.rtt_ms))
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
            error = (
                error + "; " if error else ""
            ) + f"deadline reached after {len(job.rtt_ms)} of {job.settings.count}"
        return Measurement(t, job.started or time.time(), status, fields, error, samples=list(job.rtt_ms))
