"""The runner: mixed kinds at once, allow-list enforced before any probe, one result per target in order."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from netprobe.engine.allowlist import AllowList
from netprobe.engine.runner import Runner
from netprobe.inventory.model import PingSettings, TcpSettings
from netprobe.probes.base import Measurement, ProbeKind, Status, Target

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP and traceroute need root")


def _run(targets: list[Target]) -> list[Measurement]:
    async def go() -> list[Measurement]:
        return await Runner(AllowList.build(None, {})).run(targets)

    return asyncio.run(go())


@pytest.mark.root
@needs_root
def test_mixed_kinds_in_one_run() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        ping = PingSettings(count=3, spacing_ms=5, timeout_ms=300)
        tcp = TcpSettings(timeout_ms=500)
        targets = [
            Target("ping4", ProbeKind.PING, "127.0.0.1", {}, ping=ping),
            Target("stranger", ProbeKind.PING, "203.0.113.9", {}, ping=ping),
            Target("tcp", ProbeKind.TCP, "127.0.0.1", {}, port=port, tcp=tcp),
            Target("ping6", ProbeKind.PING, "::1", {}, ping=ping),
            Target("trace", ProbeKind.TRACEROUTE, "127.0.0.1", {}),
            *(
                Target(f"many{i}", ProbeKind.PING, f"127.9.{i // 200}.{i % 200 + 1}", {}, ping=ping)
                for i in range(1000)
            ),
        ]
        ms = _run(targets)
    assert [m.target.key for m in ms] == [t.key for t in targets]
    by_key = {m.target.key: m for m in ms}
    assert by_key["stranger"].status is Status.NOT_ALLOWED
    assert by_key["tcp"].status is Status.OK
    assert by_key["trace"].status is Status.OK and by_key["trace"].rows[0]["address"] == "127.0.0.1"
    assert all(
        m.status is Status.OK and m.fields["percent_packet_loss"] == 0.0
        for m in ms
        if m.target.key.startswith(("ping", "many"))
    )


def test_refused_targets_never_reach_a_probe() -> None:
    ms = _run([Target("t", ProbeKind.TCP, "192.0.2.8", {}, port=53), Target("s", ProbeKind.SNMP, "198.51.100.1", {})])
    assert [m.status for m in ms] == [Status.NOT_ALLOWED, Status.NOT_ALLOWED]
    assert all("allow-list" in (m.error or "") for m in ms)


def test_every_measurement_fits_the_schema_whatever_its_status() -> None:
    from netprobe.storage.schema import check_point

    targets = [
        Target("p-refused", ProbeKind.PING, "203.0.113.9", {}),
        Target("p-bad", ProbeKind.PING, "not-an-ip", {}),
        Target("t-refused", ProbeKind.TCP, "203.0.113.9", {}, port=80),
        Target("t-closed", ProbeKind.TCP, "127.0.0.1", {}, port=1, tcp=TcpSettings(timeout_ms=300)),
        Target("s-refused", ProbeKind.SNMP, "203.0.113.9", {}),
    ]
    if os.geteuid() == 0:
        targets.append(Target("p-ok", ProbeKind.PING, "127.0.0.1", {}, ping=PingSettings(count=2, spacing_ms=1)))
    measurement = {ProbeKind.PING: "ping", ProbeKind.TCP: "tcp", ProbeKind.SNMP: "snmp_sys"}
    for m in _run(targets):
        point = dict(m.fields) | {"status": m.status.value}  # the storage converter adds status
        assert not check_point(measurement[m.target.kind], {}, point), (
            m.target.key,
            check_point(measurement[m.target.kind], {}, point),
        )
