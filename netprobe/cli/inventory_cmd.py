"""`netprobe inventory validate|show|generate`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from netprobe.cli.context import App, pass_app
from netprobe.engine.targets import build_targets, refused_targets
from netprobe.errors import EXIT_USAGE, NetprobeError
from netprobe.inventory import generate as gen
from netprobe.inventory.loader import Inventory
from netprobe.inventory.lookup import find_commune


@click.group()
def inventory() -> None:
    """Check and explore the inventory (the YAML description of the province)."""


def summary(inv: Inventory) -> str:
    targets = build_targets(inv)
    return (
        f"{len(inv.communes)} communes, {len(inv.lines)} lines, {len(inv.devices)} devices, "
        f"{len(targets)} targets, {len(inv.agents)} agents"
    )


@inventory.command()
@click.argument("path", required=False, type=click.Path())
@click.option(
    "--check-allowed",
    is_flag=True,
    help="Also fail (exit 2) when a target lies outside the allow-list, as run/check would.",
)
@pass_app
def validate(app: App, path: str | None, check_allowed: bool) -> None:
    """Validate an inventory file or directory; print every problem as file:line:col."""
    started = time.perf_counter()
    inv = app.inventory(path)
    elapsed = time.perf_counter() - started
    where = app.inventory_path(path)
    click.echo(f"{where}: ok — {summary(inv)} ({elapsed:.2f} s)")
    refused = refused_targets(build_targets(inv), app.allow_list())
    if refused:
        msg = (
            f"{len(refused)} targets are outside the allow-list ({app.allow_list().describe()}); "
            "run/check refuse them until allowed_networks or NETPROBE_ALLOWED_NETS covers them"
        )
        if check_allowed:
            raise NetprobeError("\n".join([*refused[:5], msg]), exit_code=EXIT_USAGE)
        click.echo(f"note: {msg}")


@inventory.command()
@click.option("--commune", "commune_query", metavar="NAME", help="One commune (slug or name, diacritics optional).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: App, commune_query: str | None, as_json: bool) -> None:
    """List communes, or one commune's sites, lines and devices."""
    inv = app.inventory()
    communes = [find_commune(inv, commune_query)] if commune_query else inv.communes
    if as_json:
        data: dict[str, Any] = {
            "province": inv.province.model_dump(mode="json"),
            "communes": [c.model_dump(mode="json", exclude_none=True) for c in communes],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console = Console(width=120)
    if commune_query:
        commune = communes[0]
        console.print(
            f"[bold]{commune.name}[/] ({commune.slug})"
            + (f" — {commune.contact.phone}" if commune.contact and commune.contact.phone else "")
        )
        table = Table("site", "kind", "id", "provider / type", "address", "circuit / parent", "hotline")
        for r in inv.lines_of(commune.slug):
            table.add_row(
                r.site.id,
                "line",
                r.line.id,
                r.line.provider,
                f"CE {r.line.ce}" + (f"\nPE {r.line.pe}" if r.line.pe else ""),
                r.line.circuit_id or "",
                r.hotline or "",
            )
        for d in inv.devices_of(commune.slug):
            table.add_row(
                d.site.id, "device", d.device.id, d.device.kind.value, d.device.address, d.device.parent or "", ""
            )
        console.print(table)
        return
    table = Table("slug", "name", "lines", "devices", "providers", title=f"{inv.province.name}: {summary(inv)}")
    for commune in communes:
        lines = inv.lines_of(commune.slug)
        table.add_row(
            commune.slug,
            commune.name,
            str(len(lines)),
            str(len(inv.devices_of(commune.slug))),
            ", ".join(sorted({r.line.provider for r in lines})),
        )
    console.print(table)


@inventory.command()
@click.option("--communes", default=99, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--lines", default=284, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--devices-per-commune", default=4, show_default=True, type=click.IntRange(0, 10_000))
@click.option("--targets", type=click.IntRange(1, 1_000_000), help="Add devices until about this many targets.")
@click.option(
    "--network",
    default="127.0.0.0/8",
    show_default=True,
    help="Where addresses come from (loopback for benchmarks; 198.18.0.0/15 in the lab).",
)
@click.option("--no-snmp", is_flag=True, help="Devices without SNMP (ping only).")
@click.option("--seed", default=1, show_default=True)
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="YAML file to write.")
def generate(
    communes: int,
    lines: int,
    devices_per_commune: int,
    targets: int | None,
    network: str,
    no_snmp: bool,
    seed: int,
    out: str,
) -> None:
    """Write a synthetic inventory (for benchmarks and the lab)."""
    try:
        data = gen.generate(
            communes=communes,
            lines=lines,
            devices_per_commune=devices_per_commune,
            targets=targets,
            network=network,
            seed=seed,
            snmp=not no_snmp,
        )
    except ValueError as exc:
        raise NetprobeError(f"cannot generate: {exc}") from None
    target = Path(out)
    if not target.parent.is_dir():
        raise NetprobeError(f"{out}: directory {target.parent} does not exist; create it first or fix the path")
    try:
        gen.write(data, target)
    except OSError as exc:
        raise NetprobeError(f"{out}: cannot write: {exc.strerror}") from None
    n_lines = sum(len(s["lines"]) for c in data["communes"] for s in c["sites"])
    n_devices = sum(len(s["devices"]) for c in data["communes"] for s in c["sites"])
    click.echo(f"wrote {out}: {len(data['communes'])} communes, {n_lines} lines, {n_devices} devices")
