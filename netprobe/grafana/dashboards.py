"""The four netprobe dashboards: province overview, commune detail, provider SLA, agent health.

Conventions the queries rely on (see docs/grafana.md):
- a line verdict in `link_health` has no `device` tag, a device verdict has one;
- `link_health` carries `lat`/`lon` (the commune's coordinates from the inventory) for the geomap;
- `netprobe_agent.outbox_dropped` is a counter since the agent started (reset on restart).
"""

from __future__ import annotations

from netprobe.grafana.build import (
    CURRENT,
    DEVICES_ONLY,
    JSON,
    LINES_ONLY,
    STATES,
    Layout,
    dashboard,
    dashboards_link,
    ds,
    panel,
    query_variable,
    stat_options,
    state_mappings,
    state_thresholds,
    target,
    thresholds,
)

PROVINCE = '"province" =~ /^$province$/'
COMMUNE = '"commune" =~ /^$commune$/'
LINE = '"line" =~ /^$line$/'
AGENT = '"agent" =~ /^$agent$/'

UID_OVERVIEW = "netprobe-overview"
UID_COMMUNE = "netprobe-commune"
UID_SLA = "netprobe-sla"
UID_AGENTS = "netprobe-agents"

SLA_GREEN_PCT = 99.5  # typical contract target for a dedicated line; below it the bar turns orange
SLA_RED_PCT = 99.0
SNMP_INTERVAL = "1m"  # SNMP polls every 60 s: 30 s buckets would alternate value/null and break the lines


def province_variable() -> JSON:
    return query_variable(
        "province",
        "Province",
        'SHOW TAG VALUES FROM "link_health" WITH KEY = "province"',
        multi=True,
        include_all=True,
        all_value=".*",
    )


def commune_link(title: str) -> JSON:
    return {
        "title": title,
        "url": f"/d/{UID_COMMUNE}/commune?var-commune=${{__data.fields.commune}}&var-line=${{__data.fields.line}}"
        "&${__url_time_range}",
    }


# ---------------------------------------------------------------------------------------------------
# Queries shared by panels and alert rules (so a rule and the panel it explains can never disagree)
# ---------------------------------------------------------------------------------------------------
def last_line_state(where: str, group_by: str = '"line"') -> str:
    """The current state of each line (one row per line): the BEST of each agent's newest verdict.

    Every agent (vantage point) writes its own verdicts; a line is DOWN only if no agent reaches it, so one
    data centre's broken uplink does not paint the province red (its own verdicts still show in timelines).
    """
    per_agent = (
        f'SELECT last("state_code") AS "s" FROM "link_health" WHERE {where} AND {LINES_ONLY} '
        f'GROUP BY {group_by}, "agent"'
    )
    return f'SELECT min("s") AS "state" FROM ({per_agent}) GROUP BY {group_by}'


def count_lines_by_state() -> str:
    """One row, one column per state: how many lines are in it now.

    InfluxQL has no CASE and cannot GROUP BY a field, so each line gets an indicator per state,
    1 - ceil((state - k)² / 100) (1 when state = k, else 0, for codes 0..5), and the indicators are summed:
    a state no line is in counts 0 instead of returning no series. (pow, not abs: abs() of an integer is
    wrong on influxd 1.6.)
    """
    inner = last_line_state(f"{CURRENT} AND {PROVINCE}")
    flags = ", ".join(f'1 - ceil(pow("state" - {code}, 2) / 100.0) AS "is_{code}"' for code in STATES)
    sums = ", ".join(f'sum("is_{code}") AS "{name}"' for code, (name, _c) in STATES.items())
    return f"SELECT {sums} FROM (SELECT {flags} FROM ({inner}))"


def problem_lines_table() -> str:
    """UNSTABLE/DOWN lines now, with the evidence of the best agent's verdict (min() is a selector: the
    other fields come from the same row)."""
    fields = '"score", "since", "reasons", "loss_pct", "flaps"'
    per_agent = (
        'SELECT last("state_code") AS "s", last("score") AS "score", last("since_s") * 1000 AS "since", '
        'last("reasons") AS "reasons", last("loss_pct") AS "loss_pct", last("flaps") AS "flaps" '
        f'FROM "link_health" WHERE {CURRENT} AND {LINES_ONLY} AND {PROVINCE} '
        'GROUP BY "commune", "line", "provider", "agent"'
    )
    best = f'SELECT min("s") AS "state", {fields} FROM ({per_agent}) GROUP BY "commune", "line", "provider"'
    return (
        f'SELECT "state", {fields} FROM ({best}) WHERE "state" >= 2 AND "state" <= 3 '
        'GROUP BY "commune", "line", "provider"'
    )


def commune_map() -> str:
    per_agent = (
        'SELECT last("state_code") AS "s", last("lat") AS "lat", last("lon") AS "lon" '
        f'FROM "link_health" WHERE {CURRENT} AND {LINES_ONLY} AND {PROVINCE} GROUP BY "commune", "line", "agent"'
    )
    per_line = f'SELECT min("s") AS "state", "lat", "lon" FROM ({per_agent}) GROUP BY "commune", "line"'
    return (
        'SELECT max("state") AS "worst", last("lat") AS "latitude", last("lon") AS "longitude", '
        f'count("state") AS "lines" FROM ({per_line}) GROUP BY "commune"'
    )


def isolated_communes(where: str) -> str:
    """Communes whose best line is DOWN (or UNREACHABLE): every line is down, the commune is cut off."""
    inner = last_line_state(where, '"province", "commune", "line"')
    return f'SELECT min("state") AS "best" FROM ({inner}) GROUP BY "province", "commune"'


def outage_minutes() -> str:
    """Minutes in which every agent saw the line DOWN at some point, with that verdict's start (to the
    minute, so two agents' starts a few seconds apart make one outage) — Grafana groups them into episodes.

    Per agent the minute's WORST verdict (a 70 s cut detected 10 s in still has a DOWN minute), then the BEST
    of the agents (one agent's broken path is not an outage of the line)."""
    per_agent = (
        'SELECT max("state_code") AS "s", "since_s", "reasons" FROM "link_health" '
        f"WHERE $timeFilter AND {LINES_ONLY} AND {PROVINCE} "
        'GROUP BY time(1m), "commune", "line", "provider", "agent" fill(none)'
    )
    per_minute = (
        f'SELECT min("s") AS "state", "since_s", "reasons" FROM ({per_agent}) '
        'WHERE $timeFilter GROUP BY time(1m), "commune", "line", "provider" fill(none)'
    )
    return (
        'SELECT floor("since_s" / 60) * 60000 AS "start", "reasons" '
        f'FROM ({per_minute}) WHERE "state" = 3 GROUP BY "commune", "line", "provider"'
    )


def availability(group_by: str, where: str, *, minutes: bool = True) -> str:
    """Per-minute reachability of each line's CE (any reply from any agent = up), averaged.

    Fixed 1-minute buckets so the figure does not change with the zoom; minutes with no measurement at all
    (agent down) are not counted against the provider.
    """
    per_minute = (
        'SELECT max("packets_received") AS "rx" FROM "ping" '
        f"WHERE $timeFilter AND \"kind\" = 'ce' AND {where} "
        'GROUP BY time(1m), "line", "provider" fill(none)'
    )
    up = f'SELECT ceil("rx" / 1000000000) AS "up" FROM ({per_minute})'
    extra = ', count("up") - sum("up") AS "down_minutes", count("up") AS "measured_minutes"' if minutes else ""
    return f'SELECT 100 * mean("up") AS "availability"{extra} FROM ({up}) GROUP BY {group_by}'


def agent_reports(where: str) -> str:
    """Points per agent in the last 6 one-minute buckets (the current one partial): 0 = silent ≥ 5 min."""
    return (
        'SELECT moving_average(count("cycle_s"), 6) * 6 AS "reports" FROM "netprobe_agent" '
        f'WHERE {where} GROUP BY time(1m), "province", "agent" fill(0)'
    )


def outbox_drops(where: str, interval: str) -> str:
    return (
        'SELECT non_negative_difference(max("outbox_dropped")) AS "dropped" FROM "netprobe_agent" '
        f'WHERE {where} GROUP BY time({interval}), "province", "agent"'
    )


# ---------------------------------------------------------------------------------------------------
# Province overview
# ---------------------------------------------------------------------------------------------------
def overview() -> JSON:
    lay = Layout()
    stat_targets = [target("A", count_lines_by_state(), alias="$col")]
    lay.add(
        panel(
            "stat",
            "Lines by state now (best of the agents' verdicts)",
            stat_targets,
            description="How many dedicated lines are in each state now (newest verdict in the range).",
            defaults={"noValue": "0", "color": {"mode": "fixed"}},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
                }
                for _code, (name, colour) in STATES.items()
            ],
            options=stat_options("horizontal"),
        ),
        24,
        4,
    )
    lay.add(
        panel(
            "table",
            "Unstable and down lines, worst first",
            [target("A", problem_lines_table(), fmt="table")],
            description="Every line whose newest verdict is UNSTABLE or DOWN, ranked by score (0 = dead). "
            "Click a line for its commune dashboard.",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "state"},
                    "properties": [
                        {"id": "mappings", "value": state_mappings()},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        {"id": "thresholds", "value": state_thresholds()},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "since"},
                    "properties": [{"id": "unit", "value": "dateTimeFromNow"}],
                },
                {
                    "matcher": {"id": "byName", "options": "score"},
                    "properties": [
                        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                        {"id": "thresholds", "value": thresholds(("red", None), ("orange", 40), ("green", 80))},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "line"},
                    "properties": [
                        {"id": "links", "value": [commune_link("Commune dashboard for ${__data.fields.line}")]}
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "commune"},
                    "properties": [
                        {"id": "links", "value": [commune_link("Commune dashboard for ${__data.fields.commune}")]}
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "loss_pct"},
                    "properties": [{"id": "unit", "value": "percent"}],
                },
            ],
            options={
                "showHeader": True,
                "sortBy": [{"displayName": "score", "desc": False}],
                "cellHeight": "sm",
                "footer": {"show": False, "reducer": ["sum"], "fields": ""},
            },
            transformations=[
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "indexByName": {
                            "commune": 0,
                            "line": 1,
                            "provider": 2,
                            "state": 3,
                            "score": 4,
                            "since": 5,
                            "reasons": 6,
                            "loss_pct": 7,
                            "flaps": 8,
                        },
                        "renameByName": {},
                    },
                }
            ],
        ),
        14,
        11,
    )
    lay.add(
        panel(
            "geomap",
            "Communes by worst line state",
            [target("A", commune_map(), fmt="table")],
            description="One marker per commune at its inventory coordinates, coloured by the worst newest "
            "verdict among its lines.",
            defaults={"mappings": state_mappings(), "thresholds": state_thresholds(), "color": {"mode": "thresholds"}},
            options={
                "view": {"id": "coords", "lat": 21.2, "lon": 106.2, "zoom": 9},
                "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
                "basemap": {"type": "default", "name": "Basemap", "config": {}},
                "layers": [
                    {
                        "type": "markers",
                        "name": "Communes",
                        "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
                        "config": {
                            "showLegend": True,
                            "style": {
                                "size": {"fixed": 8, "min": 6, "max": 14, "field": "lines"},
                                "color": {"field": "worst"},
                                "opacity": 0.8,
                                "text": {"mode": "field", "field": "commune", "fixed": ""},
                                "textConfig": {
                                    "fontSize": 10,
                                    "offsetY": -14,
                                    "textAlign": "center",
                                    "textBaseline": "middle",
                                },
                            },
                        },
                        "tooltip": True,
                    }
                ],
                "tooltip": {"mode": "details"},
            },
        ),
        10,
        11,
    )
    timeline = (
        'SELECT max("state_code") FROM "link_health" '
        f'WHERE $timeFilter AND {LINES_ONLY} AND "state_code" >= 1 AND {PROVINCE} '
        'GROUP BY time($__interval), "commune", "line" fill(0)'
    )
    lay.add(
        state_timeline(
            "Problem lines over time (worst verdict of any agent)",
            [target("A", timeline, alias="$tag_commune / $tag_line")],
            description="Only lines with at least one non-OK verdict in the range; empty buckets count as OK.",
            show_value="never",
            row_height=0.85,
            align_left=True,
        ),
        24,
        10,
    )
    lay.add(
        panel(
            "table",
            "Isolated communes (every line down)",
            [
                target(
                    "A",
                    f'SELECT "best" FROM ({isolated_communes(f"{CURRENT} AND {PROVINCE}")}) '
                    'WHERE "best" >= 3 AND "best" <= 4 GROUP BY "province", "commune"',
                    fmt="table",
                )
            ],
            description="A commune cut off from the data centre: one finding instead of one per line and device.",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "best"},
                    "properties": [
                        {"id": "displayName", "value": "best line"},
                        {"id": "mappings", "value": state_mappings()},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        {"id": "thresholds", "value": state_thresholds()},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "commune"},
                    "properties": [{"id": "links", "value": [commune_link("Commune dashboard")]}],
                },
            ],
            options={"showHeader": True, "cellHeight": "sm"},
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        ),
        24,
        6,
    )
    web_services(lay)
    return dashboard(
        UID_OVERVIEW,
        "netprobe / Province overview",
        "Which communes have unstable links, since when, on which provider.",
        lay,
        [province_variable()],
        links=[dashboards_link()],
    )


def web_services(lay: Layout) -> None:
    """The province's web services (inventory url:, the http measurement): page time per service and DC,
    the peak-hours view (page time by hour of day over the range: weeks), certificate days left."""
    where = f"$timeFilter AND {PROVINCE}"
    lay.row("Web services (QLVB, DVC portal): page time from each data centre")
    lay.add(
        panel(
            "timeseries",
            "Page time (whole GET) per service and data centre",
            [
                target(
                    "A",
                    f'SELECT mean("total_ms") FROM "http" WHERE {where} '
                    'GROUP BY time($__interval), "target", "agent" fill(null)',
                    alias="$tag_target from $tag_agent",
                )
            ],
            unit="ms",
            description="DNS + connect + TLS + first byte + body, per GET (netprobe.probes.http).",
            custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 5, "spanNulls": False},
            options={"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}},
            interval="1m",
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "bargauge",
            "Peak hours: mean page time by hour of day (every service, both DCs, over the range)",
            [
                target(
                    "A",
                    f'SELECT mean("total_ms") FROM "http" WHERE {where} GROUP BY time(1h) fill(none)',
                    fmt="table",
                )
            ],
            unit="ms",
            description=(
                "Hourly means folded onto the hour of day (browser time zone): set the range to weeks to see "
                "whether the portal is slow at 08:00–10:00 every working day."
            ),
            defaults={
                "thresholds": thresholds(("green", None), ("orange", 1000), ("red", 3000)),
                "color": {"mode": "thresholds"},
            },
            options={
                "reduceOptions": {"values": True, "calcs": [], "fields": "/^mean/"},
                "orientation": "vertical",
                "displayMode": "basic",
                "showUnfilled": True,
            },
            transformations=[
                {"id": "formatTime", "options": {"timeField": "Time", "outputFormat": "HH", "useTimezone": True}},
                {
                    "id": "groupBy",
                    "options": {
                        "fields": {
                            "Time": {"operation": "groupby"},
                            "mean": {"operation": "aggregate", "aggregations": ["mean"]},
                        }
                    },
                },
                {"id": "sortBy", "options": {"sort": [{"field": "Time"}]}},
            ],
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "stat",
            "TLS certificate days left",
            [
                target(
                    "A",
                    f'SELECT last("cert_days_left") FROM "http" WHERE {where} GROUP BY "target"',
                    alias="$tag_target",
                )
            ],
            unit="d",
            description="Below 14 days the service is DEGRADED (netprobe check): renew the certificate.",
            defaults={
                "thresholds": thresholds(("red", None), ("orange", 14), ("green", 30)),
                "color": {"mode": "thresholds"},
                "decimals": 0,
            },
            options=stat_options("auto"),
        ),
        24,
        4,
    )


def state_timeline(
    title: str,
    targets: list[JSON],
    *,
    description: str = "",
    show_value: str = "auto",
    row_height: float = 0.8,
    align_left: bool = False,
) -> JSON:
    """A verdict timeline: state_code coloured and named like every other state panel."""
    options: JSON = {"showValue": show_value, "mergeValues": True, "rowHeight": row_height}
    if align_left:
        options["alignValue"] = "left"
    options["legend"] = {"showLegend": True, "displayMode": "list", "placement": "bottom"}
    options["tooltip"] = {"mode": "single", "sort": "none"}
    return panel(
        "state-timeline",
        title,
        targets,
        description=description,
        defaults={"mappings": state_mappings(), "thresholds": state_thresholds(), "color": {"mode": "thresholds"}},
        custom={"fillOpacity": 80, "lineWidth": 0},
        options=options,
    )


# ---------------------------------------------------------------------------------------------------
# Commune detail
# ---------------------------------------------------------------------------------------------------
def commune() -> JSON:
    lay = Layout()
    ce = f"$timeFilter AND {COMMUNE} AND {LINE} AND \"kind\" = 'ce'"
    state_legend = {"showLegend": True, "displayMode": "list", "placement": "bottom"}
    lay.add(
        state_timeline(
            "Line verdicts (worst of any agent)",
            [
                target(
                    "A",
                    f'SELECT max("state_code") FROM "link_health" WHERE $timeFilter AND {LINES_ONLY} '
                    f'AND {COMMUNE} AND {LINE} GROUP BY time($__interval), "line" fill(previous)',
                    alias="$tag_line",
                )
            ],
        ),
        24,
        5,
    )
    rtt = panel(
        "timeseries",
        "RTT to the CE of $line (median, p95, min–max band)",
        [
            target(
                "A",
                'SELECT min("minimum_response_ms") AS "min", mean("median_response_ms") AS "median", '
                'max("p95_response_ms") AS "p95", max("maximum_response_ms") AS "max" '
                f'FROM "ping" WHERE {ce} GROUP BY time($__interval) fill(null)',
                alias="$col",  # series named min/median/p95/max, as the band overrides expect
            )
        ],
        description="SmokePing-like: the shaded band is min–max of each interval, the dashed line p95, "
        "the solid line the median RTT of the ping bursts.",
        unit="ms",
        custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "spanNulls": False, "showPoints": "never"},
        overrides=[
            {
                "matcher": {"id": "byName", "options": "max"},
                "properties": [
                    {"id": "custom.fillBelowTo", "value": "min"},
                    {"id": "custom.fillOpacity", "value": 20},
                    {"id": "custom.lineWidth", "value": 0},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}},
                ],
            },
            {
                "matcher": {"id": "byName", "options": "min"},
                "properties": [
                    {"id": "custom.lineWidth", "value": 0},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}},
                ],
            },
            {
                "matcher": {"id": "byName", "options": "p95"},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [6, 4]}},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}},
                ],
            },
            {
                "matcher": {"id": "byName", "options": "median"},
                "properties": [
                    {"id": "custom.lineWidth", "value": 2},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "dark-green"}},
                ],
            },
        ],
        options={"legend": state_legend, "tooltip": {"mode": "multi", "sort": "none"}},
    )
    rtt["repeat"] = "line"
    rtt["repeatDirection"] = "h"
    rtt["maxPerRow"] = 2
    lay.add(rtt, 24, 8)
    lay.add(
        panel(
            "timeseries",
            "Packet loss to the CE",
            [
                target(
                    "A",
                    f'SELECT mean("percent_packet_loss") FROM "ping" WHERE {ce} GROUP BY time($__interval), "line" fill(null)',  # noqa: E501
                    alias="$tag_line",
                )
            ],
            unit="percent",
            defaults={"min": 0, "max": 100},
            custom={"drawStyle": "bars", "fillOpacity": 60, "lineWidth": 1},
            options={"legend": state_legend, "tooltip": {"mode": "multi", "sort": "desc"}},
        ),
        12,
        7,
    )
    lay.add(
        panel(
            "timeseries",
            "Jitter to the CE",
            [
                target(
                    "A",
                    f'SELECT mean("jitter_ms") FROM "ping" WHERE {ce} GROUP BY time($__interval), "line" fill(null)',
                    alias="$tag_line",
                )
            ],
            unit="ms",
            custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10},
            options={"legend": state_legend, "tooltip": {"mode": "multi", "sort": "desc"}},
        ),
        12,
        7,
    )
    lay.add(
        state_timeline(
            "Device verdicts (UNREACHABLE = behind a failed line)",
            [
                target(
                    "A",
                    f'SELECT max("state_code") FROM "link_health" WHERE $timeFilter AND {DEVICES_ONLY} '
                    f'AND {COMMUNE} GROUP BY time($__interval), "device" fill(previous)',
                    alias="$tag_device",
                )
            ],
        ),
        24,
        6,
    )
    lay.row("SNMP: watched interfaces and devices")
    snmp_if = (
        f'FROM "snmp_if" WHERE $timeFilter AND {COMMUNE} GROUP BY time($__interval), "device", "ifname" fill(null)'
    )
    lay.add(
        panel(
            "timeseries",
            "Throughput",
            [
                target(
                    "A",
                    f'SELECT mean("in_bps") AS "in", mean("out_bps") AS "out" {snmp_if}',
                    alias="$tag_device $tag_ifname $col",
                )
            ],
            unit="bps",
            interval=SNMP_INTERVAL,
            custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 5},
            options={
                "legend": {"showLegend": True, "displayMode": "table", "placement": "right", "calcs": ["max", "mean"]},
                "tooltip": {"mode": "multi", "sort": "desc"},
            },
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "Utilisation",
            [
                target(
                    "A",
                    f'SELECT max("in_util_pct") AS "in", max("out_util_pct") AS "out" {snmp_if}',
                    alias="$tag_device $tag_ifname $col",
                )
            ],
            unit="percent",
            interval=SNMP_INTERVAL,
            defaults={"min": 0, "max": 100, "thresholds": thresholds(("green", None), ("orange", 70), ("red", 90))},
            custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 5, "thresholdsStyle": {"mode": "dashed"}},
            options={
                "legend": {"showLegend": True, "displayMode": "table", "placement": "right", "calcs": ["max"]},
                "tooltip": {"mode": "multi", "sort": "desc"},
            },
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "Interface errors and discards",
            [
                target(
                    "A",
                    'SELECT mean("in_errors_per_s") AS "in_errors", mean("out_errors_per_s") AS "out_errors", '
                    f'mean("in_discards_per_s") AS "in_discards", mean("out_discards_per_s") AS "out_discards" {snmp_if}',  # noqa: E501
                    alias="$tag_device $tag_ifname $col",
                )
            ],
            unit="pps",
            interval=SNMP_INTERVAL,
            custom={"drawStyle": "bars", "fillOpacity": 60, "lineWidth": 1},
            options={
                "legend": {"showLegend": True, "displayMode": "table", "placement": "right", "calcs": ["max", "sum"]},
                "tooltip": {"mode": "multi", "sort": "desc"},
            },
        ),
        12,
        8,
    )
    lay.add(
        panel(
            "timeseries",
            "Device uptime (reboots are marked)",
            [
                target(
                    "A",
                    f'SELECT last("uptime_s") FROM "snmp_sys" WHERE $timeFilter AND {COMMUNE} '
                    'GROUP BY time($__interval), "device" fill(null)',
                    alias="$tag_device",
                )
            ],
            description="sysUpTime; a drop to zero is a reboot, also shown as a red annotation.",
            unit="s",
            interval=SNMP_INTERVAL,
            custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0},
            options={
                "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
                "tooltip": {"mode": "multi", "sort": "none"},
            },
        ),
        12,
        8,
    )
    reboots = {
        "name": "Reboots",
        "datasource": ds(),
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "query": " ".join(
            f'SELECT "uptime_s", "device" FROM "snmp_sys" WHERE $timeFilter AND {COMMUNE} AND "rebooted" = true'.split()
        ),
        "textColumn": "device",
        "tagsColumn": "device",
    }
    variables = [
        query_variable("commune", "Commune", 'SHOW TAG VALUES FROM "link_health" WITH KEY = "commune"'),
        query_variable(
            "line",
            "Line",
            f'SHOW TAG VALUES FROM "ping" WITH KEY = "line" WHERE {COMMUNE}',
            multi=True,
            include_all=True,
        ),
    ]
    return dashboard(
        UID_COMMUNE,
        "netprobe / Commune detail",
        "One commune: its lines (RTT, loss, jitter, verdicts) and its LAN gear (SNMP).",
        lay,
        variables,
        annotations=[reboots],
        links=[dashboards_link()],
    )


# ---------------------------------------------------------------------------------------------------
# Provider SLA
# ---------------------------------------------------------------------------------------------------
def sla() -> JSON:
    lay = Layout()
    sla_thresholds = thresholds(("red", None), ("orange", SLA_RED_PCT), ("green", SLA_GREEN_PCT))
    lay.add(
        panel(
            "bargauge",
            "Availability per provider",
            [
                target(
                    "A", availability('"provider"', PROVINCE, minutes=False), fmt="time_series", alias="$tag_provider"
                )
            ],
            description="Share of measured minutes in which the line's CE answered at least one ping from any "
            "agent, over all the provider's lines.",
            unit="percent",
            defaults={
                "min": 95,
                "max": 100,
                "decimals": 3,
                "thresholds": sla_thresholds,
                "color": {"mode": "thresholds"},
            },
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "orientation": "horizontal",
                "displayMode": "lcd",
                "showUnfilled": True,
                "valueMode": "color",
            },
        ),
        24,
        5,
    )
    lay.add(
        panel(
            "table",
            "Availability per line",
            [target("A", availability('"provider", "line"', PROVINCE), fmt="table")],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "availability"},
                    "properties": [
                        {"id": "unit", "value": "percent"},
                        {"id": "decimals", "value": 3},
                        {"id": "thresholds", "value": sla_thresholds},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                },
                {"matcher": {"id": "byName", "options": "down_minutes"}, "properties": [{"id": "unit", "value": "m"}]},
                {
                    "matcher": {"id": "byName", "options": "measured_minutes"},
                    "properties": [{"id": "unit", "value": "m"}],
                },
            ],
            options={
                "showHeader": True,
                "sortBy": [{"displayName": "availability", "desc": False}],
                "cellHeight": "sm",
            },
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        ),
        12,
        12,
    )
    outages = outage_minutes()
    lay.add(
        panel(
            "table",
            "Outages (DOWN verdicts)",
            [target("A", outages, fmt="table")],
            description="One row per DOWN episode: start is when the verdict entered DOWN, last seen is the newest "
            "DOWN verdict (an ongoing outage has last seen ≈ now).",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "start"},
                    "properties": [{"id": "unit", "value": "dateTimeAsIso"}],
                },
                {
                    "matcher": {"id": "byName", "options": "last seen"},
                    "properties": [{"id": "unit", "value": "dateTimeAsIso"}],
                },
                {
                    "matcher": {"id": "byName", "options": "duration"},
                    "properties": [{"id": "unit", "value": "dtdurationms"}],
                },
            ],
            options={"showHeader": True, "sortBy": [{"displayName": "start", "desc": True}], "cellHeight": "sm"},
            transformations=[
                {
                    "id": "groupBy",
                    "options": {
                        "fields": {
                            "start": {"aggregations": [], "operation": "groupby"},
                            "commune": {"aggregations": [], "operation": "groupby"},
                            "line": {"aggregations": [], "operation": "groupby"},
                            "provider": {"aggregations": [], "operation": "groupby"},
                            "Time": {"aggregations": ["max", "range"], "operation": "aggregate"},
                            "reasons": {"aggregations": ["last"], "operation": "aggregate"},
                        }
                    },
                },
                {
                    "id": "organize",
                    "options": {
                        "renameByName": {
                            "Time (max)": "last seen",
                            "Time (range)": "duration",
                            "reasons (last)": "reasons",
                        }
                    },
                },
            ],
        ),
        12,
        12,
    )
    return dashboard(
        UID_SLA,
        "netprobe / Provider SLA",
        "Availability per provider and line over the chosen range, and the outages behind it.",
        lay,
        [province_variable()],
        time_from="now-30d",
        links=[dashboards_link()],
    )


# ---------------------------------------------------------------------------------------------------
# Agent health
# ---------------------------------------------------------------------------------------------------
def agents() -> JSON:
    lay = Layout()
    where = f"$timeFilter AND {AGENT}"
    legend = {"showLegend": True, "displayMode": "list", "placement": "bottom"}

    def series(title: str, query: str, unit: str, alias: str = "$tag_agent $tag_probe", description: str = "") -> JSON:
        return panel(
            "timeseries",
            title,
            [target("A", query, alias=alias)],
            unit=unit,
            description=description,
            custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 5, "spanNulls": False},
            options={"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}},
        )

    lay.add(
        panel(
            "stat",
            "Agent reporting (points in the last 6 min)",
            [target("A", agent_reports(where), alias="$tag_agent")],
            description="Red SILENT: no self-metric from this agent for 5 minutes or more.",
            defaults={
                "mappings": [
                    {"type": "value", "options": {"0": {"text": "SILENT", "color": "red", "index": 0}}},
                ],
                "thresholds": thresholds(("red", None), ("green", 0.5)),
                "color": {"mode": "thresholds"},
            },
            options=stat_options("auto"),
        ),
        24,
        4,
    )
    lay.add(
        series(
            "Cycle lag (late start of a cycle)",
            f'SELECT max("lag_s") FROM "netprobe_agent" WHERE {where} GROUP BY time($__interval), "agent", "probe" fill(null)',  # noqa: E501
            "s",
        ),
        12,
        8,
    )
    lay.add(
        series(
            "Probes per second",
            f'SELECT mean("probes_per_s") FROM "netprobe_agent" WHERE {where} GROUP BY time($__interval), "agent", "probe" fill(null)',  # noqa: E501
            "ops",
        ),
        12,
        8,
    )
    lay.add(
        series(
            "Cycle duration",
            f'SELECT max("cycle_s") FROM "netprobe_agent" WHERE {where} GROUP BY time($__interval), "agent", "probe" fill(null)',  # noqa: E501
            "s",
        ),
        12,
        8,
    )
    lay.add(
        series(
            "Outbox depth (points waiting for the database)",
            f'SELECT max("outbox_depth") FROM "netprobe_agent" WHERE {where} GROUP BY time($__interval), "agent" fill(null)',  # noqa: E501
            "short",
            alias="$tag_agent",
        ),
        12,
        8,
    )
    drops = panel(
        "timeseries",
        "Outbox drops (points lost by the drop policy)",
        [target("A", outbox_drops(where, "$__interval"), alias="$tag_agent")],
        unit="short",
        description="Anything above zero is data lost for good: the outbox hit its size/age bound.",
        defaults={"thresholds": thresholds(("green", None), ("red", 1)), "color": {"mode": "thresholds"}},
        custom={"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1, "thresholdsStyle": {"mode": "area"}},
        options={"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}},
    )
    lay.add(drops, 12, 8)
    # issue 17: the people on the spot are told only while the notify channels work
    lay.add(
        series(
            "Notifications waiting, per channel",
            f'SELECT max("queue_depth") FROM "netprobe_notify" WHERE {where} GROUP BY time($__interval), "agent", "channel" fill(null)',  # noqa: E501
            "short",
            alias="$tag_agent $tag_channel",
        ),
        12,
        8,
    )
    failing = panel(
        "timeseries",
        "Notification channels failing (Zalo, e-mail, webhook)",
        [
            target(
                "A",
                f'SELECT max("failing") FROM "netprobe_notify" WHERE {where} GROUP BY time($__interval), "agent", "channel" fill(null)',  # noqa: E501
                alias="$tag_agent $tag_channel",
            )
        ],
        unit="short",
        description="1: the channel's last attempt failed (`netprobe notify status` says why); its messages stay "
        "queued and are retried with backoff. Nobody is being told over it while this is red.",
        defaults={"thresholds": thresholds(("green", None), ("red", 1)), "color": {"mode": "thresholds"}, "min": 0},
        custom={"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1, "thresholdsStyle": {"mode": "area"}},
        options={"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}},
    )
    lay.add(failing, 12, 8)
    lay.add(
        series(
            "Memory (RSS)",
            f'SELECT max("rss_mb") FROM "netprobe_agent" WHERE {where} GROUP BY time($__interval), "agent" fill(null)',
            "decmbytes",
            alias="$tag_agent",
        ),
        12,
        8,
    )
    variables = [
        query_variable(
            "agent", "Agent", 'SHOW TAG VALUES FROM "netprobe_agent" WITH KEY = "agent"', multi=True, include_all=True
        )
    ]
    return dashboard(
        UID_AGENTS,
        "netprobe / Agent health",
        "Is each netprobe agent keeping its schedule and getting its data into the database?",
        lay,
        variables,
        time_from="now-6h",
        links=[dashboards_link()],
    )


def all_dashboards() -> dict[str, JSON]:
    """File name (without .json) -> dashboard JSON."""
    return {
        "province-overview": overview(),
        "commune-detail": commune(),
        "provider-sla": sla(),
        "agent-health": agents(),
    }
