"""The deployment files: the systemd unit verifies and keeps its promises; the example config loads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from netprobe.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_runs_unprivileged_with_only_cap_net_raw_and_stops_within_its_timeout() -> None:
    unit = directives((DEPLOY / "netprobe.service").read_text(encoding="utf-8"))
    assert unit["User"] == ["netprobe"]
    assert unit["AmbientCapabilities"] == ["CAP_NET_RAW"] and unit["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    stop_timeout = float(unit["ExecStart"][0].split("--stop-timeout")[1].split()[0])
    assert stop_timeout < float(unit["TimeoutStopSec"][0])  # the agent finishes before systemd kills it
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # a config error does not crash-loop


def test_unit_verifies_with_systemd(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "netprobe.service"
    text = (DEPLOY / "netprobe.service").read_text(encoding="utf-8")
    unit.write_text(text.replace("/opt/netprobe/.venv/bin/netprobe", "/bin/true"), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_example_config_loads() -> None:
    config = load_config(str(DEPLOY / "netprobe.yaml.example"))
    assert config.agent == "dc-bac-ninh" and config.storage.sink == "influxdb"
