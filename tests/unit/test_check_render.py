"""Rendered output without a screenshot: the table at a fixed width in vi and en; --json against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from netprobe.check import render
from netprobe.check.model import CheckResult, History, Hop, Trace
from netprobe.i18n import Translator
from netprobe.inventory.loader import Inventory, load_inventory
from tests.unit.test_check_diagnose import INVENTORY, observe, result_of

SCHEMA = json.loads((Path(render.__file__).parent / "check.schema.json").read_text("utf-8"))


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    p = tmp_path / "inv.yaml"
    p.write_text(INVENTORY, encoding="utf-8")
    return load_inventory(p)


def lossy(inv: Inventory) -> CheckResult:
    obs = observe(inv, {("*", "ping/line/kb-l1/ce"): 41})
    obs.traces = [
        Trace("kb-l1", "dc1", "198.18.16.2", [Hop(1, "198.18.0.1", 50, 50, 0.1), Hop(2, "198.18.16.2", 50, 41)], True)
    ]
    r = result_of(inv, obs)
    r.history = History(86400.0, {"kb-l1": 3, "kb-l2": 0}, "local")
    return r


def dead(inv: Inventory) -> CheckResult:
    keys = ("ping/line/kb-l1/ce", "ping/device/kb-rt", "ping/device/kb-sw", "ping/device/kb-fw")
    return result_of(inv, observe(inv, {("*", k): 0 for k in keys}))


def rendered(result: CheckResult, lang: str, width: int = 120) -> str:
    console = Console(width=width, record=True, no_color=True, force_terminal=False, highlight=False)
    render.render_text(result, Translator(lang), console)
    return console.export_text()


def test_table_in_vietnamese(inv: Inventory) -> None:
    out = rendered(lossy(inv), "vi")
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 120
    header = next(x for x in lines if "Trạng thái" in x)
    for col in ("Đường truyền / thiết bị", "Mất gói", "Độ trễ p50/p95 (ms)", "Dao động (ms)", "SNMP"):
        assert col in header
    row = next(x for x in lines if x.lstrip("│ ").startswith("kb-l1"))
    assert "không ổn định" in row and "18%" in row and "5.00/6.00" in row
    assert "đầu nhà cung cấp (PE)" in out
    assert "kb-sw: bộ chuyển mạch (switch)" in out
    assert "KẾT LUẬN: có sự cố nhẹ" in out
    assert (
        "Gọi tổng đài VNPT 18001091, mã mạch BN-0123: mất 18% gói tin từ chặng 2 (đường truyền số liệu chuyên dùng)."
        in out
    )
    assert "Lịch sử: kb-l1 không ổn định 3 trong 24 giờ qua." in out
    assert "\x1b[" not in out  # no colour codes when not a terminal


def test_table_in_english(inv: Inventory) -> None:
    out = rendered(dead(inv), "en")
    assert "Line / device" in out and "RTT p50/p95 (ms)" in out
    row = next(x for x in out.splitlines() if x.lstrip("│ ").startswith("kb-l1"))
    assert "down" in row and "100%" in row
    assert "unreachable" in next(x for x in out.splitlines() if "kb-sw" in x)
    assert "RESULT: serious trouble (connection lost)." in out
    assert "Line kb-l1 (VNPT, circuit BN-0123) is down" in out
    assert "call the VNPT hotline 18001091, circuit id BN-0123" in out


def test_healthy_says_so_in_both_languages(inv: Inventory) -> None:
    ok = result_of(inv, observe(inv, {}))
    assert "KẾT LUẬN: mọi thứ hoạt động bình thường." in rendered(ok, "vi")
    assert "RESULT: everything works normally." in rendered(ok, "en")


def test_narrow_terminal_still_renders_everything(inv: Inventory) -> None:
    out = rendered(dead(inv), "vi", width=80)
    assert max(len(x) for x in out.splitlines()) <= 80
    assert "BN-0123" in out and "18001091" in out


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_json_validates_against_the_schema(inv: Inventory, lang: str) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for result in (lossy(inv), dead(inv), result_of(inv, observe(inv, {}))):
        data = json.loads(render.dumps(result, Translator(lang)))
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == []
        assert data["lang"] == lang and data["exit_code"] == int(result.exit)
    data = render.to_json(lossy(inv), Translator("vi"))
    (f,) = data["findings"]
    assert (f["part"], f["subject"], f["hop"], f["circuit_id"]) == ("line", "kb-l1", 2, "BN-0123")
    assert f["next_step"]["key"] == "next.call_provider_loss_hop"
    assert data["traces"][0]["hops"][1]["part"] == "line"


def test_schema_rejects_what_it_should() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert not validator.is_valid({"status": "OK"})
    bad_error = {
        "$schema": render.SCHEMA_ID,
        "schema_version": 2,
        "lang": "vi",
        "status": "UNKNOWN",
        "exit_code": 2,
        "error": {"message": "x", "suggestions": []},
    }
    assert not validator.is_valid(bad_error)
    bad_error["exit_code"] = 3
    assert validator.is_valid(bad_error)


def test_history_shorter_than_an_hour_is_told_in_minutes(inv: Inventory) -> None:
    ok = result_of(inv, observe(inv, {}))
    ok.history = History(130.0, {"kb-l1": 0}, "local")  # a new agent (or the demo) has minutes of history
    assert "Lịch sử: không có lúc nào không ổn định trong 2 phút qua." in rendered(ok, "vi")
    assert "History: nothing unstable in the last 2 min." in rendered(ok, "en")
    ok.history = History(130.0, {"kb-l1": 1}, "local")
    assert "History: kb-l1 was unstable in the last 2 min." in rendered(ok, "en")
    ok.history = History(86400.0, {"kb-l1": 0}, "local")
    assert "Lịch sử: không có giờ nào không ổn định trong 24 giờ qua." in rendered(ok, "vi")
