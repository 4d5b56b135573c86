"""Properties of the verdicts: minimum durations, no false flags from isolated loss, determinism, restarts."""

from __future__ import annotations

import itertools
import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netprobe.health.engine import HealthEngine
from netprobe.health.observation import Observation, Source
from netprobe.health.replay import replay
from netprobe.health.synthetic import pings, topology
from netprobe.health.verdict import Evaluation, State
from netprobe.inventory.model import Level, Thresholds

T0 = 1_699_999_200.0
INTERVAL = 30.0
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a province replay each


def series_from(lost: list[int], rtts: list[float], *, count: int = 10) -> list[Observation]:
    out = []
    for i, (n, rtt) in enumerate(zip(lost, rtts, strict=True)):
        t = T0 + i * INTERVAL
        received = count - n
        out.append(
            Observation(
                t, Source.PING, "kb-1", "ce", "dc-a", received > 0, count, received,
                rtt if received else None, 1.0 if received > 1 else None,
            )
        )  # fmt: skip
    return out


def verdict_trace(evals: list[Evaluation]) -> list[tuple[float, str, str, float, float]]:
    return [(e.time, v.subject, v.state.value, v.score, v.since) for e in evals for v in e.all()]


@FAST
@given(
    lost=st.lists(st.sampled_from([0, 0, 0, 1, 2, 3, 5, 10]), min_size=20, max_size=120),
    min_state_s=st.sampled_from([60.0, 120.0, 300.0]),
    clear_s=st.sampled_from([0.0, 60.0, 120.0]),
)
def test_a_verdict_never_improves_sooner_than_its_minimum_duration(
    lost: list[int], min_state_s: float, clear_s: float
) -> None:
    th = Thresholds(min_state_s=min_state_s, clear_s=clear_s)
    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",), thresholds=th)
    end = T0 + len(lost) * INTERVAL
    evals = list(replay(HealthEngine(topo), series_from(lost, [5.0] * len(lost)), T0, end, INTERVAL))
    changes: list[tuple[float, State, bool]] = []
    for e in evals:
        v = e.nodes["kb-1"]
        if v.state is State.UNKNOWN:
            continue
        if not changes or changes[-1][1] is not v.state:
            newest = lost[min(len(lost) - 1, int((e.time - T0) // INTERVAL))]  # the burst at or before it
            changes.append((e.time, v.state, newest < 10))
            assert v.since == e.time
    for (t_prev, s_prev, _), (t, s, answers) in itertools.pairwise(changes):
        if s_prev is State.DOWN and s is State.UNSTABLE:
            # not an all-clear: it answers again, so it is not DOWN any more (back, not proven stable)
            assert answers, changes
            continue
        if s.severity < s_prev.severity:  # an improvement: only after min_state_s (and clear_s) held
            assert t - t_prev >= min_state_s, changes
            assert t - t_prev >= clear_s, changes


@SLOW
@given(
    data=st.data(),
    degraded=st.sampled_from([2.0, 3.0, 5.0, 10.0]),
    n=st.integers(min_value=20, max_value=150),
)
def test_healthy_series_with_isolated_single_packet_loss_below_threshold_stays_ok(
    data: st.DataObject, degraded: float, n: int
) -> None:
    th = Thresholds(loss_pct=Level(degraded=degraded, unstable=max(10.0, degraded * 2)))
    wanted = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="single-packet losses")
    rtts = data.draw(st.lists(st.floats(min_value=2.0, max_value=30.0), min_size=n, max_size=n), label="rtt")
    per_window = int(th.window_s // INTERVAL)
    lost: list[int] = []
    for want in wanted:  # keep a loss only while every 5-min window stays below the threshold
        recent = lost[-(per_window - 1) :] if per_window > 1 else []
        in_window = sum(recent) + 1
        packets = 10 * (len(recent) + 1)
        ok = in_window < th.min_lost_packets or 100.0 * in_window / packets < degraded
        lost.append(1 if want and ok else 0)
    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",), thresholds=th)
    evals = replay(HealthEngine(topo), series_from(lost, rtts), T0, T0 + n * INTERVAL, INTERVAL)
    assert {e.nodes["kb-1"].state for e in evals} == {State.OK}


def _province_obs(seed: int) -> list[Observation]:
    rng = random.Random(seed)
    fail = {s: rng.random() < 0.5 for s in ("kb-1", "kb-2", "kb-rt1", "dc-a")}
    start = T0 + rng.choice([300, 600, 900])
    obs: list[Observation] = []
    for agent, phase in (("dc-a", 3.0), ("dc-b", 11.0)):
        for subject, role in (("kb-1", "ce"), ("kb-1", "pe"), ("kb-2", "ce"), ("kb-rt1", "device")):
            dead = (fail[subject] and role != "pe") or (agent == "dc-a" and fail["dc-a"])
            loss = rng.choice([0, 0, 1, 3])
            obs += pings(
                subject, role, agent, T0, T0 + 1500, phase_s=phase,
                lost=lambda t, d=dead, k=loss: 10 if d and t >= start else k,
            )  # fmt: skip
    return obs


def _topo():  # type: ignore[no-untyped-def]
    return topology({"kinh-bac": ["kb-1", "kb-2"]}, {"kb-rt1": ("kinh-bac", "kb-1")})


@SLOW
@given(seed=st.integers(0, 10_000), shuffle_seed=st.integers(0, 10_000), duplicate=st.booleans())
def test_evaluation_is_deterministic_and_independent_of_arrival_order(
    seed: int, shuffle_seed: int, duplicate: bool
) -> None:
    obs = _province_obs(seed)
    reference = verdict_trace(list(replay(HealthEngine(_topo()), obs, T0, T0 + 1500, INTERVAL)))
    shuffled = list(obs) + (obs[::3] if duplicate else [])  # replays of the same points overwrite
    random.Random(shuffle_seed).shuffle(shuffled)
    # all at once, in any order: the engine orders what it ingests
    engine = HealthEngine(_topo())
    engine.ingest(shuffled)
    again: list[Evaluation] = []
    for t in [T0 + i * INTERVAL for i in range(51)]:
        again.append(engine.evaluate(t))
    assert verdict_trace(again) == reference


@SLOW
@given(seed=st.integers(0, 10_000), split=st.integers(1, 49))
def test_restart_from_json_state_continues_exactly(seed: int, split: int) -> None:
    obs = _province_obs(seed)
    end = T0 + 1500
    whole = verdict_trace(list(replay(HealthEngine(_topo()), obs, T0, end, INTERVAL)))
    cut = T0 + split * INTERVAL
    first = HealthEngine(_topo())
    before = list(replay(first, [o for o in obs if o.time <= cut], T0, cut, INTERVAL))
    saved = json.loads(json.dumps(first.to_json()))
    restored = HealthEngine.from_json(_topo(), saved)
    after = list(replay(restored, [o for o in obs if o.time > cut], cut + INTERVAL, end, INTERVAL))
    assert verdict_trace(before + after) == whole


CHAIN = {"kb-rt1": ("kinh-bac", "kb-1"), "kb-fw1": ("kinh-bac", "kb-rt1"), "kb-sw1": ("kinh-bac", "kb-fw1")}


def _chain_obs(phases: list[float], dead_from: float, dead_for: float, dead: set[str], agents: tuple[str, ...]):  # type: ignore[no-untyped-def]
    obs: list[Observation] = []
    keys = [("kb-1", "ce"), ("kb-1", "pe"), ("kb-2", "ce"), *((d, "device") for d in CHAIN)]
    for a_i, agent in enumerate(agents):
        for k_i, (subject, role) in enumerate(keys):
            gone = (subject in dead or agent in dead) and role != "pe"
            obs += pings(
                subject, role, agent, T0, T0 + 2400, phase_s=phases[(a_i * len(keys) + k_i) % len(phases)],
                lost=lambda t, g=gone: 10 if g and dead_from <= t < dead_from + dead_for else 0,
            )  # fmt: skip
    return obs


@SLOW
@given(
    phases=st.lists(st.floats(min_value=0, max_value=29.9), min_size=14, max_size=14),
    dead_from=st.floats(min_value=T0 + 600, max_value=T0 + 1200),
    dead_for=st.floats(min_value=60, max_value=900),
)
def test_gear_behind_a_dying_line_is_never_down_whatever_the_probe_phases(
    phases: list[float], dead_from: float, dead_for: float
) -> None:
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, CHAIN)
    obs = _chain_obs(phases, dead_from, dead_for, {"kb-1", *CHAIN}, ("dc-a", "dc-b"))
    for e in replay(HealthEngine(topo), obs, T0, T0 + 2400, INTERVAL):
        for device in CHAIN:
            assert e.nodes[device].state is not State.DOWN, (e.time - dead_from, device, e.nodes[device])


@SLOW
@given(
    phases=st.lists(st.floats(min_value=0, max_value=29.9), min_size=14, max_size=14),
    dead_from=st.floats(min_value=T0 + 600, max_value=T0 + 1200),
)
def test_one_agents_uplink_failure_never_blames_a_line(phases: list[float], dead_from: float) -> None:
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, CHAIN)
    obs = _chain_obs(phases, dead_from, 3600, {"dc-a"}, ("dc-a", "dc-b"))
    evals = list(replay(HealthEngine(topo), obs, T0, T0 + 2400, INTERVAL))
    for e in evals[2:]:
        assert all(v.state is State.OK for v in e.nodes.values()), (e.time - dead_from, e.nodes)
    assert evals[-1].agents["dc-a"].state is State.DOWN and evals[-1].agents["dc-b"].state is State.OK


@settings(max_examples=60, deadline=None)
@given(lost=st.lists(st.sampled_from([0, 0, 0, 1, 2, 5, 10, 10]), min_size=20, max_size=120))
def test_a_flagged_verdict_always_says_why(lost: list[int]) -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",))
    end = T0 + len(lost) * INTERVAL
    for e in replay(HealthEngine(topo), series_from(lost, [5.0] * len(lost)), T0, end, INTERVAL):
        v = e.nodes["kb-1"]
        assert v.state in (State.OK, State.UNKNOWN) or v.reasons, (e.time - T0, v.state)
