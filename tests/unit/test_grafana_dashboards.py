"""Static checks of the generated Grafana files: up to date, a documented subset of Grafana's dashboard
JSON schema, one datasource variable, no hard-coded hosts, queries that name only schema identifiers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from netprobe.grafana import provision
from netprobe.grafana.alerting import rules_file
from netprobe.grafana.build import DATASOURCE_UID, SCHEMA_VERSION
from netprobe.grafana.influxql import Context, dashboard_queries, interval, render, rule_queries, variable_definitions
from netprobe.storage.schema import SCHEMA

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
PANEL_TYPES = {"row", "stat", "table", "geomap", "state-timeline", "timeseries", "bargauge"}


# A documented subset of Grafana's dashboard schema (grafana/kinds/dashboard, schemaVersion 39): the keys
# netprobe uses, with their types; unknown keys are errors so a typo cannot slip through.
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Datasource(Strict):
    type: Literal["influxdb"]
    uid: Literal["${datasource}"]


class Target(Strict):
    refId: str = Field(pattern=r"^[A-Z]$")
    datasource: Datasource
    query: str = Field(min_length=10)
    rawQuery: Literal[True]
    resultFormat: Literal["time_series", "table"]
    alias: str | None = None


class GridPos(Strict):
    h: int = Field(ge=1)
    w: int = Field(ge=1, le=24)
    x: int = Field(ge=0, le=23)
    y: int = Field(ge=0)


class FieldConfig(Strict):
    defaults: dict[str, Any]
    overrides: list[dict[str, Any]]


class Panel(Strict):
    id: int
    type: str
    title: str
    gridPos: GridPos
    description: str = ""
    datasource: Datasource | None = None
    targets: list[Target] = []
    fieldConfig: FieldConfig | None = None
    options: dict[str, Any] = {}
    transformations: list[dict[str, Any]] = []
    repeat: str | None = None
    repeatDirection: Literal["h", "v"] | None = None
    maxPerRow: int | None = None
    interval: str | None = Field(default=None, pattern=r"^\d+(s|m|h)$")
    collapsed: bool | None = None
    panels: list[Panel] = []


class Variable(Strict):
    name: str = Field(pattern=r"^\w+$")
    label: str
    type: Literal["datasource", "query", "custom"]
    query: str
    current: dict[str, Any]
    hide: int
    options: list[Any]
    datasource: Datasource | None = None
    refresh: int | None = None
    regex: str | None = None
    sort: int | None = None
    multi: bool | None = None
    includeAll: bool | None = None
    allValue: str | None = None


class Templating(Strict):
    list: list[Variable]


class Annotation(Strict):
    name: str
    datasource: dict[str, str]
    enable: bool
    hide: bool
    iconColor: str
    builtIn: int | None = None
    type: str | None = None
    query: str | None = None
    textColumn: str | None = None
    tagsColumn: str | None = None


class Annotations(Strict):
    list: list[Annotation]


class TimeRange(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str


class Dashboard(Strict):
    uid: str = Field(min_length=8, max_length=40)
    title: str
    description: str
    tags: list[str]
    timezone: str
    editable: bool
    graphTooltip: int
    refresh: str
    schemaVersion: int
    version: int
    time: TimeRange
    timepicker: dict[str, Any]
    fiscalYearStartMonth: int
    liveNow: bool
    weekStart: str
    templating: Templating
    annotations: Annotations
    links: list[dict[str, Any]]
    panels: list[Panel]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [q for p in panels for q in [p, *all_panels(p.get("panels", []))]]


def test_generated_files_are_up_to_date() -> None:
    assert provision.stale(GRAFANA) == [], "run: python -m netprobe.grafana generate"
    assert len(DASHBOARD_FILES) == 4


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_passes_the_schema_subset(path: Path) -> None:
    board = Dashboard.model_validate(load(path))
    assert board.schemaVersion == SCHEMA_VERSION


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_uses_the_datasource_variable(path: Path) -> None:
    board = load(path)
    variables = board["templating"]["list"]
    assert [v["name"] for v in variables if v["type"] == "datasource"] == ["datasource"]
    assert variables[0]["current"]["value"] == DATASOURCE_UID
    for p in all_panels(board["panels"]):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "influxdb", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]
        assert p["type"] in PANEL_TYPES


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_layout_ids_and_grid(path: Path) -> None:
    panels = all_panels(load(path)["panels"])
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)


def test_no_hard_coded_hosts_or_addresses() -> None:
    host = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|localhost|https?://")
    for path in DASHBOARD_FILES:
        for q in dashboard_queries(path.stem, load(path)):
            assert not host.search(q.text), q.label
    for path in (GRAFANA / "provisioning").rglob("*.yaml"):
        assert not host.search(path.read_text()), f"{path}: use environment variables for URLs"


def test_queries_name_only_schema_measurements_tags_and_fields() -> None:
    known = set(SCHEMA)
    for s in SCHEMA.values():
        known |= set(s.tags) | set(s.fields)
    queries = [q for p in DASHBOARD_FILES for q in dashboard_queries(p.stem, load(p))] + rule_queries(rules_file())
    for q in queries:
        aliases = set(re.findall(r'AS "(\w+)"', q.text))
        names = set(re.findall(r'"(\w+)"', q.text)) - aliases
        assert names <= known, f"{q.label}: not in netprobe.storage.schema: {names - known}"


def test_every_template_variable_is_defined_and_renders() -> None:
    for path in DASHBOARD_FILES:
        board = load(path)
        defined = variable_definitions(board)
        ctx = Context(0, 3_600_000, {name: "x" for name in defined}, {})
        for q in dashboard_queries(path.stem, board):
            rendered = render(q.text, ctx, defined)
            assert not re.search(r"\$[\w{]", rendered), q.label  # a `$/` regex anchor is fine


def test_interval_follows_grafana_rounding_with_the_minimum() -> None:
    assert interval(3 * 3_600_000) == "30s"  # 10.8 s raw, below the 30 s ping cadence
    assert interval(7 * 86_400_000) == "10m"  # 604.8 s raw
    assert interval(30 * 86_400_000) == "30m"


def test_alert_rules_are_dollar_free_and_use_the_fixed_datasource() -> None:
    text = (GRAFANA / "provisioning/alerting/netprobe-rules.yaml").read_text()
    rules = yaml.safe_load(text)
    titles = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            titles.add(rule["title"])
            query = next(d for d in rule["data"] if d["datasourceUid"] != "__expr__")
            assert query["datasourceUid"] == DATASOURCE_UID
            assert "$" not in query["model"]["query"], "Grafana would expand it as an environment variable"
            assert not any("$" in v for v in rule["labels"].values())
            assert rule["condition"] in {d["refId"] for d in rule["data"]}
    assert len(titles) == 5


def test_datasource_is_influxql_with_env_settings_and_fixed_uid() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/netprobe-influxdb.yaml").read_text())["datasources"][0]
    assert ds["uid"] == DATASOURCE_UID and ds["jsonData"]["version"] == "InfluxQL"
    assert ds["url"].startswith("$") and ds["jsonData"]["dbName"].startswith("$")
    assert "$NETPROBE_INFLUX_TOKEN" in ds["secureJsonData"]["httpHeaderValue1"]


def test_compose_mounts_the_provisioning_and_sets_every_variable_it_reads() -> None:
    deploy = GRAFANA.parent / "deploy"
    compose = yaml.safe_load((deploy / "compose.yaml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[1]: (deploy / m.split(":")[0]).resolve() for m in grafana["volumes"] if m.startswith("..")}
    assert mounts["/etc/grafana/provisioning"] == GRAFANA / "provisioning"
    assert mounts[provision.DASHBOARDS_IN_GRAFANA] == GRAFANA / "dashboards"
    used = set()
    for path in (GRAFANA / "provisioning").rglob("*.yaml"):
        text = "\n".join(line for line in path.read_text().splitlines() if "query:" not in line)
        used |= set(re.findall(r"\$\{?(NETPROBE_\w+)", text))
    assert used and used <= set(grafana["environment"]), used - set(grafana["environment"])
    assert set(compose["services"]) == {"influxdb", "grafana", "netprobe"}
