"""Issue 14, inventory input: what validates must never break the agent later, and what does not validate
says so in one line at file:line:col, in under 5 s and 300 MB (items 1, 5, 6, 9, 10 and the schema bounds)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netprobe.inventory.errors import InventoryError
from netprobe.inventory.loader import load_inventory
from tests.unit.hostile import assert_one_line_error, netprobe

BASE = """\
province: {{slug: test, name: Tỉnh thử}}
snmp_profiles:
  lab: {{version: "2c", community: "${{NETPROBE_SNMP_COMMUNITY}}"}}
communes:
  - slug: kinh-bac
    name: Phường Kinh Bắc
    sites:
      - id: ubnd
        lines:
          - id: kb-1
            provider: VNPT
            ce: 127.0.0.2
        devices:
          - id: kb-sw1
            kind: switch
            address: 127.0.0.3
            snmp_profile: lab
            {device_extra}
{tail}"""


def inventory(tmp_path: Path, device_extra: str = "snmp: true", tail: str = "", name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(BASE.format(device_extra=device_extra, tail=tail), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as exc:
        load_inventory(path)
    return [str(p) for p in exc.value.problems]


DEVICE_LINE = 18  # where `device_extra` lands in BASE


# -- item 1: interface indexes ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["-1", "0", "2147483648", "-99999999999999999999", "''"])
def test_interface_index_out_of_range_is_refused_at_its_position(tmp_path: Path, value: str) -> None:
    path = inventory(tmp_path, f"interfaces: [{value}]")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:{DEVICE_LINE}:"), problem
    assert "interfaces[0]" in problem


def test_interface_minus_one_repro_exits_2_in_one_line(tmp_path: Path) -> None:
    """The repro of item 1: it validated, then `ber._base128(-1)` looped forever in the agent."""
    path = inventory(tmp_path, "interfaces: [-1]")
    result = netprobe("inventory", "validate", str(path), timeout=20)
    assert_one_line_error(result, f"{path}:{DEVICE_LINE}:", "interfaces[0]", max_lines=2)


def test_valid_interfaces_still_load(tmp_path: Path) -> None:
    inv = load_inventory(inventory(tmp_path, "interfaces: [1, 2147483647, ge-0/0/1]"))
    assert inv.devices["kb-sw1"].device.interfaces == [1, 2147483647, "ge-0/0/1"]


# -- item 6 and the class: every duration, count and threshold is finite and bounded ------------------------
HOSTILE_SETTINGS = [
    "probes: {ping: {interval_s: .inf}}",
    "probes: {ping: {interval_s: .nan}}",
    "probes: {tcp: {interval_s: 1e11}}",
    "probes: {snmp: {interval_s: 0.001}}",
    "probes: {ping: {count: 100000}}",
    "probes: {snmp: {timeout_ms: .inf}}",
    "thresholds: {long_window_s: .inf}",
    "thresholds: {long_window_s: 1e11}",
    "thresholds: {window_s: 1e300}",
    "thresholds: {baseline_s: 1e11}",
    "thresholds: {min_state_s: .inf}",
    "thresholds: {enter_s: 1e11}",
    "thresholds: {clear_s: -1}",
    "thresholds: {min_lost_packets: 99999999999999}",
    "thresholds: {rtt_ms: {degraded: .inf}}",
    "thresholds: {loss_pct: {unstable: .nan}}",
    "thresholds: {rtt_excess_min_ms: 1e300}",
    "tcp_ports: [0]",
]


@pytest.mark.parametrize("extra", HOSTILE_SETTINGS)
def test_unbounded_setting_is_refused_at_its_position(tmp_path: Path, extra: str) -> None:
    path = inventory(tmp_path, extra)
    (problem,) = problems(path)
    assert re.match(rf"^{re.escape(str(path))}:{DEVICE_LINE}:\d+: communes\[0\]", problem), problem


@pytest.mark.parametrize("extra", ["thresholds: {long_window_s: .inf}", "probes: {ping: {interval_s: 1e11}}"])
def test_unbounded_setting_repro_exits_2(tmp_path: Path, extra: str) -> None:
    path = inventory(tmp_path, extra)
    assert_one_line_error(netprobe("inventory", "validate", str(path), timeout=20), f"{path}:", max_lines=2)


def test_bandwidth_and_defaults_levels_are_bounded(tmp_path: Path) -> None:
    path = inventory(tmp_path, tail="defaults: {thresholds: {window_s: .inf}}\n")
    (problem,) = problems(path)
    assert "defaults.thresholds.window_s" in problem and f"{path}:" in problem
