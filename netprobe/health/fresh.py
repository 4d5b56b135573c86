"""One commune judged now, by the same engine as `status` and Grafana: `netprobe check`'s entry point.

check sends one long burst (50 packets) per target from every vantage point and wants a verdict at once,
so its engine differs only in time, never in rules:
- the short window is `window_s` (check's burst and the stored bursts just before it), not 5 min;
- one all-lost check burst is an outage (`down_probes` 1): 50 packets without a reply are as much
  evidence as any two routine bursts;
- no hysteresis (the engine is new, evaluated once): check says what is true now;
- the long window (flaps, reboots, interface changes) keeps the inventory's value and reads the stored
  history of the commune, so a line that flaps is named even when check's own burst fell in an up phase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netprobe.health.engine import IMPAIRED_MARGIN_S, HealthEngine
from netprobe.health.observation import Observation, from_measurement
from netprobe.health.topology import Node, Topology
from netprobe.health.verdict import Evaluation
from netprobe.probes.base import Measurement
from netprobe.storage.point import Point

CHECK_WINDOW_S = 60.0


def check_topology(topology: Topology, commune: str, window_s: float = CHECK_WINDOW_S) -> Topology:
    """The commune's lines and devices, with check's short window (see module doc)."""

    def fit(n: Node) -> Node:
        th = n.thresholds.model_copy(
            update={
                "window_s": min(window_s, n.thresholds.window_s),
                "down_probes": 1,
                "enter_s": 0.0,
                "min_state_s": 0.0,
                "clear_s": 0.0,
            }
        )
        return dataclasses.replace(n, thresholds=th)

    nodes = {k: fit(n) for k, n in topology.nodes.items() if n.commune == commune}
    for line in [n for n in nodes.values() if n.kind == "line" and n.has_pe]:
        # the provider edge judged like any node (the engine reads PEs only to word a dead line's reason)
        pe = dataclasses.replace(line, id=pe_id(line.id), kind="device", line=line.id, parent=None, has_pe=False)
        nodes[pe.id] = pe
    return dataclasses.replace(topology, nodes=nodes)


def pe_id(line: str) -> str:
    return f"{line}/pe"


def _with_pe_nodes(observations: Iterable[Observation]) -> list[Observation]:
    out: list[Observation] = []
    for o in observations:
        out.append(o)
        if o.role == "pe":
            out.append(dataclasses.replace(o, subject=pe_id(o.subject), role="device"))
    return out


@dataclass(frozen=True)
class Judged:
    evaluation: Evaluation
    # per line or device: the outages (first, last all-lost burst) of the view the verdict reports
    outages: Mapping[str, tuple[tuple[float, float], ...]]
    history: tuple[Observation, ...] = ()  # the stored observations it read (check's diagnosis reads them too)
    # per line: (start, end, router) of the spans the engine attributes to the commune router rebooting
    reboots: Mapping[str, tuple[tuple[float, float, str], ...]] = dataclasses.field(default_factory=dict)


def judge_commune(
    topology: Topology,
    commune: str,
    fresh: Mapping[str, Sequence[Measurement]],
    now: float,
    history: Iterable[Observation] = (),
    window_s: float = CHECK_WINDOW_S,
    impaired: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> Judged:
    """`fresh`: check's measurements per vantage point; `history`: the commune's stored observations;
    `impaired`: per agent, the spans its own stored verdict said it was impaired (impaired_spans_of)."""
    engine = HealthEngine(check_topology(topology, commune, window_s))
    # check reads one commune's history: alone it cannot see that a data centre's uplink was down (that
    # takes every commune's targets). The agents judged that live and stored it; their bursts sent while
    # impaired are evidence about the agent, not this commune's lines
    for agent, blind in (impaired or {}).items():
        engine.impaired_spans[agent] = [[a, b] for a, b in blind]
    stored = tuple(o for o in history if o.time < now)
    engine.ingest(_with_pe_nodes(stored))
    for agent, ms in fresh.items():
        engine.ingest(_with_pe_nodes(o for m in ms for o in from_measurement(m, agent)))
    evaluation = engine.evaluate(now)
    outages: dict[str, tuple[tuple[float, float], ...]] = {}
    for subject, v in evaluation.nodes.items():
        s = engine._views_of(subject).get(v.agent)
        if s is not None:
            outages[subject] = s.outages
    reboots = {
        n.id: spans
        for n in engine.topology.nodes.values()
        if n.kind == "line" and (spans := tuple(engine.reboot_outages(n.id, now)))
    }
    return Judged(evaluation, outages, stored, reboots)


IMPAIRED_GAP_S = 120.0  # agent verdict rows further apart than this are two impairments, not one


def impaired_spans_of(points: Iterable[Point]) -> dict[str, list[tuple[float, float]]]:
    """From stored `link_health` rows of kind=agent: per agent, the spans its verdict was DOWN (impaired),
    widened by the engine's own margin, as the engine would have recorded them live."""
    times: dict[str, list[float]] = {}
    for p in points:
        if p.tags.get("kind") == "agent" and p.fields.get("state") == "DOWN":
            times.setdefault(p.tags.get("target", ""), []).append(p.time_ns / 1e9)
    out: dict[str, list[tuple[float, float]]] = {}
    for agent, ts in times.items():
        spans: list[list[float]] = []
        for t in sorted(ts):
            if spans and t - spans[-1][1] <= IMPAIRED_GAP_S:
                spans[-1][1] = t
            else:
                spans.append([t, t])
        out[agent] = [(a - IMPAIRED_MARGIN_S, b + IMPAIRED_MARGIN_S) for a, b in spans]
    return out
