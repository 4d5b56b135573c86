"""`netprobe check` on the lab's demo scenario, as a technician (or Nagios) would run it: a real process,
real namespaces, real snmpd, faults imposed by the lab.

healthy → 0, lossy → 1 naming the line and the hop, dead → 2 naming the line, unknown → 3 with
suggestions; --json validates against the published schema; both languages render; < 15 s each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netprobe.check import render

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces, snmpd on port 161)"),
]

SCHEMA = json.loads((Path(render.__file__).parent / "check.schema.json").read_text("utf-8"))
LAB_ID = os.environ.get("NETPROBE_TEST_LAB_ID", f"ck{os.getpid() % 100000}")  # side-by-side helpers: their own


def netprobe(*args: str) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Any]]:
    """The demo lab under an id of our own (the lab's daemons are its own processes, as in production)."""
    netprobe("lab", "down", "--id", LAB_ID)  # a crashed earlier run with the same id
    status: dict[str, Any] = json.loads(
        netprobe("lab", "up", "--id", LAB_ID, "--scenario", "demo", "--lifetime", "600", "--json")
    )
    try:
        yield status
    finally:
        netprobe("lab", "down", "--id", LAB_ID)


def check(lab: dict[str, Any], *args: str) -> tuple[int, str, str, float]:
    env = {**os.environ, "NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128,198.18.0.0/15", "COLUMNS": "120"}
    env.pop("NETPROBE_CONFIG", None)
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", "-i", lab["inventory"], "check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    # rich wraps long sentences at the console width: compare text with whitespace normalised
    return p.returncode, " ".join(p.stdout.split()), p.stderr, time.monotonic() - t0


def test_healthy_commune_is_ok(lab: dict[str, Any]) -> None:
    code, out, err, took = check(lab, "Kinh Bắc", "--lang", "vi")
    assert code == 0, out + err
    assert "KẾT LUẬN: mọi thứ hoạt động bình thường." in out
    # 2 lines (CE + PE rows), router, switch, firewall, video endpoint, 2 services, all OK from dc1 and dc2
    for name in ("kinh-bac-l1", "kinh-bac-l2", "kinh-bac-rt", "kinh-bac-sw", "kinh-bac-fw", "kinh-bac-vc"):
        assert name in out
    assert "Đo từ: dc1, dc2" in out
    assert took < 15, f"check took {took:.1f} s"


def test_lossy_line_is_a_warning_naming_the_line_and_the_hop(lab: dict[str, Any]) -> None:
    code, out, err, took = check(lab, "vo-cuong", "--lang", "vi")
    assert code == 1, out + err
    assert "KẾT LUẬN: có sự cố nhẹ" in out
    assert "Đường truyền vo-cuong-l1 mất" in out
    # the lab drops 20 % on the line, i.e. at hop 2 (the commune end) behind the provider's core (hop 1)
    assert "Gọi tổng đài VNPT 18001091, mã mạch BN-VN-2025002: mất" in out
    assert "từ chặng 2 (đường truyền số liệu chuyên dùng)" in out
    assert took < 15, f"check took {took:.1f} s"


def test_lossy_line_json_validates_and_localises(lab: dict[str, Any]) -> None:
    code, out, _, _ = check(lab, "vo-cuong", "--json", "--lang", "en")
    assert code == 1
    data = json.loads(out)  # whitespace-normalised JSON is still the same JSON
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    line = next(f for f in data["findings"] if f["subject"] == "vo-cuong-l1")
    assert (line["part"], line["hop"], line["provider"]) == ("line", 2, "VNPT")
    assert 5 <= line["loss_pct"] <= 40  # 20 % imposed; 50 packets from each DC
    assert "packet loss from hop 2" in line["next_step"]["text"]
    assert not [f for f in data["findings"] if f["part"] == "lan"]  # the gear behind only inherits the loss


def test_dead_commune_is_critical_naming_the_line(lab: dict[str, Any]) -> None:
    code, out, err, took = check(lab, "hap linh", "--lang", "en")
    assert code == 2, out + err
    assert "RESULT: serious trouble (connection lost)." in out
    assert "Line hap-linh-l1 (VNPT, circuit BN-VN-2025004) is down" in out
    assert "the provider end answers, the commune end does not" in out
    assert "unreachable" in out.split("hap-linh-sw")[1][:60]
    assert took < 15, f"check took {took:.1f} s"


def test_dead_commune_json(lab: dict[str, Any]) -> None:
    code, out, _, _ = check(lab, "hap-linh", "--json", "--lang", "vi", "--no-trace")
    assert code == 2
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "CRITICAL" and data["traces"] == []
    (f,) = [f for f in data["findings"] if f["state"] == "DOWN"]
    assert f["subject"] == "hap-linh-l1" and f["circuit_id"] == "BN-VN-2025004" and f["hotline"] == "18001091"


def test_one_vantage_point_on_request(lab: dict[str, Any]) -> None:
    code, out, err, _ = check(lab, "kinh-bac", "--agent", "dc2", "--lang", "en", "--no-trace")
    assert code == 0, out + err
    assert "Measured from: dc2 —" in out


def test_unknown_commune_is_unknown_with_suggestions(lab: dict[str, Any]) -> None:
    code, out, err, _ = check(lab, "Vo Cuongg", "--lang", "vi")
    assert code == 3 and out == ""
    assert "Có phải: Phường Võ Cường (vo-cuong)?" in err


BIG_COMMUNE = """
name: check-budget
dcs: 2
lifetime_s: 300
communes:
  - name: Phường Yên Phong
    lines: [{provider: VNPT}, {provider: Viettel}, {provider: FPT}]
    devices: [switch, firewall, video_endpoint, access_point, server]
faults:
  - {target: yen-phong-l2, fault: loss, start_s: 0, duration_s: 300, loss_pct: 20}
  - {target: yen-phong-sw, fault: snmp_dead, start_s: 0, duration_s: 300}
"""


def test_three_lines_six_devices_within_15_seconds(tmp_path: Path) -> None:
    """The issue's budget, on its worst case: a lossy line (traceroute + hop pings) and a hung SNMP agent."""
    lab_id = LAB_ID + "b"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(BIG_COMMUNE, encoding="utf-8")
    netprobe("lab", "down", "--id", lab_id)
    status = json.loads(netprobe("lab", "up", "--id", lab_id, "--scenario", str(scenario), "--json"))
    try:
        from netprobe.inventory.loader import load_inventory

        inv = load_inventory(status["inventory"])
        assert (len(inv.lines_of("yen-phong")), len(inv.devices_of("yen-phong"))) == (3, 6)
        code, out, err, took = check(status, "yen-phong", "--lang", "en")
        assert code == 1, out + err
        assert "Line yen-phong-l2 loses" in out
        assert "does not answer SNMP" in out  # the hung agent of the switch, while it still pings
        assert took < 15, f"check took {took:.1f} s"
    finally:
        netprobe("lab", "down", "--id", lab_id)
