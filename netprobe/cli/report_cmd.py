"""`netprobe report sla --month YYYY-MM`: monthly availability per line and per provider, CSV or HTML."""

from __future__ import annotations

import time
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from netprobe.cli.context import App, pass_app
from netprobe.errors import NetprobeError
from netprobe.i18n import Translator, pick_lang
from netprobe.report.render import render_csv, render_html
from netprobe.report.sla import build_report, line_infos, month_bounds
from netprobe.storage.facade import open_storage

PROVINCE_TZ = "Asia/Ho_Chi_Minh"  # UTC+7, no daylight saving time


def province_tz(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == PROVINCE_TZ:  # a host without tzdata: Vietnam is a fixed UTC+7
            return timezone(timedelta(hours=7), "ICT")
        raise NetprobeError(f"--tz {name!r}: unknown time zone; use e.g. {PROVINCE_TZ}") from None


@click.group()
def report() -> None:
    """Reports for provincial IT: provider SLA per month."""


@report.command()
@click.option("--month", required=True, metavar="YYYY-MM", help="The month, in province time (e.g. 2026-11).")
@click.option("--provider", metavar="NAME", help="Only this provider's lines (e.g. VNPT).")
@click.option("--format", "fmt", type=click.Choice(["csv", "html"]), help="Default: from -o's suffix, else csv.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default stdout).")
@click.option("--lang", type=click.Choice(["vi", "en"]), help="Language [default: config lang, then LANG].")
@click.option("--tz", default=PROVINCE_TZ, show_default=True, help="Time zone of the month and of the times shown.")
@pass_app
def sla(
    app: App, month: str, provider: str | None, fmt: str | None, output: Path | None, lang: str | None, tz: str
) -> None:
    """Availability %, outages, mean loss, p95 RTT and unstable hours per line and per provider.

    Read from the embedded store or InfluxDB (as configured), from the CE pings `netprobe run` stores.
    """
    zone = province_tz(tz)
    try:
        month_bounds(month, zone)
    except ValueError:
        raise NetprobeError(f"--month {month!r}: use YYYY-MM, e.g. 2026-11") from None
    inv = app.inventory()
    lines = line_infos(inv)
    if provider is not None and not any(x.provider.casefold() == provider.casefold() for x in lines):
        known = ", ".join(sorted({x.provider for x in lines})) or "none"
        raise NetprobeError(f"--provider {provider!r}: no line of the inventory has it (providers: {known})")
    fmt = fmt or ("html" if output is not None and output.suffix.lower() in (".html", ".htm") else "csv")
    _ = Translator(pick_lang(lang, app.config.lang))
    now = time.time()
    with open_storage(app.config) as storage:
        result = build_report(storage.source(), lines, month, zone, now, province=inv.province.name, provider=provider)
    text = render_html(result, _, now) if fmt == "html" else render_csv(result, _)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise NetprobeError(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"{output}: {len(result.lines)} lines, {len(result.providers)} providers, {fmt}", err=True)
