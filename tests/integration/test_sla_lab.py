"""The SLA report over a real lab run with a known outage, against the lab's ground truth.

`netprobe run` probes a one-commune lab from its data-centre namespace every 2 s into the embedded
store; the lab cuts the line for 12 s (`lab impair --down`) and records exactly when. The report's
outage and availability must match that truth within one probe interval. The HTML must open in headless
Chromium without errors; the CSV must be UTF-8 with a BOM and keep Vietnamese names intact.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces, snmpd on port 161)"),
]

LAB_ID = os.environ.get("NETPROBE_TEST_LAB_ID", f"cs{os.getpid() % 100000}")  # side-by-side helpers: their own
INTERVAL_S = 2.0
OUTAGE_S = 12.0
ICT = timezone(timedelta(hours=7))
SCENARIO = """
name: sla-test
dcs: 1
lifetime_s: 300
communes:
  - name: Phường Kinh Bắc
    lines: [{provider: VNPT, circuit_id: BN-VN-0123}]
    devices: [switch]
"""


def netprobe(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A lab, 2-second probing by the real agent, a 12 s cut in the middle; yields paths and the truth."""
    tmp = tmp_path_factory.mktemp("sla")
    scenario = tmp / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    netprobe("lab", "down", "--id", LAB_ID)
    status = json.loads(netprobe("lab", "up", "--id", LAB_ID, "--scenario", str(scenario), "--json"))
    try:
        inv = yaml.safe_load(Path(status["inventory"]).read_text(encoding="utf-8"))
        inv["defaults"] = {
            **inv.get("defaults", {}),
            "probes": {
                "ping": {"interval_s": INTERVAL_S, "count": 5, "spacing_ms": 20, "timeout_ms": 500},
                "snmp": {"enabled": False},
                "tcp": {"enabled": False},
            },
        }
        inventory = tmp / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(inv, allow_unicode=True), encoding="utf-8")
        env = {
            **os.environ,
            "NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128,198.18.0.0/15",
            "NETPROBE_STATE_DIR": str(tmp / "state"),
        }
        env.pop("NETPROBE_CONFIG", None)
        with open(tmp / "agent.log", "w", encoding="utf-8") as log:
            agent = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "netprobe",
                    "lab",
                    "exec",
                    "--id",
                    LAB_ID,
                    "--",
                    sys.executable,
                    "-m",
                    "netprobe",
                    "-i",
                    str(inventory),
                    "run",
                    "--agent",
                    "dc1",
                    "--no-verdicts",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                time.sleep(6)
                netprobe("lab", "impair", "--id", LAB_ID, "kinh-bac-l1", "--down", "--for", str(OUTAGE_S))
                time.sleep(OUTAGE_S + 8)
            finally:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=30)
        truth = json.loads(Path(status["truth"]).read_text(encoding="utf-8"))
        yield {"inventory": inventory, "env": env, "truth": truth, "tmp": tmp}
    finally:
        netprobe("lab", "down", "--id", LAB_ID)


def _cut(truth: dict[str, Any]) -> tuple[float, float]:
    (fault,) = [f for f in truth["faults"] if f["fault"] == "down" and f["target"] == "kinh-bac-l1"]
    assert fault["start"] is not None and fault["end"] is not None, fault
    return float(fault["start"]), float(fault["end"])


def _month(t: float) -> str:
    return datetime.fromtimestamp(t, ICT).strftime("%Y-%m")


def _sections(text: str) -> dict[str, list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    out: dict[str, list[list[str]]] = {}
    current = ""
    for row in rows[1:]:
        if len(row) == 1:
            current = row[0]
            out[current] = []
        elif row and current:
            out[current].append(row)
    return out


def test_outage_and_availability_match_the_ground_truth(lab_run: dict[str, Any]) -> None:
    start, end = _cut(lab_run["truth"])
    month = _month(start)
    out = lab_run["tmp"] / "sla.csv"
    netprobe(
        "-i",
        str(lab_run["inventory"]),
        "report",
        "sla",
        "--month",
        month,
        "--lang",
        "en",
        "-o",
        str(out),
        env=lab_run["env"],
    )
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel shows Vietnamese names intact
    sections = _sections(raw.decode("utf-8-sig"))
    header, *lines = sections["Per line"]
    row = dict(zip(header, lines[0], strict=True))
    assert row["Commune/ward"] == "Phường Kinh Bắc" and row["Circuit id"] == "BN-VN-0123"
    assert row["Outages"] == "1"
    header, *outages = sections["Outages"]
    outage = dict(zip(header, outages[0], strict=True))
    reported_start = datetime.strptime(outage["Start"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ICT).timestamp()
    reported_s = float(outage["Duration (min)"]) * 60
    truth_s = end - start
    # within one probe interval (+1 s: the CSV shows whole seconds and minutes to 2 decimals)
    assert abs(reported_start - start) <= INTERVAL_S + 1, (outage, start)
    assert abs(reported_s - truth_s) <= INTERVAL_S + 1, (reported_s, truth_s)
    assert abs(float(row["Downtime (min)"]) * 60 - truth_s) <= INTERVAL_S + 1


def test_availability_matches_the_ground_truth(lab_run: dict[str, Any]) -> None:
    """The same report through the Python API, at full precision, from the store the agent wrote."""
    from netprobe.config import Config
    from netprobe.inventory.loader import load_inventory
    from netprobe.report.sla import build_report, line_infos
    from netprobe.storage.facade import open_storage

    start, end = _cut(lab_run["truth"])
    truth_s = end - start
    inv = load_inventory(lab_run["inventory"])
    with open_storage(Config(state_dir=lab_run["env"]["NETPROBE_STATE_DIR"])) as storage:
        report = build_report(storage.source(), line_infos(inv), _month(start), ICT, time.time())
    (line,) = report.lines
    (outage,) = line.outages
    assert abs(outage.start_s - start) <= INTERVAL_S and abs(outage.end_s - end) <= INTERVAL_S
    assert abs(outage.duration_s - truth_s) <= INTERVAL_S
    assert abs(line.down_s - truth_s) <= INTERVAL_S
    assert line.measured_s > 20  # the run lasted ~26 s
    truth_availability = 100 * (1 - truth_s / line.measured_s)
    assert line.availability_pct is not None
    assert abs(line.availability_pct - truth_availability) <= 100 * INTERVAL_S / line.measured_s
    (vnpt,) = report.providers
    assert vnpt.availability_pct == pytest.approx(line.availability_pct)
    assert line.unstable_hours >= 1


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_is_self_contained_and_opens_in_headless_chromium(lab_run: dict[str, Any]) -> None:
    start, _ = _cut(lab_run["truth"])
    out = lab_run["tmp"] / "sla.html"
    netprobe(
        "-i",
        str(lab_run["inventory"]),
        "report",
        "sla",
        "--month",
        _month(start),
        "--lang",
        "vi",
        "--provider",
        "vnpt",
        "-o",
        str(out),
        env=lab_run["env"],
    )
    html = out.read_text(encoding="utf-8")
    assert "<svg" in html and "Nhà cung cấp VNPT" in html and "Phường Kinh Bắc" in html
    for external in ("http://", "https://", "src=", "<link", "<script"):
        assert external not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), external
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    profile = lab_run["tmp"] / "chromium-profile"
    p = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            out.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "<svg" in p.stdout and "Nhà cung cấp VNPT" in p.stdout  # parsed and rendered the document
    console = [x for x in p.stderr.splitlines() if "CONSOLE" in x or "Uncaught" in x or "Failed to load" in x]
    assert console == []


def test_check_shows_the_recent_history_from_the_store(lab_run: dict[str, Any]) -> None:
    """The cut is over: the line answers again, but went down once in the last hour — DEGRADED (exit 1), as
    status judges it (one judge; check used to say OK from its own burst alone) — and check tells it was
    unstable in the last hours."""
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "netprobe",
            "-i",
            str(lab_run["inventory"]),
            "check",
            "kinh-bac",
            "--lang",
            "vi",
            "--since",
            "2h",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=lab_run["env"],
        check=False,
    )
    out = " ".join(p.stdout.split())
    assert p.returncode == 1, p.stdout + p.stderr
    assert "Đường truyền kinh-bac-l1 đã mất kết nối 1 lần trong" in out
    assert "Lịch sử: kinh-bac-l1 không ổn định 1 trong 2 giờ qua." in out
