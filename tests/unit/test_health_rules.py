"""Every verdict rule over synthetic series: loss, latency, baseline, jitter, flaps, down, SNMP, hysteresis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from netprobe.health.engine import HealthEngine, Machine, metric_level
from netprobe.health.observation import Observation, Source
from netprobe.health.reasons import Code, clock
from netprobe.health.replay import replay
from netprobe.health.synthetic import pings, snmp_polls, topology
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation, State
from netprobe.inventory.model import Level, Thresholds

T0 = 1_699_999_200.0  # an hour boundary, so grid instants and hourly baselines line up with the series
HOUR = 3600.0


def run(obs: list[Observation], end: float, topo=None, start: float = T0, step: float = 30.0) -> list[Evaluation]:  # type: ignore[no-untyped-def]
    topo = topo or topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",))
    return list(replay(HealthEngine(topo), obs, start, end, step))


def states(evals: list[Evaluation], subject: str) -> list[tuple[float, State]]:
    """(time, state) at every change."""
    out: list[tuple[float, State]] = []
    for e in evals:
        v = e.nodes.get(subject) or e.communes.get(subject) or e.agents[subject]
        if not out or out[-1][1] is not v.state:
            out.append((e.time - T0, v.state))
    return out


def codes(evaluation: Evaluation, subject: str) -> list[Code]:
    return [r.code for r in evaluation.nodes[subject].reasons]


def lossy(after: float, n: int) -> Callable[[float], int]:
    return lambda t: n if t >= T0 + after else 0


def test_healthy_line_is_ok_with_a_high_score() -> None:
    evals = run(pings("kb-1", "ce", "dc-a", T0, T0 + HOUR), T0 + HOUR)
    assert states(evals, "kb-1") == [(0.0, State.OK)]
    last = evals[-1].nodes["kb-1"]
    assert last.score >= 95 and last.reasons == () and last.loss_pct == 0.0 and last.rtt_ms == 5.0


def test_loss_degrades_then_makes_unstable_with_the_reason_in_words() -> None:
    # 20% loss from minute 60: the 5-min loss passes 2% (DEGRADED) at once, 10% (UNSTABLE) later
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 2 * HOUR, lost=lossy(HOUR, 2))
    evals = run(obs, T0 + 2 * HOUR)
    changes = states(evals, "kb-1")
    assert [s for _, s in changes] == [State.OK, State.DEGRADED, State.UNSTABLE]
    assert changes[1][0] <= HOUR + 2 * 30  # flagged within 2 probe intervals
    text = evals[-1].nodes["kb-1"].text()
    assert text == "loss 20% over 5 min"


def test_one_lost_packet_never_flips_the_state() -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + HOUR, count=5, lost=lambda t: 1 if t == T0 + 600 else 0)
    evals = run(obs, T0 + HOUR)  # 1 of 50 packets = 2% in the window, but a single packet is not evidence
    assert states(evals, "kb-1") == [(0.0, State.OK)]


def test_two_lost_packets_at_the_threshold_do_count() -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + HOUR, count=5, lost=lambda t: 1 if t in (T0 + 600, T0 + 630) else 0)
    evals = run(obs, T0 + HOUR)
    assert State.DEGRADED in [s for _, s in states(evals, "kb-1")]


def test_absolute_latency_levels() -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + HOUR, rtt=lambda t: 100.0 if t >= T0 + 1200 else 5.0)
    obs += pings("kb-1", "ce", "dc-a", T0 + HOUR, T0 + 2 * HOUR, rtt=lambda t: 250.0)
    evals = run(obs, T0 + 2 * HOUR)
    assert [s for _, s in states(evals, "kb-1")] == [State.OK, State.DEGRADED, State.UNSTABLE]
    assert evals[-1].nodes["kb-1"].text() == "latency 250 ms over 5 min"


def test_latency_against_the_targets_own_baseline() -> None:
    # 5 ms for 4 hours, then 35 ms: far below the absolute 80 ms, but 7× its own median
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 5 * HOUR, rtt=lambda t: 35.0 if t >= T0 + 4 * HOUR else 5.0)
    evals = run(obs, T0 + 5 * HOUR)
    changes = states(evals, "kb-1")
    assert changes[0] == (0.0, State.OK) and changes[-1][1] is State.UNSTABLE
    assert changes[1][0] >= 4 * HOUR
    last = evals[-1].nodes["kb-1"]
    assert last.reasons[0].code is Code.RTT_BASELINE
    assert last.text().startswith("latency 35 ms, 7.0× its usual 5.0 ms")


def test_baseline_needs_a_real_excess_not_just_a_ratio() -> None:
    # a LAN target at 0.5 ms going to 4 ms is 8× but only 3.5 ms more: not a problem
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 5 * HOUR, rtt=lambda t: 4.0 if t >= T0 + 4 * HOUR else 0.5)
    assert states(run(obs, T0 + 5 * HOUR), "kb-1") == [(0.0, State.OK)]


def test_baseline_needs_three_hours_of_history() -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 2 * HOUR, rtt=lambda t: 35.0 if t >= T0 + 1.5 * HOUR else 5.0)
    assert states(run(obs, T0 + 2 * HOUR), "kb-1") == [(0.0, State.OK)]


def test_jitter_levels() -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + HOUR, jitter_ms=50.0)
    evals = run(obs, T0 + HOUR)
    assert states(evals, "kb-1") == [(0.0, State.UNSTABLE)]
    assert evals[-1].nodes["kb-1"].text() == "jitter 50 ms over 5 min"


def test_flaps_count_outages_in_the_long_window() -> None:
    # four 1-minute outages (2 bursts each) 10 minutes apart
    outages = [T0 + 600 * k for k in (1, 2, 3, 4)]

    def lost(t: float) -> int:
        return 10 if any(o <= t < o + 60 for o in outages) else 0

    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 3000, lost=lost)
    evals = run(obs, T0 + 3000)
    seen = [s for _, s in states(evals, "kb-1")]
    assert State.DOWN in seen and seen[-1] is State.UNSTABLE
    last = evals[-1].nodes["kb-1"]
    assert last.flaps == 4 and "4 flaps in 1 h" in last.text()
    assert last.loss_pct == 0.0  # outage bursts count as flaps, not as loss


def test_a_single_all_lost_burst_is_loss_not_a_flap() -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + HOUR, lost=lambda t: 10 if t == T0 + 900 else 0)
    evals = run(obs, T0 + HOUR)
    assert max(e.nodes["kb-1"].flaps for e in evals) == 0
    assert State.DOWN not in [s for _, s in states(evals, "kb-1")]


@pytest.mark.parametrize(("pe_lost", "code"), [(0, Code.PE_OK), (10, Code.PE_DOWN)])
def test_down_within_two_intervals_and_localised_by_the_provider_edge(pe_lost: int, code: Code) -> None:
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1800, lost=lossy(900, 10))
    obs += pings("kb-1", "pe", "dc-a", T0, T0 + 1800, lost=lossy(900, pe_lost), phase_s=1)
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, agents=("dc-a",))
    obs += pings("kb-2", "ce", "dc-a", T0, T0 + 1800)
    evals = run(obs, T0 + 1800, topo)
    down_at = next(t for t, s in states(evals, "kb-1") if s is State.DOWN)
    assert down_at <= 900 + 2 * 30
    assert codes(evals[-1], "kb-1") == [Code.DOWN, code]


def test_reboots_from_sysuptime_are_held_ten_minutes() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    boots = [T0 - 10 * 86400, T0 + 1200, T0 + 1500]

    def boot(t: float) -> float:
        return max(b for b in boots if b <= t)

    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 3600) + pings("kb-rt1", "device", "dc-a", T0, T0 + 3600)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 3600, boot_time=boot)
    evals = run(obs, T0 + 3600, topo)
    changes = states(evals, "kb-rt1")
    assert [s for _, s in changes][:3] == [State.OK, State.DEGRADED, State.UNSTABLE]
    at_1560 = next(e for e in evals if e.time == T0 + 1560).nodes["kb-rt1"]
    assert at_1560.text().startswith(f"rebooted at {clock(T0 + 1500)} (2 reboots in 10 min)"), at_1560.text()
    # held 10 min after the last reboot (plus the clear hysteresis), then OK: not for an hour
    assert changes[-1][1] is State.OK and changes[-1][0] <= 1500 + 600 + 600


def test_a_first_poll_with_low_uptime_is_not_a_reboot() -> None:
    # netprobe starts (or the device is new) 2 min after the device booted: nothing was seen rebooting
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a", "dc-b"))
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1800) + pings("kb-rt1", "device", "dc-a", T0, T0 + 1800)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 1800, boot_time=lambda _t: T0 - 120)
    obs += snmp_polls("kb-rt1", "dc-b", T0 + 300, T0 + 1800, boot_time=lambda _t: T0 - 120)  # a late 2nd agent
    assert states(run(obs, T0 + 1800, topo), "kb-rt1") == [(0.0, State.OK)]


def test_a_reboot_seen_by_one_agent_against_anothers_poll_counts() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a", "dc-b"))

    def boot(t: float) -> float:
        return T0 + 900 if t >= T0 + 900 else T0 - 86400

    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1200) + pings("kb-rt1", "device", "dc-a", T0, T0 + 1200)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 600, boot_time=boot)  # dc-a's SNMP stops before the reboot
    obs += snmp_polls("kb-rt1", "dc-b", T0 + 960, T0 + 1200, boot_time=boot)  # dc-b's first poll is after it
    evals = run(obs, T0 + 1200, topo)
    assert evals[-1].nodes["kb-rt1"].state is State.DEGRADED
    assert evals[-1].nodes["kb-rt1"].text() == f"rebooted at {clock(T0 + 900)}"


def test_sysuptime_wrap_is_not_a_reboot() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    wrap = 2**32 / 100
    first_boot = T0 + 600 - wrap  # uptime reaches the wrap at T0 + 600

    def boot(t: float) -> float:
        return first_boot if t < T0 + 600 else first_boot + wrap

    obs = pings("kb-rt1", "device", "dc-a", T0, T0 + 1800) + snmp_polls("kb-rt1", "dc-a", T0, T0 + 1800, boot_time=boot)
    assert states(run(obs, T0 + 1800, topo), "kb-rt1") == [(0.0, State.OK)]


def _if_topology():  # type: ignore[no-untyped-def]
    return topology({"kinh-bac": ["kb-1"]}, {"kb-sw1": ("kinh-bac", "kb-1")}, agents=("dc-a",))


def test_interface_flaps_from_oper_status_and_last_change() -> None:
    # Gi0/1 goes down 2 times (seen), and flaps once between polls (only ifLastChange moves); last_change_s
    # is seconds since the change (sysUpTime - ifLastChange), so it grows between changes
    def gi(t: float) -> tuple[int, float, float]:
        rel = t - T0
        oper = 2 if rel in (600, 1200) else 1
        changed = max([-100.0, *(edge for edge in (600, 660, 1200, 1250, 1790) if rel >= edge)])
        return oper, rel - changed, 0.0

    obs = pings("kb-sw1", "device", "dc-a", T0, T0 + 2400)
    obs += snmp_polls(
        "kb-sw1", "dc-a", T0, T0 + 2400, interfaces={"Gi0/1": gi, "Gi0/2": lambda t: (1, t - T0 + 50.0, 0.0)}
    )
    evals = run(obs, T0 + 2400, _if_topology())
    last = evals[-1].nodes["kb-sw1"]
    assert last.state is State.UNSTABLE and last.flaps == 3
    assert "interface Gi0/1 changed state 3 times in 1 h" in last.text()


def test_interface_down_degrades_unless_admin_down() -> None:
    obs = pings("kb-sw1", "device", "dc-a", T0, T0 + 900)
    obs += snmp_polls("kb-sw1", "dc-a", T0, T0 + 900, interfaces={"Gi0/3": lambda t: (2, 10.0, 0.0)})
    evals = run(obs, T0 + 900, _if_topology())
    assert evals[-1].nodes["kb-sw1"].state is State.DEGRADED
    assert evals[-1].nodes["kb-sw1"].text() == "interface Gi0/3 is down"
    admin_down = [
        Observation(o.time, o.source, o.subject, o.role, o.agent, o.ok, ifname=o.ifname, oper_status=2, admin_status=2)
        if o.source is Source.SNMP_IF
        else o
        for o in obs
    ]
    assert run(admin_down, T0 + 900, _if_topology())[-1].nodes["kb-sw1"].state is State.OK


def test_a_lines_port_on_the_router_is_the_lines_fault_not_the_routers() -> None:
    # kb-1 goes dark at 600 s; the router stays reachable over kb-2 and reports its WAN port wan1 down
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, {"kb-rt": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1200, lost=lossy(600, 10)) + pings("kb-2", "ce", "dc-a", T0, T0 + 1200)
    obs += pings("kb-rt", "device", "dc-a", T0, T0 + 1200)
    wan1 = {
        "wan1": lambda t: (2, t - T0 - 600, 0.0) if t >= T0 + 600 else (1, t - T0 + 50.0, 0.0),
        "lan0": lambda t: (1, t - T0 + 50.0, 0.0),
    }
    obs += snmp_polls("kb-rt", "dc-a", T0, T0 + 1200, interfaces=wan1)
    unmapped = run(obs, T0 + 1200, topo)[-1]
    assert unmapped.nodes["kb-rt"].state is not State.OK  # without the mapping: a false flag
    assert "interface wan1 is down" in unmapped.nodes["kb-rt"].text()
    router = replace(topo.nodes["kb-rt"], line_ports={"wan1": "kb-1"})
    mapped = Topology(topo.province, {**topo.nodes, "kb-rt": router}, topo.agents, topo.commune_names)
    last = run(obs, T0 + 1200, mapped)[-1]
    assert last.nodes["kb-1"].state is State.DOWN
    assert last.nodes["kb-rt"].state is State.OK
    # the router's own ports still count
    lan_down = [o if o.ifname != "lan0" else replace(o, oper_status=2) for o in obs]
    assert run(lan_down, T0 + 1200, mapped)[-1].nodes["kb-rt"].text() == "interface lan0 is down"


def test_interface_error_rate() -> None:
    obs = pings("kb-sw1", "device", "dc-a", T0, T0 + 1800)
    errors = {"port1": lambda t: (1, t - T0 + 10.0, 25.0 if t >= T0 + 1200 else 0.0)}
    obs += snmp_polls("kb-sw1", "dc-a", T0, T0 + 1800, interfaces=errors)
    evals = run(obs, T0 + 1800, _if_topology())
    assert [s for _, s in states(evals, "kb-sw1")] == [State.OK, State.DEGRADED, State.UNSTABLE]
    assert evals[-1].nodes["kb-sw1"].text() == "interface port1: 25.0 errors/s"


def test_snmp_only_gear_uses_polls_for_reachability() -> None:
    obs = snmp_polls("kb-sw1", "dc-a", T0, T0 + 1800, answered=lambda t: t < T0 + 900)
    obs += pings("kb-1", "ce", "dc-a", T0, T0 + 1800)
    evals = run(obs, T0 + 1800, _if_topology())
    assert [s for _, s in states(evals, "kb-sw1")] == [State.OK, State.DOWN]


def test_metric_hysteresis_enters_at_threshold_and_leaves_below_exit() -> None:
    level = Level(degraded=2, unstable=10, exit_ratio=0.5)
    assert metric_level(9.9, level, 0) == 1
    assert metric_level(10, level, 0) == 2
    assert metric_level(6, level, 2) == 2  # still unstable above 10 × 0.5
    assert metric_level(4.9, level, 2) == 1
    assert metric_level(1.5, level, 1) == 1  # still degraded above 2 × 0.5
    assert metric_level(0.9, level, 1) == 0
    assert metric_level(0.0, Level(degraded=0), 0) == 0


def test_recovery_waits_for_clear_and_minimum_state_durations() -> None:
    th = Thresholds(min_state_s=300, clear_s=180)
    m = Machine()
    m.step(2, 0, th)
    m.step(0, 30, th)  # better at once: held
    assert m.health == 2 and m.improving
    m.step(0, 200, th)  # clear_s met, min_state_s not
    assert m.health == 2
    m.step(0, 300, th)
    assert m.health == 0 and m.health_since == 300
    m.step(3, 310, th)  # worsening is immediate by default
    assert m.health == 3


def test_recovery_steps_to_the_worst_level_seen_while_clearing() -> None:
    th = Thresholds(min_state_s=0, clear_s=100)
    m = Machine()
    m.step(3, 0, th)
    m.step(1, 10, th)
    m.step(0, 50, th)
    m.step(0, 110, th)
    assert m.health == 1  # DEGRADED was seen during the clearing period: no jump straight to OK


def test_enter_delay_when_configured() -> None:
    th = Thresholds(enter_s=60)
    m = Machine()
    m.step(0, 0, th)
    m.step(2, 30, th)
    assert m.health == 0
    m.step(1, 60, th)
    m.step(2, 90, th)
    assert m.health == 1  # the least bad of what lasted 60 s


def test_recovering_line_does_not_flap_the_verdict() -> None:
    # 15% loss for 20 min, then the loss wobbles 3–7% (above the 5% exit): stays UNSTABLE; then clean
    def lost(t: float) -> int:
        rel = t - T0
        if rel < 1200:
            return 0
        if rel < 2400:
            return 15
        if rel < 3600:
            return 3 if int(rel / 30) % 2 else 7
        return 0

    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 2 * HOUR, count=100, lost=lost)
    changes = [s for _, s in states(run(obs, T0 + 2 * HOUR), "kb-1")]
    assert changes == [State.OK, State.DEGRADED, State.UNSTABLE, State.DEGRADED, State.OK]


def test_per_line_thresholds_override() -> None:
    # a 4G backup line with 150 ms is normal for it
    slow = Thresholds(rtt_ms=Level(degraded=300, unstable=600))
    topo = topology({"kinh-bac": ["kb-4g"]}, agents=("dc-a",), thresholds=slow)
    obs = pings("kb-4g", "ce", "dc-a", T0, T0 + HOUR, rtt=lambda t: 150.0)
    assert states(run(obs, T0 + HOUR, topo), "kb-4g") == [(0.0, State.OK)]
    default = topology({"kinh-bac": ["kb-4g"]}, agents=("dc-a",))
    assert states(run(obs, T0 + HOUR, default), "kb-4g") == [(0.0, State.DEGRADED)]


def test_no_data_is_unknown_and_stale_data_becomes_unknown() -> None:
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, agents=("dc-a",))
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 600)
    evals = run(obs, T0 + 1200, topo)
    assert evals[-1].nodes["kb-2"].state is State.UNKNOWN
    assert evals[-1].nodes["kb-2"].text() == "no measurements yet"
    assert [s for _, s in states(evals, "kb-1")] == [State.OK, State.UNKNOWN]
    assert evals[-1].nodes["kb-1"].text().startswith("no measurements for")


def test_local_probe_errors_are_not_evidence() -> None:
    from netprobe.health.observation import observe

    tags = {"kind": "ce", "line": "kb-1", "agent": "dc-a"}
    assert observe("ping", tags, {"status": "error", "packets_transmitted": 10, "packets_received": 0}, T0) is None
    assert observe("ping", tags, {"status": "not_allowed"}, T0) is None
    timeout = observe("ping", tags, {"status": "timeout"}, T0)
    assert timeout is not None and timeout.lost_all


def test_a_hung_snmp_agent_is_degraded_within_three_intervals_while_the_device_answers_ping() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    hang = (T0 + 600, T0 + 1200)
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 2400) + pings("kb-rt1", "device", "dc-a", T0, T0 + 2400)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 2400, answered=lambda t: not hang[0] <= t < hang[1])
    evals = run(obs, T0 + 2400, topo)
    changes = states(evals, "kb-rt1")
    assert [s for _, s in changes] == [State.OK, State.DEGRADED, State.OK]
    assert changes[1][0] <= 600 + 3 * 60  # within 3 SNMP intervals of the hang's start
    during = next(e for e in evals if e.time == T0 + 1080).nodes["kb-rt1"]
    assert during.reasons and during.reasons[0].code is Code.SNMP_SILENT
    assert "SNMP agent not answering for 9 min; the device answers ping" in during.text()


def test_snmp_silence_of_a_device_that_is_down_is_its_outage_not_a_hang() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    off = lambda t: T0 + 600 <= t < T0 + 1200  # noqa: E731
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1200)
    obs += pings("kb-rt1", "device", "dc-a", T0, T0 + 1200, lost=lambda t: 10 if off(t) else 0)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 1200, answered=lambda t: not off(t))
    evals = run(obs, T0 + 1200, topo)
    assert Code.SNMP_SILENT not in codes(evals[-1], "kb-rt1")


def test_a_line_down_20s_up_20s_is_unstable_went_down_not_down_nor_ok() -> None:
    def lost(t: float) -> int:
        rel = t - T0
        return 10 if 600 <= rel < 1200 and rel % 40 < 20 else 0

    evals = run(pings("kb-1", "ce", "dc-a", T0, T0 + 1200, lost=lost), T0 + 1200)
    late = [e.nodes["kb-1"] for e in evals if e.time >= T0 + 900]
    assert late and all(v.state is State.UNSTABLE for v in late)
    assert "went down" in late[-1].text() and " times in 10 min" in late[-1].text()


def test_a_router_power_cut_is_the_routers_reboot_not_the_lines_loss() -> None:
    # the router (the line's CE) is off 40 s at +1200, then boots: sysUpTime proves the reboot
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    off = lambda t: T0 + 1195 <= t < T0 + 1235  # noqa: E731
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 2400, lost=lambda t: 10 if off(t) else 0)
    obs += pings("kb-1", "pe", "dc-a", T0, T0 + 2400, phase_s=1)
    obs += pings("kb-rt1", "device", "dc-a", T0, T0 + 2400, lost=lambda t: 10 if off(t) else 0, phase_s=2)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 2400, boot_time=lambda t: T0 + 1235 if t >= T0 + 1235 else T0 - 86400,
                      answered=lambda t: not off(t))  # fmt: skip
    engine = HealthEngine(topo)
    evals = list(replay(engine, obs, T0, T0 + 2400, 30.0))
    after = [e for e in evals if e.time >= T0 + 1235 + 2 * 60]  # the reboot is proven by the next polls
    assert all(e.nodes["kb-1"].state is State.OK for e in after), [e.nodes["kb-1"].text() for e in after][:3]
    assert any(e.nodes["kb-rt1"].state is State.DEGRADED and "reboot" in e.nodes["kb-rt1"].text() for e in after)
    spans = engine.reboot_outages("kb-1", T0 + 2400)
    assert len(spans) == 1 and spans[0][2] == "kb-rt1" and spans[0][0] <= T0 + 1195 <= T0 + 1235 <= spans[0][1]


def test_an_impaired_agents_failed_probes_leave_no_flap_or_loss_on_the_lines_after_it_recovers() -> None:
    lines = [f"kb-{i}" for i in range(12)]
    topo = topology({"kinh-bac": lines}, agents=("dc-b",))
    blind = lambda t: T0 + 1200 <= t < T0 + 1320  # noqa: E731  dc-b's uplink is down 2 min
    obs = [o for ln in lines for o in pings(ln, "ce", "dc-b", T0, T0 + 2400, lost=lambda t: 10 if blind(t) else 0)]
    evals = list(replay(HealthEngine(topo), obs, T0, T0 + 2400, 30.0))
    assert any(e.agents["dc-b"].state is State.DOWN for e in evals)
    after = [e for e in evals if e.time >= T0 + 1320 + 60]
    assert after[0].agents["dc-b"].state is State.OK  # back at once, no hold with "0 of 12 targets fail"
    for e in after:
        for ln in lines:
            assert e.nodes[ln].state is State.OK and e.nodes[ln].flaps == 0, (e.time - T0, e.nodes[ln].text())


def test_a_flapping_commune_never_makes_an_agent_unstable() -> None:
    lines = ["kb-1", *(f"ok-{i}" for i in range(6))]
    topo = topology({"kinh-bac": ["kb-1"], "other": lines[1:]}, agents=("dc-a", "dc-b"))

    def flapping(t: float) -> int:
        return 10 if T0 + 600 <= t < T0 + 1800 and (t - T0) % 40 < 20 else 0

    obs: list[Observation] = []
    for agent, phase in (("dc-a", 0.0), ("dc-b", 13.0)):  # their bursts catch the flap at different phases
        obs += pings("kb-1", "ce", agent, T0, T0 + 1800, lost=flapping, phase_s=phase)
        for ln in lines[1:]:
            obs += pings(ln, "ce", agent, T0, T0 + 1800, phase_s=phase)
    evals = run(obs, T0 + 1800, topo)
    assert {e.agents[a].state for e in evals for a in ("dc-a", "dc-b")} <= {State.OK, State.UNKNOWN}


def test_a_router_on_a_dead_primary_whose_backup_carries_the_lan_is_not_unreachable() -> None:
    topo = topology(
        {"kinh-bac": ["kb-1", "kb-2"]},
        {"kb-rt1": ("kinh-bac", "kb-1"), "kb-sw1": ("kinh-bac", "kb-rt1")},
        agents=("dc-a",),
    )
    cut = lambda t: t >= T0 + 600  # noqa: E731  the primary is cut; the LAN fails over to kb-2
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1500, lost=lambda t: 10 if cut(t) else 0)
    obs += pings("kb-2", "ce", "dc-a", T0, T0 + 1500, phase_s=1)
    obs += pings("kb-rt1", "device", "dc-a", T0, T0 + 1500, lost=lambda t: 10 if cut(t) else 0, phase_s=2)
    obs += pings("kb-sw1", "device", "dc-a", T0, T0 + 1500, phase_s=3)
    evals = run(obs, T0 + 1500, topo)
    assert evals[-1].nodes["kb-1"].state is State.DOWN
    assert {e.nodes["kb-rt1"].state for e in evals} - {State.UNKNOWN} == {State.OK}  # UNKNOWN: before data
    assert evals[-1].nodes["kb-sw1"].state is State.OK


def test_a_flapping_lines_first_outage_is_renamed_unstable_as_soon_as_it_goes_down_again() -> None:
    # The first outage (2 min) is DOWN; once the line is back and down again it was one flap of several:
    # UNSTABLE at once, not after min_state_s (which would keep a DOWN alert firing on a flapping line).
    def lost(t: float) -> int:
        rel = t - T0
        return 10 if 600 <= rel < 1500 and (rel - 600) % 180 < 120 else 0

    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",), thresholds=Thresholds(min_state_s=900.0))
    evals = run(pings("kb-1", "ce", "dc-a", T0, T0 + 1500, lost=lost), T0 + 1500, topo)
    states = {e.time - T0: e.nodes["kb-1"].state for e in evals}
    assert states[690] is State.DOWN  # the first outage, before anything says it flaps
    after_second = [s for t, s in states.items() if 800 <= t < 1500]
    assert after_second and set(after_second) == {State.UNSTABLE}, states


def test_the_partial_bursts_either_side_of_an_outage_are_its_edges_not_loss() -> None:
    """Cut at +605 (the burst at +600 lost 5 of 10), back at +695 (the burst at +690 lost 6): after it is
    back the line went down once (a flap), but it is not 'loss 4% over 5 min' from its edges."""
    edges = {T0 + 600: 5, T0 + 630: 10, T0 + 660: 10, T0 + 690: 6}
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1200, lost=lambda t: edges.get(t, 0))
    evals = run(obs, T0 + 1200)
    after = [e for e in evals if e.time >= T0 + 720]
    assert all(Code.LOSS not in codes(e, "kb-1") for e in after), [e.nodes["kb-1"].text() for e in after]
    assert all(e.nodes["kb-1"].flaps == 1 for e in after)


def test_a_steady_latency_step_is_named_at_its_first_slow_burst_and_leaves_as_the_window_does() -> None:
    """Steady at 5 ms for 10 min, then 150 ms with 0.5 ms jitter: every reply of the first slow burst rose
    far more than the burst's own spread (a step, not a spike), so it is named then. After the step ends
    it clears as the window's median does."""
    slow = lambda t: 150.0 if T0 + 600 <= t < T0 + 900 else 5.0  # noqa: E731
    evals = run(pings("kb-1", "ce", "dc-a", T0, T0 + 1500, rtt=slow), T0 + 1500)
    first = next(e.time - T0 for e in evals if e.nodes["kb-1"].state is not State.OK)
    assert first == 600 and Code.RTT in codes(next(e for e in evals if e.time - T0 == first), "kb-1")
    assert all(e.nodes["kb-1"].state is not State.OK for e in evals if T0 + 600 <= e.time <= T0 + 900)


def test_a_noisy_latency_rise_needs_two_of_the_newest_three_bursts() -> None:
    """The same rise in bursts whose spread is a quarter of it or more (a congested queue, or one spiky
    burst) is not a step: one such burst names nothing; two of the newest three slow do (the window's
    median would need 6)."""

    def noisy(slow_until: float) -> list[Observation]:
        calm = lambda t: not T0 + 600 <= t < slow_until  # noqa: E731
        obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1500, rtt=lambda t: 5.0 if calm(t) else 150.0)
        return [o if calm(o.time) else replace(o, jitter_ms=40.0) for o in obs]

    evals = run(noisy(T0 + 900), T0 + 1500)
    first = next(e.time - T0 for e in evals if e.nodes["kb-1"].state is not State.OK)
    assert first == 630 and Code.RTT in codes(next(e for e in evals if e.time - T0 == first), "kb-1")
    assert all(e.nodes["kb-1"].state is State.OK for e in run(noisy(T0 + 630), T0 + 1500))


def test_a_router_reboot_explains_its_backup_lines_outage_and_is_not_its_own_loss() -> None:
    """The router lands on its primary (its parent) and, through router_port, on the backup: a proven
    reboot is both lines' outage span, and the router's own dark bursts are 'rebooted at', not loss."""
    base = topology({"nhan-thang": ["nt-1", "nt-2"]}, {"nt-rt": ("nhan-thang", "nt-1")}, agents=("dc-a",))
    nodes = dict(base.nodes)
    nodes["nt-rt"] = replace(nodes["nt-rt"], line_ports={"wan1": "nt-1", "wan2": "nt-2"})
    topo = replace(base, nodes=nodes)
    off = lambda t: 10 if T0 + 600 <= t < T0 + 660 else 0  # noqa: E731
    obs = pings("nt-1", "ce", "dc-a", T0, T0 + 1200, lost=off) + pings("nt-2", "ce", "dc-a", T0, T0 + 1200, lost=off)
    obs += pings("nt-rt", "device", "dc-a", T0, T0 + 1200, lost=off)
    obs += snmp_polls("nt-rt", "dc-a", T0, T0 + 1200, boot_time=lambda t: T0 + 655 if t >= T0 + 660 else T0 - 86400)
    engine = HealthEngine(topo)
    engine.ingest(obs)
    last = engine.evaluate(T0 + 900)
    assert engine.reboot_outages("nt-2", T0 + 900) == engine.reboot_outages("nt-1", T0 + 900) != []
    assert last.nodes["nt-rt"].text() == f"rebooted at {clock(T0 + 655)}"
    assert last.nodes["nt-2"].state is State.OK


def test_a_routers_port_to_a_switch_that_rebooted_is_the_switchs_reboot_not_a_flap() -> None:
    """The switch behind the router is off from +600 to +630: the router's lan0 goes down and up then. Once
    the switch's poll proves the reboot it is 'rebooted at'; the router is not 'interface lan0 changed
    state' for an hour (the flag its down port raised is withdrawn)."""
    topo = topology({"tam-son": ["ts-1"]}, {"ts-rt": ("tam-son", "ts-1"), "ts-sw": ("tam-son", "ts-rt")}, ("dc-a",))

    def lan0(t: float) -> tuple[int, float, float]:
        rel = t - T0
        oper = 2 if 600 <= rel < 630 else 1
        changed = max([-100.0, *(edge for edge in (600, 630) if rel >= edge)])
        return oper, rel - changed, 0.0

    obs = pings("ts-1", "ce", "dc-a", T0, T0 + 1200) + pings("ts-rt", "device", "dc-a", T0, T0 + 1200)
    obs += pings("ts-sw", "device", "dc-a", T0, T0 + 1200, lost=lambda t: 10 if T0 + 600 <= t < T0 + 630 else 0)
    obs += snmp_polls("ts-rt", "dc-a", T0 + 5, T0 + 1200, interfaces={"lan0": lan0})
    obs += snmp_polls(
        "ts-sw", "dc-a", T0 + 10, T0 + 1200, boot_time=lambda t: T0 + 628 if t >= T0 + 630 else T0 - 86400
    )
    evals = run(obs, T0 + 1200, topo)
    # before the switch's next poll proves its reboot, the router's lan0 is down (true); after, not its fault
    later = [e for e in evals if e.time >= T0 + 700]
    assert all(e.nodes["ts-rt"].state is State.OK for e in later), {e.nodes["ts-rt"].text() for e in later}
    assert evals[-1].nodes["ts-sw"].text() == f"rebooted at {clock(T0 + 628)}"


def test_a_reboot_proven_late_withdraws_the_lines_flag_whatever_its_hold_stepped_to() -> None:
    """The router is off +300..+330 (its line dark), but its first poll after the boot comes only at +600:
    by then the line's flag has stepped down its hold; the proof still withdraws it (the flag's onset was
    inside the reboot's span)."""
    topo = topology({"yen-the": ["yt-1"]}, {"yt-rt": ("yen-the", "yt-1")}, agents=("dc-a",))
    off = lambda t: 10 if T0 + 300 <= t < T0 + 360 else 0  # noqa: E731
    obs = pings("yt-1", "ce", "dc-a", T0, T0 + 900, lost=off) + pings("yt-rt", "device", "dc-a", T0, T0 + 900, lost=off)
    obs += snmp_polls("yt-rt", "dc-a", T0, T0 + 280, boot_time=lambda t: T0 - 86400)
    obs += snmp_polls("yt-rt", "dc-a", T0 + 600, T0 + 900, boot_time=lambda t: T0 + 350)
    evals = run(obs, T0 + 900, topo)
    at = {e.time - T0: e.nodes["yt-1"].state for e in evals}
    assert at[570] is not State.OK and at[630] is State.OK, at


def test_snmp_timeouts_of_gear_whose_bursts_lose_packets_are_not_a_hang() -> None:
    """Behind a line flapping at 30 s its polls time out and every burst loses part of its packets: the
    path, not a hung agent (never 'SNMP agent not answering; the device answers ping')."""
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    bad = (T0 + 600, T0 + 1200)
    half = lambda t: 4 if bad[0] <= t < bad[1] else 0  # noqa: E731
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 1500) + pings("kb-rt1", "device", "dc-a", T0, T0 + 1500, lost=half)
    obs += snmp_polls("kb-rt1", "dc-a", T0, T0 + 1500, answered=lambda t: not bad[0] <= t < bad[1])
    evals = run(obs, T0 + 1500, topo)
    assert not any(Code.SNMP_SILENT in codes(e, "kb-rt1") for e in evals)
