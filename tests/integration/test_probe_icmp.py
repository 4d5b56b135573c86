"""ICMP on loopback (v4 + v6), in a lab namespace with real loss, unprivileged mode, privilege errors."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys

import pytest

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import PingSettings
from netprobe.probes.base import ProbeKind, Status, Target
from netprobe.probes.icmp.packets import EchoBuilder
from netprobe.probes.icmp.probe import IcmpProbe
from netprobe.probes.icmp.sockets import IcmpMode, attach_id_filter, open_icmp_socket
from netprobe.probes.testbed import Testbed, lab_address

pytestmark = pytest.mark.root
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets and namespaces need root")
ALLOW = AllowList.build(None, {"NETPROBE_ALLOWED_NETS": "198.18.0.0/15"})
NETPROBE = [sys.executable, "-m", "netprobe"]


def _ping(addresses: list[str], count: int = 5, spacing_ms: float = 10, mode: IcmpMode = IcmpMode.AUTO):  # type: ignore[no-untyped-def]
    settings = PingSettings(count=count, spacing_ms=spacing_ms, timeout_ms=500)
    targets = [Target(f"t/{a}", ProbeKind.PING, a, {}, ping=settings) for a in addresses]

    async def go():  # type: ignore[no-untyped-def]
        return await IcmpProbe(ALLOW, 10_000, mode).run(targets, asyncio.get_running_loop().time() + 10)

    return asyncio.run(go())


@needs_root
def test_loopback_v4_and_v6() -> None:
    addresses = ["127.0.0.1", "::1", *(f"127.3.0.{i}" for i in range(1, 51))]
    ms = _ping(addresses)
    assert [m.target.address for m in ms] == addresses
    for m in ms:
        assert m.status is Status.OK, m.error
        assert m.fields["packets_transmitted"] == 5 and m.fields["percent_packet_loss"] == 0.0
        assert 0 < float(m.fields["median_response_ms"]) < 5  # kernel timestamps: µs on loopback, not ms
        assert len(m.samples) == 5 and all(s is not None for s in m.samples)
        assert "status" not in m.fields


@needs_root
def test_refused_target_is_never_pinged() -> None:
    ms = _ping(["192.0.2.8", "127.0.0.1"])  # RFC 5737: routes nowhere even if the allow-list broke
    assert ms[0].status is Status.NOT_ALLOWED and "allow-list" in (ms[0].error or "")
    assert ms[1].status is Status.OK


@needs_root
def test_loss_behind_nft_drop_agrees_with_fping_and_healthy_is_zero() -> None:
    lossy = [lab_address(i, lossy=True) for i in range(4)]
    healthy = [lab_address(i, lossy=False) for i in range(4)]
    exact = [lab_address(i, lossy=False) for i in range(100, 103)]  # every 4th request dropped: exactly 25%
    with Testbed("it").up(loss_pct=20) as tb:
        tb.drop_every(4, exact)
        addresses = [*lossy, *healthy, *exact]
        ours = tb.run(tb.prober, [*NETPROBE, "probe", "ping", "--json", "-c", "500", "--spacing-ms", "1",
                                  "--timeout-ms", "300", *addresses])  # fmt: skip
        theirs = tb.run(tb.prober, ["fping", "-C", "500", "-p", "1", "-i", "0.1", "-t", "300", "-q", *addresses])
    assert ours.returncode == 0, ours.stderr  # every target answered at least once
    loss = {d["target"]: d["fields"]["percent_packet_loss"] for d in map(json.loads, ours.stdout.splitlines())}
    fping = {}
    for line in theirs.stderr.splitlines():
        address, _, rest = line.partition(" : ")
        values = rest.split()
        fping[address.strip()] = 100.0 * values.count("-") / len(values)
    for a in healthy:
        assert loss[a] == 0.0 and fping[a] == 0.0
    for a in exact:  # no sampling noise here: both pingers must count the same packets lost
        assert loss[a] == fping[a] == 25.0, (a, loss[a], fping[a])
    # 20% random drop over 500 packets: σ ≈ 1.8 points per target, 0.9 over the four
    for a in lossy:
        assert 12.0 <= loss[a] <= 28.0, (a, loss[a])
    mean_ours = sum(loss[a] for a in lossy) / len(lossy)
    mean_fping = sum(fping[a] for a in lossy) / len(lossy)
    assert abs(mean_ours - mean_fping) <= 4.0, (mean_ours, mean_fping)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _skip_unless_nobody_can_run_netprobe() -> None:
    """The unprivileged tests run netprobe as uid 65534: the checkout must be readable by it."""
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "import netprobe.cli.main"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"uid 65534 cannot run netprobe from this checkout: {probe.stderr.decode()[-200:]}")


@needs_root
def test_unprivileged_datagram_mode_in_a_namespace_that_allows_it() -> None:
    _skip_unless_nobody_can_run_netprobe()
    with Testbed("dg").up(ping_group_open=True) as tb:
        run = tb.run(tb.prober, [*NOBODY, *NETPROBE, "probe",
                                 "ping", "--json", "--mode", "dgram", "-c", "3", "--spacing-ms", "5", "127.0.0.1",
                                 "198.19.128.7"])  # fmt: skip
    assert run.returncode == 0, run.stderr
    for d in map(json.loads, run.stdout.splitlines()):
        assert d["status"] == "ok" and d["fields"]["packets_received"] == 3


@needs_root
def test_no_privilege_is_one_line_with_the_three_fixes() -> None:
    # nobody, in the root namespace where ping_group_range is closed: neither raw nor datagram sockets
    _skip_unless_nobody_can_run_netprobe()
    run = subprocess.run(
        [*NOBODY, *NETPROBE, "probe", "ping", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"HOME": "/tmp"},
    )
    if "ping_group_range" not in run.stderr and run.returncode == 0:
        pytest.skip("this host lets everyone open ICMP sockets (ping_group_range is open)")
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert "root" in lines[0] and "CAP_NET_RAW" in lines[0] and "ping_group_range" in lines[0]


@needs_root
def test_overlapping_runs_never_take_each_others_replies() -> None:
    probe = IcmpProbe(ALLOW, 10_000)
    settings = PingSettings(count=20, spacing_ms=2, timeout_ms=500)
    targets = [Target(f"o/{i}", ProbeKind.PING, f"127.4.0.{i}", {}, ping=settings) for i in range(1, 21)]

    async def go():  # type: ignore[no-untyped-def]
        deadline = asyncio.get_running_loop().time() + 10
        return await asyncio.gather(probe.run(targets, deadline), probe.run(targets, deadline))

    first, second = asyncio.run(go())
    for m in first + second:
        assert m.fields["packets_transmitted"] == 20 and m.fields["packets_received"] == 20, m


@needs_root
def test_icmp_unreachable_from_a_router_is_unreachable_not_timeout() -> None:
    rejected = "198.19.200.1"
    with Testbed("ur").up_routed() as tb:
        rules = (
            "table ip npp_reject {\n chain reject_some {\n  type filter hook forward priority 0; policy accept;\n"
            f"  ip daddr {rejected} reject with icmp host-unreachable\n }}\n}}\n"
        )
        assert tb.run(tb.core, ["nft", "-f", "-"], input_text=rules).returncode == 0
        run = tb.run(tb.prober, [*NETPROBE, "probe", "ping", "--json", "-c", "3", "--spacing-ms", "10",
                                 "--timeout-ms", "300", rejected, "198.19.128.1"])  # fmt: skip
    results = {d["target"]: d for d in map(json.loads, run.stdout.splitlines())}
    assert results[rejected]["status"] == "unreachable", run.stdout
    assert results[rejected]["fields"]["percent_packet_loss"] == 100.0
    assert results["198.19.128.1"]["status"] == "ok"


@needs_root
@pytest.mark.parametrize(("family", "address"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_kernel_filter_keeps_only_our_id(family: socket.AddressFamily, address: str) -> None:
    ours = open_icmp_socket(family, IcmpMode.RAW)
    other = open_icmp_socket(family, IcmpMode.RAW)
    try:
        assert attach_id_filter(ours, 0x1234)
        ours.sock.settimeout(0.5)
        for ident in (0x4321, 0x1234):  # someone else's ping first, then ours
            other.sock.sendto(EchoBuilder(family, b"x" * 8).build(ident, 1), (address, 0))
        data = ours.sock.recv(2048)
        offset = (data[0] & 0x0F) * 4 if family == socket.AF_INET else 0
        assert struct.unpack_from("!H", data, offset + 4)[0] == 0x1234
        with pytest.raises(TimeoutError):
            ours.sock.recv(2048)  # the other reply never reached our queue
    finally:
        ours.close()
        other.close()


@needs_root
def test_global_packet_rate_cap_holds_on_the_wire() -> None:
    """Count the echo requests as the kernel sees them on lo (timestamps of an unfiltered raw socket)."""
    rate, n_targets, count = 2000.0, 500, 2
    sniffer = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sniffer.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    sniffer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sniffer.settimeout(0.2)
    settings = PingSettings(count=count, spacing_ms=0, timeout_ms=300)
    targets = [
        Target(f"r/{i}", ProbeKind.PING, f"127.5.{i // 250}.{i % 250 + 1}", {}, ping=settings) for i in range(n_targets)
    ]

    async def go():  # type: ignore[no-untyped-def]
        return await IcmpProbe(ALLOW, rate).run(targets, asyncio.get_running_loop().time() + 10)

    try:
        ms = asyncio.run(go())
        seen: list[int] = []
        while True:
            try:
                data, anc, _, _ = sniffer.recvmsg(2048, socket.CMSG_SPACE(16))
            except TimeoutError:
                break
            ihl = (data[0] & 0x0F) * 4
            if data[ihl] == 8 and data[16:20].startswith(b"\x7f\x05"):  # our echo requests to 127.5/16
                sec, nsec = struct.unpack("qq", anc[0][2])
                seen.append(sec * 1_000_000_000 + nsec)
    finally:
        sniffer.close()
    assert all(m.status is Status.OK for m in ms)
    assert len(seen) == n_targets * count
    seen.sort()
    span_s = (seen[-1] - seen[0]) / 1e9
    assert span_s >= (len(seen) - 1) / rate - 0.004  # no faster than the cap (3 ms catch-up allowance)
    window_ns, allowed = 50_000_000, int(rate * 0.05 + rate * 0.003 + 1)
    j = 0
    for i in range(len(seen)):  # packets in every 50 ms window
        while seen[i] - seen[j] > window_ns:
            j += 1
        assert i - j + 1 <= allowed, (i - j + 1, allowed)


@needs_root
def test_each_target_gets_its_payload_size() -> None:
    targets = [
        Target(f"s/{size}", ProbeKind.PING, "127.0.0.1", {}, ping=PingSettings(count=2, spacing_ms=1, size=size))
        for size in (0, 4, 56, 1400, 8000)
    ]

    async def go():  # type: ignore[no-untyped-def]
        return await IcmpProbe(ALLOW).run(targets, asyncio.get_running_loop().time() + 5)

    for m in asyncio.run(go()):
        assert m.status is Status.OK and m.fields["packets_received"] == 2, (m.target.key, m.error)
