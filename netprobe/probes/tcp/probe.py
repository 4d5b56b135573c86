"""TCP connect latency: the time from SYN to an established connection, and why it failed when it did.

Status: OK (handshake done), REFUSED (RST: the host is up, nothing listens), TIMEOUT (no answer in
`timeout_ms`: a filter drops the SYN, or the host/line is down), UNREACHABLE (ICMP unreachable or no
route). result_code follows Telegraf's net_response: 0 success, 1 timeout, 2 connection failed.
The socket is closed with RST-free shutdown right after the handshake: we measure, we do not talk.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import TcpSettings
from netprobe.probes.base import Measurement, ProbeKind, Status, Target, gather_bounded, status_of, waves_budget_s

RESULT_OK, RESULT_TIMEOUT, RESULT_FAILED = 0, 1, 2


class TcpProbe:
    kind = ProbeKind.TCP

    def __init__(self, allow: AllowList, concurrency: int = 256) -> None:
        self.allow = allow
        self.concurrency = concurrency

    def budget_s(self, targets: Sequence[Target]) -> float:
        """Waves of `concurrency` connects, each at most its timeout."""
        worst = max(((t.tcp or TcpSettings()).timeout_ms for t in targets), default=0.0)
        return waves_budget_s(len(targets), self.concurrency, worst)

    async def run(self, targets: Sequence[Target], deadline: float) -> list[Measurement]:
        return await gather_bounded(targets, self.concurrency, lambda t: self.connect(t, deadline))

    async def connect(self, target: Target, deadline: float) -> Measurement:
        started = time.time()
        port = target.port
        try:
            ip = ipaddress.ip_address(target.address)
        except ValueError:
            return Measurement(target, started, Status.ERROR, {"result_code": RESULT_FAILED}, "not an IP address")
        if port is None:
            return Measurement(target, started, Status.ERROR, {"result_code": RESULT_FAILED}, "no port given")
        if not self.allow.allows(ip):
            refusal = self.allow.refusal(target.address, target.key)
            return Measurement(target, started, Status.NOT_ALLOWED, {"result_code": RESULT_FAILED}, refusal)
        loop = asyncio.get_running_loop()
        settings = target.tcp or TcpSettings()
        timeout = min(settings.timeout_ms / 1000.0, deadline - loop.time())
        if timeout <= 0:
            return Measurement(target, started, Status.TIMEOUT, {"result_code": RESULT_TIMEOUT}, "deadline passed")
        sock = socket.socket(socket.AF_INET if ip.version == 4 else socket.AF_INET6, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            t0 = time.perf_counter()
            await asyncio.wait_for(loop.sock_connect(sock, (ip.compressed, port)), timeout)
            connect_ms = (time.perf_counter() - t0) * 1000.0
            return Measurement(target, started, Status.OK, {"connect_ms": connect_ms, "result_code": RESULT_OK})
        except TimeoutError:
            msg = f"no answer to SYN within {timeout * 1000:.0f} ms"
            return Measurement(target, started, Status.TIMEOUT, {"result_code": RESULT_TIMEOUT}, msg)
        except ConnectionRefusedError:
            msg = f"connection refused (RST): nothing listens on port {port}"
            return Measurement(target, started, Status.REFUSED, {"result_code": RESULT_FAILED}, msg)
        except OSError as exc:
            status = status_of(exc)  # by type and errno: unreachable vs a local error
            return Measurement(target, started, status, {"result_code": RESULT_FAILED}, exc.strerror or str(exc))
        finally:
            sock.close()
