"""The lab scoring rules of `python -m benchmarks verdicts` (docs/verdicts.md, "Scoring against the lab")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from benchmarks.verdicts import Sample, Score, score
from benchmarks.verdicts import main as verdicts_main
from netprobe.health.synthetic import topology

UP = 1_800_000_000.0
TOPO = topology(
    {"hap-linh": ["hl-1"], "kinh-bac": ["kb-1", "kb-2"], "vo-cuong": ["vc-1"]},
    {"hl-rt": ("hap-linh", "hl-1"), "hl-sw": ("hap-linh", "hl-rt"), "kb-rt": ("kinh-bac", "kb-1")},
)
LAST = re.compile(r"verdicts precision=\d\.\d{3} recall=\d\.\d{3} max_detect_intervals=\d+\.\d false_flags=\d+")


def truth(*faults: dict[str, Any]) -> dict[str, Any]:
    full = []
    for i, f in enumerate(faults, 1):
        full.append({"id": i, "lines": [], "devices": [], "target_kind": "line", "end": None, **f})
    return {"scenario": "t", "up_at": UP, "faults": full}


def run(t: dict[str, Any], rows: list[tuple[str, str, float, str]], end: float = UP + 900, **extra: str) -> Score:
    """rows: (subject, kind, seconds after up, state), all from agent dc-a, which probed everything at +5 s."""
    samples = [
        Sample("dc-a", subject, kind, UP + at, state, extra.get(subject, "")) for subject, kind, at, state in rows
    ]
    first = {("dc-a", n): UP + 5 for n in TOPO.nodes}
    return score(TOPO, t, samples, first, end)


def healthy(at: float) -> list[tuple[str, str, float, str]]:
    return [(n, TOPO.nodes[n].kind, at, "OK") for n in TOPO.nodes]


def test_a_dead_commune_is_found_and_its_gear_must_be_unreachable() -> None:
    t = truth({"target": "hap-linh", "target_kind": "commune", "fault": "down", "start": UP, "lines": ["hl-1"]})
    rows = [*healthy(0)] + [(n, "device", at, "UNREACHABLE") for n in ("hl-rt", "hl-sw") for at in (60, 90)]
    rows += [("hl-1", "line", 60, "DOWN"), ("hl-1", "line", 90, "DOWN")]
    result = run(t, rows)
    assert (result.precision, result.recall, result.false_episodes) == (1.0, 1.0, [])
    assert result.required == 3  # the line and the two devices behind it, from the one agent
    assert result.max_detect_intervals == (60 - 5) / 30
    assert LAST.fullmatch(result.last_line())


def test_gear_behind_a_dead_line_judged_down_is_wrong() -> None:
    t = truth({"target": "hl-1", "fault": "down", "start": UP, "lines": ["hl-1"]})
    rows = [("hl-1", "line", 60, "DOWN"), ("hl-rt", "device", 60, "DOWN"), ("hl-sw", "device", 60, "UNREACHABLE")]
    result = run(t, rows)
    assert result.precision == 2 / 3 and len(result.wrong_state) == 1 and "hl-rt DOWN" in result.wrong_state[0]
    assert result.recall == 2 / 3  # hl-rt never reached UNREACHABLE


def test_a_flag_on_a_healthy_line_is_one_false_episode_per_run_of_samples() -> None:
    t = truth({"target": "vc-1", "fault": "loss", "start": UP, "lines": ["vc-1"], "params": {"loss_pct": 20}})
    rows = [("vc-1", "line", 60, "UNSTABLE")] + [("kb-1", "line", at, "DEGRADED") for at in (60, 90, 120)]
    rows += [("kb-1", "line", 150, "OK"), ("kb-1", "line", 180, "DEGRADED")]
    result = run(t, rows)
    assert len(result.false_episodes) == 2 and result.fp_samples == 4 and result.tp_samples == 1
    assert result.recall == 1.0 and result.precision == 1 / 5


def test_a_missed_fault_lowers_recall_and_a_short_one_is_not_required() -> None:
    t = truth(
        {"target": "vc-1", "fault": "latency", "start": UP, "lines": ["vc-1"]},
        {"target": "kb-2", "fault": "down", "start": UP + 100, "end": UP + 130, "lines": ["kb-2"]},
    )
    result = run(t, healthy(60) + healthy(90))
    assert result.recall == 0.0 and result.missed == ["#1 latency on vc-1: vc-1 from dc-a"]
    assert any("#2 down on kb-2" in s for s in result.skipped)


def test_flags_after_a_fault_ends_count_within_its_grace_only() -> None:
    t = truth({"target": "vc-1", "fault": "loss", "start": UP, "end": UP + 300, "lines": ["vc-1"]})
    grace = 300 + 120 + 120 + 60  # window + min_state + clear + 2 intervals
    result = run(t, [("vc-1", "line", 120, "UNSTABLE"), ("vc-1", "line", 300 + grace - 1, "DEGRADED"),
                     ("vc-1", "line", 300 + grace + 30, "DEGRADED")], end=UP + 2000)  # fmt: skip
    assert (result.tp_samples, result.fp_samples) == (2, 1)


def test_a_reboot_flag_no_fault_explains_is_a_false_flag() -> None:
    # no excuse for the lab's own boot: a user sees "1 reboot" on gear nobody rebooted
    result = run(truth(), [("kb-rt", "device", 60, "DEGRADED")], **{"kb-rt": "1 reboot in 10 min"})
    assert result.fp_samples == 1 and len(result.false_episodes) == 1


def test_a_broken_uplink_must_flag_the_agent_and_blames_no_commune() -> None:
    t = truth({"target": "dc-a", "target_kind": "dc", "fault": "down", "start": UP + 100, "end": UP + 400})
    rows = [("kb-1", "line", 130, "UNKNOWN"), ("dc-a", "agent", 160, "DOWN"), ("vc-1", "line", 160, "DEGRADED")]
    result = run(t, rows)
    assert result.recall == 1.0 and result.fp_samples == 0  # the agent's own views are not scored meanwhile
    assert result.max_detect_intervals == 2.0


def test_a_reboot_is_required_and_timed_from_when_the_device_is_back() -> None:
    t = truth({"target": "kb-rt", "target_kind": "device", "fault": "reboot", "start": UP + 120, "end": UP + 140,
               "devices": ["kb-rt"], "lines": ["kb-1", "kb-2"]})  # fmt: skip
    result = run(t, [("kb-rt", "device", 150, "OK"), ("kb-rt", "device", 200, "DEGRADED"),
                     ("kb-1", "line", 150, "DEGRADED")], **{"kb-rt": "1 reboot in 1 h"})  # fmt: skip
    assert result.required == 1 and result.recall == 1.0 and (result.tp_samples, result.fp_samples) == (2, 0)
    assert result.max_detect_intervals == (200 - 140) / 60  # in SNMP polls: only sysUpTime proves it
    missed = run(t, [("kb-rt", "device", 150, "OK")])
    assert missed.recall == 0.0 and missed.missed == ["#1 reboot on kb-rt: kb-rt from dc-a"]


def test_a_hung_snmp_agent_must_be_named_degraded() -> None:
    t = truth({"target": "kb-rt", "target_kind": "device", "fault": "snmp_dead", "start": UP + 120,
               "end": UP + 600, "devices": ["kb-rt"]})  # fmt: skip
    found = run(t, [("kb-rt", "device", 240, "DEGRADED")])
    assert found.required == 1 and found.recall == 1.0 and found.tp_samples == 1
    assert found.max_detect_intervals == (240 - 120) / 60  # in SNMP polls
    missed = run(t, [("kb-rt", "device", 240, "OK")])
    assert missed.recall == 0.0
    wrong = run(t, [("kb-rt", "device", 240, "DOWN")])  # it answers ping: not down
    assert wrong.fp_samples == 1


def test_gear_behind_a_cut_primary_with_a_working_backup_must_not_be_flagged() -> None:
    t = truth({"target": "kb-1", "fault": "down", "start": UP + 60, "end": UP + 600, "lines": ["kb-1"]})
    result = run(t, [("kb-1", "line", 120, "DOWN"), ("kb-rt", "device", 120, "UNREACHABLE")])
    assert result.tp_samples == 1 and result.fp_samples == 1
    assert result.false_episodes == ["kb-rt UNREACHABLE from dc-a at +120 s"]


def test_an_agent_flagged_without_a_dc_fault_is_a_false_flag() -> None:
    result = run(truth(), [("dc-a", "agent", 120, "UNSTABLE")])
    assert result.fp_samples == 1


def test_a_flapping_line_must_be_unstable_not_down_once_it_has_gone_down_twice() -> None:
    """down 20 s / up 20 s from +0: the second down is at +40; 2 intervals and an evaluation later (+130)
    only UNSTABLE is right until the end (+600), then UNSTABLE or DEGRADED for the grace."""
    downs = [[UP + k * 40, UP + k * 40 + 20] for k in range(15)]
    t = truth({"target": "kb-1", "fault": "flap", "start": UP, "end": UP + 600, "lines": ["kb-1"],
               "transitions": downs})  # fmt: skip
    early = run(t, [("kb-1", "line", 60, "DOWN"), ("kb-1", "line", 90, "DOWN"), ("kb-1", "line", 120, "UNSTABLE")])
    assert (early.precision, early.recall) == (1.0, 1.0)
    late = run(t, [("kb-1", "line", 60, "UNSTABLE"), ("kb-1", "line", 200, "DOWN"), ("kb-1", "line", 230, "UNSTABLE")])
    assert late.fp_samples == 1 and "kb-1 DOWN from dc-a at +200 s (expected UNSTABLE)" in late.wrong_state
    degraded = run(t, [("kb-1", "line", 300, "DEGRADED"), ("kb-1", "line", 700, "DEGRADED")])
    assert (degraded.tp_samples, degraded.fp_samples) == (1, 1)  # decaying after the end is right, not during it
    assert run(t, [("kb-1", "line", 700, "DOWN")]).fp_samples == 1  # it is up after the end


def test_a_flap_with_long_down_phases_may_be_down_once_an_outage_has_lasted() -> None:
    downs = [[UP, UP + 300], [UP + 600, UP + 900]]
    t = truth({"target": "kb-1", "fault": "flap", "start": UP, "end": UP + 1000, "lines": ["kb-1"],
               "transitions": downs})  # fmt: skip
    rows = [
        ("kb-1", "line", at, state) for at, state in ((700, "DOWN"), (800, "DOWN"), (950, "DOWN"), (999, "UNSTABLE"))
    ]
    result = run(t, rows, end=UP + 1200)
    # DOWN from +780 (3 min into the outage) to +990 (its end + 2 intervals + 30 s), not at +700
    assert (result.tp_samples, result.fp_samples) == (3, 1) and "at +700 s" in result.wrong_state[0]


def test_a_hung_snmp_agent_is_timed_from_that_agents_first_poll_of_it() -> None:
    """Hung from the start: it can only be seen from the first SNMP poll (+65 s here, after the first ping
    at +5 s), and the delay counts in SNMP intervals from there."""
    t = truth({"target": "kb-rt", "target_kind": "device", "fault": "snmp_dead", "start": UP,
               "end": UP + 900, "devices": ["kb-rt"]})  # fmt: skip
    samples = [Sample("dc-a", "kb-rt", "device", UP + 170, "DEGRADED")]
    first = {("dc-a", n): UP + 5 for n in TOPO.nodes} | {("dc-a", "snmp:kb-rt"): UP + 65}
    result = score(TOPO, t, samples, first, UP + 900)
    assert result.recall == 1.0 and result.max_detect_intervals == (170 - 65) / 60


def test_a_fault_active_now_is_judged_even_inside_an_earlier_faults_ignored_grace() -> None:
    """hl-1 lossy until +300 (gear behind it ignored for ~10 min after), then cut from +360: the gear
    must be UNREACHABLE during the cut; the earlier loss's grace does not hide a DOWN there."""
    t = truth(
        {"target": "hl-1", "fault": "loss", "start": UP, "end": UP + 300, "lines": ["hl-1"]},
        {"target": "hap-linh", "target_kind": "commune", "fault": "down", "start": UP + 360, "end": UP + 600,
         "lines": ["hl-1"]},
    )  # fmt: skip
    result = run(t, [("hl-rt", "device", 200, "UNSTABLE"), ("hl-rt", "device", 420, "DOWN")])
    assert result.fp_samples == 1 and "hl-rt DOWN from dc-a at +420 s" in result.wrong_state[0]


def test_a_fault_its_agent_saw_only_around_its_own_uplink_outage_is_required_when_the_pieces_add_up() -> None:
    """kb-1 lossy +0..+340; dc-a's uplink down +60..+200 (blind until +290, the DC grace): seen 55 s before
    (from its first probe at +5) and 50 s after — 105 s in all, more than 2 intervals + an evaluation."""
    t = truth(
        {"target": "kb-1", "fault": "loss", "start": UP, "end": UP + 340, "lines": ["kb-1"]},
        {"target": "dc-a", "target_kind": "dc", "fault": "down", "start": UP + 60, "end": UP + 200},
    )  # fmt: skip
    result = run(t, [("kb-1", "line", 320, "DEGRADED"), ("dc-a", "agent", 120, "DOWN")])
    assert "#1 loss on kb-1: kb-1 from dc-a" not in " ".join(result.skipped) and result.recall == 1.0


def test_a_kept_run_is_never_run_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--keep into a directory holding an earlier run would carry its store on (every device "rebooted")
    and lose it: refused, one line, before any lab comes up."""
    (tmp_path / "store.db").write_bytes(b"x")
    assert verdicts_main(["--scenario", "demo", "--minutes", "1", "--keep", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run" in err
    assert (tmp_path / "store.db").read_bytes() == b"x"
