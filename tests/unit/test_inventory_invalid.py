"""Every broken inventory in tests/data/invalid gives its error at its line:col, exit 2, no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netprobe.inventory.errors import InventoryError
from netprobe.inventory.loader import load_inventory
from tests.conftest import DATA

INVALID = sorted((DATA / "invalid").glob("invalid-*.yaml"))


def expectation(path: Path) -> tuple[str, str | None]:
    head = path.read_text(encoding="utf-8").splitlines()[:2]
    expect = head[0].removeprefix("# expect: ").strip()
    at = head[1].removeprefix("# at: ").strip() if head[1].startswith("# at:") else None
    return expect, at


def test_corpus_covers_every_error_kind() -> None:
    kinds = {p.stem.removeprefix("invalid-") for p in INVALID}
    assert {
        "bad-address",
        "unknown-key",
        "duplicate-id",
        "dangling-parent",
        "parent-cycle",
        "plaintext-secret",
        "duplicate-key",
        "yaml-syntax",
        "missing-key",
    } <= kinds


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_loader_reports_error_at_position(path: Path) -> None:
    expect, at = expectation(path)
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    rendered = [str(p) for p in exc.value.problems]
    matching = [line for line in rendered if expect in line]
    assert matching, f"expected {expect!r} in {rendered}"
    if at is not None:
        assert any(line.startswith(f"{path}:{at}: ") for line in matching), matching


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_cli_exit_2_one_line_per_problem_no_traceback(path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    expect, _ = expectation(path)
    code, out, err = run_cli("inventory", "validate", str(path))
    assert code == 2
    assert "Traceback" not in err + out
    assert expect in err
    problem_lines = [line for line in err.splitlines() if re.match(rf"^(error: )?{re.escape(str(path))}", line)]
    assert problem_lines and all(re.search(r":\d+:\d+: |\.yaml: ", line) for line in problem_lines)
    assert err.rstrip().endswith("fix the lines above")


def test_all_errors_in_one_run(tmp_path: Path) -> None:
    text = (DATA / "invalid" / "invalid-bad-address.yaml").read_text(encoding="utf-8")
    text = text.replace("provider: VNPT", "provider: VNTP").replace("parent: kb-1", "parent: nowhere")
    (tmp_path / "inv.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(tmp_path / "inv.yaml")
    messages = " | ".join(str(p) for p in exc.value.problems)
    # a file that fails the schema stops before cross-references; the schema errors come together
    assert "is not an IP address" in messages


def test_cross_reference_errors_come_together(tmp_path: Path) -> None:
    text = (DATA / "invalid" / "invalid-unknown-provider.yaml").read_text(encoding="utf-8")
    text = text.replace("parent: kb-1", "parent: nowhere").replace("snmp_profile: lab", "snmp_profile: nope")
    (tmp_path / "inv.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(tmp_path / "inv.yaml")
    messages = " | ".join(str(p) for p in exc.value.problems)
    assert "unknown provider 'VNTP'" in messages
    assert "parent 'nowhere'" in messages
    assert "unknown SNMP profile 'nope'" in messages


def test_errors_across_files_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "province.yaml").write_text("province: {slug: t, name: T}\n", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("commune: {slug: a, name: A, bogus: 1}\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("commune: {slug: b, name: [B\n", encoding="utf-8")
    with pytest.raises(InventoryError) as exc:
        load_inventory(tmp_path)
    files = {p.where.file for p in exc.value.problems}
    assert files == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")}
