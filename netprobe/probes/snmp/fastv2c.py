"""SNMPv2c GET over one shared UDP socket per address family, hand-encoded BER (netprobe.probes.snmp.ber).

Requests are matched to answers by request-id *and* the agent's address and port, and the community must
echo ours: a spoofed or stray datagram is ignored rather than trusted. Each request has its own timeout
and retries, so a dead agent only ever costs its own time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Any

from netprobe.probes.snmp import ber
from netprobe.probes.snmp.common import SnmpTimeout

__all__ = ["SnmpTimeout", "UdpEndpoints", "V2cClient"]


class UdpEndpoints:
    """One non-blocking UDP socket per address family, read by the running loop (created synchronously, so
    hundreds of concurrent first requests share one socket instead of racing to open their own)."""

    def __init__(self, on_datagram: Callable[[bytes, Any], None]) -> None:
        self._on_datagram = on_datagram
        self._socks: dict[int, socket.socket] = {}

    def get(self, family: int) -> socket.socket:
        sock = self._socks.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            sock.setblocking(False)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._drain, sock)
            self._socks[family] = sock
        return sock

    def send(self, message: bytes, peer: tuple[str, int]) -> None:
        family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
        # buffer full or no route: the request times out and is retried like a lost datagram
        with contextlib.suppress(OSError):
            self.get(family).sendto(message, peer)

    def _drain(self, sock: socket.socket) -> None:
        for _ in range(256):  # bounded; the loop calls again while data is queued
            try:
                data, addr = sock.recvfrom(65_535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # ICMP port unreachable queued on the socket: the request just times out
            self._on_datagram(data, addr)

    def close(self) -> None:
        for sock in self._socks.values():
            with contextlib.suppress(RuntimeError):  # no running loop: it is gone with its readers
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        self._socks.clear()


class V2cClient:
    def __init__(self) -> None:
        self._udp = UdpEndpoints(self.received)
        self._waiting: dict[int, tuple[tuple[str, int], bytes, asyncio.Future[ber.Pdu | Exception]]] = {}
        self._next_id = int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF

    def received(self, data: bytes, addr: Any) -> None:
        try:
            community, pdu = ber.dec_v2c_message(data)
        except ber.BerError as exc:
            # only blame a request if the garbage came from the agent it was sent to (by id if we can read it)
            for peer, _c, fut in self._waiting.values():
                if (peer[0], peer[1]) == (addr[0], addr[1]) and not fut.done():
                    fut.set_result(exc)
                    break
            return
        entry = self._waiting.get(pdu.request_id)
        if entry is None:
            return  # late, duplicate or not ours
        peer, sent_community, fut = entry
        if (peer[0], peer[1]) != (addr[0], addr[1]) or community != sent_community or fut.done():
            return
        fut.set_result(pdu)

    async def get(
        self,
        address: str,
        port: int,
        community: bytes,
        oids: list[str],
        timeout: float,
        retries: int,
        pdu_tag: int = ber.GET_REQUEST,
    ) -> ber.Pdu:
        request_id = self._next_id
        self._next_id = (self._next_id + 1) & 0x3FFFFFFF
        message = ber.v2c_get(community, request_id, oids, pdu_tag)
        if len(message) > 1472:
            raise ValueError(f"request of {len(oids)} varbinds is {len(message)} bytes: split it")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ber.Pdu | Exception] = loop.create_future()
        peer = (address, port)
        self._waiting[request_id] = (peer, community, fut)
        try:
            for _attempt in range(retries + 1):
                self._udp.send(message, peer)
                done, _ = await asyncio.wait([fut], timeout=timeout)
                if done:
                    result = fut.result()
                    if isinstance(result, Exception):
                        raise result
                    return result
            raise SnmpTimeout(f"no answer from {address}:{port} in {retries + 1} × {timeout:.1f} s")
        finally:
            del self._waiting[request_id]
            if not fut.done():
                fut.cancel()

    def close(self) -> None:
        self._udp.close()
