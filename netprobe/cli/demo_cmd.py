"""`netprobe demo`: the main job on the embedded default, for a first run on a fresh machine."""

from __future__ import annotations

from pathlib import Path

import click

from netprobe.cli.context import App, pass_app
from netprobe.cli.inventory_cmd import summary
from netprobe.engine.targets import build_targets, refused_targets

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"


@click.command()
@pass_app
def demo(app: App) -> None:
    """Validate the example province and list what would be probed (dry: nothing is sent)."""
    inv = app.inventory(str(EXAMPLE))
    click.echo(f"example inventory {EXAMPLE}: {summary(inv)}")
    targets = build_targets(inv)
    refused = refused_targets(targets, app.allow_list())
    by_kind: dict[str, int] = {}
    for t in targets:
        by_kind[t.kind.value] = by_kind.get(t.kind.value, 0) + 1
    click.echo("would probe: " + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())))
    click.echo(
        f"allow-list {app.allow_list().describe()}: {len(targets) - len(refused)} allowed, "
        f"{len(refused)} refused (the example's addresses are never probed)"
    )
