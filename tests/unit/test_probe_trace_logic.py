"""Traceroute hop rows and each probe's own batch budget: pure logic."""

from __future__ import annotations

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import PingSettings, SnmpSettings, TcpSettings
from netprobe.probes.base import ProbeKind, Target
from netprobe.probes.icmp.probe import IcmpProbe
from netprobe.probes.snmp.probe import SnmpProbe
from netprobe.probes.tcp.probe import TcpProbe
from netprobe.probes.traceroute.probe import hop_rows


def test_hop_rows_loss_per_hop_and_stop_at_destination() -> None:
    answers = [
        (1, "198.18.0.254", 0.4, False), (1, "198.18.0.254", 0.5, False), (1, "198.18.0.254", 0.6, False),
        # hop 2 (provider core) answers one probe of three; hop 3 is the destination
        (2, "198.51.100.1", 5.0, False),
        (3, "198.19.0.9", 9.0, True), (3, "198.19.0.9", 11.0, True),
    ]  # fmt: skip
    rows = hop_rows(max_hops=8, probes=3, answers=answers)
    assert [r["hop"] for r in rows] == [1, 2, 3]
    assert rows[0]["percent_packet_loss"] == 0.0 and rows[0]["median_response_ms"] == 0.5
    assert rows[1]["packets_received"] == 1 and round(rows[1]["percent_packet_loss"], 1) == 66.7
    assert rows[2]["address"] == "198.19.0.9" and round(rows[2]["percent_packet_loss"], 1) == 33.3


def test_silent_hops_are_stars_until_max_hops() -> None:
    rows = hop_rows(max_hops=3, probes=2, answers=[])
    assert [r["address"] for r in rows] == ["*", "*", "*"]
    assert all(r["percent_packet_loss"] == 100.0 for r in rows)


def test_budgets_grow_with_work_and_stay_bounded() -> None:
    allow = AllowList.build(None, {})
    ping = [Target(f"p{i}", ProbeKind.PING, "127.0.0.1", {}, ping=PingSettings(count=5)) for i in range(10_000)]
    # 50,000 packets at 10k/s = 5 s of pacing, + 5 × 100 ms spacing + 1 s timeout + margin
    assert IcmpProbe(allow, 10_000).budget_s(ping) == 5.0 + 1.5 + 1.0
    assert IcmpProbe(allow, 1_000).budget_s(ping) == 50.0 + 1.5 + 1.0  # the probe's own pacing cap
    snmp = [Target("s", ProbeKind.SNMP, "127.0.0.1", {}, snmp=SnmpSettings(timeout_ms=1000, retries=1))]
    assert 2.0 < SnmpProbe(allow).budget_s(snmp) < 20.0
    assert TcpProbe(allow).budget_s([]) == 0.0
    one_s = TcpSettings(timeout_ms=1000)
    tcp = [Target(f"t{i}", ProbeKind.TCP, "127.0.0.1", {}, port=1, tcp=one_s) for i in range(512)]
    # waves of the probe's own concurrency: 512 connects at 256 in flight = 2 timeouts, at 512 = 1
    assert TcpProbe(allow, 256).budget_s(tcp) == 2.0 + 1.0
    assert TcpProbe(allow, 512).budget_s(tcp) == 1.0 + 1.0


def _rows(*losses: float | None) -> list[dict[str, object]]:
    return [
        {
            "hop": i,
            "address": "*" if loss is None else f"198.18.{i}.1",
            "percent_packet_loss": 100.0 if loss is None else loss,
        }
        for i, loss in enumerate(losses, start=1)
    ]


def test_where_the_loss_starts() -> None:
    from netprobe.probes.traceroute.probe import loss_starts_at

    assert loss_starts_at(_rows(0, 0, 0)) is None
    assert loss_starts_at(_rows(0, 0, 30)) == 3  # only the destination: the commune side
    assert loss_starts_at(_rows(0, 20, 25)) == 2  # from the provider's hop on
    assert loss_starts_at(_rows(10, 0, 0)) is None  # a router that rate-limits its own replies is not loss
    assert loss_starts_at(_rows(0, None, 30)) == 3  # a silent hop proves nothing
    assert loss_starts_at(_rows(0, 3, 4), threshold_pct=5) is None
