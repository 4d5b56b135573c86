"""`netprobe check` exits UNKNOWN (3) for every kind of error, with suggestions for an unknown commune."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from netprobe.check import render
from netprobe.cli.check_cmd import parse_duration
from netprobe.errors import NetprobeError
from tests.conftest import EXAMPLE

SCHEMA = json.loads((Path(render.__file__).parent / "check.schema.json").read_text("utf-8"))


def test_unknown_commune_suggests_the_nearest_vi(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("-i", str(EXAMPLE), "check", "kinh bacc", "--lang", "vi")
    assert code == 3
    assert "Không tìm thấy xã/phường “kinh bacc”." in err
    assert "Có phải: Phường Kinh Bắc (kinh-bac)?" in err
    assert "netprobe inventory show" in err
    assert "Traceback" not in err


def test_unknown_commune_en_and_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("-i", str(EXAMPLE), "check", "Tu Sonn", "--lang", "en", "--json")
    assert code == 3
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    assert data["status"] == "UNKNOWN" and data["exit_code"] == 3
    assert "tu-son" in [s["slug"] for s in data["error"]["suggestions"]]
    assert "Did you mean" in err


def test_usage_errors_are_unknown(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("-i", str(EXAMPLE), "check", "kinh-bac", "--lang", "fr")
    assert code == 3 and "--lang" in err
    code, _, _ = run_cli("-i", str(EXAMPLE), "check")
    assert code == 3
    code, _, err = run_cli("-i", str(EXAMPLE), "check", "kinh-bac", "--since", "yesterday")
    assert code == 3 and "--since" in err


def test_missing_inventory_is_unknown(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("-i", str(tmp_path / "nope"), "check", "kinh-bac")
    assert code == 3 and "no such file" in err


def test_targets_outside_the_allow_list_are_refused_before_anything_is_sent(run_cli) -> None:  # type: ignore[no-untyped-def]
    # the example province has real-looking addresses: check refuses them all, exit UNKNOWN
    code, out, err = run_cli("-i", str(EXAMPLE), "check", "Kinh Bắc", "--lang", "en")
    assert code == 3
    assert "outside the allow-list" in err and "The check could not run" in err
    assert out == ""


def test_unknown_agent_is_unknown(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("-i", str(EXAMPLE), "check", "kinh-bac", "--agent", "dc-nowhere")
    assert code == 3 and "dc-nowhere" in err


def test_parse_duration() -> None:
    assert parse_duration("90") == 90 and parse_duration("15m") == 900 and parse_duration("1h") == 3600
    assert parse_duration("2d") == 172800
    with pytest.raises(NetprobeError):
        parse_duration("1 week")


def test_language_from_config_then_environment(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "netprobe.yaml"
    config.write_text("lang: vi\n", encoding="utf-8")
    _, _, err = run_cli("-c", str(config), "-i", str(EXAMPLE), "check", "xyz")
    assert "Không tìm thấy xã/phường" in err
    _, _, err = run_cli("-c", str(config), "-i", str(EXAMPLE), "check", "xyz", "--lang", "en")
    assert "No commune/ward called" in err  # --lang wins over the config
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    _, _, err = run_cli("-i", str(EXAMPLE), "check", "xyz")
    assert "Không tìm thấy xã/phường" in err
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    _, _, err = run_cli("-i", str(EXAMPLE), "check", "xyz")
    assert "No commune/ward called" in err
