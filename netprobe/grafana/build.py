"""Small builders for Grafana dashboard JSON: one place for the datasource, schemaVersion and state colours."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

DATASOURCE_UID = "netprobe-influxdb"  # fixed in provisioning/datasources; alert rules reference it directly
DATASOURCE_TYPE = "influxdb"
DATASOURCE_VAR = "datasource"  # every panel uses ${datasource}, whose default is DATASOURCE_UID
SCHEMA_VERSION = 39  # Grafana 10.4 / 11.x dashboard JSON
MIN_INTERVAL = "30s"  # the ping cadence: finer buckets would only show gaps

# link_health.state_code, from netprobe.storage.schema: code -> (name, colour)
STATES: dict[int, tuple[str, str]] = {
    0: ("OK", "green"),
    1: ("DEGRADED", "yellow"),
    2: ("UNSTABLE", "orange"),
    3: ("DOWN", "red"),
    4: ("UNREACHABLE", "purple"),
    5: ("UNKNOWN", "gray"),
}

# link_health.kind (netprobe.health.points): "line", "device", "commune" or "agent" verdicts.
LINES_ONLY = "\"kind\" = 'line'"
DEVICES_ONLY = "\"kind\" = 'device'"
# "Now" on a dashboard: verdicts of the last 5 minutes of the chosen range (written every cycle). A wider
# window would let a silent agent's stale verdict stand in for the current one.
CURRENT = "time > ${__to}ms - 5m AND time <= ${__to}ms"


def ds() -> JSON:
    return {"type": DATASOURCE_TYPE, "uid": "${" + DATASOURCE_VAR + "}"}


def state_mappings() -> list[JSON]:
    return [
        {
            "type": "value",
            "options": {
                str(code): {"text": name, "color": colour, "index": code} for code, (name, colour) in STATES.items()
            },
        }
    ]


def state_thresholds() -> JSON:
    steps: list[JSON] = [{"color": STATES[0][1], "value": None}]
    steps += [{"color": colour, "value": code} for code, (_name, colour) in STATES.items() if code > 0]
    return {"mode": "absolute", "steps": steps}


def stat_options(orientation: str = "auto") -> JSON:
    """A stat panel showing each series' last value, its background coloured by the thresholds."""
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "value_and_name",
        "justifyMode": "auto",
        "orientation": orientation,
    }


def thresholds(*steps: tuple[str, float | None]) -> JSON:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def target(ref: str, query: str, *, fmt: str = "time_series", alias: str | None = None) -> JSON:
    out: JSON = {"refId": ref, "datasource": ds(), "query": " ".join(query.split()), "rawQuery": True}
    out["resultFormat"] = fmt
    if alias:
        out["alias"] = alias
    return out


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping rows; numbers panel ids."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1
        self.panels: list[JSON] = []

    def add(self, panel: JSON, w: int, h: int) -> JSON:
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)
        return panel

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def row(self, title: str) -> None:
        self.newline()
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.newline()


def panel(
    kind: str,
    title: str,
    targets: list[JSON],
    *,
    description: str = "",
    unit: str | None = None,
    defaults: JSON | None = None,
    overrides: list[JSON] | None = None,
    options: JSON | None = None,
    custom: JSON | None = None,
    transformations: list[JSON] | None = None,
    interval: str | None = None,
) -> JSON:
    field_defaults: JSON = dict(defaults or {})
    if unit:
        field_defaults["unit"] = unit
    if custom:
        field_defaults["custom"] = custom
    out: JSON = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": ds(),
        "targets": targets,
        "fieldConfig": {"defaults": field_defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        out["transformations"] = transformations
    if interval:
        out["interval"] = interval  # the panel's min interval: no bucket finer than the data's cadence
    return out


def datasource_variable() -> JSON:
    return {
        "name": DATASOURCE_VAR,
        "label": "Data source",
        "type": "datasource",
        "query": DATASOURCE_TYPE,
        "current": {"text": "netprobe InfluxDB", "value": DATASOURCE_UID},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def query_variable(
    name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False, all_value: str | None = None
) -> JSON:
    out: JSON = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": ds(),
        "query": " ".join(query.split()),
        "refresh": 2,  # on time range change: new communes/lines appear without a reload
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "hide": 0,
        "regex": "",
        "current": {},
        "options": [],
    }
    if all_value is not None:
        out["allValue"] = all_value
    return out


def custom_variable(name: str, label: str, values: list[str], default: str) -> JSON:
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "current": {"text": default, "value": default},
        "multi": False,
        "includeAll": False,
        "hide": 0,
        "options": [{"text": v, "value": v, "selected": v == default} for v in values],
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    variables: list[JSON],
    *,
    time_from: str = "now-6h",
    annotations: list[JSON] | None = None,
    links: list[JSON] | None = None,
) -> JSON:
    builtin: JSON = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["netprobe"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "templating": {"list": [datasource_variable(), *variables]},
        "annotations": {"list": [builtin, *(annotations or [])]},
        "links": links or [],
        "panels": layout.panels,
    }


def dashboards_link() -> JSON:
    return {
        "title": "netprobe",
        "type": "dashboards",
        "tags": ["netprobe"],
        "asDropdown": True,
        "includeVars": False,
        "keepTime": True,
        "icon": "external link",
        "targetBlank": False,
        "tooltip": "",
        "url": "",
    }
