"""`netprobe outbox status|flush`: what is waiting to reach InfluxDB, and sending it now."""

from __future__ import annotations

import json
import sys

import click

from netprobe.cli.bounds import Finite
from netprobe.cli.context import App, pass_app
from netprobe.errors import EXIT_FAILURE, NetprobeError
from netprobe.storage.facade import StorageStatus, open_storage
from netprobe.storage.sinks import detect_api


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s < 172800 else f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def status_lines(st: StorageStatus) -> list[str]:
    if st.outbox is None:
        return [
            f"storage.sink is local: points are stored directly in {st.local_path} ({st.local_points:,} points); "
            "no outbox"
        ]
    o = st.outbox
    oldest = f", oldest {_age(o.oldest_age_s)} old" if o.depth else ""
    lines = [
        f"outbox {o.path}: {o.depth:,} points queued{oldest} ({o.size_mb:.1f} MB); "
        f"{o.sent:,} sent, {o.dropped:,} dropped, {o.quarantined:,} quarantined",
        f"sink: {st.sink}; last successful write: {_age(o.last_ok_age_s)}{' ago' if o.last_ok_age_s else ''}",
    ]
    if o.last_error:
        lines.append(f"last error ({_age(o.last_error_age_s)} ago): {o.last_error}")
    if o.dropped:
        lines.append(
            f"ALERT: {o.dropped:,} points were dropped (outbox over its size/age bound while the database was "
            "unreachable); raise storage.outbox_max_mb/outbox_max_age_h or fix the database"
        )
    if o.beyond_retention:
        lines.append(
            f"{o.beyond_retention:,} points were older than the database's retention policy and were refused by it"
        )
    if o.quarantined:
        lines.append(f"{o.quarantined:,} points the database refused are kept in the outbox's quarantine table")
    if st.unencodable:
        lines.append(f"{st.unencodable:,} points could not be encoded (no storable field) and were not queued")
    return lines


@click.group()
def outbox() -> None:
    """The durable queue between the probes and InfluxDB."""


@outbox.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quarantined", "show_quarantined", is_flag=True, help="Also list the last 20 refused points.")
@pass_app
def status_cmd(app: App, as_json: bool, show_quarantined: bool) -> None:
    """Points waiting for the database, sent, dropped, quarantined; the last error. Exit 1 when something
    needs attention (points dropped or quarantined, or the last write failed)."""
    try:
        with open_storage(app.config) as storage:
            st = storage.status()
            refused = storage.outbox.quarantined_lines() if storage.outbox is not None and show_quarantined else []
    except Exception as exc:
        if not as_json:
            raise
        # --json is read by scripts and monitoring: even a failure is JSON (and the exit code says it)
        known = isinstance(exc, NetprobeError)
        click.echo(json.dumps({"error": str(exc) if known else f"{type(exc).__name__}: {exc}"}, ensure_ascii=False))
        sys.exit(exc.exit_code if isinstance(exc, NetprobeError) else EXIT_FAILURE)
    if as_json:
        o = st.outbox
        data: dict[str, object] = {"sink": st.sink, "local_points": st.local_points}
        if o is not None:
            data.update(
                path=str(o.path),
                depth=o.depth,
                oldest_age_s=o.oldest_age_s,
                size_mb=round(o.size_mb, 3),
                sent=o.sent,
                dropped=o.dropped,
                quarantined=o.quarantined,
                last_error=o.last_error,
                last_ok_age_s=o.last_ok_age_s,
                beyond_retention=o.beyond_retention,
            )
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        for line in status_lines(st):
            click.echo(line)
        for point, reason in refused:
            click.echo(f"quarantined: {point}\n  because: {reason}")
    if st.needs_attention:
        sys.exit(EXIT_FAILURE)


@outbox.command("flush")
@click.option(
    "--timeout",
    "timeout_s",
    type=Finite(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Give up after this many seconds (retrying with backoff until then); queued points stay.",
)
@pass_app
def flush_cmd(app: App, timeout_s: float) -> None:
    """Send every queued point to the database now."""
    with open_storage(app.config) as storage:
        if not storage.uses_influxdb:
            click.echo(status_lines(storage.status())[0] + "; nothing to flush")
            return
        result = storage.flush(timeout_s, stop_on_config_error=True)
        sink = storage.describe_sink()
    if result.busy_pid is not None:
        who = f"pid {result.busy_pid}" if result.busy_pid else "another process"
        raise NetprobeError(
            f"another netprobe process ({who}) is draining the outbox right now; {result.remaining:,} points "
            "queued; it will send them",
            exit_code=EXIT_FAILURE,
        )
    note = f"; {result.quarantined:,} refused points quarantined" if result.quarantined else ""
    if result.error is not None:
        raise NetprobeError(
            f"{result.error} — sent {result.sent:,}, {result.remaining:,} points still queued (nothing lost){note}",
            exit_code=result.error.exit_code,
        )
    if result.remaining:
        raise NetprobeError(
            f"sent {result.sent:,} points to {sink} in {timeout_s:g} s but {result.remaining:,} are still queued; "
            "run again or raise --timeout",
            exit_code=EXIT_FAILURE,
        )
    if result.sent == 0:
        # Nothing was queued: still prove the database is reachable, so a wrong URL shows up now.
        with open_storage(app.config) as storage:
            api = detect_api(storage.storage_cfg.influxdb)
            sink = f"{storage.describe_sink()} (reachable, {api} API)"
    click.echo(f"flushed {result.sent:,} points to {sink}; outbox empty{note}")
