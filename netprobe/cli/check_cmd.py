"""`netprobe check COMMUNE`: one command for the person on the spot; also a Nagios/Icinga plugin.

Exit codes follow the Nagios plugin convention, not netprobe's generic ones: 0 OK, 1 WARNING (degraded or
unstable), 2 CRITICAL (down or isolated), 3 UNKNOWN (usage, config, privilege, unknown commune). So every
error of this command, including click's usage errors, leaves with 3.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from netprobe.check import render
from netprobe.check.model import Exit
from netprobe.check.runner import STEPS, CheckSettings, vantage_points
from netprobe.check.service import check_commune
from netprobe.cli import bounds
from netprobe.cli.context import App, pass_app
from netprobe.errors import NetprobeError
from netprobe.i18n import Translator, pick_lang
from netprobe.inventory.lookup import UnknownCommune, find_commune
from netprobe.storage.point import PointSource

UNKNOWN = int(Exit.UNKNOWN)


class NagiosCommand(click.Command):
    """Usage errors (bad option, missing argument) exit 3 (UNKNOWN), as a Nagios plugin must."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            setattr(exc, "exit_code", UNKNOWN)  # noqa: B010 (click declares it a class variable)
            raise


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '2d' (or plain seconds) → seconds; bounded, exit UNKNOWN (Nagios) otherwise."""
    return bounds.parse_duration(text, "--since", exit_code=UNKNOWN)


@click.command("check", cls=NagiosCommand)
@click.argument("commune")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result (schema: docs/check.md).")
@click.option("--lang", type=click.Choice(["vi", "en"]), help="Language [default: config lang, then LANG].")
@click.option("--no-trace", is_flag=True, help="Skip the traceroute of failing lines.")
@click.option("--since", default="24h", show_default=True, metavar="DURATION", help="History window (e.g. 1h, 24h).")
@click.option("--agent", metavar="NAME", help="Probe as this inventory agent only (default: every one possible).")
@pass_app
def check(
    app: App, commune: str, as_json: bool, lang: str | None, no_trace: bool, since: str, agent: str | None
) -> None:
    """Check one commune now: its lines, LAN gear and services; say what is wrong and what to do.

    COMMUNE is a slug or a name, with or without diacritics ("Kinh Bắc", "kinh bac", "kinh-bac").
    """
    configured_lang: str | None = None
    with contextlib.suppress(NetprobeError):  # a bad config is reported below, in the user's language
        configured_lang = app.config.lang
    _ = Translator(pick_lang(lang, configured_lang))
    try:
        code = _run(app, _, commune, as_json, no_trace, parse_duration(since), agent)
    except UnknownCommune as exc:
        _unknown_commune(exc, _, as_json)
    except NetprobeError as exc:
        if as_json:
            click.echo(json.dumps(_error_json(str(exc), _), ensure_ascii=False, indent=2))
        raise NetprobeError(_("check.error.unknown", error=str(exc)), exit_code=UNKNOWN) from None
    raise click.exceptions.Exit(code)


def _run(app: App, _: Translator, query: str, as_json: bool, no_trace: bool, window_s: float, agent: str | None) -> int:
    inv = app.inventory()
    slug = find_commune(inv, query).slug
    vantages = vantage_points(inv, slug, agent, app.config.agent)
    allow = app.allow_list()
    settings = CheckSettings(trace=not no_trace)
    with _history(app) as (source, source_name), _progress(_, as_json, [v.name for v in vantages]) as progress:
        result = check_commune(
            inv,
            slug,
            vantages,
            allow,
            settings,
            progress=progress,
            history=source,
            history_window_s=window_s,
            history_source=source_name,
        )
    if as_json:
        click.echo(render.dumps(result, _))
    else:
        tty = sys.stdout.isatty()
        console = Console(width=None if tty else 120, highlight=False, no_color=not tty, soft_wrap=False)
        render.render_text(result, _, console)
    return int(result.exit)


def _unknown_commune(exc: UnknownCommune, _: Translator, as_json: bool) -> None:
    names = ", ".join(f"{c.name} ({c.slug})" for c in exc.suggestions)
    message = _("check.error.unknown_commune", query=exc.query)
    if names:
        message += " " + _("check.error.suggest", names=names)
    message += " " + _("check.error.list_all")
    if as_json:
        data = _error_json(message, _)
        data["error"]["suggestions"] = [{"slug": c.slug, "name": c.name} for c in exc.suggestions]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    raise NetprobeError(message, exit_code=UNKNOWN) from None


def _error_json(message: str, _: Translator) -> dict[str, Any]:
    return {
        "$schema": render.SCHEMA_ID,
        "schema_version": render.SCHEMA_VERSION,
        "lang": _.lang,
        "status": "UNKNOWN",
        "exit_code": UNKNOWN,
        "error": {"message": message, "suggestions": []},
    }


@contextmanager
def _history(app: App) -> Iterator[tuple[PointSource | None, str]]:
    """The configured store, if there is one to read; a check never creates an empty store."""
    cfg = app.config
    if cfg.storage.sink == "local":
        from netprobe.storage.facade import LOCAL_FILE

        if not (Path(cfg.state_path()) / LOCAL_FILE).exists():
            yield None, "none"
            return
    from netprobe.storage.facade import open_storage

    try:
        storage = open_storage(cfg)
    except NetprobeError:
        yield None, "none"
        return
    try:
        yield storage.source(), "influxdb" if storage.uses_influxdb else "local"
    finally:
        storage.close(flush_timeout_s=0.1)


@contextmanager
def _progress(_: Translator, as_json: bool, agents: list[str]) -> Iterator[Any]:
    """Live progress on a terminal (stderr); plain lines when stderr is not one; nothing for --json in a pipe."""
    err = Console(stderr=True, highlight=False)
    started = time.monotonic()
    if err.is_terminal:
        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        tasks: dict[str, TaskID] = {
            a: bar.add_task(_("check.progress.step", agent=a, step="…"), total=len(STEPS)) for a in agents
        }

        def live(agent: str, step: str, done: int, total: int) -> None:
            desc = (
                _("check.progress.step", agent=agent, step=step)
                if done < total
                else _("check.progress.done", agent=agent, seconds=f"{time.monotonic() - started:.1f}")
            )
            bar.update(tasks[agent], completed=done, description=desc)

        with bar:
            yield live
        return
    if as_json:
        yield None
        return

    def plain(agent: str, step: str, done: int, total: int) -> None:
        if done >= total:
            click.echo(_("check.progress.done", agent=agent, seconds=f"{time.monotonic() - started:.1f}"), err=True)

    yield plain
