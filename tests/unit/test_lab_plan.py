"""The lab's plan, scenarios and self-describing inventory, without root (nothing is built)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from netprobe.engine.targets import build_targets
from netprobe.inventory.loader import load_inventory
from netprobe.lab.inventory_out import write_inventory
from netprobe.lab.plan import LAB_NET, build_plan
from netprobe.lab.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIO_FILES = sorted((Path(__file__).resolve().parents[2] / "netprobe/lab/scenarios").glob("*.yaml"))


def _addresses(plan) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for link in plan.links.values():
        out += [a.split("/")[0] for a in (link.addr_a, link.addr_b) if a]
    out += [b["address"].split("/")[0] for b in plan.bridges.values() if b.get("address")]
    return out


@pytest.mark.parametrize("name", ["demo", "province", "peers"])
def test_shipped_scenarios_plan_inside_the_lab_range(name: str) -> None:
    scenario, _ = load_scenario(name)
    plan = build_plan("np", scenario)
    addresses = _addresses(plan)
    assert len(addresses) == len(set(addresses)), "an address is assigned twice"
    assert all(ipaddress.ip_address(a) in LAB_NET for a in addresses)
    assert all(ns.startswith("np-") for ns in plan.namespaces)
    assert len(plan.namespaces) == len(set(plan.namespaces))
    for ns in plan.namespaces:  # Linux interface names are at most 15 characters
        assert all(len(ifname) <= 15 for ifname, _ in plan.links_in(ns))
    assert not any("default" in r for routes in plan.routes.values() for r in routes)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_scenario_file_plans_and_writes_a_loadable_inventory(path: Path, tmp_path: Path) -> None:
    scenario, _ = load_scenario(str(path))  # a file in the directory, shipped by name or not
    plan = build_plan("np", scenario)  # also checks every fault's target and kind against the lab
    addresses = _addresses(plan)
    assert len(addresses) == len(set(addresses)) and all(ipaddress.ip_address(a) in LAB_NET for a in addresses)
    inv = load_inventory(write_inventory(plan, tmp_path))
    assert len(inv.lines) == len(plan.lines)
    assert all(f.start_s + f.duration_s <= scenario.lifetime_s for f in scenario.faults)


@pytest.mark.parametrize("path", [p for p in SCENARIO_FILES if p.stem.startswith("hidden-")], ids=lambda p: p.stem)
def test_hidden_style_scenarios_end_inside_a_10_minute_run_among_40_healthy_communes(path: Path) -> None:
    scenario, _ = load_scenario(str(path))
    assert all(f.start_s > 0 and f.start_s + f.duration_s <= 600 for f in scenario.faults)
    plan = build_plan("np", scenario)
    owner = {**{k: v.commune for k, v in plan.lines.items()}, **{k: v.commune for k, v in plan.devices.items()}}
    touched = {owner.get(f.target, f.target) for f in scenario.faults}  # a commune target is its own slug
    assert len(plan.communes) - len(touched) >= 40


def test_province_scale() -> None:
    scenario, _ = load_scenario("province")
    plan = build_plan("np", scenario)
    assert len(plan.communes) == 99 and len(plan.lines) == 284
    assert len(plan.dcs) == 2
    assert 250 <= len(plan.namespaces) <= 400


def test_demo_has_every_kind_of_fault() -> None:
    scenario, _ = load_scenario("demo")
    assert 6 <= len(scenario.all_communes()) <= 10
    kinds = {f.fault for f in scenario.faults}
    assert kinds == {"loss", "flap", "down", "congestion", "latency", "reboot", "snmp_dead"}


def test_peers_scenario_has_every_fault_kind_ending_inside_the_run() -> None:
    scenario, _ = load_scenario("peers")
    kinds = {f.fault for f in scenario.faults}
    assert kinds == {"loss", "flap", "down", "congestion", "latency", "reboot", "snmp_dead"}
    assert all(f.start_s > 0 and f.start_s + f.duration_s <= 900 for f in scenario.faults)  # 15-min run
    assert any(f.target == "dc2" and f.fault == "down" for f in scenario.faults)
    assert any(f.target.endswith("-rt") and f.fault == "reboot" for f in scenario.faults)
    plan = build_plan("np", scenario)
    touched = {t.split("-l")[0] for f in scenario.faults for t in [f.target]}
    healthy = [c for c in plan.communes if not any(c.startswith(t) or t.startswith(c) for t in touched)]
    assert len(healthy) >= 30


@pytest.mark.parametrize("name", ["demo", "province", "peers"])
def test_lab_inventory_loads_and_targets_are_lab_addresses(name: str, tmp_path: Path) -> None:
    scenario, _ = load_scenario(name)
    plan = build_plan("np", scenario)
    inv = load_inventory(write_inventory(plan, tmp_path))
    assert len(inv.lines) == len(plan.lines)
    targets = build_targets(inv)
    assert targets and all(ipaddress.ip_address(t.address) in LAB_NET for t in targets)
    data = yaml.safe_load((tmp_path / "inventory.yaml").read_text(encoding="utf-8"))
    assert [a["netns"] for a in data["agents"]] == plan.dc_namespaces
    assert data["snmp_profiles"]["lab-v3"]["auth_key"] == f"file:{tmp_path / 'snmp-auth.key'}"
    router = data["communes"][0]["sites"][0]["devices"][0]
    line = data["communes"][0]["sites"][0]["lines"][0]
    # managed at its LAN gateway (reachable over any line), parented on its primary line
    gateway = plan.communes[data["communes"][0]["slug"]].lan_gateway
    assert router["kind"] == "router" and router["address"] == gateway != line["ce"] and router["parent"] == line["id"]


def test_a_scenario_written_by_someone_else(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\ncommunes:\n  - {name: Xã Gia Bình, lines: 2, devices: [firewall, video_endpoint]}\n"
        "faults:\n  - {target: gia-binh-l2, fault: loss, start_s: 5, duration_s: 30, loss_pct: 12.5}\n"
        "  - {target: gia-binh-fw, fault: reboot, start_s: 10, duration_s: 5}\n",
        encoding="utf-8",
    )
    scenario, source = load_scenario(str(path))
    plan = build_plan("x1", scenario)
    assert source == str(path)
    assert set(plan.lines) == {"gia-binh-l1", "gia-binh-l2"}
    assert plan.devices["gia-binh-fw"].parent == "gia-binh-rt"  # no switch: gear hangs off the router's bridge
    assert plan.bridges["x1-gia-binh-rt"]["name"] == "lan0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nfaults: [{target: nowhere, fault: down, duration_s: 5}]\n", "not a line, device"),
        (
            "name: x\ncommunes: [{name: Xã Kép}]\nfaults: [{target: kep-l1, fault: reboot, duration_s: 5}]\n",
            "does not apply",
        ),
        ("name: x\ncommunes: [{name: Xã Kép, colour: red}]\n", "Extra inputs are not permitted"),
        ("name: x\nfaults: [{target: a, fault: explode, duration_s: 5}]\n", "faults.0"),
        ("name: x\nfaults: [{target: a, fault: loss, duration_s: 5, loss_pct: 120}]\n", "loss_pct"),
    ],
)
def test_bad_scenarios_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        build_plan("np", parse_scenario(text, "s.yaml"))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_lab_commands_refuse_non_root(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    for args in (["lab", "up"], ["lab", "down"], ["lab", "status"], ["lab", "exec", "--", "true"]):
        code, _out, err = run_cli(*args)
        assert code != 0 and "needs root" in err and len(err.strip().splitlines()) == 1, (args, err)


def test_bad_lab_id(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("lab", "down", "--id", "Bad-Id")
    assert code == 2 and "lab id" in err


def test_truth_lists_what_a_fault_takes_out() -> None:
    from netprobe.lab.conductor import affected

    scenario, _ = load_scenario("demo")
    plan = build_plan("np", scenario)
    assert affected(plan, "kinh-bac-sw", "reboot") == ([], ["kinh-bac-sw", "kinh-bac-fw", "kinh-bac-vc"])
    assert affected(plan, "kinh-bac-rt", "reboot") == (
        ["kinh-bac-l1", "kinh-bac-l2"],
        ["kinh-bac-rt", "kinh-bac-sw", "kinh-bac-fw", "kinh-bac-vc"],
    )
    assert affected(plan, "kinh-bac-fw", "reboot") == ([], ["kinh-bac-fw"])
    assert affected(plan, "dong-nguyen-rt", "snmp_dead") == ([], ["dong-nguyen-rt"])
    assert affected(plan, "hap-linh", "down") == (["hap-linh-l1"], [])
    assert affected(plan, "dc2", "down") == ([], [])


@pytest.mark.parametrize(
    "fault",
    [
        "{target: a-l1, fault: loss, start_s: .inf, duration_s: 5, loss_pct: 5}",
        "{target: a-l1, fault: flap, duration_s: 5, period_s: .nan}",
        "{target: a-l1, fault: flap, duration_s: 5, period_s: 1e12}",
        "{target: a-l1, fault: latency, duration_s: 5, latency_ms: .nan}",
    ],
)
def test_scenario_numbers_are_finite_and_bounded(fault: str) -> None:
    """`.inf`/`.nan` are valid YAML floats: a fault parked at start_s .inf would never start nor end."""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(f"name: x\ncommunes: [{{name: A}}]\nfaults: [{fault}]\n", "s.yaml")
    assert "faults.0" in str(exc.value) and "\n" not in str(exc.value)
