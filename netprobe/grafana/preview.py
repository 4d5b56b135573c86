"""PNG previews of the dashboards: each panel's queries run on a scratch influxd filled by the data-filling
step, drawn with matplotlib at the panel's grid position. A PREVIEW, NOT A GRAFANA SCREENSHOT (no Grafana
runs here). Dev only: matplotlib is in the `dev` extras.

    python -m netprobe.grafana preview        # writes grafana/preview/<dashboard>.png
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display here
matplotlib.rcParams["text.parse_math"] = False  # titles and aliases contain $ signs
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from netprobe.grafana import evaluate  # noqa: E402
from netprobe.grafana.build import JSON, STATES  # noqa: E402
from netprobe.grafana.dashboards import all_dashboards  # noqa: E402
from netprobe.grafana.influx import InfluxClient, Series  # noqa: E402
from netprobe.grafana.influxql import Context, Query, aliased, dashboard_queries, parse_duration_ms  # noqa: E402
from netprobe.grafana.scenario import GroundTruth, fill_interim_scenario  # noqa: E402
from netprobe.storage.influxd import InfluxD  # noqa: E402

COLOURS = {
    "green": "#73BF69",
    "yellow": "#FADE2A",
    "orange": "#FF9830",
    "red": "#F2495C",
    "purple": "#B877D9",
    "gray": "#8E8E8E",
    "dark-green": "#37872D",
    "blue": "#5794F2",
}
PALETTE = [
    "#7EB26D",
    "#EAB839",
    "#6ED0E0",
    "#EF843C",
    "#E24D42",
    "#1F78C1",
    "#BA43A9",
    "#705DA0",
    "#508642",
    "#CCA300",
    "#447EBC",
    "#C15C17",
]
STATE_COLOUR = {code: COLOURS[c] for code, (_n, c) in STATES.items()}
STATE_NAME = {code: n for code, (n, _c) in STATES.items()}
NAN = float("nan")
BANNER = "PREVIEW — not a Grafana screenshot: each panel's InfluxQL run on influxd 1.6.7, drawn with matplotlib"
CHOSEN: dict[str, dict[str, str | list[str]]] = {
    "commune-detail": {"commune": "kinh-bac", "line": "kinh-bac-vnpt-1"},
}
UNIT_H_IN = 0.42
WIDTH_IN = 20.0


def _time(ms: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _day(ms: float) -> float:
    """Matplotlib's date number (days since its default 1970 epoch) of unix milliseconds."""
    return ms / 86_400_000


def _series_frames(q: Query, series: list[Series]) -> list[tuple[str, list[float], list[float]]]:
    frames = []
    for s in series:
        for i, col in enumerate(s.columns[1:], start=1):
            frames.append(
                (
                    aliased(q.alias, s.name, s.tags, col),
                    [_day(v[0]) for v in s.values],
                    [NAN if v[i] is None else float(v[i]) for v in s.values],
                )
            )
    return frames


def _fmt_time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=dt.UTC))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=[0, 30], tz=dt.UTC))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)


def draw_timeseries(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]], bucket_s: float = 30) -> None:
    frames = [f for q, s in results for f in _series_frames(q, s)]
    names = {name for name, *_ in frames}
    bars = panel["fieldConfig"]["defaults"].get("custom", {}).get("drawStyle") == "bars"
    if {"min", "max", "median", "p95"} <= names:  # the SmokePing-like RTT band
        by = {name: (t, v) for name, t, v in frames}
        t = by["min"][0]
        lo, hi = by["min"][1], by["max"][1]
        ax.fill_between(t, lo, hi, color=COLOURS["green"], alpha=0.25, lw=0, label="min–max")
        ax.plot(t, by["p95"][1], color=COLOURS["orange"], ls="--", lw=1, label="p95")
        ax.plot(t, by["median"][1], color=COLOURS["dark-green"], lw=1.6, label="median")
    else:
        for i, (name, t, v) in enumerate(sorted(frames)[:12]):
            values = v
            if bars:
                ax.bar(t, values, width=bucket_s / 86400, color=PALETTE[i % len(PALETTE)], label=name)
            else:
                ax.plot(t, values, lw=1, color=PALETTE[i % len(PALETTE)], label=name)
        if len(frames) > 12:
            ax.text(0.99, 0.02, f"+{len(frames) - 12} more series", transform=ax.transAxes, ha="right", fontsize=6)
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    ax.set_ylabel(unit, fontsize=7)
    _fmt_time_axis(ax)
    if frames:
        ax.legend(fontsize=6, loc="upper left", ncol=2, framealpha=0.6)


def draw_state_timeline(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]]) -> None:
    frames = sorted(f for q, s in results for f in _series_frames(q, s))
    for row, (_name, t, v) in enumerate(frames):
        for i, value in enumerate(v):
            if value != value:  # NaN: no verdict in this bucket
                continue
            end = t[i + 1] if i + 1 < len(t) else t[i] + (t[i] - t[i - 1] if i else 30 / 86400)
            ax.barh(
                row,
                end - t[i],
                left=t[i],
                height=0.8,
                color=STATE_COLOUR.get(int(value), "#444"),
                lw=0,
            )
    ax.set_yticks(range(len(frames)), [name for name, *_ in frames], fontsize=7)
    ax.invert_yaxis()
    _fmt_time_axis(ax)
    handles = [Rectangle((0, 0), 1, 1, color=STATE_COLOUR[c]) for c in STATES]
    ax.legend(handles, [STATE_NAME[c] for c in STATES], fontsize=6, ncol=6, loc="lower right", framealpha=0.7)


def draw_stat(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]]) -> None:
    ax.axis("off")
    items: list[tuple[str, float, str]] = []
    mapping = {m["options"].get("0", {}).get("text"): 0 for m in panel["fieldConfig"]["defaults"].get("mappings", [])}
    overrides = {
        o["matcher"]["options"]: o["properties"][0]["value"].get("fixedColor")
        for o in panel["fieldConfig"]["overrides"]
    }
    for q, series in results:
        for s in series:
            for i, column in enumerate(s.columns[1:], start=1):
                value = float([v[i] for v in s.values if v[i] is not None][-1])  # reducer lastNotNull
                name = aliased(q.alias, s.name, s.tags, column)
                colour = overrides.get(name) or ("red" if value < 0.5 else "green")
                items.append((name, value, COLOURS.get(colour, "#888")))
    n = max(1, len(items))
    for i, (name, value, colour) in enumerate(items):
        x = i / n
        ax.add_patch(Rectangle((x + 0.005, 0.05), 1 / n - 0.01, 0.9, color=colour, transform=ax.transAxes))
        text = "SILENT" if value == 0 and "SILENT" in mapping else f"{value:g}"
        ax.text(x + 0.5 / n, 0.55, text, ha="center", va="center", fontsize=16, weight="bold", transform=ax.transAxes)
        ax.text(x + 0.5 / n, 0.2, name, ha="center", va="center", fontsize=8, transform=ax.transAxes)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in ("since", "start", "last seen", "time"):
        return _time(float(value)).strftime("%m-%d %H:%M")
    if name in ("state", "best", "worst"):
        return STATE_NAME.get(int(value), str(value))
    if name == "duration":
        return f"{float(value) / 60000:.0f} min"
    if isinstance(value, float):
        return f"{value:.3f}" if name == "availability" else f"{value:.1f}"
    return str(value)[:60]


def draw_table(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]]) -> None:
    ax.axis("off")
    table = [row for _q, series in results for s in series for row in s.rows()]
    if any(t["id"] == "groupBy" for t in panel.get("transformations", [])):
        table = evaluate.group_outages(table)
    table = [{k: v for k, v in row.items() if k != "time"} for row in table]
    sort = panel["options"].get("sortBy", [])
    if sort and table:
        key, desc = sort[0]["displayName"], sort[0]["desc"]
        table.sort(key=lambda r: (r.get(key) is None, r.get(key) or 0), reverse=desc)
    if not table:
        ax.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=10, color="#888", transform=ax.transAxes)
        return
    columns = list(table[0])
    order = panel.get("transformations", [{}])[-1].get("options", {}).get("indexByName")
    if order:
        columns = sorted(columns, key=lambda c: order.get(c, 99))
    cells = [[_cell(c, row.get(c)) for c in columns] for row in table[:14]]
    widths = [max(len(c), *(len(row[i]) for row in cells)) + 2 for i, c in enumerate(columns)]
    t = ax.table(
        cellText=cells,
        colLabels=columns,
        loc="upper center",
        cellLoc="left",
        colWidths=[w / sum(widths) for w in widths],
    )
    t.auto_set_font_size(False)
    t.set_fontsize(7)
    t.scale(1, 1.25)
    for (r, c), cell in t.get_celld().items():
        if r > 0 and columns[c] in ("state", "best", "worst"):
            value = table[r - 1].get(columns[c])
            cell.set_facecolor(STATE_COLOUR.get(int(str(value)), "white"))
    if len(table) > 14:
        ax.text(0.99, 0.0, f"+{len(table) - 14} more rows", transform=ax.transAxes, ha="right", fontsize=6)


def draw_geomap(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]]) -> None:
    table = [row for _q, series in results for s in series for row in s.rows()]
    placed = [row for row in table if row["latitude"] is not None and row["longitude"] is not None]
    if len(placed) < len(table):  # Grafana leaves a commune without coordinates off the map: say so
        missing = ", ".join(sorted(str(row["commune"]) for row in table if row not in placed))
        ax.text(
            0.5,
            0.5,
            f"no coordinates in link_health for: {missing}",
            transform=ax.transAxes,
            ha="center",
            fontsize=8,
            color="#B00020",
            wrap=True,
        )
    for row in placed:
        colour = STATE_COLOUR.get(int(str(row["worst"])), "#888")
        ax.scatter(
            [row["longitude"]],
            [row["latitude"]],
            s=40 + 25 * float(str(row["lines"])),
            color=colour,
            edgecolor="black",
            lw=0.5,
            zorder=3,
        )
        ax.annotate(
            str(row["commune"]),
            (float(str(row["longitude"])), float(str(row["latitude"]))),
            fontsize=7,
            xytext=(0, 8),
            textcoords="offset points",
            ha="center",
        )
    ax.set_xlabel("longitude", fontsize=7)
    ax.set_ylabel("latitude", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.25)
    ax.text(0.01, 0.01, "no basemap in the preview", transform=ax.transAxes, fontsize=6, color="#666")


PREVIEW_TZ = dt.timezone(dt.timedelta(hours=7))  # the province's browsers (Grafana folds on the viewer's time zone)


def draw_hour_of_day(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]]) -> None:
    """The panel's formatTime("HH") + groupBy(mean) transformations, done here: one bar per hour of day."""
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    by_hour: dict[str, list[float]] = {}
    for _q, ss in results:
        for s in ss:
            for row in s.values:
                if row[1] is not None:
                    hour = dt.datetime.fromtimestamp(row[0] / 1000, tz=PREVIEW_TZ).strftime("%H")
                    by_hour.setdefault(hour, []).append(float(row[1]))
    hours = sorted(by_hour)
    means = [sum(by_hour[h]) / len(by_hour[h]) for h in hours]
    for i, value in enumerate(means):
        colour = [st["color"] for st in steps if st["value"] is None or value >= st["value"]][-1]
        ax.bar(i, value, color=COLOURS.get(colour, "#888"), width=0.7)
        ax.text(i, value, f"{value:.0f} ms", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(hours)), [f"{h}:00" for h in hours], fontsize=8)
    ax.tick_params(labelsize=7)


def draw_bargauge(ax: Axes, panel: JSON, results: list[tuple[Query, list[Series]]]) -> None:
    if any(t.get("id") == "formatTime" for t in panel.get("transformations", [])):
        draw_hour_of_day(ax, panel, results)
        return
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    lo, hi = panel["fieldConfig"]["defaults"]["min"], panel["fieldConfig"]["defaults"]["max"]
    items = [(aliased(q.alias, s.name, s.tags, s.columns[1]), float(s.values[-1][1])) for q, ss in results for s in ss]
    for i, (_name, value) in enumerate(items):
        colour = [st["color"] for st in steps if st["value"] is None or value >= st["value"]][-1]
        ax.barh(i, value - lo, left=lo, color=COLOURS.get(colour, "#888"), height=0.6)
        ax.text(lo + 0.02 * (hi - lo), i, f"{value:.3f} %", va="center", fontsize=10, weight="bold")
    ax.set_yticks(range(len(items)), [n for n, _ in items], fontsize=8)
    ax.set_xlim(lo, hi)
    ax.tick_params(labelsize=7)
    ax.invert_yaxis()


DRAW: dict[str, Callable[[Axes, JSON, list[tuple[Query, list[Series]]]], None]] = {
    "timeseries": draw_timeseries,
    "state-timeline": draw_state_timeline,
    "stat": draw_stat,
    "table": draw_table,
    "geomap": draw_geomap,
    "bargauge": draw_bargauge,
}


def board_annotation(board: JSON, name: str) -> JSON:
    return next(a for a in board["annotations"]["list"] if a["name"] == name)


def render_dashboard(
    name: str,
    board: JSON,
    client: InfluxClient,
    truth: GroundTruth | None = None,
    *,
    range_ms: tuple[int, int] | None = None,
    chosen: dict[str, dict[str, str | list[str]]] | None = None,
    data: str = "interim scripted scenario",
) -> Figure:
    """One dashboard drawn from its queries over the scripted scenario's range (`truth`) or `range_ms`."""
    if range_ms is None:
        assert truth is not None, "render_dashboard needs the scenario's truth or a range"
        range_ms = (truth.start_s * 1000, truth.end_s * 1000 - 1)
    ctx: Context = evaluate.view(board, client, *range_ms, (CHOSEN if chosen is None else chosen).get(name, {}))
    marks = [
        (q.title, _day(float(str(row["time"]))), str(row.get(board_annotation(board, q.title)["textColumn"], "")))
        for q in dashboard_queries(name, board)
        if q.kind == "annotation"
        for row in (r for s in evaluate.run_panel_query(q, client, ctx, board) for r in s.rows())
    ]
    queries = dashboard_queries(name, board)
    panels = [p for p in board["panels"]]
    total_h = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) + 2
    fig = plt.figure(figsize=(WIDTH_IN, total_h * UNIT_H_IN))
    fig.text(
        0.5,
        1 - 0.6 / total_h,
        f"{board['title']}   —   {BANNER}",
        ha="center",
        va="center",
        fontsize=11,
        weight="bold",
        color="#B00020",
    )
    variables = ", ".join(f"{k}={'All' if v == '$__all' else v}" for k, v in ctx.variables.items())
    fig.text(
        0.5,
        1 - 1.3 / total_h,
        f"range {_time(ctx.start_ms):%Y-%m-%d %H:%M}–{_time(ctx.end_ms):%H:%M} UTC, "
        f"$__interval={ctx.interval}; {variables or 'no variables'}; data: {data}",
        ha="center",
        va="center",
        fontsize=8,
        color="#444",
    )
    for p in panels:
        g = p["gridPos"]
        y0 = 1 - (g["y"] + 2 + g["h"]) / total_h
        if p["type"] == "row":
            fig.text(0.01, y0 + 0.5 / total_h, p["title"], fontsize=10, weight="bold")
            continue
        left = 0.085 if p["type"] in ("state-timeline", "bargauge") else 0.035  # room for row labels
        ax = fig.add_axes((g["x"] / 24 + left, y0 + 0.9 / total_h, g["w"] / 24 - left - 0.01, (g["h"] - 1.6) / total_h))
        title = p["title"].replace("$line", str(ctx.variables.get("line", "")))
        ax.set_title(title, fontsize=9, loc="left")
        results = [(q, evaluate.run_panel_query(q, client, ctx, board)) for q in queries if q.panel is p]
        if p["type"] == "timeseries":
            bucket_s = parse_duration_ms(p.get("interval") or ctx.interval) / 1000
            draw_timeseries(ax, p, results, max(bucket_s, parse_duration_ms(ctx.interval) / 1000))
            for title, at, text in marks:
                ax.axvline(at, color="red", lw=1.2, alpha=0.8)
                ax.text(
                    at, 0.98, f" {title}: {text}", color="red", fontsize=7, va="top", transform=ax.get_xaxis_transform()
                )
        else:
            DRAW[p["type"]](ax, p, results)
    return fig


LAB_CHOSEN: dict[str, dict[str, str | list[str]]] = {"commune-detail": {"commune": "kinh-bac", "line": "kinh-bac-l1"}}


def render_all(out: Path, inventory: Path, *, lab: bool = False) -> list[Path]:
    """Every dashboard as a PNG: from a lab run (`lab`, root, ~3 min) or the scripted scenario (~1 min)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (
        tempfile.TemporaryDirectory(prefix="netprobe-grafana-") as tmp,
        InfluxD.start(Path(tmp) / "influxd") as server,
    ):
        client = InfluxClient(server.url, "netprobe")
        if lab:
            from netprobe.grafana.labrun import fill_from_lab

            run = fill_from_lab(client, Path(tmp))
            end_ms = int(run.end_s * 1000)
            # the agent's run and a little before it, so the panels use the width for the data
            kw: dict[str, Any] = dict(
                range_ms=(int(run.start_s * 1000) - 60_000, end_ms),
                chosen=LAB_CHOSEN,
                data=f"lab run ({len(run.inventory['communes'])} communes, real agent, netprobe.grafana.labrun)",
            )
        else:
            kw = {"truth": fill_interim_scenario(client, inventory)}
        for name, board in all_dashboards().items():
            fig = render_dashboard(name, board, client, **kw)
            path = out / f"{name}.png"
            fig.savefig(path, dpi=80)
            plt.close(fig)
            written.append(path)
    return written
