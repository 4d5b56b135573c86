"""The example province validates, inherits settings, and is never probeable under the test allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest

from netprobe.engine.allowlist import AllowList
from netprobe.engine.targets import build_targets, enforce_allow_list
from netprobe.errors import TargetRefused
from netprobe.inventory.loader import load_inventory
from netprobe.inventory.lookup import UnknownCommune, find_commune, fold
from netprobe.probes.base import ProbeKind
from tests.conftest import EXAMPLE


def test_example_validates_with_summary(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("inventory", "validate", str(EXAMPLE))
    assert code == 0, err
    assert "ok — 12 communes, 28 lines, 72 devices, 203 targets, 2 agents" in out


def test_inheritance_outside_in() -> None:
    inv = load_inventory(EXAMPLE)
    line = inv.lines["kinh-bac-vnpt-1"]
    assert line.probes.ping.count == 10  # province defaults
    assert line.probes.ping.interval_s == 30
    assert line.thresholds.loss_pct.unstable == 10
    assert line.hotline == "18001091"  # from providers:
    backup_4g = inv.lines["son-dong-vnpt-2"]
    assert backup_4g.thresholds.rtt_ms.unstable == 300  # per-line override
    assert backup_4g.thresholds.rtt_ms.degraded == 120
    assert backup_4g.thresholds.loss_pct.unstable == 10  # untouched keys still inherited
    assert inv.devices["kinh-bac-sw1"].snmp_profile_name == "province-v3"
    assert inv.devices["vo-cuong-sw1"].snmp_profile_name == "legacy-v2c"  # device override
    assert inv.devices["kinh-bac-vc1"].snmp_profile is None  # snmp: false


def test_example_is_refused_under_test_allow_list() -> None:
    inv = load_inventory(EXAMPLE)
    targets = build_targets(inv)
    assert {t.kind for t in targets} == {ProbeKind.PING, ProbeKind.SNMP, ProbeKind.TCP}
    allow = AllowList.build(None)  # loopback + NETPROBE_ALLOWED_NETS (set by conftest to loopback + lab)
    with pytest.raises(TargetRefused) as exc:
        enforce_allow_list(targets, allow)
    lines = str(exc.value).splitlines()
    assert lines[0].startswith("203 targets outside the allow-list (127.0.0.0/8, ::1/128, 198.18.0.0/15)")
    assert "will not be probed" in lines[0] and "NETPROBE_ALLOWED_NETS" in lines[0]
    assert lines[1].strip().startswith(str(EXAMPLE)) and ": ping/line/" in lines[1]  # file:line:col: key: address
    assert lines[-1].strip() == "(and 198 more)"


@pytest.mark.parametrize(
    "query", ["kinh-bac", "Kinh Bắc", "kinh bac", "Phường Kinh Bắc", "KINH BAC", "phuong kinh bac"]
)
def test_lookup_forms(query: str) -> None:
    assert find_commune(load_inventory(EXAMPLE), query).slug == "kinh-bac"


def test_lookup_d_with_stroke() -> None:
    inv = load_inventory(EXAMPLE)
    assert fold("Đồng Nguyên") == "dong-nguyen"
    assert find_commune(inv, "son dong").slug == "son-dong"
    assert find_commune(inv, "Sơn Động").slug == "son-dong"


def test_lookup_miss_suggests() -> None:
    with pytest.raises(UnknownCommune) as exc:
        find_commune(load_inventory(EXAMPLE), "kinh bak")
    assert exc.value.suggestions[0].slug == "kinh-bac"
    assert "did you mean: kinh-bac (Phường Kinh Bắc)" in str(exc.value)


def test_show_unknown_commune_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("-i", str(EXAMPLE), "inventory", "show", "--commune", "tu son x")
    assert code == 2 and "did you mean" in err and "Traceback" not in err


def test_show_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    import json

    code, out, _ = run_cli("-i", str(EXAMPLE), "inventory", "show", "--commune", "Từ Sơn", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["communes"][0]["name"] == "Phường Từ Sơn"


def test_check_allowed_flag_fails(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("inventory", "validate", "--check-allowed", str(EXAMPLE))
    assert code == 2 and "outside the allow-list" in err


def test_missing_inventory_path(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("inventory", "validate", str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in err
