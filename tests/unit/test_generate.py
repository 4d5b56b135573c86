from __future__ import annotations

from pathlib import Path

from netprobe.engine.allowlist import AllowList
from netprobe.engine.targets import build_targets
from netprobe.inventory.loader import load_inventory


def test_generate_10k_targets_validates(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "big.yaml"
    code, _, err = run_cli("inventory", "generate", "--targets", "10000", "-o", str(out))
    assert code == 0, err
    inv = load_inventory(out)
    targets = build_targets(inv)
    assert len(inv.communes) == 99 and len(inv.lines) == 284
    assert 10_000 <= len(targets) <= 10_002
    assert len({t.key for t in targets}) == len(targets)
    assert len({t.address for t in targets if t.kind == "ping"}) == sum(1 for t in targets if t.kind == "ping")
    allow = AllowList.build(None, env={})
    assert all(allow.allows(t.address) for t in targets)  # loopback only: safe to probe anywhere


def test_generate_lab_range(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lab.yaml"
    code, _, err = run_cli(
        "inventory", "generate", "--communes", "3", "--lines", "7", "--network", "198.18.0.0/15", "-o", str(out)
    )
    assert code == 0, err
    inv = load_inventory(out)
    assert len(inv.lines) == 7
    assert all(r.line.ce.startswith("198.18.") for r in inv.lines.values())
