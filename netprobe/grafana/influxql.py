"""Find every InfluxQL query in the generated dashboards and alert rules, and render it as Grafana would.

Rendering replaces what Grafana replaces before a query reaches InfluxDB: `$timeFilter`, `$__interval`,
template variables (regex-escaped, multi-values as `(a|b)`, the All value) for dashboards, and — for
alert rules, which state their window with `now()` — `now()` by the evaluation instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from netprobe.grafana.build import JSON, MIN_INTERVAL

# Grafana's rangeutil.roundInterval: (upper bound of the raw interval in ms, the interval it becomes)
_ROUNDING: tuple[tuple[int, str, int], ...] = (
    (1500, "1s", 1_000),
    (3500, "2s", 2_000),
    (7500, "5s", 5_000),
    (12_500, "10s", 10_000),
    (17_500, "15s", 15_000),
    (25_000, "20s", 20_000),
    (45_000, "30s", 30_000),
    (90_000, "1m", 60_000),
    (180_000, "2m", 120_000),
    (450_000, "5m", 300_000),
    (1_100_000, "10m", 600_000),
    (2_000_000, "15m", 900_000),
    (2_700_000, "30m", 1_800_000),
    (5_400_000, "1h", 3_600_000),
    (9_000_000, "2h", 7_200_000),
    (16_200_000, "3h", 10_800_000),
    (27_000_000, "6h", 21_600_000),
    (86_400_000, "12h", 43_200_000),
)
_VAR = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


@dataclass(frozen=True)
class Query:
    kind: str  # panel, variable, annotation, rule
    origin: str  # dashboard file name or rule uid
    title: str  # panel title, variable name, annotation name or rule title
    ref: str  # target refId ("" for variables and annotations)
    text: str
    result_format: str = "time_series"
    alias: str = ""
    panel: JSON = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.origin}: {self.kind} '{self.title}' {self.ref}".strip()


def _panels(panels: Sequence[JSON]) -> Iterator[JSON]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_queries(name: str, board: JSON) -> list[Query]:
    out: list[Query] = []
    for p in _panels(board.get("panels", [])):
        for t in p.get("targets", []):
            out.append(
                Query(
                    "panel",
                    name,
                    p["title"],
                    t["refId"],
                    t["query"],
                    t.get("resultFormat", "time_series"),
                    t.get("alias", ""),
                    p,
                )
            )
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            out.append(Query("variable", name, v["name"], "", v["query"], "table"))
    for a in board.get("annotations", {}).get("list", []):
        if "query" in a:
            out.append(Query("annotation", name, a["name"], "", a["query"], "table"))
    return out


def rule_queries(rules_file: JSON) -> list[Query]:
    out = []
    for group in rules_file["groups"]:
        for rule in group["rules"]:
            for d in rule["data"]:
                if d["datasourceUid"] != "__expr__":
                    out.append(Query("rule", rule["uid"], rule["title"], d["refId"], d["model"]["query"]))
    return out


def parse_duration_ms(text: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * units[match.group(2)]


def interval(range_ms: int, max_data_points: int = 1000, min_interval: str = MIN_INTERVAL) -> str:
    """Grafana's $__interval: range / max data points, rounded to a round interval, at least the minimum."""
    raw = range_ms / max_data_points
    text, value = "1d", 86_400_000
    for bound, name, ms in _ROUNDING:
        if raw < bound:
            text, value = name, ms
            break
    return min_interval if value < parse_duration_ms(min_interval) else text


@dataclass
class Context:
    """A dashboard view: time range and variable values (a list for a multi-value, "$__all" for All)."""

    start_ms: int
    end_ms: int
    variables: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    all_values: Mapping[str, Sequence[str]] = field(default_factory=dict)  # options behind "All"
    max_data_points: int = 1000
    min_interval: str = MIN_INTERVAL  # a panel's own `interval` (min interval) overrides the datasource's

    @property
    def interval(self) -> str:
        return interval(self.end_ms - self.start_ms, self.max_data_points, self.min_interval)


def _escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _format(name: str, value: str | Sequence[str], variable: JSON | None, ctx: Context) -> str:
    if value == "$__all":
        if variable is not None and variable.get("allValue"):
            return str(variable["allValue"])
        value = list(ctx.all_values.get(name, []))
    if isinstance(value, str):
        return _escape(value)
    escaped = [_escape(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


class UnknownVariable(ValueError):
    pass


def render(text: str, ctx: Context, variables: Mapping[str, JSON] | None = None) -> str:
    """The query as Grafana's InfluxDB datasource sends it for this view."""
    text = text.replace("$timeFilter", f"time >= {ctx.start_ms}ms and time <= {ctx.end_ms}ms")
    text = text.replace("${__from}", str(ctx.start_ms)).replace("${__to}", str(ctx.end_ms))  # global variables
    text = text.replace("$__interval", ctx.interval)
    definitions = variables or {}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name not in ctx.variables:
            raise UnknownVariable(f"no value for ${name} in {text!r}")
        return _format(name, ctx.variables[name], definitions.get(name), ctx)

    return _VAR.sub(sub, text)


def render_rule(text: str, eval_ms: int) -> str:
    """An alert query evaluated at `eval_ms` (unix ms): its `now()` becomes that instant."""
    if "$" in text:
        raise ValueError(f"alert query must not contain '$' (Grafana expands it as an env variable): {text!r}")
    return text.replace("now()", f"{eval_ms}ms")


def variable_definitions(board: JSON) -> dict[str, JSON]:
    return {v["name"]: v for v in board.get("templating", {}).get("list", [])}


def aliased(alias: str, measurement: str, tags: Mapping[str, str], column: str) -> str:
    """Grafana's InfluxQL alias patterns: $tag_NAME, $col, $measurement."""
    if not alias:
        suffix = " ".join(f"{k}: {v}" for k, v in sorted(tags.items()))
        return f"{measurement}.{column}" + (f" {{{suffix}}}" if suffix else "")
    out = re.sub(r"\$tag_(\w+)", lambda m: tags.get(m.group(1), ""), alias)
    return out.replace("$col", column).replace("$measurement", measurement).strip()
