"""`netprobe demo` without the lab: the refusal when not root, the dry listing, picking what to check."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from netprobe.cli import demo_cmd
from netprobe.cli.main import cli, entry
from netprobe.health.status import Problem
from netprobe.health.verdict import State
from netprobe.inventory.loader import load_inventory
from netprobe.lab.conductor import affected, target_kind
from netprobe.lab.inventory_out import write_inventory
from netprobe.lab.plan import build_plan
from netprobe.lab.scenario import load_scenario


def test_not_root_is_one_line_offering_dry(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(demo_cmd.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as exited:
        entry(["demo", "--minutes", "1"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    out = captured.err.strip()
    assert len(out.splitlines()) == 1, out
    assert "root" in out and "network namespaces" in out and "netprobe demo --dry" in out
    assert "Traceback" not in out


def test_dry_lists_the_example_without_sending() -> None:
    result = CliRunner().invoke(cli, ["demo", "--dry"])
    assert result.exit_code == 0, result.output
    assert "would probe:" in result.output and "never probed" in result.output


def test_picks_a_lossy_commune_and_a_healthy_one(tmp_path: Path) -> None:
    scenario, _ = load_scenario("demo")
    plan = build_plan("ut", scenario)
    inv = load_inventory(write_inventory(plan, tmp_path))
    truth = []  # what the conductor records for each fault (netprobe.lab.conductor)
    for f in scenario.faults:
        lines, devices = affected(plan, f.target, f.fault)
        truth.append({"target": f.target, "fault": f.fault, "target_kind": target_kind(plan, f.target),
                      "lines": lines, "devices": devices})  # fmt: skip
    assert demo_cmd.pick_communes(inv, truth) == ("vo-cuong", "kinh-bac")
    no_loss = [t for t in truth if t["fault"] != "loss"]
    assert demo_cmd.pick_communes(inv, no_loss) == ("hap-linh", "kinh-bac")  # else the dead commune
    with pytest.raises(demo_cmd.DemoError):
        demo_cmd.pick_communes(inv, [t for t in no_loss if t["fault"] != "down"])
    assert demo_cmd.flapping_commune(inv, truth) == "vu-ninh"  # the demo checks it too: it must say flapping
    assert demo_cmd.flapping_commune(inv, [t for t in truth if t["fault"] != "flap"]) is None


def problem(kind: str, subject: str, commune: str, line: str = "", state: State = State.UNSTABLE) -> Problem:
    return Problem(kind, subject, commune, commune, line, "VNPT", state, 0.0, 50.0, "evidence")


def test_truth_vs_status_says_what_was_named_missed_and_extra() -> None:
    now = 1000.0
    truth = {
        "up_at": 900.0,
        "faults": [
            {"target": "a-l1", "fault": "loss", "params": {"loss_pct": 20.0}, "lines": ["a-l1"], "devices": [],
             "start": 900.0},
            {"target": "f-l1", "fault": "flap", "params": {"period_s": 20.0}, "lines": ["f-l1"], "devices": [],
             "start": 900.0},
            {"target": "b", "fault": "down", "params": {}, "lines": ["b-l1"], "devices": [], "start": 900.0},
            {"target": "c-rt", "fault": "snmp_dead", "params": {}, "lines": [], "devices": ["c-rt"], "start": 910.0},
            {"target": "d-rt", "fault": "reboot", "params": {}, "lines": [], "devices": ["d-rt"], "start": None,
             "planned_start": 1260.0},
        ],
    }  # fmt: skip
    problems = [
        problem("line", "a-l1", "a", "a-l1"),
        problem("device", "a-sw", "a", "a-l1"),  # behind the lossy line: explained by it
        problem("commune", "b", "b", state=State.DOWN),
        problem("commune", "f", "f", state=State.DOWN),  # a flapping single line isolates its commune
        problem("device", "d-rt", "d", "d-l1"),  # its reboot is still to come: not explained by it
        problem("device", "e-sw", "e", "e-l1"),  # nothing imposed there
        problem("agent", "dc1", ""),
    ]
    out = demo_cmd.truth_vs_status(truth, problems, now, {"a-l1": "a", "b-l1": "b", "f-l1": "f"})
    text = "\n".join(out)
    assert "loss on a-l1 (loss_pct=20)" in text and "named: a-l1 UNSTABLE (+ 1 device(s) behind it)" in text
    assert "named: b DOWN" in text
    assert "snmp_dead on c-rt" in text and "not named (imposed at +10 s)" in text
    assert "reboot on d-rt" in text and "not yet: starts at +360 s, after the probing" in text
    assert "flap on f-l1 (period_s=20)" in text and "named: f DOWN" in text
    assert out[-2] == "  named with no fault imposed on it: d-rt UNSTABLE, e-sw UNSTABLE"
    assert out[-1] == "  vantage points judged: dc1 UNSTABLE"
