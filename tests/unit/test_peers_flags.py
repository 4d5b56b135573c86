"""How `python -m benchmarks peers --only verdicts` turns the peers' alerts into the scorer's samples."""

from __future__ import annotations

from typing import Any

from benchmarks.peers_verdicts import (
    Series,
    blackbox_series,
    flag_samples,
    imposed,
    loss_rtt_table,
    prometheus_flags,
    smokeping_flags,
    smokeping_series,
)
from benchmarks.verdicts import score
from netprobe.health.synthetic import topology

UP = 1_800_000_000.0
TOPO = topology(
    {"hap-linh": ["hl-1"], "kinh-bac": ["kb-1", "kb-2"]},
    {"hl-rt": ("hap-linh", "hl-1"), "hl-sw": ("hap-linh", "hl-rt"), "kb-sw": ("kinh-bac", "kb-1")},
)
SUBJECT_OF = {"198.18.16.2": "kb-1", "198.18.16.6": "kb-2", "198.18.16.18": "hl-1", "198.19.0.2": "kb-sw",
              "198.19.1.2": "hl-sw"}  # fmt: skip
GRID = [UP + 30 * i for i in range(1, 21)]


def alerts(name: str, instance: str, times: list[float]) -> dict[str, Any]:
    return {"metric": {"alertname": name, "instance": instance, "alertstate": "firing"},
            "values": [[t, "1"] for t in times]}  # fmt: skip


def test_a_firing_alert_is_flagged_on_the_next_grid_time_and_tcp_probes_are_not_subjects() -> None:
    fired = [alerts("BlackboxProbeLoss", "198.18.16.2", [UP + 31, UP + 60])]
    fired.append(alerts("BlackboxProbeFailed", "198.18.1.2:443", [UP + 60]))
    got = prometheus_flags("dc1", fired, SUBJECT_OF, {}, GRID)
    assert dict(got) == {("dc1", "kb-1"): {UP + 60: {"BlackboxProbeLoss"}}}


def test_the_other_dcs_prometheus_missing_is_that_agent_flagged() -> None:
    got = prometheus_flags("dc1", [alerts("PrometheusTargetMissing", "198.18.0.6:9090", [UP + 90])], SUBJECT_OF,
                           {"198.18.0.6:9090": "dc2"}, GRID)  # fmt: skip
    samples = flag_samples(TOPO, got, GRID)
    flagged = [(s.agent, s.subject, s.kind, s.state, s.time) for s in samples if s.state != "OK"]
    assert flagged == [("dc2", "dc2", "agent", "DOWN", UP + 90)]


def test_down_is_down_other_alerts_degraded_and_gear_behind_a_flagged_line_unreachable() -> None:
    flags: dict[tuple[str, str], dict[float, set[str]]] = {
        ("dc1", "hl-1"): {UP + 60: {"BlackboxProbeFailed", "BlackboxProbeLoss"}, UP + 90: {"BlackboxProbeLoss"}},
        ("dc1", "hl-sw"): {UP + 60: {"BlackboxProbeFailed"}, UP + 120: {"BlackboxProbeFailed"}},
        ("dc1", "kb-1"): {},
    }
    states = {(s.subject, s.time): s.state for s in flag_samples(TOPO, flags, GRID)}
    assert states[("hl-1", UP + 60)] == "DOWN" and states[("hl-1", UP + 90)] == "DEGRADED"
    assert states[("hl-sw", UP + 60)] == "UNREACHABLE"  # its line hl-1 is flagged by the same tool then
    assert states[("hl-sw", UP + 120)] == "DOWN"  # its line is not flagged then: the tool says it is down
    assert states[("kb-1", UP + 60)] == "OK" and len(states) == 3 * len(GRID)


def test_smokeping_matches_become_flags_of_their_target_section() -> None:
    log = f"{UP + 61:.0f} someloss lab.hl-1\n{UP + 61:.0f} bigloss lab.hl-1\nnot a line\n{UP + 95:.0f} x lab.nope\n"
    assert dict(smokeping_flags("dc2", log, SUBJECT_OF, GRID)) == {("dc2", "hl-1"): {UP + 90: {"someloss", "bigloss"}}}


def test_peer_flags_score_with_the_verdicts_scorer() -> None:
    truth = {"scenario": "t", "up_at": UP, "faults": [
        {"id": 1, "target": "hl-1", "target_kind": "line", "fault": "down", "start": UP, "end": UP + 400,
         "lines": ["hl-1"], "devices": []}]}  # fmt: skip
    flags: dict[tuple[str, str], dict[float, set[str]]] = {
        ("dc1", "hl-1"): {t: {"BlackboxProbeFailed"} for t in GRID[2:12]},
        ("dc1", "hl-sw"): {t: {"BlackboxProbeFailed"} for t in GRID[2:12]},
        ("dc1", "kb-1"): {GRID[5]: {"BlackboxProbeLoss"}},  # healthy line flagged once: one false flag
    }
    samples = flag_samples(TOPO, flags, GRID)
    first = {("dc1", s): UP + 30 for s in ("hl-1", "hl-sw", "kb-1")}
    result = score(TOPO, truth, samples, first, UP + 600)
    assert result.required == 2 and result.detected == 2  # the line DOWN, its switch UNREACHABLE
    assert result.false_episodes == [f"kb-1 DEGRADED from dc1 at +{GRID[5] - UP:.0f} s"]
    assert result.tp_samples == 20 and result.fp_samples == 1


def test_loss_and_rtt_of_each_tool_over_a_fault_window() -> None:
    success = [[UP, "1"], [UP + 30, "0"], [UP + 60, "1"], [UP + 90, "1"]]
    rtt = [[UP, "0.010"], [UP + 60, "0.030"], [UP + 90, "0.020"]]
    bb = blackbox_series(
        [{"metric": {"instance": "198.18.16.2", "job": "blackbox_icmp"}, "values": success}],
        [{"metric": {"instance": "198.18.16.2"}, "values": rtt}],
        SUBJECT_OF,
    )
    assert bb["kb-1"].between(UP, UP + 90) == (25.0, 20.0)
    sp = smokeping_series(f"kb-1 {UP:.0f} 5 0.011\nkb-1 {UP + 30:.0f} U U\nzz {UP:.0f} 1 1\n", SUBJECT_OF, 20)
    assert sp["kb-1"].rows == [(UP, 20, 15, 11.0)] and Series([]).between(0, 1) == (None, None)
    truth = {"run_end": UP + 200, "faults": [{"fault": "loss", "target_kind": "line", "start": UP, "end": UP + 90,
             "lines": ["kb-1"], "params": {"loss_pct": 20}}]}  # fmt: skip
    table = loss_rtt_table(truth, {"blackbox": bb, "smokeping": sp}, ["kb-2"])
    assert table[1].split()[:4] == ["kb-1", "loss", "20", "+0"] and "25.0 / 20.00" in table[1]
    assert imposed({"fault": "latency", "params": {"latency_ms": 80, "jitter_ms": 30}}) == ("0", "+80±30")


def test_bad_options_are_one_line_errors(tmp_path: Any, capsys: Any) -> None:
    from benchmarks.peers import main

    for argv in (["--only", "verdicts", "--minutes", "1"], ["--only", "verdicts,nope"],
                 ["--only", "verdicts", "--rescore", str(tmp_path)]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
