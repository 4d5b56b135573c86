"""The verdict engine: observations in, verdicts out, with hysteresis and root cause in one pass.

Each `evaluate(now)`:
1. judges every vantage point (agent) first: one that sees (nearly) every target fail while another sees
   them fine — or that sees everything fail with enough targets to tell — is *impaired*; its views are
   set aside, so the communes are not blamed for its uplink;
2. walks lines and devices parents-first (Topology.order): per node, each remaining agent's view is
   judged; the best view wins (if any vantage point reaches it fine, it works); a failing node behind a
   failing parent is UNREACHABLE, not DOWN — the parent's verdict is already known, so there is no race;
3. folds lines into communes (every line down ⇒ one "isolated" finding) and names agents that cannot
   reach communes another agent reaches.

Hysteresis: each metric enters a level at its threshold and leaves it below threshold × exit_ratio; the
verdict worsens once the worse condition has lasted `enter_s` (default at once) and improves only after
it has held `min_state_s` and the better condition has lasted `clear_s`. All state is JSON-serialisable
(`to_json`/`from_json`) so a restarted agent continues where it stopped. Same observations and the same
evaluation times ⇒ the same verdicts, whatever order the observations arrived in.
"""

from __future__ import annotations

import gzip
import json
import logging
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netprobe.health.observation import Observation, Source, decode_series, from_measurement
from netprobe.health.reasons import Code, ParamValue, Reason
from netprobe.health.signals import (
    FLAP_DOWN_MAX_S,
    FLAP_EPISODES,
    FLAP_WINDOW_S,
    PATH_LOSS_ROUNDS,
    REBOOT_HOLD_S,
    REBOOT_OUTAGE_MAX_S,
    Baseline,
    PathLoss,
    PingStats,
    PingWindow,
    Series,
    SnmpStats,
    clean_bursts,
    down_episodes,
    explained,
    own_flaps,
    path_loss,
    ping_stats,
    reboot_times,
    snmp_stats,
    without_bursts,
    without_parent_losses,
    without_times,
)
from netprobe.health.topology import Node, Topology
from netprobe.health.verdict import SCORE_BAND, Evaluation, State, Verdict
from netprobe.inventory.model import Level, Thresholds
from netprobe.probes.base import Measurement

log = logging.getLogger(__name__)
STATE_VERSION = 2
SeriesKey = tuple[str, str, str]  # (subject, role, agent)


@dataclass(frozen=True)
class EngineSettings:
    agent_down_fraction: float = 0.8  # an agent whose targets fail at least this much is suspected...
    agent_min_targets: int = 5  # ...when it probes this many (or another agent sees them fine)
    agent_thresholds: Thresholds = field(default_factory=Thresholds)  # hysteresis of agent verdicts


AGENT_PE_FRACTION = 0.3  # this share of an agent's provider edges (and targets) failing recently: its uplink
IMPAIRED_MARGIN_S = 30.0  # an impaired span starts/ends this long before/after its first/last impaired evaluation
LONG_SPAN_KEEP_S = 3 * 3600.0  # spans older than any window are forgotten


# ---------------------------------------------------------------------------------------------------
# Hysteresis
# ---------------------------------------------------------------------------------------------------
@dataclass
class Machine:
    """One subject's held verdict. `health` is the judged severity 0 OK … 3 DOWN (None: never judged);
    `published` adds attribution (UNREACHABLE, UNKNOWN), which changes at once and never resets `health`."""

    health: int | None = None
    health_since: float = 0.0
    pending: int | None = None  # where the candidate is heading, and since when
    pending_since: float = 0.0
    levels: dict[str, int] = field(default_factory=dict)  # each metric's held level
    published: State | None = None
    published_since: float = 0.0
    blame_parent: bool = False
    onset: float | None = None  # when its health last left OK (a flag's first raise, whatever steps since)

    def step(self, candidate: int, now: float, th: Thresholds) -> None:
        if self.health is None:
            self.health, self.health_since, self.pending = candidate, now, None
            return
        if candidate == self.health:
            self.pending = None
            return
        worse = candidate > self.health
        if self.pending is None or (self.pending > self.health) != worse:
            self.pending, self.pending_since = candidate, now
        else:  # while waiting, move only as far as the candidate held all along
            self.pending = min(self.pending, candidate) if worse else max(self.pending, candidate)
        if worse:
            ready = now - self.pending_since >= th.enter_s
        else:
            ready = now - self.health_since >= th.min_state_s and now - self.pending_since >= th.clear_s
        if ready:
            self.health, self.health_since, self.pending = self.pending, now, None

    @property
    def improving(self) -> bool:
        return self.pending is not None and self.health is not None and self.pending < self.health

    def publish(self, state: State, now: float) -> None:
        if state != self.published:
            self.published, self.published_since = state, now

    def to_json(self) -> dict[str, Any]:
        return {
            "health": self.health,
            "health_since": self.health_since,
            "pending": self.pending,
            "pending_since": self.pending_since,
            "levels": self.levels,
            "published": self.published.value if self.published else None,
            "published_since": self.published_since,
            "blame_parent": self.blame_parent,
            "onset": self.onset,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Machine:
        return cls(
            d["health"],
            float(d["health_since"]),
            d["pending"],
            float(d["pending_since"]),
            {str(k): int(v) for k, v in d["levels"].items()},
            State(d["published"]) if d["published"] else None,
            float(d["published_since"]),
            bool(d["blame_parent"]),
            float(d["onset"]) if d.get("onset") is not None else None,
        )


def metric_level(value: float, level: Level, held: int) -> int:
    """0, 1 (degraded) or 2 (unstable): enter at the threshold, stay until below threshold × exit_ratio."""
    if value <= 0:
        return 0
    if level.unstable is not None and (
        value >= level.unstable or (held >= 2 and value >= level.unstable * level.exit_ratio)
    ):
        return 2
    if level.degraded is not None and (
        value >= level.degraded or (held >= 1 and value >= level.degraded * level.exit_ratio)
    ):
        return 1
    return 0


def _position(value: float, level: Level) -> float:
    """0 healthy … 1 at degraded … 2 at unstable … 3 at twice unstable: for the score."""
    if value <= 0:
        return 0.0
    d = level.degraded if level.degraded is not None else level.unstable
    if d is None:
        return 0.0
    if d <= 0:
        return 3.0
    u = level.unstable if level.unstable is not None and level.unstable > d else d * 2
    if value < d:
        return value / d
    if value < u:
        return 1 + (value - d) / (u - d)
    return min(3.0, 2 + (value - u) / u)


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    level: Level
    code: Code
    params: dict[str, ParamValue]  # the Reason is built only when the metric is reported

    @property
    def reason(self) -> Reason:
        return Reason.of(self.code, **self.params)


@dataclass(frozen=True)
class View:
    """One vantage point's judgement of one node."""

    agent: str
    stats: PingStats
    down: bool
    levels: dict[str, int]
    metrics: tuple[Metric, ...]
    score: float
    flaps: int  # its own outages (not its parent's) in the long window

    @property
    def severity(self) -> int:
        return 3 if self.down else max(self.levels.values(), default=0)


_SORT_KEY = operator.attrgetter("time", "source", "subject", "role", "agent", "ifname")  # = Observation.sort_key


def _canonical(observations: list[Observation]) -> list[Observation]:
    """A total order: by series and time, and by content among exact duplicates (the last one wins)."""
    ordered = sorted(observations, key=_SORT_KEY)
    i = 0
    while i < len(ordered):
        j = i + 1
        while j < len(ordered) and _SORT_KEY(ordered[j]) == _SORT_KEY(ordered[i]):
            j += 1
        if j - i > 1:
            ordered[i:j] = sorted(ordered[i:j], key=repr)
        i = j
    return ordered


# ---------------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------------
class HealthEngine:
    def __init__(self, topology: Topology, settings: EngineSettings | None = None) -> None:
        self.topology = topology
        self.settings = settings or EngineSettings()
        self.ping: dict[SeriesKey, Series] = {}
        self.baselines: dict[SeriesKey, Baseline] = {}
        self.sys: dict[str, dict[str, Series]] = {}  # device → agent → polls
        self.ifs: dict[str, dict[tuple[str, str], Series]] = {}  # device → (ifname, agent) → polls
        self._tick: dict[tuple[str, str], dict[str, PingStats]] = {}  # this evaluation: (subject, role) → agent
        self._raw_tick: dict[tuple[str, str], dict[str, PingStats]] = {}  # the same, impaired spans included
        # this evaluation: (agent, since) → (sent, lost) of its provider edges since then
        self._upstream: dict[tuple[str, float], tuple[int, int]] = {}
        self._behind: dict[str, list[str]] | None = None  # line → the gear whose path to the DCs is that line
        self._now = 0.0
        self.machines: dict[str, Machine] = {}
        self.agent_machines: dict[str, Machine] = {}
        # agent → [start, end] spans when it was impaired: its failed probes then are about it, not the lines
        self.impaired_spans: dict[str, list[list[float]]] = {}
        # node → [start, end] spans when it was flagged and dropping whole bursts (a flapping line): the
        # gear behind it lost nothing of its own then, whatever its verdict says later (see _judge_node)
        self.dropping_spans: dict[str, list[list[float]]] = {}
        # node → [start, end] spans of flags later withdrawn (a neighbour's or router's reboot, a blind agent)
        self.withdrawn: dict[str, list[list[float]]] = {}
        self.commune_machines: dict[str, Machine] = {}
        self.last_time: float | None = None
        self._pending: list[Observation] = []

    # -- input --------------------------------------------------------------------------------------
    def ingest(self, observations: Iterable[Observation]) -> None:
        """Queue observations; they are applied in a canonical order at the next evaluate()."""
        self._pending.extend(o for o in observations if o.subject in self.topology.nodes)

    def ingest_measurements(self, measurements: Iterable[Measurement], agent: str) -> None:
        """Live probe results of this agent (the same adapter rules as stored points)."""
        self.ingest(o for m in measurements for o in from_measurement(m, agent))

    def _apply_pending(self) -> None:
        groups: dict[tuple[str, str, str, str, str], list[Observation]] = {}
        for o in _canonical(self._pending):  # per series, in time order (a history replay is mostly appends)
            groups.setdefault((o.source.value, o.subject, o.role, o.agent, o.ifname), []).append(o)
        self._pending.clear()
        for obs in groups.values():
            first = obs[0]
            if first.source is not Source.PING:
                self._series(first).extend(obs)
                continue
            key = first.series
            series = self._series(first)
            baseline = self.baselines.setdefault(key, Baseline()) if first.role != "pe" else None  # PE: no baseline
            if series.appendable(obs):
                series.extend(obs)
                if baseline is not None:
                    for o in obs:
                        baseline.add(o.time, o.rtt_ms)
                continue
            for o in obs:
                replaced = series.add(o)
                if baseline is not None:
                    baseline.add(o.time, o.rtt_ms, replaced.rtt_ms if replaced is not None else None)

    def _series(self, o: Observation) -> Series:
        """The stored series `o` belongs to, created (and sized) on first sight."""
        by_key: dict[Any, Series]
        key: Any
        if o.source is Source.PING:
            by_key, key = self.ping, o.series
        elif o.source is Source.SNMP_SYS:
            by_key, key = self.sys.setdefault(o.subject, {}), o.agent
        else:
            by_key, key = self.ifs.setdefault(o.subject, {}), (o.ifname, o.agent)
        series = by_key.get(key)
        if series is None:
            series = by_key[key] = self._new_series(o)
        return series

    def _keep_s(self, node: Node, source: Source) -> float:
        """How much history a series keeps (see _housekeep): the long window and a margin."""
        if source is Source.PING:
            return node.thresholds.long_window_s + 4 * node.ping_interval_s + 60
        return node.thresholds.long_window_s + 4 * max(node.snmp_interval_s, 60.0) + 60

    def _new_series(self, o: Observation) -> Series:
        """Sized for what it will keep, so its memory is taken now and stays flat."""
        node = self.topology.nodes[o.subject]
        # an interval of 0 (that probe is off for the node, e.g. state from before a reload): the default
        interval = (node.ping_interval_s or 30.0) if o.source is Source.PING else (node.snmp_interval_s or 60.0)
        return Series.of(o, int(self._keep_s(node, o.source) / max(interval, 1.0)) + 4)

    def _housekeep(self, now: float) -> None:
        nodes = self.topology.nodes
        for key, series in self.ping.items():
            series.trim(now - self._keep_s(nodes[key[0]], Source.PING))
        for key, baseline in self.baselines.items():
            baseline.close(now, nodes[key[0]].thresholds.baseline_s)
        for snmp in (self.sys, self.ifs):
            for device, by_key in snmp.items():
                keep_s = self._keep_s(nodes[device], Source.SNMP_SYS)
                for series in by_key.values():
                    series.trim(now - keep_s)

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, now: float) -> Evaluation:
        self._apply_pending()
        self._housekeep(now)
        stats = self._all_ping_stats(now)
        self._upstream, self._now = {}, now
        impaired, agent_verdicts = self._judge_agents(now, stats)
        self._raw_tick = self._tick
        if self.impaired_spans:
            stats = self._without_impaired(stats, now)
        verdicts: dict[str, Verdict] = {}
        for node_id in self.topology.order:
            verdicts[node_id] = self._judge_node(self.topology.nodes[node_id], now, stats, impaired, verdicts)
        communes = self._judge_communes(now, verdicts)
        self.last_time = now
        return Evaluation(now, verdicts, communes, agent_verdicts)

    def _all_ping_stats(self, now: float) -> dict[SeriesKey, PingStats]:
        out: dict[SeriesKey, PingStats] = {}
        nodes = self.topology.nodes
        for key, series in self.ping.items():
            node = nodes[key[0]]
            th = node.thresholds
            window = series.window(now - th.long_window_s, now)
            s = ping_stats(window, now, th, node.ping_interval_s, self.baselines.get(key))
            if s is not None:
                out[key] = s
        # gear that is not pinged: its SNMP polls are its reachability
        pinged = {k[0] for k in self.ping}
        for device, by_agent in self.sys.items():
            if device in pinged:
                continue
            node = nodes[device]
            th = node.thresholds
            for agent, series in by_agent.items():
                s = ping_stats(series.reachability(now - th.long_window_s, now), now, th, node.snmp_interval_s or 60.0)
                if s is not None:
                    out[(device, "device", agent)] = s
        self._tick = {}
        for key, s in out.items():
            self._tick.setdefault((key[0], key[1]), {})[key[2]] = s
        return out

    def _without_impaired(self, stats: dict[SeriesKey, PingStats], now: float) -> dict[SeriesKey, PingStats]:
        """Each agent's stats with every burst it sent while impaired left out (loss, latency, outages,
        flaps): after its uplink is back, its views are judged on what it saw while it could see."""
        out = dict(stats)
        self._raw_tick = self._tick  # what each agent saw, impaired or not (to say why a node is UNKNOWN)
        nodes = self.topology.nodes
        for key, series in self.ping.items():
            spans = self.impaired_spans.get(key[2])
            if not spans or key not in stats:
                continue
            node = nodes[key[0]]
            th = node.thresholds
            w = series.window(now - th.long_window_s, now)
            keep = [i for i, t in enumerate(w.times) if not any(a <= t <= b for a, b in spans)]
            if len(keep) == len(w.times):
                continue
            cut = PingWindow(
                w.agent, *([col[i] for i in keep] for col in (w.times, w.sent, w.received, w.rtt, w.jitter, w.lost))
            )
            s = ping_stats(cut, now, th, node.ping_interval_s, self.baselines.get(key))
            if s is None:
                del out[key]
            else:
                out[key] = s
        self._tick = {}
        for key, s in out.items():
            self._tick.setdefault((key[0], key[1]), {})[key[2]] = s
        return out

    def _record_impaired(self, agent: str, failed: list[tuple[SeriesKey, PingStats]], now: float) -> None:
        # from its first failing burst: the dark run's start, or the first of its recent lossy bursts
        recent = now - 3 * max((self.topology.nodes[k[0]].ping_interval_s or 30.0 for k, _ in failed), default=30.0)
        firsts = [
            s.down_since or min((t for t in s.lossy_times if t >= recent), default=s.last_time) for _, s in failed
        ]
        start = min(firsts, default=now) - IMPAIRED_MARGIN_S
        end = now + IMPAIRED_MARGIN_S  # bursts still in flight when it recovers are the same outage
        spans = self.impaired_spans.setdefault(agent, [])
        if spans and spans[-1][1] >= start:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
        self.impaired_spans[agent] = [sp for sp in spans if sp[1] >= now - LONG_SPAN_KEEP_S]

    def _views_of(self, node_id: str) -> dict[str, PingStats]:
        """This evaluation's reachability stats of a node, per agent (the CE for a line)."""
        node = self.topology.nodes.get(node_id)
        if node is None:
            return {}
        return self._tick.get((node_id, "ce" if node.kind == "line" else "device"), {})

    # -- agents -------------------------------------------------------------------------------------
    def _agents(self) -> list[str]:
        seen = {k[2] for k in self.ping} | {a for by_agent in self.sys.values() for a in by_agent}
        return sorted(set(self.topology.agents) | seen)

    def _judge_agents(self, now: float, stats: dict[SeriesKey, PingStats]) -> tuple[set[str], dict[str, Verdict]]:
        """Judge the vantage points before anything else.

        Impaired (DOWN): (nearly) every target it probes fails, and either it probes enough targets to tell
        or another agent sees some of them fine — its uplink, not the communes. Its views are set aside.
        Path (UNSTABLE): not impaired, but every line of some commune fails from it while another agent
        reaches that commune — its route there, not the commune. One finding per agent either way.
        """
        fresh: dict[str, list[tuple[SeriesKey, PingStats]]] = {}
        fine: dict[tuple[str, str], set[str]] = {}  # (subject, role) → agents that see it answer
        for key, s in sorted(stats.items()):
            if s.fresh:
                fresh.setdefault(key[2], []).append((key, s))
                if not s.last_lost:
                    fine.setdefault((key[0], key[1]), set()).add(key[2])
        nodes = self.topology.nodes
        impaired: set[str] = set()
        verdicts: dict[str, Verdict] = {}
        th = self.settings.agent_thresholds
        for agent in self._agents():
            machine = self.agent_machines.setdefault(agent, Machine())
            mine = fresh.get(agent, [])
            if not mine:
                last = max((s.last_time for k, s in stats.items() if k[2] == agent), default=None)
                machine.publish(State.UNKNOWN, now)
                reason = Reason.of(Code.NO_DATA, seconds=round(now - last) if last is not None else -1)
                verdicts[agent] = Verdict(
                    agent, "agent", State.UNKNOWN, 50.0, machine.published_since, (reason,), agent=agent
                )
                continue

            # failing: its newest burst got nothing, or lost packets (a lossy uplink: partial loss on every
            # target, the provider edges included) — the same evidence about the agent, not the communes;
            # the newest burst only, so the agent is back as soon as its targets answer in full again
            def losing(k: SeriesKey, s: PingStats) -> bool:
                return s.last_lost or bool(s.lossy_times and s.lossy_times[-1] >= s.last_time)

            failed = [k for k, s in mine if losing(k, s)]
            seen_fine = {k for k in failed if fine.get((k[0], k[1]), set()) - {agent}}
            fraction = len(failed) / len(mine)
            suspect = fraction >= self.settings.agent_down_fraction and (
                len(mine) >= self.settings.agent_min_targets or bool(seen_fine)
            )
            # the provider edges are a hop from the data centre: a cut or a lossy line at a commune leaves its
            # PE answering, so PEs failing from this agent are its side. An uplink flapping at about the
            # probe interval darkens the same half of them every cycle (phase-locked): no 80 % ever, but a
            # third of its PEs (and targets) dark at their newest burst is its uplink, not every line's
            pes = [s for k, s in mine if k[1] == "pe"]
            dark = [s for _, s in mine if s.last_lost]
            suspect = suspect or (
                len(pes) >= self.settings.agent_min_targets
                and sum(1 for s in pes if s.last_lost) >= AGENT_PE_FRACTION * len(pes)
                and len(dark) >= AGENT_PE_FRACTION * len(mine)
            )
            # communes where every line end (CE) it probes fails, while another agent reaches one of them
            by_commune: dict[str, list[SeriesKey]] = {}
            for k, _ in mine:
                if k[1] == "ce":
                    by_commune.setdefault(nodes[k[0]].commune, []).append(k)

            def clean_elsewhere(k: SeriesKey, mine_s: PingStats, agent: str = agent) -> bool:
                """Another agent probed k over the same span (this agent's failing run and the flap window
                before it) and lost no burst: compared over one common window, not this agent's last burst
                against the other's (a flapping line fails for both within it, whatever the phases)."""
                since = (mine_s.down_since or mine_s.last_time) - FLAP_WINDOW_S
                for other in fine.get((k[0], k[1]), set()) - {agent}:
                    o = stats.get((k[0], k[1], other))
                    if o is not None and not any(t >= since for t in o.lost_times):
                        return True
                return False

            spans = self.impaired_spans.get(agent, [])

            def since_impaired(s: PingStats, spans: list[list[float]] = spans) -> bool:
                """A burst sent after its last impaired span: back from an outage of its uplink, a target it
                has not probed again yet says nothing about its route to that commune."""
                return not any(a <= s.last_time <= b for a, b in spans)

            cut = sorted(
                c
                for c, keys in by_commune.items()
                if all(k in failed for k in keys)
                and any(s.down and since_impaired(s) and clean_elsewhere(k, s) for k, s in mine if k in keys)
            )
            # a lasting failure (down, not one lost burst) that the other agent did not see over the same
            # span: a flapping line fails for both within it, so it never makes an agent UNSTABLE
            cut_off = cut
            candidate = 3 if suspect else 2 if cut_off else 0
            machine.step(candidate, now, th)
            if machine.health == 3 and candidate < 3:
                # its targets answer again: it can see, so its views count again at once (no hold)
                machine.health, machine.health_since, machine.pending = candidate, now, None
            state = State.of_severity(machine.health or 0)
            machine.publish(state, now)
            if state is State.DOWN:
                impaired.add(agent)
                self._record_impaired(agent, [(k, s) for k, s in mine if losing(k, s)], now)
            communes = sorted({nodes[k[0]].commune for k in failed}) if state is State.DOWN else cut_off
            others = sorted({a for k in failed for a in fine.get((k[0], k[1]), set())} - {agent})
            reasons: tuple[Reason, ...] = ()
            if state is not State.OK:
                reasons = (
                    Reason.of(
                        Code.AGENT_UPLINK,
                        agent=agent,
                        failed=len(failed),
                        total=len(mine),
                        others=", ".join(others),
                        communes=len(communes),
                    ),
                )
                if machine.improving:
                    reasons += (Reason.of(Code.HOLDING, state=state.value, seconds=th.clear_s),)
            lo, hi = SCORE_BAND[state]
            verdicts[agent] = Verdict(
                agent,
                "agent",
                state,
                round(min(hi, max(lo, 100.0 * (1 - fraction))), 1),
                machine.published_since,
                reasons,
                agent=agent,
                members=tuple(communes),
            )
        return impaired, verdicts

    # -- lines and devices --------------------------------------------------------------------------
    def _judge_node(
        self,
        node: Node,
        now: float,
        stats: dict[SeriesKey, PingStats],
        impaired: set[str],
        done: dict[str, Verdict],
    ) -> Verdict:
        th = node.thresholds
        machine = self.machines.setdefault(node.id, Machine())
        mine = self._views_of(node.id)
        snmp = self._snmp(node, now) if node.kind == "device" else None
        parent = done.get(node.parent) if node.parent else None
        # the child's losses while anything above was losing packets are the parent's: its partial bursts
        # near any loss above (a line at 6 % loses 1 of 20 in most bursts); its outages and went-down runs
        # near real losing above (min_lost_packets or a whole burst: a stray lost packet explains no outage)
        parent_lossy = self._ancestors_lost(node, "lossy") if node.parent else []
        parent_losing = self._ancestors_lost(node, "losing") if node.parent else []
        slack = max(node.ping_interval_s, 30.0)  # probes of parent and child are up to one interval apart
        # a line (or anything) above is flagged and dropped whole bursts in the short window: the child's
        # losses are its (a switch behind a router behind a flapping line: the router may be judged OK)
        dropping = any(
            (above := done.get(a)) is not None
            and above.state not in (State.OK, State.UNKNOWN)
            and any(t >= now - th.window_s for t in self._lost_times(a))
            for a in self._ancestors(node)
        )
        parent_newest = self._newest(node.parent) if node.parent else None
        # when anything above was flagged and dropping out: the child's losses then were its, even once it
        # is judged OK again (the child's burst that straddled the flap's last transition, say)
        above_spans = [sp for a in self._ancestors(node) for sp in self.dropping_spans.get(a, ())]

        # a line's outage while a router on it rebooted is the router's; a device's own reboot is "rebooted
        # at", not loss or a flap of its own (one all-lost burst would be "loss 20% over 5 min")
        rebooted = [(a, b) for a, b, _ in self.reboot_outages(node.id, now)] if node.kind == "line" else []
        if node.kind == "device" and snmp is not None:
            after = 2 * max(node.ping_interval_s, 30.0)
            rebooted = [(boot - REBOOT_OUTAGE_MAX_S, boot + after) for boot in self._boots(node, now)]

        def view(s: PingStats) -> View:
            if rebooted:  # the router's reboot, not the line: out of its loss, flaps and went-down count
                s = without_times(s, rebooted)
                s = replace(
                    s,
                    lost_times=tuple(t for t in s.lost_times if not any(a <= t <= b for a, b in rebooted)),
                    outages=tuple(o for o in s.outages if not any(a <= o[0] <= b for a, b in rebooted)),
                )
                s = replace(s, flaps=len(s.outages))
            # SNMP-only gear's reachability comes from polls: bursts further apart than pings (merge, not split)
            every = max(node.ping_interval_s, node.snmp_interval_s if snmp is not None else 0.0) or 30.0
            episodes = down_episodes(s.lost_times, every, now - FLAP_WINDOW_S)
            if node.parent is None:
                fast = self._path_loss(node, s, now, rebooted) if node.kind == "line" else None
                return self._view(node, s, snmp, machine, s.flaps, len(episodes), fast)
            if s.down and not dropping and parent_newest is not None and s.down_since is not None:
                p_time, p_lost, p_every = parent_newest
                if not p_lost and s.last_time - p_every - 5.0 <= p_time < s.last_time:
                    # the parent answered before the child's newest dark burst and has not been probed since
                    # (and is not already known to be dropping out):
                    # whether it was losing then is told by its next burst (due within an interval). Until
                    # then the child's outage is undecided — neither DOWN nor a flap of its own (behind a
                    # line flapping at about the probe interval, the child's dark bursts fall in the line's
                    # down halves and the line's between them in its up halves)
                    s = replace(
                        s,
                        down=False,
                        outages=tuple(o for o in s.outages if o[1] < s.down_since),
                        lost_times=tuple(t for t in s.lost_times if t < s.down_since),
                    )
                    s = replace(s, flaps=len(s.outages))
                    episodes = down_episodes(s.lost_times, every, now - FLAP_WINDOW_S)
            # the parent answered at its newest burst and its next is due: the child's losses since are
            # undecided until it comes (it tells whether the line was losing then)
            undecided_after = None
            if parent_newest is not None and not parent_newest[1] and parent_newest[0] >= now - parent_newest[2] - 5.0:
                undecided_after = parent_newest[0]
            own = without_parent_losses(s, parent_lossy, slack, dropping, undecided_after, above_spans)
            # its newest dark run (while shorter than down_probes) and any run since the parent's newest
            # burst are undecided too: not yet a time it went down of its own
            pending_from = s.down_since if s.last_lost and not s.down else None
            decided = [
                (a, b)
                for a, b in episodes
                if not (pending_from is not None and a >= pending_from)
                and not (undecided_after is not None and a > undecided_after)
            ]
            went_down = sum(1 for a, b in decided if not explained(a, b, parent_losing, slack))
            return self._view(node, own, snmp, machine, own_flaps(s, parent_losing, slack), went_down)

        views = [view(s) for agent, s in sorted(mine.items()) if s.fresh and agent not in impaired]
        if not views:
            return self._unknown(node, now, machine, mine, impaired)
        best = min(views, key=lambda v: (v.down, v.severity, -v.score, v.agent))
        failover = node.kind == "device" and best.stats.last_lost and self._answers_behind(node.id, impaired)
        if best.down and failover:
            # its probed address (the CE of a dead line) is silent, but the gear behind it answers: it is
            # alive and routing over another line (failover), not UNREACHABLE
            best = replace(best, down=False, score=100.0 - max(best.levels.values(), default=0) * 80.0 / 3)
        machine.levels = dict(best.levels)
        machine.step(best.severity, now, th)
        blind = [(a, b) for a, b in self.impaired_spans.get(best.agent, [])]
        # a device's port to gear that rebooted lost carrier then: the neighbour's reboot, not its own fault
        neighbours = self._neighbour_boots(node, now) if snmp is not None else []
        # the flagged episode's onset, not its latest step: a hold that stepped DOWN → UNSTABLE → DEGRADED
        # after the reboot's span is still the reboot's flag once the proof arrives
        raised = machine.onset if machine.onset is not None else machine.health_since
        withdrawn = any(a <= raised <= b for a, b in [*rebooted, *blind, *neighbours])
        if withdrawn and machine.health and best.severity < machine.health:
            # the flag was raised by what is now proven a router reboot, or by probes its agent sent while
            # impaired: that evidence is withdrawn
            self._withdraw(node.id, machine, now)
            machine.health, machine.health_since, machine.pending = best.severity, now, None
        # The parent is to blame when it is dead, failing right now, or failed at some point during the
        # child's current outage (probe phases differ: the child may have been hit twice, the parent once).
        parent_failing = parent is not None and (
            parent.state in (State.DOWN, State.UNREACHABLE)
            or self._suspect(node.parent or "", stats, impaired)
            or (best.down and explained(best.stats.down_since or now, now, parent_losing, slack))
            or (best.down and dropping)  # behind a flapping line, probes of the two rarely coincide
        )
        if snmp is not None and snmp.reboots and not best.down and machine.health == 3:
            # back from a proven reboot: its outage was the reboot (DEGRADED "rebooted"), not its parent's
            machine.health, machine.health_since, machine.pending = best.severity, now, None
            machine.blame_parent = False
        if dropping and machine.health in (1, 2) and best.severity < machine.health:
            # something above is flagged and dropping out: the losses that raised this flag are now its, so
            # the flag is withdrawn, not held (what the gear shows of its own is in best.severity)
            self._withdraw(node.id, machine, now)
            machine.health, machine.health_since, machine.pending = best.severity, now, None
        if machine.health == 3 and not best.down:
            # it answers again: not DOWN any more, whatever the hold (a flapping line's first outage is one
            # flap; no "DOWN" shown for a line that answers). An outage of its own leaves it UNSTABLE — back,
            # not yet proven stable — and the usual hysteresis from there; an outage that was its parent's
            # (attributed, not judged) leaves it with its own health at once
            machine.health = best.severity if machine.blame_parent else max(best.severity, 2)
            machine.health_since, machine.pending = now, None
            machine.blame_parent = False
        if machine.health == 3 and best.down and parent_failing:
            machine.blame_parent = True
        elif machine.health != 3 or (best.down and not parent_failing):
            machine.blame_parent = False
        if not machine.health:
            machine.onset = None
        elif machine.onset is None:
            machine.onset = now
        health = State.of_severity(machine.health or 0)
        state = State.UNREACHABLE if health is State.DOWN and machine.blame_parent else health
        parent_dead = parent is not None and parent.state in (State.DOWN, State.UNREACHABLE)
        if parent_dead and best.stats.last_lost and not failover:
            # its newest burst got nothing behind a parent proven down by its own bursts: the parent's
            # consequence at once (an attribution: its own health is not touched), not after 2 bursts
            state = State.UNREACHABLE
        machine.publish(state, now)
        reasons = self._reasons(node, now, best, machine, state, stats, parent_dead or not dropping)
        ps = best.stats
        lo, hi = SCORE_BAND[state]
        flaps = max(best.flaps, snmp.if_flaps[1] if snmp and snmp.if_flaps else 0)
        verdict = Verdict(
            node.id,
            node.kind,
            state,
            round(min(hi, max(lo, best.score)), 1),
            machine.published_since,
            reasons,
            ps.loss_pct,
            ps.rtt_ms,
            ps.jitter_ms,
            flaps,
            best.agent,
        )
        if state in (State.DEGRADED, State.UNSTABLE, State.DOWN) and any(
            t >= now - th.window_s for t in self._lost_times(node.id)
        ):
            # flagged and dropping whole bursts: the losses of the gear behind over the short window are its
            _add_span(self.dropping_spans.setdefault(node.id, []), now - th.window_s, now, now)
        return verdict

    def _path_loss(self, line: Node, s: PingStats, now: float, rebooted: list[tuple[float, float]]) -> PathLoss | None:
        """The pooled loss of the line's end and the gear behind it from one agent (signals.path_loss),
        or None when none of them lost a packet in the newest rounds (most lines: nothing to read)."""
        agent, every = s.agent, line.ping_interval_s or 30.0
        since = now - PATH_LOSS_ROUNDS * every
        keys = [(line.id, "ce", agent), *((d, "device", agent) for d in self._gear_behind(line.id))]
        if not any(
            (st := self._tick.get((k[0], k[1]), {}).get(agent)) is not None
            and st.lossy_times
            and st.lossy_times[-1] > since
            for k in keys
        ):
            return None
        skip = [*rebooted, *((a, b) for a, b in self.impaired_spans.get(agent, ()))]
        windows = [self.ping[k].window(since, now) for k in keys if k in self.ping]
        return path_loss(windows, lambda start: self._upstream_loss(agent, start, skip), now, every,
                         line.thresholds, skip)  # fmt: skip

    def _gear_behind(self, line_id: str) -> list[str]:
        """The pinged gear whose path from the data centres is this line (its parent chain ends there)."""
        if self._behind is None:
            behind: dict[str, list[str]] = {}
            for n in self.topology.nodes.values():
                if n.kind == "device" and n.line and n.ping_interval_s:
                    behind.setdefault(n.line, []).append(n.id)
            self._behind = {k: sorted(v) for k, v in behind.items()}
        return self._behind.get(line_id, [])

    def _upstream_loss(self, agent: str, start: float, skip: list[tuple[float, float]]) -> tuple[int, int]:
        """(sent, lost) of every provider edge this agent probes since `start` (once per evaluation)."""
        key = (agent, start)
        if key not in self._upstream:
            sent = lost = 0
            for k, series in self.ping.items():
                if k[1] == "pe" and k[2] == agent:
                    a, b = clean_bursts(series.window(start, self._now), start, skip)
                    sent, lost = sent + a, lost + b
            self._upstream[key] = (sent, lost)
        return self._upstream[key]

    def _withdraw(self, node_id: str, machine: Machine, now: float) -> None:
        """Remember that the flag held since machine.health_since was withdrawn: `status` does not list it
        as "recovered" (it was never the node's own fault)."""
        _add_span(self.withdrawn.setdefault(node_id, []), machine.published_since, now, now)
        machine.onset = None  # what it is left with is a flag of its own, raised now

    def _answers_behind(self, node_id: str, impaired: set[str]) -> bool:
        """Failover: the device sits on a line, another line of its commune answers, and some gear directly
        behind the device answered its newest burst (from a vantage point that can see)."""
        node = self.topology.nodes[node_id]
        parent = self.topology.nodes.get(node.parent or "")
        if parent is None or parent.kind != "line":
            return False

        def answers(subject: str) -> bool:
            return any(a not in impaired and s.fresh and not s.last_lost for a, s in self._views_of(subject).items())

        if not any(ln.id != parent.id and answers(ln.id) for ln in self.topology.lines_of(node.commune)):
            return False
        for child in self.topology.nodes.values():
            if child.parent == node_id and child.kind == "device":
                for agent, s in self._views_of(child.id).items():
                    if agent not in impaired and s.fresh and not s.last_lost:
                        return True
        return False

    def _ancestors(self, node: Node) -> list[str]:
        out: list[str] = []
        above = node.parent
        while above and above not in out and above in self.topology.nodes:
            out.append(above)
            above = self.topology.nodes[above].parent
        return out

    def _newest(self, node_id: str) -> tuple[float, bool, float] | None:
        """(time, all lost, probe interval) of the node's newest burst from any vantage point."""
        node = self.topology.nodes.get(node_id)
        if node is None:
            return None
        raw = self._raw_tick.get((node_id, "ce" if node.kind == "line" else "device"), {})
        newest = max(raw.values(), key=lambda s: s.last_time, default=None)
        if newest is None:
            return None
        every = (
            node.ping_interval_s
            if (node_id, "ce" if node.kind == "line" else "device", newest.agent) in self.ping
            else node.snmp_interval_s
        )
        return newest.last_time, newest.last_lost, every or 30.0

    def _ancestors_lost(self, node: Node, which: str = "lost") -> list[float]:
        """When any vantage point saw the parent, or anything above it, lose a burst (see _lost_times),
        sorted: a switch's burst lost while its line was dark is the line's, whichever hop in between was
        probed."""
        return sorted(t for above in self._ancestors(node) for t in self._lost_times(above, which))

    def _lost_times(self, node_id: str, which: str = "lost") -> list[float]:
        """When any vantage point saw the node lose a whole burst ("lost"), min_lost_packets or a whole
        burst ("losing"), or any packet ("lossy"), sorted (impaired spans included: they still explain the
        gear behind it losing the same bursts)."""
        node = self.topology.nodes.get(node_id)
        if node is None:
            return []
        raw = self._raw_tick.get((node_id, "ce" if node.kind == "line" else "device"), {})
        return sorted(t for s in raw.values() for t in getattr(s, f"{which}_times"))

    def _suspect(self, node_id: str, stats: dict[SeriesKey, PingStats], impaired: set[str]) -> bool:
        """Every fresh view of the node has just lost a whole burst: it is failing, maybe not yet down."""
        views = [s for a, s in self._views_of(node_id).items() if s.fresh and a not in impaired]
        return bool(views) and all(s.last_lost for s in views)

    def reboot_outages(self, line_id: str, now: float) -> list[tuple[float, float, str]]:
        """(start, end, device) of the spans when the line's outage was a commune router rebooting (a power
        cut at the office), not the provider's: the router's sysUpTime proves a reboot netprobe saw, and
        the line's probes failed from REBOOT_OUTAGE_MAX_S before that boot until the router was back up.
        Public so `check` and the SLA report can leave them out of the provider's account."""
        line = self.topology.nodes.get(line_id)
        if line is None or line.kind != "line":
            return []
        out: list[tuple[float, float, str]] = []
        for node in self.topology.nodes.values():
            # the router behind it, or one it lands on as a backup line (router_port): both went dark with it
            lands = node.parent == line_id or line_id in node.line_ports.values()
            if node.kind != "device" or not lands or node.id not in self.sys:
                continue
            for boot in self._boots(node, now):
                out.append((boot - REBOOT_OUTAGE_MAX_S, boot + 2 * max(line.ping_interval_s, 30.0), node.id))
        return sorted(out)

    def _boots(self, device: Node, now: float) -> list[float]:
        """When the reboots netprobe saw of this device booted (its whole kept SNMP history)."""
        sys_obs = sorted(
            (o for s in self.sys.get(device.id, {}).values() for o in s.between(0.0, now)), key=lambda o: o.time
        )
        return [b for b in reboot_times(sys_obs, device.snmp_interval_s or 60.0) if b <= now]

    def _snmp(self, node: Node, now: float) -> SnmpStats | None:
        th = node.thresholds
        start = now - th.long_window_s - 2 * max(node.snmp_interval_s, 60.0)
        spans = self.impaired_spans

        def blind(o: Observation) -> bool:  # a poll that failed while its agent could not see
            return not o.ok and any(a <= o.time <= b for a, b in spans.get(o.agent, ()))

        sys_obs = sorted(
            (o for s in self.sys.get(node.id, {}).values() for o in s.between(start, now) if not blind(o)),
            key=lambda o: (o.time, o.agent),
        )
        by_if: dict[str, list[Observation]] = {}
        for (ifname, _), s in self.ifs.get(node.id, {}).items():
            if ifname in node.line_ports:
                continue  # a line lands there: its down/flaps/errors are that line's, judged by its own probes
            by_if.setdefault(ifname, []).extend(s.between(start, now))
        for obs in by_if.values():
            obs.sort(key=lambda o: (o.time, o.agent))
        if not sys_obs and not by_if:
            return None
        return snmp_stats(sys_obs, by_if, now, th, node.snmp_interval_s or 60.0, self._neighbour_boots(node, now))

    def _neighbour_boots(self, node: Node, now: float) -> list[tuple[float, float]]:
        """Spans when gear cabled to it (its parent device, the devices behind it) rebooted: from
        REBOOT_OUTAGE_MAX_S before the boot (it may have been off that long) to 2 polls after (carrier back)."""
        nodes = self.topology.nodes
        parent = nodes.get(node.parent or "")
        around = [parent] if parent is not None and parent.kind == "device" else []
        around += [n for n in nodes.values() if n.parent == node.id and n.kind == "device"]
        after = 2 * max(node.snmp_interval_s, 60.0)
        return [(b - REBOOT_OUTAGE_MAX_S, b + after) for n in around for b in self._boots(n, now)]

    def _view(
        self,
        node: Node,
        s: PingStats,
        snmp: SnmpStats | None,
        machine: Machine,
        flaps: int,
        went_down: int = 0,
        fast: PathLoss | None = None,
    ) -> View:
        th = node.thresholds
        per_hour = 3600.0 / th.long_window_s
        metrics: list[Metric] = []
        # down and back again and again: flapping is UNSTABLE, and its current outage is one more flap,
        # not DOWN, until it has lasted FLAP_DOWN_MAX_S
        flapping = went_down >= FLAP_EPISODES
        down = s.down and not (flapping and s.last_time - (s.down_since or s.last_time) < FLAP_DOWN_MAX_S)
        if flapping:
            # its whole lost bursts are the times it went down, said as such, not also "loss 33%" (a clerk
            # reading a loss figure calls about a lossy line)
            s = without_bursts(s, [x for x in s.lossy if x[1] == x[2]])
        if flapping:
            metrics.append(
                Metric(
                    "went_down",
                    float(went_down),
                    Level(unstable=FLAP_EPISODES),
                    Code.WENT_DOWN,
                    dict(times=went_down, window_s=FLAP_WINDOW_S),
                )
            )
        loss = s.loss_pct if s.loss_pct is not None and s.lost >= th.min_lost_packets else 0.0
        if fast is not None and not flapping and fast.pct > loss:
            # the newest bursts of the line and the gear behind it lost beyond chance: DEGRADED now (how bad
            # it is, UNSTABLE included, is the 5-min figure's to say; it then keeps it, with hysteresis)
            metrics.append(
                Metric(
                    "loss",
                    fast.pct,
                    Level(degraded=th.loss_pct.degraded, exit_ratio=th.loss_pct.exit_ratio),  # how bad: 5 min
                    Code.LOSS,  # the same finding for check, status and the notices; the span says how fresh
                    dict(
                        loss_pct=round(fast.pct, 1),
                        lost=fast.lost,
                        sent=fast.sent,
                        devices=fast.pooled - 1,
                        window_s=fast.span_s,
                    ),
                )
            )
        elif s.loss_pct is not None:
            metrics.append(
                Metric(
                    "loss",
                    loss,
                    th.loss_pct,
                    Code.LOSS,
                    dict(loss_pct=round(s.loss_pct, 1), lost=s.lost, sent=s.sent, window_s=th.window_s),
                )
            )
        if s.rtt_ms is not None:
            metrics.append(
                Metric("rtt", s.rtt_ms, th.rtt_ms, Code.RTT, dict(rtt_ms=round(s.rtt_ms, 1), window_s=th.window_s))
            )
            if s.baseline_ms is not None and s.baseline_ms > 0 and s.rtt_ms - s.baseline_ms >= th.rtt_excess_min_ms:
                ratio = s.rtt_ms / s.baseline_ms
                metrics.append(
                    Metric(
                        "rtt_baseline",
                        ratio,
                        th.rtt_vs_baseline,
                        Code.RTT_BASELINE,
                        dict(
                            rtt_ms=round(s.rtt_ms, 1),
                            baseline_ms=round(s.baseline_ms, 1),
                            ratio=round(ratio, 1),
                        ),
                    )
                )
            pe = self._tick.get((node.id, "pe"), {}).get(s.agent) if node.kind == "line" else None
            if s.baseline_ms is None and pe is not None and pe.fresh and pe.rtt_ms is not None:
                # no baseline of its own yet (it takes hours): its provider edge, a hop from the data centre
                # on the same path, is the floor it should be near (a fibre access line adds a few ms)
                excess = s.rtt_ms - pe.rtt_ms
                metrics.append(
                    Metric(
                        "rtt_pe",
                        excess,
                        th.rtt_over_pe_ms,
                        Code.RTT_PE,
                        dict(rtt_ms=round(s.rtt_ms, 1), pe_ms=round(pe.rtt_ms, 1), excess_ms=round(excess, 1)),
                    )
                )
        if s.jitter_ms is not None:
            metrics.append(
                Metric(
                    "jitter",
                    s.jitter_ms,
                    th.jitter_ms,
                    Code.JITTER,
                    dict(jitter_ms=round(s.jitter_ms, 1), window_s=th.window_s),
                )
            )
        if flaps:
            metrics.append(
                Metric(
                    "flaps",
                    flaps * per_hour,
                    th.flaps_per_hour,
                    Code.FLAPS,
                    dict(flaps=flaps, window_s=th.long_window_s),
                )
            )
        if snmp is not None:
            if snmp.if_flaps and not snmp.reboots:  # a reboot takes every interface down and up: not flaps
                name, changes = snmp.if_flaps
                metrics.append(
                    Metric(
                        "if_flaps",
                        changes * per_hour,
                        th.flaps_per_hour,
                        Code.IF_FLAPS,
                        dict(ifname=name, changes=changes, window_s=th.long_window_s),
                    )
                )
            if snmp.reboots:
                metrics.append(
                    Metric(
                        "reboots",
                        float(snmp.reboots),
                        th.reboots,
                        Code.REBOOTS,
                        dict(reboots=snmp.reboots, window_s=REBOOT_HOLD_S, boot_at=round(snmp.last_boot or 0.0)),
                    )
                )
            if snmp.if_errors:
                name, rate = snmp.if_errors
                metrics.append(
                    Metric(
                        "if_errors",
                        rate,
                        th.errors_per_s,
                        Code.IF_ERRORS,
                        dict(ifname=name, errors_per_s=round(rate, 2), window_s=th.window_s),
                    )
                )
            silent = snmp.silent_s
            # a hang only if ping answered in full all along the silence (not a device that was off, cut off,
            # or behind a flapping line: polls lost on the way, its bursts lost part of their packets too)
            if silent is not None and s.fresh and not any(t >= s.last_time - silent for t in s.lossy_times):
                metrics.append(
                    Metric("snmp_silent", 1.0, Level(degraded=1), Code.SNMP_SILENT, dict(seconds=round(silent)))
                )
            for name in snmp.if_down:
                metrics.append(Metric(f"if_down:{name}", 1.0, Level(degraded=1), Code.IF_DOWN, dict(ifname=name)))
        levels = {m.name: metric_level(m.value, m.level, machine.levels.get(m.name, 0)) for m in metrics}
        worst = max((_position(m.value, m.level) for m in metrics), default=0.0)
        return View(s.agent, s, down, levels, tuple(metrics), 0.0 if down else 100.0 - worst * 80.0 / 3, flaps)

    def _reasons(
        self,
        node: Node,
        now: float,
        best: View,
        machine: Machine,
        state: State,
        stats: dict[SeriesKey, PingStats],
        parent_dead: bool = True,
    ) -> tuple[Reason, ...]:
        out: list[Reason] = []
        if state is State.UNREACHABLE and node.parent:
            code = Code.PARENT_DOWN if parent_dead else Code.PARENT_UNSTABLE
            out.append(Reason.of(code, parent=node.parent))
        if best.down:
            s = best.stats
            out.append(Reason.of(Code.DOWN, probes=s.down_probes, seconds=round(now - (s.down_since or now))))
            pe = stats.get((node.id, "pe", best.agent))
            if node.kind == "line" and pe is not None and pe.fresh and state is State.DOWN:
                out.append(Reason.of(Code.PE_DOWN if pe.down else Code.PE_OK))
        else:
            ranked = sorted(best.metrics, key=lambda m: (-best.levels[m.name], m.name))
            out.extend(m.reason for m in ranked if best.levels[m.name] > 0)
        held = state in (State.DEGRADED, State.UNSTABLE, State.DOWN)
        if (machine.improving or (held and not out)) and state not in (State.UNREACHABLE, State.UNKNOWN):
            # a held state always says why: what raised it is gone, it holds until better for clear_s
            out.append(Reason.of(Code.HOLDING, state=state.value, seconds=node.thresholds.clear_s))
        return tuple(out)

    def _unknown(
        self, node: Node, now: float, machine: Machine, mine: dict[str, PingStats], impaired: set[str]
    ) -> Verdict:
        machine.publish(State.UNKNOWN, now)
        raw = self._raw_tick.get((node.id, "ce" if node.kind == "line" else "device"), mine)
        spans = self.impaired_spans
        # impaired now, or back but with its fresh bursts all inside its impaired span (set aside, not missing)
        blocked = sorted(
            a
            for a, s in raw.items()
            if s.fresh
            and (
                a in impaired
                or (not (a in mine and mine[a].fresh) and any(x <= s.last_time <= y for x, y in spans.get(a, ())))
            )
        )
        if blocked:
            reasons = tuple(Reason.of(Code.AGENT_IMPAIRED, agent=a) for a in blocked)
        else:
            last = max((s.last_time for s in mine.values()), default=None)
            reasons = (Reason.of(Code.NO_DATA, seconds=round(now - last) if last is not None else -1),)
        return Verdict(
            node.id, node.kind, State.UNKNOWN, SCORE_BAND[State.UNKNOWN][0], machine.published_since, reasons
        )

    # -- communes -----------------------------------------------------------------------------------
    def _judge_communes(self, now: float, verdicts: dict[str, Verdict]) -> dict[str, Verdict]:
        """A commune is as connected as its best line; every line down is one "isolated" finding."""
        out: dict[str, Verdict] = {}
        for commune in self.topology.communes():
            lines = [verdicts[n.id] for n in self.topology.lines_of(commune)]
            if not lines:
                continue
            machine = self.commune_machines.setdefault(commune, Machine())
            known = [v for v in lines if v.state is not State.UNKNOWN]
            members = tuple(sorted(v.subject for v in lines))
            if not known:
                machine.publish(State.UNKNOWN, now)
                out[commune] = Verdict(
                    commune, "commune", State.UNKNOWN, 50.0, machine.published_since, (), members=members
                )
                continue
            if len(known) == len(lines) and all(v.state is State.DOWN for v in known):
                machine.publish(State.DOWN, now)
                reason = Reason.of(Code.COMMUNE_ISOLATED, commune=commune, lines=len(lines))
                out[commune] = Verdict(
                    commune,
                    "commune",
                    State.DOWN,
                    0.0,
                    machine.published_since,
                    (reason,),
                    flaps=max(v.flaps for v in lines),
                    members=members,
                )
                continue
            best = min(known, key=lambda v: (v.state.severity, -v.score, v.subject))
            if best.state.severity >= 3:  # every known line down, some unknown: isolated or not, we cannot say
                best = next(v for v in lines if v.state is State.UNKNOWN)
            state = best.state if best.state is State.UNKNOWN else State.of_severity(best.state.severity)
            machine.publish(state, now)
            out[commune] = Verdict(
                commune,
                "commune",
                state,
                best.score,
                machine.published_since,
                best.reasons,
                best.loss_pct,
                best.rtt_ms,
                best.jitter_ms,
                best.flaps,
                best.agent,
                members,
            )
        return out

    # -- persistence --------------------------------------------------------------------------------
    def to_json(self, stream: bool = False) -> dict[str, Any]:
        """Everything needed to continue hysteresis after a restart (pending observations included).

        `stream`: the series and baselines (nearly all of it) as `Streamed` lists, encoded one at a time
        while a writer consumes them — an hour of a province's observations as JSON-ready Python objects
        would otherwise take several times the memory the engine itself holds, at every save."""
        self._apply_pending()
        every = [*self.ping.values()]
        every += [s for by_agent in self.sys.values() for s in by_agent.values()]
        every += [s for by_if in self.ifs.values() for s in by_if.values()]
        series: Iterable[dict[str, Any]] = Streamed(lambda: (s.encode() for s in every if len(s)))
        keys = sorted(self.baselines)  # the open hour's RTT samples: up to 120 a series, streamed too
        baselines: Iterable[list[Any]] = Streamed(lambda: ([*k, self.baselines[k].to_json()] for k in keys))
        return {
            "version": STATE_VERSION,
            "last_time": self.last_time,
            "series": series if stream else list(series),
            "baselines": baselines if stream else list(baselines),
            "machines": {k: m.to_json() for k, m in sorted(self.machines.items())},
            "agents": {k: m.to_json() for k, m in sorted(self.agent_machines.items())},
            "impaired_spans": {k: v for k, v in sorted(self.impaired_spans.items()) if v},
            "dropping_spans": {k: v for k, v in sorted(self.dropping_spans.items()) if v},
            "communes": {k: m.to_json() for k, m in sorted(self.commune_machines.items())},
        }

    @classmethod
    def from_json(
        cls, topology: Topology, data: dict[str, Any], settings: EngineSettings | None = None
    ) -> HealthEngine:
        """Restore; subjects no longer in the inventory are dropped, new ones start fresh."""
        engine = cls(topology, settings)
        if data.get("version") != STATE_VERSION:
            return engine  # an unknown format: start afresh rather than misread it
        engine.last_time = data.get("last_time")
        for encoded in data.get("series", []):
            obs = decode_series(encoded)
            if not obs or obs[0].subject not in topology.nodes:
                continue
            first = obs[0]
            engine._series(first).extend(obs)
        for subject, role, agent, b in data.get("baselines", []):
            if subject in topology.nodes:
                engine.baselines[(subject, role, agent)] = Baseline.from_json(b)
        engine.machines = {k: Machine.from_json(v) for k, v in data.get("machines", {}).items() if k in topology.nodes}
        engine.agent_machines = {k: Machine.from_json(v) for k, v in data.get("agents", {}).items()}
        engine.impaired_spans = {
            str(k): [[float(a), float(b)] for a, b in v] for k, v in (data.get("impaired_spans") or {}).items()
        }
        engine.dropping_spans = {
            str(k): [[float(a), float(b)] for a, b in v]
            for k, v in (data.get("dropping_spans") or {}).items()
            if k in topology.nodes
        }
        engine.commune_machines = {k: Machine.from_json(v) for k, v in data.get("communes", {}).items()}
        return engine


def _add_span(spans: list[list[float]], start: float, end: float, now: float) -> None:
    """Extend the last span or open a new one; spans older than any window are forgotten."""
    if spans and spans[-1][1] >= start:
        spans[-1][1] = max(spans[-1][1], end)
    else:
        spans.append([start, end])
    spans[:] = [sp for sp in spans if sp[1] >= now - LONG_SPAN_KEEP_S]


class Streamed:
    """A list whose items are produced only when it is iterated (each time anew): netprobe.engine.state's
    writer streams it item by item; anything else can iterate it like a list."""

    def __init__(self, items: Callable[[], Iterator[Any]]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        return self._items()


def save_state(engine: HealthEngine, path: Path) -> None:
    """Write the engine's state atomically (a crash mid-write leaves the previous state intact);
    gzip-compressed when the name ends in .gz (recommended: a province's state is tens of MB as JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    blob = json.dumps(engine.to_json(), separators=(",", ":")).encode()
    tmp.write_bytes(gzip.compress(blob, compresslevel=1) if path.suffix == ".gz" else blob)
    os.replace(tmp, path)


def load_state(topology: Topology, path: Path, settings: EngineSettings | None = None) -> HealthEngine:
    """The engine as saved at `path`; a fresh one when there is no state or it is unreadable (logged)."""
    try:
        raw = path.read_bytes()
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except FileNotFoundError:
        return HealthEngine(topology, settings)
    except (OSError, ValueError, EOFError) as exc:
        log.warning("verdict state %s unreadable (%s): starting afresh", path, exc)
        return HealthEngine(topology, settings)
    try:
        return HealthEngine.from_json(topology, data, settings)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.warning("verdict state %s malformed (%s): starting afresh", path, exc)
        return HealthEngine(topology, settings)
