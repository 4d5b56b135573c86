"""`netprobe status` over what `netprobe run` really stored.

- loopback: an agent runs a few seconds into a temp state dir; `status` reads that store (no --from);
  the same with `storage.sink: influxdb`: `status` reads InfluxDB;
- without any history: one line naming the store and how to fix it, exit 2, no traceback;
- lab: two DC namespaces, both agents running, one DC's uplink cut with `netprobe lab impair` —
  `status` names that vantage point and blames no commune.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from netprobe.inventory import generate

REPO = Path(__file__).resolve().parents[2]
NETPROBE = [sys.executable, "-m", "netprobe"]


def env_for(state: Path) -> dict[str, str]:
    env = dict(os.environ, NETPROBE_STATE_DIR=str(state), PYTHONPATH=str(REPO))
    env.pop("NETPROBE_CONFIG", None)
    return env


def status_json(inventory: Path, state: Path, since: str = "10m", config: Path | None = None) -> dict[str, Any]:
    settings = ["-c", str(config)] if config else []
    done = subprocess.run(
        [*NETPROBE, *settings, "-i", str(inventory), "status", "--json", "--since", since],
        env=env_for(state), cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_status_without_history_says_so_in_one_line(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    generate.write(generate.generate(communes=1, lines=1, network="127.218.0.0/24", snmp=False), inv)
    done = subprocess.run(
        [*NETPROBE, "-i", str(inv), "status"], env=env_for(tmp_path / "empty"), cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(tmp_path / "empty" / "store.db") in lines[0] and "--from" in lines[0]


def loopback_agent_run(tmp_path: Path, network: str, config: Path | None = None) -> tuple[Path, Path]:
    """`netprobe run` for a few ping intervals over 4 loopback lines; returns (inventory, state dir)."""
    data = generate.generate(communes=2, lines=4, network=network, snmp=False)
    data["defaults"]["probes"] = {"ping": {"interval_s": 1, "count": 2, "spacing_ms": 50, "timeout_ms": 300}}
    inv = tmp_path / "inv.yaml"
    generate.write(data, inv)
    state = tmp_path / "state"
    cmd = [*NETPROBE, *(["-c", str(config)] if config else []), "-i", str(inv), "run", "--agent", "dc1"]
    agent = subprocess.Popen(cmd, env=env_for(state), cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        time.sleep(6)  # a few ping intervals: enough bursts for a verdict on every line
    finally:
        stop(agent)
    assert agent.returncode == 0
    return inv, state


@pytest.mark.root
def test_status_reads_what_the_agent_stored(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: raw ICMP sockets (CI runs as root)")
    inv, state = loopback_agent_run(tmp_path, "127.219.0.0/24")
    report = status_json(inv, state, "5m")
    assert report["lines_by_state"].get("OK") == 4, report  # judged from the stored history, not UNKNOWN
    assert report["problems"] == [], report


@pytest.mark.root
@pytest.mark.influx
def test_status_reads_influxdb_when_that_is_the_sink(tmp_path: Path, influxd: Any) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: raw ICMP sockets (CI runs as root)")
    from tests.integration.conftest import influx_config

    influxd.create_database("status_history")
    config = tmp_path / "netprobe.yaml"
    settings = influx_config(tmp_path / "state", influxd.url, api="v1", database="status_history")
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    inv, state = loopback_agent_run(tmp_path, "127.220.0.0/24", config)
    assert not (state / "store.db").exists()  # nothing local: status must have read InfluxDB
    assert influxd.count("status_history", "ping", "packets_transmitted") > 0
    report = status_json(inv, state, "5m", config)
    assert report["lines_by_state"].get("OK") == 4, report
    assert report["problems"] == [], report


# ---- lab: a broken vantage point ---------------------------------------------------------------------
SCENARIO = """
name: status-two-dcs
dcs: 2
lifetime_s: 600
communes:
  - {name: Phường Kinh Bắc, lines: 1, devices: [switch]}
  - {name: Phường Võ Cường, lines: 1, devices: []}
  - {name: Phường Vũ Ninh, lines: 1, devices: []}
"""
FAST_PROBES = {
    "ping": {"interval_s": 2, "count": 3, "spacing_ms": 50, "timeout_ms": 500},
    "snmp": {"enabled": False},
    "tcp": {"enabled": False},
}


def fast_inventory(lab_inventory: str, out: Path) -> Path:
    data = yaml.safe_load(Path(lab_inventory).read_text(encoding="utf-8"))
    data.setdefault("defaults", {})["probes"] = FAST_PROBES
    data["services"] = []
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


@pytest.mark.root
@pytest.mark.lab
def test_status_names_the_agent_whose_uplink_is_broken(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces (CI runs as root)")
    from netprobe.lab.build import running

    scenario = tmp_path / "two-dcs.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    state = tmp_path / "state"
    with running(str(scenario), lifetime_s=300) as lab:
        inv = fast_inventory(lab["inventory"], tmp_path / "inventory.yaml")
        env = dict(env_for(state), NETPROBE_ALLOWED_NETS="198.18.0.0/15")
        logs = [(tmp_path / f"dc{dc}.log").open("wb") for dc in (1, 2)]
        agents = [
            subprocess.Popen(
                [*NETPROBE, "lab", "exec", "--id", lab["id"], "--dc", str(dc), "--",
                 *NETPROBE, "-i", str(inv), "run", "--agent", f"dc{dc}"],
                env=env, cwd=REPO, stderr=logs[dc - 1],
            )
            for dc in (1, 2)
        ]  # fmt: skip
        try:
            # both agents see every commune fine (waited for, not slept: under load an agent starts late)
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and _lines_ok(inv, state) != 3:
                time.sleep(1)
            impair = subprocess.run(
                [*NETPROBE, "lab", "impair", "--id", lab["id"], "dc2", "--down", "--for", "60"],
                cwd=REPO, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert impair.returncode == 0, impair.stderr
            deadline = time.monotonic() + 40  # dc2's bursts fail for several intervals (impaired for 60 s)
            while True:
                time.sleep(2)
                report = status_json(inv, state, "10m")
                if _current(report) == [("agent", "dc2", "DOWN")] or time.monotonic() > deadline:
                    break
        finally:
            for agent in agents:
                stop(agent)
            for log in logs:
                log.close()
    current = [p for p in report["problems"] if not p["recovered"]]
    assert _current(report) == [("agent", "dc2", "DOWN")], report
    assert "dc2" in current[0]["evidence"] and "not the communes" in current[0]["evidence"], current[0]
    assert report["lines_by_state"].get("OK") == 3, report  # dc1 still reaches every commune


def _current(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, subject, state) of the problems still going on."""
    return [(p["kind"], p["subject"], p["state"]) for p in report["problems"] if not p["recovered"]]


def _lines_ok(inv: Path, state: Path) -> int:
    """Lines OK in `status` now; 0 while there is no history yet (status then exits 2, by design)."""
    try:
        return int(status_json(inv, state, "10m")["lines_by_state"].get("OK", 0))
    except AssertionError:
        return 0
