"""`netprobe lab up|down|status|impair|exec`: a province on this machine, in network namespaces."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import click

from netprobe.cli.bounds import Finite
from netprobe.errors import NetprobeError

DEFAULT_ID = "np"
id_option = click.option(
    "--id",
    "lab_id",
    default=DEFAULT_ID,
    show_default=True,
    metavar="ID",
    help="Lab id: prefixes every namespace, so labs with different ids coexist.",
)


@click.group()
def lab() -> None:
    """A lab province in network namespaces: real snmpd, imposed faults, recorded ground truth (root only)."""


def _summary(st: dict[str, Any]) -> str:
    return (
        f"lab {st['id']} ({st['scenario']}): {st['communes']} communes, {st['lines']} lines, {st['devices']} devices, "
        f"{st['namespaces_present']}/{len(st['namespaces'])} namespaces, "
        f"{st['snmp_agents_running']}/{st['snmp_agents']} snmpd, conductor "
        f"{'running' if st['conductor_running'] else 'stopped'}, {len(st['active_faults'])} active faults\n"
        f"  inventory: {st['inventory']}\n  truth:     {st['truth']}\n"
        f"  probe from: {', '.join(st['dc_namespaces'])}  (netprobe lab exec --id {st['id']} -- CMD)"
        + "".join(f"\n  {_fault_line(f)}" for f in st["active_faults"])
    )


def _fault_line(fault: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fault["params"].items() if v)
    since = time.strftime("%H:%M:%S", time.localtime(fault["start"]))
    until = time.strftime("%H:%M:%S", time.localtime(fault["planned_end"]))
    return (
        f"#{fault['id']} {fault['fault']} on {fault['target']}"
        + (f" ({params})" if params else "")
        + (f" since {since} until {until}")
    )


@lab.command()
@id_option
@click.option(
    "--scenario",
    "-s",
    default="demo",
    show_default=True,
    metavar="NAME|PATH",
    help="A shipped scenario (demo, province, peers) or a scenario YAML file (docs/lab.md).",
)
@click.option(
    "--lifetime",
    type=Finite(1, 7 * 86400),
    metavar="SECONDS",
    help="Stop imposing faults after this long (default: the scenario's lifetime_s).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def up(lab_id: str, scenario: str, lifetime: float | None, as_json: bool) -> None:
    """Build the lab: namespaces, lines, LAN gear, snmpd agents, the conductor; write its inventory."""
    from netprobe.lab import build

    t0 = time.monotonic()
    st = build.up(lab_id, scenario, lifetime)
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False, indent=1))
    else:
        click.echo(f"up in {time.monotonic() - t0:.1f} s\n{_summary(st)}")


@lab.command()
@id_option
def down(lab_id: str) -> None:
    """Remove everything the lab made (namespaces, links, processes, state). Idempotent."""
    from netprobe.lab import build

    t0 = time.monotonic()
    result = build.down(lab_id)
    click.echo(
        f"lab {lab_id} down in {time.monotonic() - t0:.1f} s: {result['namespaces']} namespaces removed, "
        f"{result['processes']} processes stopped"
    )


@lab.command()
@id_option
@click.option("--json", "as_json", is_flag=True, help="JSON: inventory, truth, dc_namespaces, namespaces, ...")
def status(lab_id: str, as_json: bool) -> None:
    """Show the lab: paths of its inventory and ground truth, namespaces, agents, active faults."""
    from netprobe.lab import build

    build.require_root()
    st = build.status(lab_id)
    click.echo(json.dumps(st, ensure_ascii=False, indent=1) if as_json else _summary(st))


@lab.command()
@id_option
@click.argument("target")
@click.option(
    "--for",
    "duration",
    type=Finite(0.1, 7 * 86400),
    required=True,
    metavar="SECONDS",
    help="How long the fault lasts (every fault is bounded).",
)
@click.option("--in", "delay", type=Finite(0, 7 * 86400), default=0.0, metavar="SECONDS", help="Start later.")
@click.option("--loss", type=Finite(0.01, 100), metavar="PCT", help="Random loss, %.")
@click.option("--down", "down_", is_flag=True, help="Cut the line (the commune router sees no carrier).")
@click.option("--flap", type=Finite(1, 86400), metavar="SECONDS", help="Down/up every SECONDS.")
@click.option("--latency", type=Finite(0, 5000), metavar="MS", help="Added round-trip delay.")
@click.option(
    "--jitter",
    type=Finite(0, 5000),
    default=0.0,
    metavar="MS",
    help="With --latency: up to MS more, at random.",
)
@click.option(
    "--congest",
    type=Finite(0.01, 1000),
    metavar="MBIT",
    help="Congest the line: this usable rate under a 130 % background load.",
)
@click.option("--snmp-dead", is_flag=True, help="Hang the device's SNMP agent.")
@click.option("--reboot", is_flag=True, help="Reboot the device (down for --for seconds; sysUpTime resets).")
def impair(
    lab_id: str,
    target: str,
    duration: float,
    delay: float,
    loss: float | None,
    down_: bool,
    flap: float | None,
    latency: float | None,
    jitter: float,
    congest: float | None,
    snmp_dead: bool,
    reboot: bool,
) -> None:
    """Impose a fault now on TARGET (a line, commune, device or dc), e.g. `impair kinh-bac-l1 --loss 20 --for 60`."""
    from netprobe.lab import build

    build.require_root()
    chosen: list[dict[str, Any]] = []
    if loss is not None:
        chosen.append({"fault": "loss", "loss_pct": loss})
    if down_:
        chosen.append({"fault": "down"})
    if flap is not None:
        chosen.append({"fault": "flap", "period_s": flap})
    if latency is not None:
        chosen.append({"fault": "latency", "latency_ms": latency, "jitter_ms": jitter})
    if congest is not None:
        chosen.append({"fault": "congestion", "rate_mbit": congest})
    if snmp_dead:
        chosen.append({"fault": "snmp_dead"})
    if reboot:
        chosen.append({"fault": "reboot"})
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --loss, --down, --flap, --latency, --congest, --snmp-dead, --reboot"
        )
    request = {"target": target, "start_s": delay, "duration_s": duration, **chosen[0]}
    p = build.paths(lab_id)
    build.load_plan(lab_id)
    if not build.status(lab_id)["conductor_running"]:
        raise NetprobeError(f"lab {lab_id}'s conductor is not running (lifetime over?); bring the lab down and up")
    name = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
    tmp = p.requests / f"{name}.tmp"
    tmp.write_text(json.dumps(request), encoding="utf-8")
    os.replace(tmp, p.requests / f"{name}.json")
    result_path = p.requests / f"{name}.result"
    deadline = time.monotonic() + 10
    while not result_path.exists():
        if time.monotonic() > deadline:
            raise NetprobeError(f"lab {lab_id}'s conductor did not answer in 10 s; see {p.conductor_log}")
        time.sleep(0.05)
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    if not result["ok"]:
        raise NetprobeError(f"lab {lab_id}: cannot impose {chosen[0]['fault']} on {target}: {result['error']}")
    click.echo(f"fault #{result['fault']}: {chosen[0]['fault']} on {target} for {duration:g} s (see {p.truth})")


@lab.command(name="exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@id_option
@click.option("--dc", type=click.IntRange(min=1), default=1, show_default=True, help="Which data centre namespace.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab_id: str, dc: int, command: tuple[str, ...]) -> None:
    """Run COMMAND inside a DC namespace, e.g. `netprobe lab exec -- fping -c 10 198.18.16.2`."""
    from netprobe.lab import build, netns

    build.require_root()
    plan = build.load_plan(lab_id)
    names = plan.dc_namespaces
    if dc > len(names):
        raise NetprobeError(f"lab {lab_id} has {len(names)} data centre namespace(s); --dc {dc} does not exist")
    netns.enter(names[dc - 1])
    try:
        os.execvp(command[0], list(command))
    except OSError as exc:
        raise NetprobeError(f"cannot run {command[0]!r} in {names[dc - 1]}: {exc.strerror}") from None
