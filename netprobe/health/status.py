"""`netprobe status`: the province's problems, ranked worst first, one row per problem.

Consequences fold into their cause, so a manager reads causes, not symptoms:
- an impaired vantage point is one row; the nodes only it probes (UNKNOWN) are not listed;
- an isolated commune is one row; its lines and the gear behind them are not listed;
- a DOWN line or device is one row; the gear behind it (UNREACHABLE) is counted in its row;
- gear behind a flagged line or device whose only trouble is its path's (loss, outages, latency) is
  counted in that row too ("N devices behind it affected"), not listed on its own.
Lines and devices that are fine now but were not during `--since` come last, as "recovered".
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netprobe.health.engine import EngineSettings
from netprobe.health.reasons import Catalogue, Code, duration, render_en
from netprobe.health.replay import History, evaluate_history, read_history
from netprobe.health.service import ServiceVerdict, service_verdicts
from netprobe.health.topology import Topology
from netprobe.health.verdict import SCORE_BAND, Evaluation, State, Verdict
from netprobe.storage.point import Point, PointSource

# What gear behind a faulty line or device suffers from its path, not itself (see problems_of)
PATH_CODES = frozenset(
    {Code.LOSS, Code.FLAPS, Code.WENT_DOWN, Code.RTT, Code.RTT_BASELINE, Code.RTT_PE, Code.JITTER, Code.HOLDING}
)

# Rank: a broken vantage point first (it hides everything behind it), then by state.
_RANK = {
    State.DOWN: 1,
    State.UNSTABLE: 2,
    State.DEGRADED: 3,
    State.UNREACHABLE: 4,
    State.UNKNOWN: 5,
    State.OK: 6,
}


@dataclass(frozen=True)
class Problem:
    kind: str  # agent, service, commune, line, device
    subject: str
    commune: str  # slug ("" for an agent)
    commune_name: str
    line: str  # the line concerned ("" for agent/commune)
    provider: str
    state: State
    since: float
    score: float
    evidence: str
    recovered: bool = False  # fine now, but not during the window
    behind: int = 0  # gear behind it that is unreachable because of it

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "commune": self.commune,
            "commune_name": self.commune_name,
            "line": self.line,
            "provider": self.provider,
            "state": self.state.value,
            "state_code": self.state.code,
            "since_s": int(self.since),
            "score": self.score,
            "evidence": self.evidence,
            "recovered": self.recovered,
            "unreachable_behind": self.behind,
        }


@dataclass(frozen=True)
class StatusReport:
    time: float
    since_s: float
    problems: list[Problem]
    counts: dict[str, int]  # lines by state
    first_evaluation: float = 0.0  # a state that began here may have begun earlier: the window starts here

    def to_json(self) -> dict[str, object]:
        return {
            "time_s": int(self.time),
            "since_s": int(self.since_s),
            "lines_by_state": self.counts,
            "problems": [p.to_json() for p in self.problems],
        }


def _ancestors(topology: Topology, node_id: str) -> list[str]:
    out: list[str] = []
    node = topology.nodes.get(node_id)
    while node is not None and node.parent is not None and node.parent not in out:
        out.append(node.parent)
        node = topology.nodes.get(node.parent)
    return out


def problems_of(
    topology: Topology,
    now: Evaluation,
    window: Iterable[Evaluation] = (),
    catalogue: Catalogue = render_en,
    withdrawn: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> list[Problem]:
    """`withdrawn`: per node, spans of flags the engine later withdrew (HealthEngine.withdrawn): not
    "recovered" problems — they were never the node's (a neighbour's reboot, say)."""
    names = topology.commune_names
    rows: list[tuple[tuple[object, ...], Problem]] = []
    for agent, v in now.agents.items():
        if v.state is not State.OK:
            rows.append(((0, _RANK[v.state], v.score, agent), _row(v, "", "", "", "", catalogue)))
    isolated = {c for c, v in now.communes.items() if v.state is State.DOWN}
    for commune in sorted(isolated):
        v = now.communes[commune]
        behind = sum(1 for n in now.nodes.values() if n.state is State.UNREACHABLE and _commune(topology, n) == commune)
        problem = _row(v, commune, names.get(commune, commune), "", "", catalogue, behind)
        rows.append(((1, 0, 0.0, commune), problem))  # above any single line
    # a commune where nothing at all is measured: one row, not one per line and device
    silent = {
        c
        for c in topology.communes()
        if all(
            now.nodes[n.id].state is State.UNKNOWN
            and not any(r.code is Code.AGENT_IMPAIRED for r in now.nodes[n.id].reasons)
            for n in topology.nodes.values()
            if n.commune == c
        )
    }
    for commune in sorted(silent):
        members = [n for n in topology.nodes.values() if n.commune == commune]
        lines = sum(1 for n in members if n.kind == "line")
        first = now.nodes[members[0].id]
        evidence = f"{first.text(catalogue)} ({lines} lines, {len(members) - lines} devices)"
        problem = Problem("commune", commune, commune, names.get(commune, commune), "", "", State.UNKNOWN,
                          first.since, first.score, evidence)  # fmt: skip
        rows.append(((1, _RANK[State.UNKNOWN], first.score, commune), problem))
    # gear whose only trouble is its path's (loss, outages, latency) behind a flagged line or device: a
    # consequence of that cause, told in the cause's row, not a problem of its own (its SNMP evidence —
    # reboots, a hung agent, a port down — is its own and keeps its row)
    causes = {
        v.subject
        for v in now.nodes.values()
        if v.state in (State.DOWN, State.UNSTABLE, State.DEGRADED) and topology.nodes[v.subject].commune not in isolated
    }

    def shares_cause(v: Verdict) -> str | None:
        node = topology.nodes[v.subject]
        # DOWN is not folded: the engine judged that outage its own (a dead switch behind a lossy line)
        if node.kind != "device" or v.state not in (State.UNSTABLE, State.DEGRADED):
            return None
        if not v.reasons or any(r.code not in PATH_CODES for r in v.reasons):
            return None
        return next((a for a in reversed(_ancestors(topology, v.subject)) if a in causes), None)  # the topmost

    folded: dict[str, int] = {}
    for v in now.nodes.values():
        if (cause := shares_cause(v)) is not None:
            folded[cause] = folded.get(cause, 0) + 1
    listed: set[str] = set()
    for v in now.nodes.values():
        node = topology.nodes[v.subject]
        if v.state is State.OK or node.commune in isolated:
            continue
        if shares_cause(v) is not None:
            continue  # told in its cause's row
        if v.state is State.UNKNOWN and any(r.code is Code.AGENT_IMPAIRED for r in v.reasons):
            continue  # told once, in the agent's row
        if v.state is State.UNKNOWN and node.commune in silent:
            continue  # told once, in the commune's row
        if v.state is State.UNREACHABLE:
            continue  # told in the row of what it sits behind
        behind = sum(
            1
            for n in now.nodes.values()
            if n.state is State.UNREACHABLE and v.subject in _ancestors(topology, n.subject)
        )
        problem = _row(v, node.commune, names.get(node.commune, node.commune), node.line or "", node.provider or "",
                       catalogue, behind, folded.get(v.subject, 0))  # fmt: skip
        rows.append(((1, _RANK[v.state], v.score, node.commune, v.subject), problem))
        listed.add(v.subject)
    # UNREACHABLE with nothing listed above it (its cause is UNKNOWN, say): show it rather than hide it
    for v in now.nodes.values():
        node = topology.nodes[v.subject]
        orphan = not any(a in listed for a in _ancestors(topology, v.subject))
        if v.state is State.UNREACHABLE and node.commune not in isolated and orphan:
            problem = _row(v, node.commune, names.get(node.commune, node.commune), node.line or "",
                           node.provider or "", catalogue)  # fmt: skip
            rows.append(((1, _RANK[v.state], v.score, node.commune, v.subject), problem))
    # recovered: fine now, worse at some point in the window
    worst: dict[str, Verdict] = {}
    for evaluation in window:
        for v in evaluation.nodes.values():
            if v.state in (State.OK, State.UNKNOWN, State.UNREACHABLE):
                continue
            if any(a <= evaluation.time <= b for a, b in (withdrawn or {}).get(v.subject, ())):
                continue
            seen = worst.get(v.subject)
            if seen is None or (v.state.severity, -v.score) > (seen.state.severity, -seen.score):
                worst[v.subject] = v
    for subject, v in sorted(worst.items()):
        current = now.nodes.get(subject)
        node = topology.nodes[subject]
        if current is None or current.state is not State.OK or node.commune in isolated:
            continue
        when = time.strftime("%H:%M", time.localtime(v.since))
        evidence = f"was {v.state.value} from {when}: {v.text(catalogue)}"
        problem = Problem(
            node.kind, subject, node.commune, names.get(node.commune, node.commune), node.line or "",
            node.provider or "", State.OK, current.since, current.score, evidence, recovered=True,
        )  # fmt: skip
        rows.append(((2, -v.state.severity, v.score, node.commune, subject), problem))
    rows.sort(key=lambda r: r[0])
    return [p for _, p in rows]


def with_services(problems: list[Problem], services: Iterable[ServiceVerdict]) -> list[Problem]:
    """Data-centre services (document system, public-service portal) in the report: a service not OK now
    right after the vantage points (every commune uses it), one fine now but not in the window with the
    recovered rows."""
    current, recovered = [], []
    for s in services:
        if s.state is not State.OK:
            evidence = f"{s.name}: {'; '.join(s.reasons) or s.state.value}"
            current.append(Problem("service", s.service, "", "", "", "", s.state, s.since,
                                   SCORE_BAND[s.state][0], evidence))  # fmt: skip
        elif s.worst is not State.OK:
            when = time.strftime("%H:%M", time.localtime(s.worst_since))
            evidence = f"{s.name}: was {s.worst.value} from {when}: {'; '.join(s.worst_reasons)}"
            recovered.append(Problem("service", s.service, "", "", "", "", State.OK, s.since,
                                     SCORE_BAND[State.OK][1], evidence, recovered=True))  # fmt: skip
    current.sort(key=lambda p: (_RANK[p.state], p.subject))
    agents = sum(1 for p in problems if p.kind == "agent")
    return problems[:agents] + current + problems[agents:] + recovered


def _commune(topology: Topology, v: Verdict) -> str:
    node = topology.nodes.get(v.subject)
    return node.commune if node else ""


def _row(
    v: Verdict,
    commune: str,
    name: str,
    line: str,
    provider: str,
    catalogue: Catalogue,
    behind: int = 0,
    sharing: int = 0,
) -> Problem:
    evidence = v.text(catalogue)
    if v.kind == "agent" and v.members:
        evidence += f" (communes: {', '.join(v.members[:8])}{', …' if len(v.members) > 8 else ''})"
    if behind:
        evidence += f"; {behind} device{'s' if behind > 1 else ''} behind it unreachable"
    if sharing:
        evidence += f"; {sharing} device{'s' if sharing > 1 else ''} behind it affected"
    return Problem(v.kind, v.subject, commune, name, line, provider, v.state, v.since, v.score, evidence,
                   behind=behind)  # fmt: skip


def line_counts(evaluation: Evaluation) -> dict[str, int]:
    counts = {s.value: 0 for s in State}
    for v in evaluation.nodes.values():
        if v.kind == "line":
            counts[v.state.value] += 1
    return counts


def status_from_points(
    topology: Topology,
    points: Iterable[Point],
    now: float,
    since_s: float = 3600.0,
    *,
    settings: EngineSettings | None = None,
    step_s: float | None = None,
    catalogue: Catalogue = render_en,
) -> StatusReport:
    """The report from raw history points (ping, snmp_sys, snmp_if): verdicts recomputed, reproducibly."""
    points = list(points)
    history: History = evaluate_history(topology, points, now, since_s, settings=settings, step_s=step_s)
    return StatusReport(
        now,
        since_s,
        with_services(
            problems_of(topology, history.now, history.window, catalogue, history.withdrawn),
            service_verdicts(topology.services, points, now, since_s),
        ),
        line_counts(history.now),
        history.window[0].time,
    )


def status_from_source(
    topology: Topology,
    source: PointSource,
    now: float,
    since_s: float = 3600.0,
    *,
    settings: EngineSettings | None = None,
    catalogue: Catalogue = render_en,
) -> StatusReport:
    """The same, reading history through the storage's PointSource (embedded store or InfluxDB)."""
    points = read_history(source, topology, now, since_s)
    return status_from_points(topology, points, now, since_s, settings=settings, catalogue=catalogue)


def ago(now: float, since: float, window_start: float | None = None) -> str:
    """'14:02 (38 min)'; '≤ 14:02 (38 min)' when the state was already there when the window began."""
    before = "≤ " if window_start is not None and since <= window_start else ""
    return f"{before}{time.strftime('%H:%M', time.localtime(since))} ({duration(max(0.0, now - since))})"
