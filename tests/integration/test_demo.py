"""`netprobe demo` end to end, as `./scripts/demo.sh` runs it: a real process brings up the lab's demo
province, runs the agents in the DC namespaces, prints status and two checks, and takes the lab down.

Asserted against the lab's ground truth (the scenario's faults), not against a recording of the output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netprobe.lab.build import state_dir
from netprobe.lab.scenario import load_scenario

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the demo needs root (the lab builds network namespaces)"),
]

REPO = Path(__file__).resolve().parents[2]
LAB_ID = os.environ.get("NETPROBE_TEST_LAB_ID", f"dm{os.getpid() % 100000}")  # side-by-side helpers: their own


def namespaces_of(lab_id: str) -> list[str]:
    return [n for n in os.listdir("/run/netns") if n.startswith(f"{lab_id}-")] if Path("/run/netns").exists() else []


def test_demo_shows_the_labs_faults_and_leaves_nothing_behind() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    for var in ("NETPROBE_CONFIG", "NETPROBE_ALLOWED_NETS"):  # the demo sets its own allow-list
        env.pop(var, None)
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", "demo", "--minutes", "1", "--id", LAB_ID, "--lang", "vi"],
        capture_output=True,
        text=True,
        timeout=200,
        env=env,
        cwd=REPO,
        check=False,
    )
    took = time.monotonic() - t0
    try:
        assert p.returncode == 0, p.stdout + p.stderr
        assert "Traceback" not in p.stdout + p.stderr
        assert "bringing up the lab" in p.stderr and "probing for 1 min" in p.stderr and "lab down" in p.stderr
        status, _, checks = p.stdout.partition("== netprobe check")
        status, _, truth = status.partition("== the lab's ground truth")
        faulty_check, flapping_check, healthy_check = checks.split("== netprobe check")
        status, faulty_check, flapping_check, healthy_check = (
            " ".join(s.split()) for s in (status, faulty_check, flapping_check, healthy_check)
        )
        truth_rows = {row.split()[2]: row for row in truth.splitlines()[1:] if row.startswith("  ") and " on " in row}

        scenario, _ = load_scenario("demo")
        line_faults = {
            f.target: f.fault for f in scenario.faults if f.fault in ("loss", "congestion", "latency", "flap")
        }
        commune_faults = {re.sub(r"-l\d+$", "", f.target) for f in scenario.faults if f.fault == "down"}
        assert line_faults and commune_faults
        for line, fault in line_faults.items():  # a degraded or flapping line is named itself
            assert f" {line} " in status, f"status does not name {line} ({fault}):\n{status}"
        for commune in commune_faults:  # a cut single line isolates its commune: named as such
            assert f"commune {commune} isolated" in status, f"status does not name {commune}:\n{status}"
        for target in [*line_faults, *(f.target for f in scenario.faults if f.fault in ("down", "flap"))]:
            assert "named: " in truth_rows[target], truth  # the ground-truth table agrees
        assert "kinh-bac-l1" not in status and "kinh-bac-l2" not in status  # the healthy commune's lines
        assert "named with no fault imposed on it" not in truth, truth  # nothing flagged that nobody broke

        # the check of the lossy commune names the line, the hop and whom to call; the healthy one is OK
        assert faulty_check.startswith("vo-cuong")
        assert "Đường truyền vo-cuong-l1 mất" in faulty_check
        assert "Gọi tổng đài VNPT 18001091, mã mạch BN-VN-2025002" in faulty_check
        # the flapping commune is called flapping, even if check's own burst fell in an up phase
        assert flapping_check.startswith("vu-ninh") and "chập chờn" in flapping_check, flapping_check
        assert healthy_check.startswith("kinh-bac")
        assert "KẾT LUẬN: mọi thứ hoạt động bình thường." in healthy_check
        assert took < 165, f"the demo took {took:.0f} s"
    finally:
        left = namespaces_of(LAB_ID)
        if left:
            subprocess.run([sys.executable, "-m", "netprobe", "lab", "down", "--id", LAB_ID], env=env, check=False)
        assert not left, f"namespaces left behind: {left}"
        assert not state_dir(LAB_ID).exists()
