"""Root cause in one pass: gear behind a dead line, isolated communes, and the two vantage points."""

from __future__ import annotations

from collections.abc import Callable

from netprobe.health.engine import HealthEngine
from netprobe.health.observation import Observation
from netprobe.health.reasons import Code
from netprobe.health.replay import replay
from netprobe.health.status import problems_of
from netprobe.health.synthetic import pings, topology
from netprobe.health.topology import Node, Topology
from netprobe.health.verdict import Evaluation, State

T0 = 1_699_999_200.0
END = T0 + 3600.0
FAIL_AT = T0 + 1800.0

COMMUNES = {
    "kinh-bac": ["kb-1", "kb-2"],
    "que-vo": ["qv-1"],
    "tien-du": ["td-1"],
    "yen-phong": ["yp-1"],
    "gia-binh": ["gb-1"],
}
DEVICES = {
    "kb-rt1": ("kinh-bac", "kb-1"),
    "kb-fw1": ("kinh-bac", "kb-rt1"),
    "kb-sw1": ("kinh-bac", "kb-fw1"),
    "qv-rt1": ("que-vo", "qv-1"),
}
Dead = Callable[[str, str, float], bool]  # (subject, agent, time) → no reply


def province(dead: Dead, agents: tuple[str, ...] = ("dc-a", "dc-b"), end: float = END) -> list[Observation]:
    """Every line end and device, from every agent; devices probed *before* their line in each cycle,
    so a child's failure is seen first — the race root cause must not lose."""
    obs: list[Observation] = []
    topo = topology(COMMUNES, DEVICES, agents)
    for a_i, agent in enumerate(agents):
        for n_i, node in enumerate(sorted(topo.nodes.values(), key=lambda n: n.id)):
            phase = (7 * a_i + (1 if node.kind == "device" else 20) + n_i % 5) % 30
            roles = ("ce", "pe") if node.kind == "line" else ("device",)
            for role in roles:

                def lost(t: float, subject: str = node.id, agent: str = agent, role: str = role) -> int:
                    return 10 if dead(subject if role != "pe" else f"{subject}/pe", agent, t) else 0

                obs += pings(node.id, role, agent, T0, end, lost=lost, phase_s=phase)
    return obs


def run(dead: Dead, agents: tuple[str, ...] = ("dc-a", "dc-b"), end: float = END) -> tuple[Topology, list[Evaluation]]:
    topo = topology(COMMUNES, DEVICES, agents)
    return topo, list(replay(HealthEngine(topo), province(dead, agents, end), T0, end, 30.0))


def after(t: float) -> Callable[[float], bool]:
    return lambda now: now >= t


def test_gear_behind_a_dead_line_is_unreachable_never_down() -> None:
    behind_kb1 = {"kb-1", "kb-rt1", "kb-fw1", "kb-sw1"}

    def dead(subject: str, agent: str, t: float) -> bool:
        return subject in behind_kb1 and FAIL_AT <= t < FAIL_AT + 900

    _, evals = run(dead)
    for e in evals:
        for device in ("kb-rt1", "kb-fw1", "kb-sw1"):
            assert e.nodes[device].state is not State.DOWN, (e.time - T0, device)
    during = evals[(int(FAIL_AT - T0) + 300) // 30]
    assert during.nodes["kb-1"].state is State.DOWN
    assert {during.nodes[d].state for d in ("kb-rt1", "kb-fw1", "kb-sw1")} == {State.UNREACHABLE}
    assert during.nodes["kb-rt1"].reasons[0].code is Code.PARENT_DOWN
    assert during.nodes["kb-2"].state is State.OK and during.communes["kinh-bac"].state is State.OK
    assert evals[-1].nodes["kb-sw1"].state is State.OK  # recovered with its line


def test_a_dead_device_under_a_healthy_line_is_down() -> None:
    def dead(subject: str, agent: str, t: float) -> bool:
        return subject in ("kb-fw1", "kb-sw1") and t >= FAIL_AT

    _, evals = run(dead)
    assert evals[-1].nodes["kb-fw1"].state is State.DOWN
    assert evals[-1].nodes["kb-sw1"].state is State.UNREACHABLE
    assert evals[-1].nodes["kb-rt1"].state is State.OK
    rows = problems_of(topology(COMMUNES, DEVICES), evals[-1])
    assert [(r.subject, r.state, r.behind) for r in rows] == [("kb-fw1", State.DOWN, 1)]


def test_gear_that_still_answers_behind_a_dead_line_is_judged_on_its_own() -> None:
    def dead(subject: str, agent: str, t: float) -> bool:  # kb-1 dies; the router answers via kb-2
        return subject == "kb-1" and t >= FAIL_AT

    _, evals = run(dead)
    assert evals[-1].nodes["kb-1"].state is State.DOWN
    assert evals[-1].nodes["kb-rt1"].state is State.OK


def test_isolated_commune_is_one_finding_not_one_per_line() -> None:
    def dead(subject: str, agent: str, t: float) -> bool:
        return t >= FAIL_AT and subject in {"kb-1", "kb-2", "kb-rt1", "kb-fw1", "kb-sw1"}

    topo, evals = run(dead)
    last = evals[-1]
    assert last.communes["kinh-bac"].state is State.DOWN
    assert last.communes["kinh-bac"].text() == "commune kinh-bac isolated: all 2 lines down"
    rows = problems_of(topo, last)
    assert [(r.kind, r.subject) for r in rows] == [("commune", "kinh-bac")]
    assert rows[0].behind == 3
    assert {last.communes[c].state for c in COMMUNES if c != "kinh-bac"} == {State.OK}


def test_one_agent_uplink_down_names_the_agent_and_blames_no_commune() -> None:
    def dead(subject: str, agent: str, t: float) -> bool:
        return agent == "dc-a" and t >= FAIL_AT

    topo, evals = run(dead)
    for e in evals[2:]:  # from the first full probe cycle on
        assert all(v.state is State.OK for v in e.nodes.values()), e.time - T0
        assert all(v.state is State.OK for v in e.communes.values())
    last = evals[-1]
    agent = last.agents["dc-a"]
    assert agent.state is State.DOWN and last.agents["dc-b"].state is State.OK
    assert agent.text().startswith("vantage point dc-a sees 16 of 16 targets fail that dc-b sees fine")
    rows = problems_of(topo, last)
    assert [(r.kind, r.subject) for r in rows] == [("agent", "dc-a")]


def test_one_agent_that_cannot_reach_one_commune_is_that_agents_path() -> None:
    def dead(subject: str, agent: str, t: float) -> bool:
        return agent == "dc-a" and t >= FAIL_AT and subject in ("qv-1", "qv-1/pe", "qv-rt1")

    topo, evals = run(dead)
    last = evals[-1]
    assert last.nodes["qv-1"].state is State.OK and last.communes["que-vo"].state is State.OK
    assert last.agents["dc-a"].state is State.UNSTABLE and last.agents["dc-a"].members == ("que-vo",)
    rows = problems_of(topo, last)
    assert [(r.kind, r.subject) for r in rows] == [("agent", "dc-a")]
    assert "dc-b sees fine" in rows[0].evidence and "que-vo" in rows[0].evidence


def test_a_single_agent_seeing_everything_fail_is_itself_the_problem() -> None:
    def dead(subject: str, agent: str, t: float) -> bool:
        return t >= FAIL_AT

    topo, evals = run(dead, agents=("dc-a",))
    last = evals[-1]
    assert last.agents["dc-a"].state is State.DOWN
    assert {v.state for v in last.nodes.values()} == {State.UNKNOWN}
    assert last.nodes["qv-1"].reasons[0].code is Code.AGENT_IMPAIRED
    assert [(r.kind, r.subject) for r in problems_of(topo, last)] == [("agent", "dc-a")]


def test_a_silent_agent_is_unknown_and_the_other_carries_the_verdicts() -> None:
    topo = topology(COMMUNES, DEVICES, ("dc-a", "dc-b"))
    obs = [o for o in province(lambda s, a, t: False) if o.agent == "dc-a"]
    last = list(replay(HealthEngine(topo), obs, T0, END, 30.0))[-1]
    assert last.agents["dc-b"].state is State.UNKNOWN and last.agents["dc-b"].text() == "no measurements yet"
    assert {v.state for v in last.nodes.values()} == {State.OK}


def test_parents_come_first_whatever_the_ids() -> None:
    nodes = {
        "a-switch": Node("a-switch", "device", "c", parent="m-router"),
        "m-router": Node("m-router", "device", "c", parent="z-line"),
        "z-line": Node("z-line", "line", "c"),
        "b-line": Node("b-line", "line", "c"),
    }
    assert Topology("p", nodes).order == ("b-line", "z-line", "m-router", "a-switch")


def test_a_commune_with_its_known_lines_down_and_others_unmeasured_is_unknown_not_isolated() -> None:
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, agents=("dc-a",))
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 900, lost=lambda t: 10 if t >= T0 + 600 else 0)
    last = list(replay(HealthEngine(topo), obs, T0, T0 + 900, 30.0))[-1]
    assert last.nodes["kb-1"].state is State.DOWN and last.nodes["kb-2"].state is State.UNKNOWN
    assert last.communes["kinh-bac"].state is State.UNKNOWN


def test_gear_behind_a_line_that_loses_single_bursts_is_not_lossy_itself() -> None:
    """A flapping line (down 20 s, up 20 s, probed every 30 s) loses lone bursts that are not outages; the
    gear behind loses the same bursts (the line's loss, not its own): the line is flagged, the gear not."""
    behind_kb1 = {"kb-1", "kb-rt1", "kb-fw1", "kb-sw1"}

    def dead(subject: str, agent: str, t: float) -> bool:
        return subject in behind_kb1 and t >= FAIL_AT and (t - FAIL_AT) % 120 < 30  # one lone burst in 4

    _, evals = run(dead)
    late = evals[(int(FAIL_AT - T0) + 600) // 30 :]
    assert all(e.nodes["kb-1"].state is State.UNSTABLE for e in late), [e.nodes["kb-1"].state for e in late]
    for e in late:
        for device in ("kb-rt1", "kb-fw1", "kb-sw1"):
            assert e.nodes[device].state in (State.OK, State.UNREACHABLE), (e.time - T0, device, e.nodes[device])


def test_a_router_caught_dark_twice_behind_a_flapping_line_is_unreachable_not_down() -> None:
    """Flapping line (down 20 s of every 40 s), probed every 30 s: the router's bursts hit two down halves
    in a row while the line's own bursts around them answered; the line already dropped a whole burst, so
    it is flagged. The router is behind a line that keeps dropping out, not DOWN on its own — even before
    the line's next burst confirms it."""
    topo = topology({"vu-ninh": ["vn-1"]}, {"vn-rt": ("vu-ninh", "vn-1")}, ("dc-a",))
    obs = pings("vn-1", "ce", "dc-a", T0, T0 + 120, phase_s=3, lost=lambda t: 10 if t - T0 in (3, 93) else 0)
    obs += pings("vn-1", "pe", "dc-a", T0, T0 + 120, phase_s=10)
    obs += pings("vn-rt", "device", "dc-a", T0, T0 + 120, phase_s=24, lost=lambda t: 10 if t - T0 in (54, 84) else 0)
    engine = HealthEngine(topo)
    now = T0 + 92  # after the router's second dark burst, before the line's next one
    engine.ingest(o for o in obs if o.time <= now)
    evaluation = engine.evaluate(now)
    assert evaluation.nodes["vn-1"].state is State.UNSTABLE
    router = evaluation.nodes["vn-rt"]
    assert router.state is State.UNREACHABLE, router
    assert router.reasons[0].code is Code.PARENT_UNSTABLE
    assert router.text().startswith("behind vn-1, which keeps dropping out")


def test_gears_newest_dark_burst_is_undecided_until_the_next_one() -> None:
    """One dark burst of a router is not yet "loss 100%": the next burst (or the line's) tells an outage,
    the line's fault or a lone loss apart. Once it answers again, one dark burst alone is a blip nobody can
    place (its path's or its own); a second one while the line answers is loss of its own."""
    topo = topology({"vu-ninh": ["vn-1"]}, {"vn-rt": ("vu-ninh", "vn-1")}, ("dc-a",))
    obs = pings("vn-1", "ce", "dc-a", T0, T0 + 200, phase_s=22) + pings("vn-1", "pe", "dc-a", T0, T0 + 200, phase_s=29)
    obs += pings("vn-rt", "device", "dc-a", T0, T0 + 200, phase_s=13, lost=lambda t: 10 if t - T0 in (13, 73) else 0)

    def judged_at(rel: float) -> State:
        engine = HealthEngine(topo)
        engine.ingest(o for o in obs if o.time <= T0 + rel)
        return engine.evaluate(T0 + rel).nodes["vn-rt"].state

    assert judged_at(33) is State.OK  # only its first burst, dark; the line answered at +22
    assert judged_at(63) is State.OK  # +43 answered: the burst at +13 was one blip
    assert judged_at(93) is State.OK  # +73 dark again: undecided until the line's burst at +82... and +103
    assert judged_at(123) is State.UNSTABLE  # the line answered at +82 and +112: two blips of its own: loss


def _flapping(down_s: float, up_s: float, start: float) -> Callable[[float], int]:
    """Packets lost by a 10-packet burst (1 s apart) sent at t across a line down `down_s`, up `up_s`."""

    def lost(t: float) -> int:
        return sum(1 for k in range(10) if t + k >= start and (t + k - start) % (down_s + up_s) < down_s)

    return lost


def test_gear_behind_a_flapping_line_has_no_loss_of_its_own_from_bursts_straddling_its_transitions() -> None:
    """A line down 20 s / up 20 s, probed every 30 s: many bursts of the line and of the router behind it
    straddle a transition and lose part of their packets. The router's partial losses happen while the
    line was losing: they are the line's, so the router is never 'loss 18% over 5 min' of its own."""
    topo = topology({"vu-ninh": ["vn-1"]}, {"vn-rt": ("vu-ninh", "vn-1"), "vn-sw": ("vu-ninh", "vn-rt")})
    flap = _flapping(20, 20, T0 + 300)
    obs: list[Observation] = []
    for a_i, agent in enumerate(("dc-a", "dc-b")):
        obs += pings("vn-1", "ce", agent, T0, END, phase_s=3 + 11 * a_i, lost=flap)
        obs += pings("vn-1", "pe", agent, T0, END, phase_s=5 + 11 * a_i)
        obs += pings("vn-rt", "device", agent, T0, END, phase_s=17 + 7 * a_i, lost=flap)
        obs += pings("vn-sw", "device", agent, T0, END, phase_s=26 + 3 * a_i, lost=flap)
    evals = list(replay(HealthEngine(topo), obs, T0, END, 30.0))
    late = [e for e in evals if e.time >= T0 + 300 + 240]
    assert all(e.nodes["vn-1"].state is State.UNSTABLE for e in late), {e.nodes["vn-1"].state for e in late}
    for e in late:
        for device in ("vn-rt", "vn-sw"):
            v = e.nodes[device]
            assert v.state in (State.OK, State.UNREACHABLE), (e.time - T0, device, v.state, v.text())


def test_gears_own_partial_loss_behind_a_line_that_loses_nothing_is_its_own() -> None:
    """The parent explains only the losses it shares: a router losing 3 of 10 packets in every burst
    behind a clean line is lossy itself."""
    topo = topology({"vu-ninh": ["vn-1"]}, {"vn-rt": ("vu-ninh", "vn-1")}, ("dc-a",))
    obs = pings("vn-1", "ce", "dc-a", T0, T0 + 900, phase_s=3) + pings("vn-1", "pe", "dc-a", T0, T0 + 900, phase_s=5)
    obs += pings("vn-rt", "device", "dc-a", T0, T0 + 900, phase_s=17, lost=lambda t: 3 if t >= T0 + 300 else 0)
    last = list(replay(HealthEngine(topo), obs, T0, T0 + 900, 30.0))[-1]
    assert last.nodes["vn-1"].state is State.OK
    router = last.nodes["vn-rt"]
    assert router.state is State.UNSTABLE and router.reasons[0].code is Code.LOSS, router


def test_gears_outage_is_undecided_until_its_line_is_probed_after_it() -> None:
    """A router dark at +14 and +44 while its line answered at +30 (a flap at about the probe interval):
    not DOWN before the line's next burst tells; the line losing packets at +60 makes it the line's.
    A router that stays dark while the line's next burst answers fully is DOWN of its own."""
    topo = topology({"vu-ninh": ["vn-1"]}, {"vn-rt": ("vu-ninh", "vn-1")}, ("dc-a",))

    def judged(line_lost_at_60: int, rt_dark: Callable[[float], bool], now: float) -> State:
        obs = pings(
            "vn-1", "ce", "dc-a", T0, T0 + 200, phase_s=30, lost=lambda t: line_lost_at_60 if t == T0 + 60 else 0
        )
        obs += pings("vn-1", "pe", "dc-a", T0, T0 + 200, phase_s=31)
        obs += pings("vn-rt", "device", "dc-a", T0, T0 + 200, phase_s=14, lost=lambda t: 10 if rt_dark(t - T0) else 0)
        engine = HealthEngine(topo)
        engine.ingest(o for o in obs if o.time <= T0 + now)
        return engine.evaluate(T0 + now).nodes["vn-rt"].state

    flapped = lambda rel: rel in (14, 44)  # noqa: E731
    assert judged(4, flapped, 50) is State.OK  # undecided: the line has not been probed since +44
    assert judged(4, flapped, 62) in (State.OK, State.UNREACHABLE)  # the line was losing: its outage
    dead = lambda rel: rel >= 14  # noqa: E731
    assert judged(0, dead, 50) is State.OK
    assert judged(0, dead, 62) is State.DOWN  # the line answered fully after it went dark: its own


def test_a_lossy_uplink_is_the_agents_not_every_lines() -> None:
    """dc-a loses 3 of 10 packets to every target (provider edges too) from +30 min, dc-a alone: it is its
    uplink (impaired), not 'loss 30%' on every line of the province; back when its bursts are clean."""
    topo = topology(COMMUNES, DEVICES, ("dc-a",))
    obs: list[Observation] = []
    lossy = lambda t: 3 if FAIL_AT <= t < FAIL_AT + 600 else 0  # noqa: E731
    for n_i, node in enumerate(sorted(topo.nodes.values(), key=lambda n: n.id)):
        for role in ("ce", "pe") if node.kind == "line" else ("device",):
            obs += pings(node.id, role, "dc-a", T0, END, lost=lossy, phase_s=n_i % 25)
    evals = list(replay(HealthEngine(topo), obs, T0, END, 30.0))
    during = [e for e in evals if FAIL_AT + 60 <= e.time < FAIL_AT + 600]
    assert all(e.agents["dc-a"].state is State.DOWN for e in during)
    assert all(v.state in (State.OK, State.UNKNOWN) for e in during for v in e.nodes.values())
    after = [e for e in evals if e.time >= FAIL_AT + 700]
    assert all(v.state is State.OK for e in after for v in e.nodes.values()), {
        (v.subject, v.text()) for e in after for v in e.nodes.values() if v.state is not State.OK
    }
