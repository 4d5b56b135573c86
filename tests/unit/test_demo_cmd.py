"""`netprobe demo` without the lab: the refusal when not root, the dry listing, picking what to check."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from netprobe.cli import demo_cmd
from netprobe.cli.main import cli, entry
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
