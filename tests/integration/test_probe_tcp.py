"""TCP connect: ok against a local listener, refused on a closed port, timeout behind a blackhole."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import pytest

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import TcpSettings
from netprobe.probes.base import ProbeKind, Status, Target
from netprobe.probes.tcp.probe import TcpProbe
from netprobe.probes.testbed import FAR_ADDRESS, Testbed

ALLOW = AllowList.build(None, {})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_ok_and_refused_on_loopback() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        settings = TcpSettings(timeout_ms=1000)
        targets = [
            Target("ok", ProbeKind.TCP, "127.0.0.1", {}, port=port, tcp=settings),
            Target("closed", ProbeKind.TCP, "127.0.0.1", {}, port=_closed_port(), tcp=settings),
            Target("stranger", ProbeKind.TCP, "192.0.2.1", {}, port=80, tcp=settings),
        ]

        async def go():  # type: ignore[no-untyped-def]
            return await TcpProbe(ALLOW).run(targets, asyncio.get_running_loop().time() + 5)

        ok, closed, stranger = asyncio.run(go())
    assert ok.status is Status.OK and 0 < float(ok.fields["connect_ms"]) < 500 and ok.fields["result_code"] == 0
    assert closed.status is Status.REFUSED and "connect_ms" not in closed.fields and closed.fields["result_code"] == 2
    assert stranger.status is Status.NOT_ALLOWED


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")
def test_timeout_behind_a_blackhole() -> None:
    with Testbed("tcp").up() as tb:
        tb.blackhole_tcp(9)
        run = tb.run(
            tb.prober,
            [sys.executable, "-m", "netprobe", "probe", "tcp", "--json", "--timeout-ms", "400", "-p", "9", "-p", "10",
             FAR_ADDRESS],
        )  # fmt: skip
    results = {d["port"]: d for d in map(json.loads, run.stdout.splitlines())}
    assert results[9]["status"] == "timeout" and results[9]["fields"]["result_code"] == 1, run.stderr
    assert results[10]["status"] == "refused"  # same host, no filter: RST


def test_ipv6_loopback() -> None:
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        target = Target("v6", ProbeKind.TCP, "::1", {}, port=port, tcp=TcpSettings(timeout_ms=1000))

        async def go():  # type: ignore[no-untyped-def]
            return await TcpProbe(ALLOW).run([target], asyncio.get_running_loop().time() + 5)

        (m,) = asyncio.run(go())
    assert m.status is Status.OK and float(m.fields["connect_ms"]) > 0
