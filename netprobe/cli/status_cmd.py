"""`netprobe status`: province-wide problems, ranked worst first, from stored history."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from netprobe import limits
from netprobe.cli import bounds
from netprobe.cli.context import App, pass_app
from netprobe.errors import ConfigError, NetprobeError
from netprobe.health.status import StatusReport, ago, status_from_points, status_from_source
from netprobe.health.topology import Topology
from netprobe.health.verdict import State
from netprobe.storage.facade import LOCAL_FILE, open_storage
from netprobe.storage.point import Point, PointSource

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STYLE = {
    State.DOWN: "bold red",
    State.UNSTABLE: "red",
    State.DEGRADED: "yellow",
    State.UNREACHABLE: "magenta",
    State.UNKNOWN: "dim",
    State.OK: "green",
}


def parse_duration(text: str) -> float:
    """'90s', '30m', '1h', '2d', '1w' or plain seconds (bounded: netprobe.cli.bounds)."""
    return bounds.parse_duration(text, "--since")


def load_points_file(path: Path) -> list[Point]:
    """JSON lines, one point each: {"measurement", "tags", "fields", "time_ns"} (an export of the store)."""
    points: list[Point] = []
    try:
        lines = limits.read_file(path, limits.POINTS_FILE_MAX_BYTES, "--from").decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise NetprobeError(f"{path}: cannot read: {exc}") from None
    except limits.TooLarge as exc:
        raise NetprobeError(f"{exc}: export a shorter span (--since) or split the file") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            points.append(Point(str(row["measurement"]), dict(row["tags"]), dict(row["fields"]), int(row["time_ns"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise NetprobeError(
                f"{path}:{number}: not a point ({exc}); expected "
                '{"measurement": "ping", "tags": {...}, "fields": {...}, "time_ns": 1700000000000000000}'
            ) from None
    return points


@contextmanager
def open_history(app: App) -> Iterator[PointSource]:
    """The configured history store: the embedded local store in the state directory, or InfluxDB.

    A local store that does not exist yet is an error, not an empty province: an empty report would read
    as "no problems" when nothing was ever measured here.
    """
    config = app.config
    if config.storage.sink == "local":
        store = config.state_path() / LOCAL_FILE
        if not store.exists():
            raise ConfigError(
                f"no history at {store}: run `netprobe run` (or `run --once`) with this state directory first, "
                "set state_dir/NETPROBE_STATE_DIR to the agent's, or pass --from FILE.jsonl"
            )
    storage = open_storage(config)
    try:
        yield storage.source()
    finally:
        storage.close(flush_timeout_s=0.1)


@click.command()
@click.option("--since", "since", default="1h", show_default=True, metavar="DURATION",
              help="Window of interest: problems now, and lines that recovered within it (30m, 1h, 1d).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (documented in docs/verdicts.md).")
@click.option("--plain", is_flag=True, help="Plain text even on a terminal.")
@click.option("--from", "from_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Read history from a JSON-lines file of points instead of the store.")  # fmt: skip
@click.option("--at", "at", type=bounds.UnixTime(), metavar="UNIX_S", help="Judge as of this time (default: now).")
@pass_app
def status(app: App, since: str, as_json: bool, plain: bool, from_file: Path | None, at: float | None) -> None:
    """Province-wide verdicts, worst first: one line per problem with commune, line, provider, state,
    since and evidence."""
    since_s = parse_duration(since)
    topology = Topology.from_inventory(app.inventory())
    now = at if at is not None else time.time()
    if from_file is not None:
        report = status_from_points(topology, load_points_file(from_file), now, since_s)
    else:
        with open_history(app) as source:
            report = status_from_source(topology, source, now, since_s)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    elif plain or not sys.stdout.isatty():
        click.echo(render_plain(report))
    else:
        render_rich(report, Console())


def _cells(report: StatusReport) -> list[dict[str, Any]]:
    rows = []
    for p in report.problems:
        what = p.subject if p.kind in ("line", "device") else f"({p.kind})"
        if p.kind == "agent":
            what = f"vantage point {p.subject}"
        elif p.kind == "service":
            what = f"service {p.subject}"
        rows.append(
            {
                "state": "RECOVERED" if p.recovered else p.state.value,
                "style": "green" if p.recovered else _STYLE[p.state],
                "commune": p.commune_name or "—",
                "what": what,
                "provider": p.provider or "—",
                "since": ago(report.time, p.since, report.first_evaluation),
                "evidence": p.evidence,
            }
        )
    return rows


def _summary(report: StatusReport) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in report.counts.items() if n)
    current = sum(1 for p in report.problems if not p.recovered)
    from netprobe.health.reasons import duration

    return (
        f"{current} problem(s) now, {len(report.problems) - current} recovered in the last "
        f"{duration(report.since_s)}; lines: {counts or 'none'}"
    )


def render_plain(report: StatusReport) -> str:
    rows = _cells(report)
    cols = ("state", "commune", "what", "provider", "since")
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in cols}
    out = ["  ".join(c.upper().ljust(widths[c]) for c in cols) + "  EVIDENCE"]
    out += ["  ".join(r[c].ljust(widths[c]) for c in cols) + "  " + r["evidence"] for r in rows]
    if not rows:
        out = ["no problems"]
    out.append(_summary(report))
    return "\n".join(out)


def render_rich(report: StatusReport, console: Console) -> None:
    rows = _cells(report)
    if not rows:
        console.print("[green]no problems[/]")
    else:
        table = Table(show_lines=False, header_style="bold")
        for name in ("State", "Commune", "Line / device", "Provider", "Since", "Evidence"):
            table.add_column(name, overflow="fold")
        for r in rows:
            table.add_row(f"[{r['style']}]{r['state']}[/]", r["commune"], r["what"], r["provider"], r["since"],
                          r["evidence"])  # fmt: skip
        console.print(table)
    console.print(_summary(report))
