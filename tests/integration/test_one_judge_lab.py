"""One judge: `check --json`, `status --json` and Grafana's link_health query give the same state for the
same line at the same time, on one lab run (netprobe.grafana.labrun: a 30 % lossy line, a healthy line, a
line cut for 70 s and recovered, a switch reboot; the real agent stores into a real influxd).

Right after the agent stops and its outbox is flushed, while the lab and its faults are still up, `status`
and `check` of each commune run against that store; Grafana's state is the dashboards' own
`last_line_state` query over the same store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from netprobe.grafana.dashboards import last_line_state
from netprobe.grafana.influx import InfluxClient
from netprobe.grafana.labrun import CUT, HEALTHY, LOSSY, fill_from_lab
from netprobe.health.verdict import State
from netprobe.storage.influxd import InfluxD

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.influx,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces, snmpd on port 161)"),
]

LINES = {LOSSY: State.UNSTABLE, HEALTHY: State.OK, CUT: None}  # None: whatever the three agree on
LAB_ID = os.environ.get("NETPROBE_TEST_LAB_ID", f"oj{os.getpid() % 100000}")


def _netprobe(config: Path, inventory: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inventory), *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    return p.returncode, p.stdout


def _observe(config: Path, inventory: Path, env: dict[str, str]) -> dict[str, Any]:
    """status once, then check of each line's commune, all within a few seconds of each other."""
    at = time.time()
    _code, out = _netprobe(config, inventory, env, "status", "--json", "--since", "10m")
    status = json.loads(out)
    checks = {}
    for line in LINES:
        commune = line.rsplit("-", 1)[0]
        code, out = _netprobe(config, inventory, env, "check", commune, "--json", "--lang", "en", "--no-trace")
        checks[line] = (code, json.loads(out))
    return {"at": at, "status": status, "checks": checks, "done": time.time()}


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, State]]:
    if shutil.which("influxd") is None:
        pytest.skip("influxd not installed: run scripts/setup.sh (Debian package influxdb)")
    tmp = tmp_path_factory.mktemp("one-judge")
    with InfluxD.start(tmp / "influxd") as server:
        client = InfluxClient(server.url, "netprobe")
        run = fill_from_lab(client, tmp, LAB_ID, while_up=_observe)
        # Grafana: the dashboards' current-state query, over the agent's run
        where = f"time >= {int(run.start_s * 1000)}ms AND time <= {int(run.end_s * 1000) + 1000}ms"
        grafana = {s.tags["line"]: _state(s.values[-1][-1]) for s in client.query(last_line_state(where))}
        extra: dict[str, Any] = run.extra
        return extra, grafana


def _state(code: float) -> State:
    return next(s for s in State if s.code == int(code))


def _status_state(status: dict[str, Any], line: str) -> State:
    """A line status does not list is OK; a listed one is its row's state (current rows only)."""
    rows = [p for p in status["problems"] if p["subject"] == line and not p["recovered"]]
    return State(rows[0]["state"]) if rows else State.OK


def test_check_status_and_grafana_agree_on_each_line(observed: tuple[dict[str, Any], dict[str, State]]) -> None:
    extra, grafana = observed
    assert extra["done"] - extra["at"] < 60  # "at the same time": within one check window
    for line, expected in LINES.items():
        _code, result = extra["checks"][line]
        (item,) = [i for i in result["items"] if i["kind"] == "line" and i["id"] == line]
        in_check = State(item["state"])
        in_status = _status_state(extra["status"], line)
        in_grafana = grafana[line]
        assert in_check == in_status == in_grafana, (line, in_check, in_status, in_grafana)
        if expected is not None:
            assert in_check is expected, line
        assert item["state_code"] == in_check.code
    assert extra["checks"][HEALTHY][0] == 0 and extra["checks"][LOSSY][0] == 1  # Nagios: OK, WARNING
