"""Verdicts as `link_health` points (storage.schema), the series Grafana and alert rules read.

Tags: the node's inventory tags plus `kind`: "line", "device", "commune" (one point per commune: its
best line, or isolated) or "agent" (a vantage point: OK, UNSTABLE = cannot reach some communes another
agent reaches, DOWN = impaired uplink, UNKNOWN = silent). `agent` tags the evaluating agent when given.
Line, device and commune points carry the commune's inventory coordinates as fields `lat`/`lon`.
"""

from __future__ import annotations

from netprobe.health.reasons import Catalogue, render_en
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation, Verdict
from netprobe.storage.point import FieldValue, Point

MEASUREMENT = "link_health"


def verdict_tags(topology: Topology, v: Verdict) -> dict[str, str]:
    tags = {"province": topology.province, "kind": v.kind, "target": v.subject}
    if v.kind in ("line", "device"):
        node = topology.nodes[v.subject]
        tags.update(commune=node.commune, site=node.site)
        if node.kind == "line":
            tags["line"] = node.id
        else:
            tags["device"] = node.id
            if node.line:
                tags["line"] = node.line
        if node.provider:
            tags["provider"] = node.provider
    elif v.kind == "commune":
        tags["commune"] = v.subject
    elif v.kind == "agent":
        tags["agent"] = v.subject
    return {k: val for k, val in tags.items() if val}


def verdict_fields(v: Verdict, catalogue: Catalogue = render_en) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {
        "state": v.state.value,
        "state_code": v.state.code,
        "score": float(v.score),
        "reasons": v.text(catalogue),
        "since_s": int(v.since),
        "flaps": int(v.flaps),
    }
    for name, value in (("loss_pct", v.loss_pct), ("rtt_ms", v.rtt_ms), ("jitter_ms", v.jitter_ms)):
        if value is not None:
            fields[name] = float(round(value, 3))
    return fields


def commune_location(topology: Topology, commune: str | None) -> dict[str, FieldValue]:
    """`lat`/`lon` of the commune from the inventory, so Grafana's geomap needs no join (InfluxQL has none);
    nothing when the inventory gives no coordinates."""
    where = topology.commune_coordinates.get(commune) if commune else None
    return {"lat": float(where[0]), "lon": float(where[1])} if where else {}


def to_points(
    evaluation: Evaluation, topology: Topology, *, agent: str | None = None, catalogue: Catalogue = render_en
) -> list[Point]:
    """One link_health point per verdict at the evaluation time. `agent`: the agent that evaluated, for
    installations where each data centre runs its own engine (an agent verdict keeps its own name)."""
    time_ns = round(evaluation.time * 1e9)
    out: list[Point] = []
    for v in evaluation.all():
        tags = verdict_tags(topology, v)
        if agent and v.kind != "agent":
            tags["agent"] = agent
        fields = verdict_fields(v, catalogue)
        fields.update(commune_location(topology, tags.get("commune")))
        out.append(Point(MEASUREMENT, tags, fields, time_ns))
    return out
