"""SNMPv2c GET over one shared UDP socket per address family, hand-encoded BER (netprobe.probes.snmp.ber).

Requests are matched to answers by request-id *and* the agent's address and port, and the community must
echo ours: a spoofed or stray datagram is ignored rather than trusted. Each request has its own timeout
and retries, so a dead agent only ever costs its own time.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from netprobe.probes.snmp import ber


class SnmpTimeout(Exception):
    pass


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: V2cClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client.received(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.: the request times out
        pass


class V2cClient:
    def __init__(self) -> None:
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._waiting: dict[int, tuple[tuple[str, int], bytes, asyncio.Future[ber.Pdu | Exception]]] = {}
        self._next_id = int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is None:
            loop = asyncio.get_running_loop()
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
            self._transports[family] = transport
        return transport

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
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        transport = await self._transport(family)
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
                transport.sendto(message, peer)
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
        for t in self._transports.values():
            t.close()
        self._transports.clear()
