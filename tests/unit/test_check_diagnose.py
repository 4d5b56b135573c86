"""The diagnosis on constructed measurements: which part is at fault, the evidence and the next step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from netprobe.check.diagnose import (
    Observed,
    broken_agents,
    diagnose,
    judge,
    loss_origin,
    significantly_more,
)
from netprobe.check.model import CheckResult, Exit, Hop, Part, State, Trace
from netprobe.engine.targets import build_targets
from netprobe.health.observation import Observation, Source
from netprobe.inventory.loader import Inventory, load_inventory
from netprobe.probes.base import Measurement, ProbeKind, Status, Target

T0 = 1_790_000_000.0  # a check in 2026

INVENTORY = """
province: {slug: bn, name: Bắc Ninh}
providers: {VNPT: {hotline: "18001091"}, Viettel: {hotline: "18008098"}}
snmp_profiles: {v2: {version: "2c", community: "${NETPROBE_TEST_COMMUNITY}"}}
defaults: {snmp_profile: v2}
agents: [{name: dc1}, {name: dc2}]
services: [{id: qlvb, name: Hệ thống quản lý văn bản, address: 198.18.1.2, port: 443}]
communes:
  - slug: kinh-bac
    name: Phường Kinh Bắc
    sites:
      - id: ubnd
        name: UBND Phường Kinh Bắc
        lines:
          - {id: kb-l1, provider: VNPT, circuit_id: BN-0123, ce: 198.18.16.2, pe: 198.18.16.1}
          - {id: kb-l2, provider: Viettel, circuit_id: BN-0456, ce: 198.18.16.6, pe: 198.18.16.5, role: backup}
        devices:
          - {id: kb-rt, kind: router, address: 198.19.0.1, parent: kb-l1, interfaces: [wan1, lan0]}
          - {id: kb-sw, kind: switch, address: 198.19.0.2, parent: kb-rt, interfaces: [p1, p2]}
          - {id: kb-fw, kind: firewall, address: 198.19.0.3, parent: kb-sw, snmp: false}
"""


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    p = tmp_path / "inv.yaml"
    p.write_text(INVENTORY, encoding="utf-8")
    return load_inventory(p)


def ping(t: Target, received: int, sent: int = 50, rtt: float = 5.0) -> Measurement:
    fields: dict[str, float | int | str | bool] = {
        "packets_transmitted": sent,
        "packets_received": received,
        "percent_packet_loss": 100.0 * (sent - received) / sent,
    }
    if received:
        fields.update(median_response_ms=rtt, p95_response_ms=rtt * 1.2, jitter_ms=0.3)
    return Measurement(t, 0.0, Status.OK if received else Status.TIMEOUT, fields)


def observe(
    inv: Inventory, overrides: dict[tuple[str, str], int], agents: tuple[str, ...] = ("dc1", "dc2")
) -> Observed:
    """Every target answers 50/50 unless overridden: {(agent, target key): packets received}."""
    out: dict[str, list[Measurement]] = {}
    for agent in agents:
        ms = []
        for t in build_targets(inv, agent=agent, communes=["kinh-bac"], kinds=(ProbeKind.PING,)):
            ms.append(ping(t, overrides.get((agent, t.key), overrides.get(("*", t.key), 50))))
        for t in build_targets(inv, agent=agent, kinds=(ProbeKind.TCP,)):
            ms.append(Measurement(t, 0.0, Status.OK, {"connect_ms": 1.0}))
        out[agent] = ms
    return Observed(out)


def result_of(inv: Inventory, observed: Observed) -> CheckResult:
    items, findings = diagnose(inv, "kinh-bac", observed)
    return CheckResult("kinh-bac", "Phường Kinh Bắc", 0.0, 1.0, ["dc1", "dc2"], items, findings, list(observed.traces))


def test_healthy_commune_is_ok(inv: Inventory) -> None:
    r = result_of(inv, observe(inv, {}))
    assert r.findings == []
    assert {i.state for i in r.items} == {State.OK}
    assert r.exit is Exit.OK
    assert [i.kind for i in r.items].count("service") == 1


def test_lossy_line_with_clean_pe_blames_the_line_and_names_the_hop(inv: Inventory) -> None:
    obs = observe(inv, {("*", "ping/line/kb-l1/ce"): 41})  # 18 % loss from both DCs
    trace = Trace(
        "kb-l1", "dc1", "198.18.16.2", [Hop(1, "198.18.0.1", 50, 50, 0.1), Hop(2, "198.18.16.2", 50, 40)], reached=True
    )
    obs.traces = [trace]
    r = result_of(inv, obs)
    line = next(i for i in r.items if i.id == "kb-l1")
    assert line.state is State.UNSTABLE and r.exit is Exit.WARNING
    (f,) = [f for f in r.findings if f.subject == "kb-l1"]
    assert f.part is Part.LINE and f.hop == 2 and f.circuit_id == "BN-0123" and f.hotline == "18001091"
    assert f.next_step.key == "next.call_provider_loss_hop"
    assert f.next_step.params["ttl"] == 2 and f.next_step.params["loss"] == 18
    # the gear behind the lossy line shows the loss too, but is not blamed for it
    assert not [f for f in r.findings if f.part is Part.LAN]
    sw = next(i for i in r.items if i.id == "kb-rt")
    assert sw.state is State.OK  # overrides only touched the line's CE


def test_loss_behind_a_lossy_line_is_inherited_not_blamed(inv: Inventory) -> None:
    obs = observe(
        inv, {("*", "ping/line/kb-l1/ce"): 40, ("*", "ping/device/kb-rt"): 39, ("*", "ping/device/kb-sw"): 41}
    )
    r = result_of(inv, obs)
    assert [f.subject for f in r.findings] == ["kb-l1"]
    # its losses happened while its line was losing: the line's, so the router is not flagged itself
    rt = next(i for i in r.items if i.id == "kb-rt")
    assert rt.state is State.OK and not any(f.subject == "kb-rt" for f in r.findings)


def test_lossy_pe_too_blames_the_provider_network(inv: Inventory) -> None:
    r = result_of(inv, observe(inv, {("*", "ping/line/kb-l2/ce"): 40, ("*", "ping/line/kb-l2/pe"): 41}))
    (f,) = r.findings
    assert f.part is Part.PROVIDER and f.subject == "kb-l2" and f.provider == "Viettel"


def test_dead_line_names_the_line_and_its_gear_is_unreachable(inv: Inventory) -> None:
    obs = observe(
        inv,
        {
            ("*", "ping/line/kb-l1/ce"): 0,
            ("*", "ping/device/kb-rt"): 0,
            ("*", "ping/device/kb-sw"): 0,
            ("*", "ping/device/kb-fw"): 0,
        },
    )
    obs.traces = [Trace("kb-l1", "dc1", "198.18.16.2", [Hop(1, "198.18.0.1", 3, 3, 0.1)], reached=False)]
    r = result_of(inv, obs)
    assert r.exit is Exit.CRITICAL
    (f,) = r.findings
    assert f.part is Part.LINE and f.state is State.DOWN and f.subject == "kb-l1"
    assert f.message.key == "finding.line_down" and f.next_step.params["circuit"] == "BN-0123"
    assert any(e.key == "evidence.trace_stops" and e.params["ttl"] == 1 for e in f.evidence)
    states = {i.id: i.state for i in r.items}
    assert states["kb-rt"] is State.UNREACHABLE and states["kb-sw"] is State.UNREACHABLE
    assert states["kb-fw"] is State.UNREACHABLE


def test_dead_line_and_dead_pe_is_the_provider(inv: Inventory) -> None:
    r = result_of(inv, observe(inv, {("*", "ping/line/kb-l2/ce"): 0, ("*", "ping/line/kb-l2/pe"): 0}))
    (f,) = r.findings
    assert f.part is Part.PROVIDER and f.message.key == "finding.provider_down"


def test_device_down_behind_a_working_line_is_the_lan(inv: Inventory) -> None:
    r = result_of(inv, observe(inv, {("*", "ping/device/kb-sw"): 0, ("*", "ping/device/kb-fw"): 0}))
    assert r.exit is Exit.CRITICAL
    (f,) = r.findings  # the firewall behind the switch is UNREACHABLE, not blamed twice
    assert f.part is Part.LAN and f.subject == "kb-sw" and f.next_step.key == "next.device_down"
    assert next(i for i in r.items if i.id == "kb-fw").state is State.UNREACHABLE


def test_one_data_centre_cut_off_is_its_own_fault(inv: Inventory) -> None:
    dead = {("dc1", t.key): 0 for t in build_targets(inv, agent="dc1", communes=["kinh-bac"], kinds=(ProbeKind.PING,))}
    obs = observe(inv, dead)
    r = result_of(inv, obs)
    assert [(f.part, f.subject) for f in r.findings] == [(Part.DATACENTRE, "dc1")]
    assert all(i.state is State.OK for i in r.items)  # the commune itself is fine, seen from dc2
    assert r.exit is Exit.WARNING  # redundancy lost: worth a warning, not the commune's emergency
    assert broken_agents(judge(inv, "kinh-bac", observe(inv, {})).evaluation) == set()


def test_service_down_is_the_data_centre(inv: Inventory) -> None:
    obs = observe(inv, {})
    for agent, ms in obs.measurements.items():
        assert isinstance(ms, list)
        obs.measurements[agent] = [  # type: ignore[index]
            Measurement(m.target, 0.0, Status.REFUSED, {}) if m.target.key == "tcp/service/qlvb" else m for m in ms
        ]
    r = result_of(inv, obs)
    (f,) = r.findings
    assert f.part is Part.DATACENTRE and f.subject == "qlvb" and r.exit is Exit.CRITICAL


def test_snmp_interface_down_is_a_lan_warning(inv: Inventory) -> None:
    obs = observe(inv, {})
    snmp_target = next(
        t for t in build_targets(inv, agent="dc1", communes=["kinh-bac"]) if t.key == "snmp/device/kb-sw"
    )
    rows = [
        {"ifname": "p1", "oper_status": 1, "admin_status": 1},
        {"ifname": "p2", "oper_status": 2, "admin_status": 1},
    ]
    obs.measurements["dc1"].append(Measurement(snmp_target, 0.0, Status.OK, {"uptime_s": 100.0}, None, rows))  # type: ignore[attr-defined]
    r = result_of(inv, obs)
    (f,) = r.findings
    assert f.part is Part.LAN and f.message.key == "finding.if_down" and f.message.params["ifname"] == "p2"
    assert r.exit is Exit.WARNING


def test_a_checks_burst_is_judged_by_the_health_engines_thresholds(inv: Inventory) -> None:
    """One judge: check's 50-packet burst goes through netprobe.health with the line's thresholds (loss 2 %
    degraded, 10 % unstable, RTT 200 ms unstable); one burst without a reply is DOWN; refused is UNKNOWN."""
    for received, rtt, expected in (
        (50, 5.0, State.OK),
        (48, 5.0, State.DEGRADED),  # 4 %
        (44, 5.0, State.UNSTABLE),  # 12 %
        (0, 5.0, State.DOWN),
        (50, 250.0, State.UNSTABLE),
    ):
        obs = observe(inv, {("*", "ping/line/kb-l2/ce"): received})
        for ms in obs.measurements.values():
            for i, m in enumerate(ms):
                if m.target.key == "ping/line/kb-l2/ce":
                    ms[i] = ping(m.target, received, rtt=rtt)  # type: ignore[index]
        assert judge(inv, "kinh-bac", obs).evaluation.nodes["kb-l2"].state is expected, (received, rtt)
        (item,) = [i for i in result_of(inv, obs).items if i.id == "kb-l2"]
        assert item.state is expected
        assert all(m.key.startswith("verdict.") for m in item.reasons)
    refused = observe(inv, {}, agents=("dc1",))
    refused.measurements["dc1"] = [
        Measurement(m.target, 0.0, Status.NOT_ALLOWED, {}) if m.target.key == "ping/line/kb-l2/ce" else m
        for m in refused.measurements["dc1"]
    ]
    assert judge(inv, "kinh-bac", refused).evaluation.nodes["kb-l2"].state is State.UNKNOWN


def test_loss_origin_ignores_rate_limited_routers() -> None:
    hops = [Hop(1, "a", 50, 20), Hop(2, "b", 50, 50), Hop(3, "c", 50, 40), Hop(4, "d", 50, 41)]
    origin = loss_origin(Trace("l", "dc1", "d", hops, True), 2.0)
    assert origin is not None and origin.ttl == 3  # hop 1's loss does not carry on: ICMP rate limiting
    assert loss_origin(Trace("l", "dc1", "d", [Hop(1, "a", 50, 50)], True), 2.0) is None


def test_significantly_more() -> None:
    assert not significantly_more((22.0, 50), (18.0, 50), 2.0)  # noise
    assert significantly_more((60.0, 50), (18.0, 50), 2.0)
    assert not significantly_more(None, (0.0, 50), 2.0)


def test_dead_primary_with_working_backup_says_the_office_still_works(inv: Inventory) -> None:
    r = result_of(inv, observe(inv, {("*", "ping/line/kb-l1/ce"): 0}))
    (f,) = [f for f in r.findings if f.subject == "kb-l1"]
    assert f.state is State.DOWN and r.exit is Exit.CRITICAL
    assert any(e.key == "evidence.backup_ok" and e.params["line"] == "kb-l2" for e in f.evidence)


def test_every_line_down_is_one_isolated_headline_first(inv: Inventory) -> None:
    dead = ("ping/line/kb-l1/ce", "ping/line/kb-l2/ce", "ping/device/kb-rt", "ping/device/kb-sw", "ping/device/kb-fw")
    r = result_of(inv, observe(inv, {("*", k): 0 for k in dead}))
    assert r.exit is Exit.CRITICAL
    head, *rest = r.findings
    assert head.subject == "kinh-bac" and head.message.key == "finding.isolated" and head.part is Part.LINE
    assert "VNPT 18001091 (BN-0123)" in head.next_step.params["calls"]
    assert "Viettel 18008098 (BN-0456)" in head.next_step.params["calls"]
    assert sorted(f.subject for f in rest) == ["kb-l1", "kb-l2"]


def test_a_dead_lines_port_on_the_router_is_evidence_for_the_line_not_a_lan_fault(tmp_path: Path) -> None:
    mapped = INVENTORY.replace(
        "ce: 198.18.16.2, pe: 198.18.16.1}",
        "ce: 198.18.16.2, pe: 198.18.16.1, router_port: {device: kb-rt, interface: wan1}}",
    )
    for text, is_mapped in ((INVENTORY, False), (mapped, True)):
        path = tmp_path / f"inv-{is_mapped}.yaml"
        path.write_text(text, encoding="utf-8")
        inventory = load_inventory(path)
        obs = observe(inventory, {("*", "ping/line/kb-l1/ce"): 0})  # the primary is dead, the router answers via kb-l2
        router = next(t for t in build_targets(inventory, agent="dc1") if t.key == "snmp/device/kb-rt")
        rows = [{"ifname": "wan1", "oper_status": 2, "admin_status": 1}, {"ifname": "lan0", "oper_status": 1}]
        obs.measurements["dc1"].append(Measurement(router, 0.0, Status.OK, {"uptime_s": 100.0}, None, rows))  # type: ignore[attr-defined]
        r = result_of(inventory, obs)
        router_findings = [f for f in r.findings if f.subject == "kb-rt"]
        (line,) = [f for f in r.findings if f.subject == "kb-l1"]
        port_evidence = [e for e in line.evidence if e.key == "evidence.line_port_down"]
        if is_mapped:
            assert router_findings == []
            assert [e.params for e in port_evidence] == [{"device": "kb-rt", "ifname": "wan1", "line": "kb-l1"}]
        else:  # without the mapping the router is blamed for its own WAN port
            assert [f.message.key for f in router_findings] == ["finding.if_down"] and port_evidence == []


def _history(
    line: str, down: Callable[[float], bool], start: float, agents: tuple[str, ...] = ("dc1", "dc2")
) -> list[Observation]:
    """Stored CE bursts of `line` every 10 s from `start` to -10 s (check's burst is at 0)."""
    out = []
    t = start
    while t <= -10.0:
        for agent in agents:
            received = 0 if down(t) else 5
            out.append(
                Observation(t, Source.PING, line, "ce", agent, received > 0, 5, received, 5.0 if received else None)
            )
        t += 10.0
    return out


def test_a_flapping_line_is_named_from_history_even_when_checks_burst_is_clean(inv: Inventory) -> None:
    obs = observe(inv, {})  # check's own 50 pings: all answered (an up phase)
    history = _history("kb-l1", lambda t: (t // 20) % 2 == 0, -480.0)  # down 20 s / up 20 s for 8 min
    r = result_of_judged(inv, obs, history)
    line = next(i for i in r.items if i.id == "kb-l1")
    assert line.state is State.UNSTABLE
    assert r.exit is Exit.WARNING
    (f,) = [f for f in r.findings if f.subject == "kb-l1"]
    assert f.message.key == "finding.line_flapping" and f.message.params["times"] >= 6
    assert f.message.params["minutes"] in (8, 9)  # the first outage at -480 s, check at +1 s
    assert f.next_step.key == "next.call_provider_flapping" and f.next_step.params["circuit"] == "BN-0123"
    # the same history without the flapping: nothing to say
    assert result_of_judged(inv, obs, _history("kb-l1", lambda t: False, -480.0)).exit is Exit.OK


def test_an_outage_ended_by_the_routers_reboot_is_the_routers_not_the_providers(inv: Inventory) -> None:
    obs = observe(inv, {})
    router = next(t for t in build_targets(inv, agent="dc1", communes=["kinh-bac"]) if t.key == "snmp/device/kb-rt")
    obs.measurements["dc1"].append(Measurement(router, 0.0, Status.OK, {"uptime_s": 150.0}))  # type: ignore[attr-defined]
    history = _history("kb-l1", lambda t: -200.0 <= t <= -160.0, -600.0)  # off 40 s, booted at -150
    # netprobe saw the router before (up a day): the low uptime now is a reboot it saw happen
    history += [
        Observation(t, Source.SNMP_SYS, "kb-rt", "device", "dc1", uptime_s=86_400.0 + t + 600)
        for t in (-600.0, -540.0, -480.0, -420.0, -360.0, -300.0, -240.0)
    ]
    r = result_of_judged(inv, obs, history)
    assert next(i for i in r.items if i.id == "kb-l1").state is State.OK  # the engine: not the line's outage
    (f,) = [f for f in r.findings if "kb-l1" in str(f.message.params.get("line", f.subject))]
    assert f.part is Part.LAN and f.subject == "kb-rt" and f.message.key == "finding.router_rebooted"
    assert f.next_step.key == "next.router_power"
    assert all(not f.next_step.key.startswith("next.call_provider") for f in r.findings)
    # the same outage with a router that did not reboot: the line's, and the provider is called
    obs2 = observe(inv, {})
    obs2.measurements["dc1"].append(Measurement(router, 0.0, Status.OK, {"uptime_s": 87_000.0}))  # type: ignore[attr-defined]
    (g,) = [f for f in result_of_judged(inv, obs2, history).findings if f.subject == "kb-l1"]
    assert g.part is not Part.LAN


def result_of_judged(inv: Inventory, observed: Observed, history: list[Observation]) -> CheckResult:
    """Check at T0 + 1 s with its burst at T0 and `history` at T0 + its (negative) times: real clock times,
    as the engine reads them (it never looks before the epoch)."""
    at = Observed(
        {a: [dataclasses.replace(m, time=m.time + T0) for m in ms] for a, ms in observed.measurements.items()},
        observed.traces,
    )
    stored = [dataclasses.replace(o, time=o.time + T0) for o in history]
    items, findings = diagnose(inv, "kinh-bac", at, judge(inv, "kinh-bac", at, T0 + 1.0, stored))
    return CheckResult("kinh-bac", "Phường Kinh Bắc", T0, 1.0, ["dc1", "dc2"], items, findings, list(observed.traces))


def with_router_port(tmp_path: Path) -> Inventory:
    """The test inventory with kb-l1 landing on the router's wan1 (router_port)."""
    mapped = INVENTORY.replace(
        "ce: 198.18.16.2, pe: 198.18.16.1}",
        "ce: 198.18.16.2, pe: 198.18.16.1, router_port: {device: kb-rt, interface: wan1}}",
    )
    path = tmp_path / "inv.yaml"
    path.write_text(mapped, encoding="utf-8")
    return load_inventory(path)


def test_the_routers_line_port_changes_are_evidence_of_the_flapping(tmp_path: Path) -> None:
    inventory = with_router_port(tmp_path)
    obs = observe(inventory, {})
    history = _history("kb-l1", lambda t: (t // 20) % 2 == 0, -480.0)
    # polled every 60 s, up at each poll, but its last change keeps moving: it went down between polls
    history += [
        Observation(t, Source.SNMP_IF, "kb-rt", "device", "dc1", ifname="wan1", oper_status=1, last_change_s=15.0)
        for t in range(-480, 0, 60)
    ]
    r = result_of_judged(inventory, obs, history)
    (f,) = [f for f in r.findings if f.subject == "kb-l1"]
    assert f.message.key == "finding.line_flapping"
    (port,) = [e for e in f.evidence if e.key == "evidence.line_port_changes"]
    # ifLastChange 15 s at the last poll (-60 s), the check at +1 s: the change was 76 s before the check
    assert port.params["ifname"] == "wan1" and port.params["changes"] >= 6 and port.params["ago"] == 76


def test_a_stale_port_poll_says_how_old_it_is(tmp_path: Path) -> None:
    """The router stopped answering SNMP 5 min ago (its line is down): its last poll is not shown as now."""
    inventory = with_router_port(tmp_path)
    obs = observe(inventory, {("*", "ping/line/kb-l1/ce"): 0, ("*", "ping/device/kb-rt"): 0})
    history = _history("kb-l1", lambda t: t >= -300.0, -600.0)

    def polls(changed_at: float) -> list[Observation]:  # every 60 s from -600 to -360 s; then silent
        return [
            Observation(t, Source.SNMP_IF, "kb-rt", "device", "dc1", ifname="wan1", oper_status=1,
                        last_change_s=t - changed_at)
            for t in (-600.0, -540.0, -480.0, -420.0, -360.0)
        ]  # fmt: skip

    r = result_of_judged(inventory, obs, history + polls(-5000.0))  # last changed long before the hour
    (f,) = [f for f in r.findings if f.subject == "kb-l1"]
    assert not [e for e in f.evidence if e.key.startswith("evidence.line_port_changes")]
    (f,) = [f for f in result_of_judged(inventory, obs, history + polls(-700.0)).findings if f.subject == "kb-l1"]
    (port,) = [e for e in f.evidence if e.key.startswith("evidence.line_port_changes")]
    assert port.key == "evidence.line_port_changes_stale" and port.params["polled"] == 361
    assert port.params["changes"] == 1 and port.params["ago"] == 701  # changed at -700 s, the check at +1 s


def test_the_line_finding_gives_the_loss_that_made_the_state(inv: Inventory) -> None:
    """History: 20 % loss for 5 min; check's own burst happened to be clean. The finding says the engine's loss
    over check's window (clean burst included), not the burst's 0 %
    (a "loses 0% … call the provider about the loss" contradicts itself)."""
    obs = observe(inv, {})
    history = []
    for i, t in enumerate(range(-300, 0, 10)):
        for agent in ("dc1", "dc2"):
            received = 4 if i % 1 == 0 else 5  # 1 of 5 lost in every burst: 20 %
            history.append(Observation(float(t), Source.PING, "kb-l1", "ce", agent, True, 5, received, 5.0))
    r = result_of_judged(inv, obs, history)
    line = next(i for i in r.items if i.id == "kb-l1")
    assert line.state in (State.DEGRADED, State.UNSTABLE) and line.judged_loss_pct is not None
    (f,) = [f for f in r.findings if f.subject == "kb-l1"]
    assert f.message.key == "finding.line_loss"
    assert f.message.params["loss"] == round(line.judged_loss_pct) and f.message.params["loss"] >= 5  # not 0


def test_a_router_routing_over_its_backup_says_why_it_is_ok_without_answering(tmp_path: Path) -> None:
    """The router's inventory address is its primary line's CE: with that line down it does not answer
    there, but the gear behind it does (failover). OK, with the reason beside the 100 % loss."""
    text = INVENTORY.replace(
        "{id: kb-rt, kind: router, address: 198.19.0.1,", "{id: kb-rt, kind: router, address: 198.18.16.2,"
    )
    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    inventory = load_inventory(path)
    obs = observe(inventory, {("*", "ping/line/kb-l1/ce"): 0, ("*", "ping/device/kb-rt"): 0})
    r = result_of(inventory, obs)
    rt = next(i for i in r.items if i.id == "kb-rt")
    assert rt.state is State.OK
    assert [m.params for m in rt.reasons if m.key == "reason.answers_behind"] == [
        {"address": "198.18.16.2", "line": "kb-l1"}
    ]


def test_gear_dark_behind_a_flapping_line_does_not_make_the_check_critical() -> None:
    from netprobe.check.model import Item

    items = [
        Item("line", "kb-1", "kb-1", state=State.UNSTABLE),  # flapping: check's burst fell in a down phase
        Item("device", "kb-rt1", "kb-rt1", state=State.UNREACHABLE),
        Item("device", "kb-sw1", "kb-sw1", state=State.UNREACHABLE),
    ]
    result = CheckResult("kinh-bac", "Phường Kinh Bắc", 0.0, 1.0, ["dc1"], items, [])
    assert (result.state, result.exit) == (State.UNSTABLE, Exit.WARNING)
    dead = [Item("line", "kb-1", "kb-1", state=State.DOWN), items[1]]
    assert CheckResult("kinh-bac", "K", 0.0, 1.0, ["dc1"], dead, []).exit is Exit.CRITICAL
    alone = [Item("line", "kb-1", "kb-1", state=State.OK), items[1]]  # no cause in the list: it stands
    assert CheckResult("kinh-bac", "K", 0.0, 1.0, ["dc1"], alone, []).exit is Exit.CRITICAL


def test_a_line_dark_only_while_its_data_centre_was_cut_off_is_not_the_providers(inv: Inventory) -> None:
    """One data centre; its uplink was down from -300 to -200 s, so every target it probed was dark then.
    check reads only this commune's history, which alone looks like the line went down: the agent's own
    stored verdict (kind=agent DOWN, link_health) says it was the data centre."""
    from netprobe.health.fresh import impaired_spans_of
    from netprobe.storage.point import Point

    obs = observe(inv, {}, agents=("dc1",))
    history = _history("kb-l1", lambda t: -300.0 <= t <= -200.0, -600.0, agents=("dc1",))
    blind = [
        Point("link_health", {"kind": "agent", "target": "dc1", "agent": "dc1"}, {"state": "DOWN"}, int((T0 + t) * 1e9))
        for t in (-290.0, -260.0, -230.0, -200.0)
    ]
    impaired = impaired_spans_of(blind)
    assert impaired == {"dc1": [(T0 - 320.0, T0 - 170.0)]}  # the rows, widened by the engine's margin

    def findings(spans: dict[str, list[tuple[float, float]]]) -> list[str]:
        at = Observed({a: [dataclasses.replace(m, time=m.time + T0) for m in ms] for a, ms in obs.measurements.items()})
        stored = [dataclasses.replace(o, time=o.time + T0) for o in history]
        _, found = diagnose(inv, "kinh-bac", at, judge(inv, "kinh-bac", at, T0 + 1.0, stored, impaired=spans))
        return [f"{f.subject}:{f.next_step.key}" for f in found]

    assert any(f.startswith("kb-l1:next.call_provider") for f in findings({}))  # what check said before
    assert findings(impaired) == []
