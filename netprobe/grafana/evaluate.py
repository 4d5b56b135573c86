"""What Grafana does with query results, for the parts the dashboards and rules rely on.

- alert rules: server-side expressions reduce (last/sum/max, dropping NaN/null) and threshold
  (gt, lt, within_range exclusive), evaluated every interval with the rule's pending period (`for`);
- the SLA outage table's groupBy + calculateField transformations.
Used by the tests (to assert what a rule or panel shows) and by the previews.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from netprobe.grafana.build import JSON
from netprobe.grafana.influx import InfluxClient, Series
from netprobe.grafana.influxql import Context, Query, parse_duration_ms, render, render_rule, variable_definitions

Labels = tuple[tuple[str, str], ...]

_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda v: v[-1],
    "sum": sum,
    "max": max,
    "min": min,
    "mean": lambda v: sum(v) / len(v),
    "count": lambda v: float(len(v)),
}


def reduce_series(series: Series, reducer: str) -> float | None:
    values = [float(row[1]) for row in series.values if row[1] is not None]
    return _REDUCERS[reducer](values) if values else None


def threshold(value: float, kind: str, params: list[float]) -> bool:
    if kind == "gt":
        return value > params[0]
    if kind == "lt":
        return value < params[0]
    if kind == "within_range":
        return params[0] < value < params[1]
    if kind == "outside_range":
        return value < params[0] or value > params[1]
    raise ValueError(f"unsupported threshold {kind}")


@dataclass
class RuleRun:
    """Firing history of one rule over a simulated period: per label set, [(first firing ms, resolved ms|None)]."""

    uid: str
    firing: dict[Labels, list[tuple[int, int | None]]] = field(default_factory=dict)

    def fired(self) -> dict[Labels, int]:
        return {labels: spans[0][0] for labels, spans in self.firing.items()}

    def label_values(self, key: str) -> set[str]:
        return {dict(labels).get(key, "") for labels in self.firing}


def _parts(rule: JSON) -> tuple[str, str, str, list[float], int]:
    by_ref = {d["refId"]: d for d in rule["data"]}
    query = by_ref["A"]["model"]["query"]
    reducer = by_ref["B"]["model"]["reducer"]
    evaluator = by_ref["C"]["model"]["conditions"][0]["evaluator"]
    return query, reducer, evaluator["type"], list(evaluator["params"]), parse_duration_ms(rule["for"])


def evaluate_once(rule: JSON, client: InfluxClient, eval_ms: int) -> dict[Labels, bool]:
    query, reducer, kind, params, _pending = _parts(rule)
    out: dict[Labels, bool] = {}
    for s in client.query(render_rule(query, eval_ms)):
        value = reduce_series(s, reducer)
        if value is not None:
            out[tuple(sorted(s.tags.items()))] = threshold(value, kind, params)
    return out


def simulate(rule: JSON, client: InfluxClient, start_ms: int, end_ms: int, step_ms: int = 60_000) -> RuleRun:
    """Evaluate every `step_ms` like Grafana's scheduler: Normal → Pending → Firing after `for`."""
    *_rest, pending_ms = _parts(rule)
    run = RuleRun(rule["uid"])
    pending_since: dict[Labels, int] = {}
    for t in range(start_ms, end_ms + 1, step_ms):
        state = evaluate_once(rule, client, t)
        for labels in list(pending_since):
            if not state.get(labels, False):
                del pending_since[labels]
                spans = run.firing.get(labels)
                if spans and spans[-1][1] is None:
                    spans[-1] = (spans[-1][0], t)
        for labels, true in state.items():
            if not true:
                continue
            since = pending_since.setdefault(labels, t)
            spans = run.firing.setdefault(labels, [])
            if t - since >= pending_ms and not (spans and spans[-1][1] is None):
                spans.append((t, None))
        run.firing = {k: v for k, v in run.firing.items() if v}
    return run


def group_outages(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SLA outage table: Grafana's groupBy transformation on (start, commune, line, provider) with
    Time max (last seen) and range (duration: last − first DOWN verdict) and reasons last."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["time"]):
        key = (row["start"], row["commune"], row["line"], row["provider"])
        g = groups.setdefault(
            key, {"start": row["start"], "commune": row["commune"], "line": row["line"], "provider": row["provider"]}
        )
        g["last seen"] = max(g.get("last seen", row["time"]), row["time"])
        g["first"] = min(g.get("first", row["time"]), row["time"])
        g["reasons"] = row["reasons"]
    for g in groups.values():
        g["duration"] = g["last seen"] - g.pop("first")
    return sorted(groups.values(), key=lambda g: g["start"], reverse=True)


def view(board: JSON, client: InfluxClient, start_ms: int, end_ms: int, chosen: dict[str, str | list[str]]) -> Context:
    """A dashboard view as Grafana builds it: each query variable's options come from running its query
    (in templating order, so `line` sees the chosen `commune`); unchosen variables take All (or the first
    option when All is not offered)."""
    ctx = Context(start_ms, end_ms, {}, {})
    values: dict[str, str | list[str]] = {}
    options: dict[str, list[str]] = {}
    definitions = variable_definitions(board)
    for v in board["templating"]["list"]:
        if v["type"] != "query":
            continue
        ctx = Context(start_ms, end_ms, values, options)
        found = [str(row[1]) for s in client.query(render(v["query"], ctx, definitions)) for row in s.values]
        options[v["name"]] = sorted(set(found))
        default: str | list[str] = "$__all" if v.get("includeAll") else (options[v["name"]][:1] or [""])[0]
        values[v["name"]] = chosen.get(v["name"], default)
    return Context(start_ms, end_ms, values, options)


def run_panel_query(query: Query, client: InfluxClient, ctx: Context, board: JSON) -> list[Series]:
    if query.panel.get("interval"):
        ctx = dataclasses.replace(ctx, min_interval=query.panel["interval"])
    return client.query(render(query.text, ctx, variable_definitions(board)))
