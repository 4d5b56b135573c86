"""`netprobe demo`: the main job on the embedded default — the lab's demo province, probed for real.

As root: bring up the lab's `demo` scenario (8 communes, one of each kind of trouble), run the agent
(`netprobe run`, unchanged) inside each data-centre namespace for a few minutes with short intervals,
then show the province `status` (problems, worst first) and a `check` of one faulty and one healthy
commune, read from the embedded store the agents wrote — then take the lab down, whatever happens.

Traffic stays inside the lab: the agents run in the DC namespaces (no default route), with an allow-list
set for this run only (loopback + the lab's 198.18.0.0/15), and every loop here is bounded in time.
`--dry` (any user) keeps the old listing: validate the example province and say what would be probed.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import click
import yaml
from rich.console import Console

from netprobe.cli.bounds import Finite
from netprobe.cli.context import App, pass_app
from netprobe.cli.inventory_cmd import summary
from netprobe.engine.allowlist import AllowList
from netprobe.engine.targets import build_targets, refused_targets
from netprobe.errors import NetprobeError, PrivilegeError
from netprobe.storage.point import Point

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"
LAB_NETS = ["127.0.0.0/8", "::1/128", "198.18.0.0/15"]  # this run's allow-list: loopback + the lab, nothing else
# Short intervals so a few minutes show the faults: a burst of 10 pings every 5 s per line end.
DEMO_PROBES = {
    "ping": {"interval_s": 5, "count": 10, "spacing_ms": 100, "timeout_ms": 1000},
    "tcp": {"interval_s": 15, "timeout_ms": 2000},
    "snmp": {"interval_s": 15, "timeout_ms": 1000, "retries": 1},
}
LINE_FAULTS = ("loss", "down", "flap", "congestion", "latency")
STOP_TIMEOUT_S = 15.0
PROGRESS_EVERY_S = 30.0


class DemoError(NetprobeError):
    """The demo could not run (the lab, an agent, or the store)."""


@click.command()
@click.option(
    "--minutes",
    type=Finite(0.25, 30),
    default=3.0,  # the switch reboots at +120 s: three minutes name it, reboot proven (sysUpTime), too
    show_default=True,
    help="How long the agents probe the lab.",
)
@click.option(
    "--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True, help="Language of the checks."
)
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (prints how to take it down).")
@click.option("--dry", is_flag=True, help="Send nothing: validate the example province and list what would be probed.")
@click.option(
    "--id",
    "lab_id",
    default="demo",
    show_default=True,
    metavar="ID",
    help="Lab id (prefix of every namespace the demo creates).",
)
@pass_app
def demo(app: App, minutes: float, lang: str, keep: bool, dry: bool, lab_id: str) -> None:
    """Bring up the lab's demo province, probe it for a few minutes, show status and checks, take it down."""
    if dry:
        dry_listing(app)
        return
    if os.geteuid() != 0:
        raise PrivilegeError(
            "netprobe demo needs root: the lab builds network namespaces; run it as root "
            "(sudo ./scripts/demo.sh), or `netprobe demo --dry` to see what would be probed without sending anything"
        )
    with _signals_raise():
        run_demo(lab_id, minutes * 60.0, lang, keep)


def dry_listing(app: App) -> None:
    """Validate the example province and list what would be probed (nothing is sent)."""
    inv = app.inventory(str(EXAMPLE))
    click.echo(f"example inventory {EXAMPLE}: {summary(inv)}")
    targets = build_targets(inv)
    refused = refused_targets(targets, app.allow_list())
    by_kind: dict[str, int] = {}
    for t in targets:
        by_kind[str(t.kind)] = by_kind.get(str(t.kind), 0) + 1
    click.echo("would probe: " + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())))
    click.echo(
        f"allow-list {app.allow_list().describe()}: {len(targets) - len(refused)} allowed, "
        f"{len(refused)} refused (the example's addresses are never probed)"
    )


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------
def say(text: str) -> None:
    click.echo(text, err=True)


def run_demo(lab_id: str, seconds: float, lang: str, keep: bool) -> None:
    from netprobe.lab import build

    build.check_id(lab_id)
    if build.paths(lab_id).plan.exists():
        raise DemoError(
            f"a lab with id {lab_id!r} is already up (a kept demo?); take it down with "
            f"`netprobe lab down --id {lab_id}` or pick another --id"
        )
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="netprobe-demo-") as tmp:
        work = Path(tmp)
        say(f"bringing up the lab {lab_id!r}: scenario demo, 8 communes in network namespaces, real snmpd …")
        lifetime = None if keep else seconds + 600.0  # the conductor stops imposing faults by itself
        up_ok = False
        try:
            lab = build.up(lab_id, "demo", lifetime)
            up_ok = True
            say(
                f"lab up in {time.monotonic() - t0:.0f} s: {lab['communes']} communes, {lab['lines']} lines, "
                f"{lab['devices']} devices; faults imposed: {', '.join(describe_faults(lab))}"
            )
            inventory = demo_inventory(Path(lab["inventory"]), work / "inventory.yaml")
            agents = lab_agents(inventory)
            states = probe(agents, inventory, work, seconds)
            show_results(inventory, lab, states, seconds, lang)
        finally:
            if keep and up_ok and sys.exc_info()[0] is None:
                kept(lab_id)
            else:
                say(f"taking the lab {lab_id!r} down …")
                with _signals_ignored():  # a second Ctrl-C must not leave half a lab behind
                    result = build.down(lab_id)
                say(f"lab down: {result['namespaces']} namespaces removed, {result['processes']} processes stopped")
    say(f"demo done in {time.monotonic() - t0:.0f} s")


def kept(lab_id: str) -> None:
    from netprobe.lab import build

    inventory = build.paths(lab_id).inventory
    say(
        f"lab {lab_id!r} left up (--keep); its faults go on for the scenario's lifetime.\n"
        f"  see it:          netprobe lab status --id {lab_id}\n"
        f"  check a commune: NETPROBE_ALLOWED_NETS=198.18.0.0/15 netprobe -i {inventory} check vu-ninh\n"
        f"  take it down:    netprobe lab down --id {lab_id}"
    )


def describe_faults(lab: Mapping[str, Any]) -> list[str]:
    out = []
    up_at = float(load_truth(lab).get("up_at") or 0.0)
    for f in truth_faults(lab):
        params = {k: v for k, v in f.get("params", {}).items() if v}
        detail = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        offset = float(f.get("planned_start") or up_at) - up_at
        when = f" from +{offset:.0f} s" if up_at and offset >= 1 else ""
        out.append(f"{f['fault']} on {f['target']}" + (f" ({detail})" if detail else "") + when)
    return out


def load_truth(lab: Mapping[str, Any]) -> dict[str, Any]:
    """The ground truth the lab's conductor writes: when it came up, every fault scheduled or imposed."""
    try:
        truth = json.loads(Path(lab["truth"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return truth if isinstance(truth, dict) else {}


def truth_faults(lab: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [f for f in load_truth(lab).get("faults", []) if isinstance(f, dict)]


def demo_inventory(lab_inventory: Path, out: Path) -> Path:
    """The lab's own inventory with short probe intervals, so a few minutes are enough to see the faults."""
    data = yaml.safe_load(lab_inventory.read_text(encoding="utf-8"))
    data.setdefault("defaults", {})["probes"] = DEMO_PROBES
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    return out


@dataclass(frozen=True)
class LabAgent:
    name: str
    netns: str


def lab_agents(inventory: Path) -> list[LabAgent]:
    from netprobe.inventory.loader import load_inventory

    agents = [LabAgent(a.name, a.netns) for a in load_inventory(inventory).agents if a.netns]
    if not agents:
        raise DemoError(f"{inventory}: the lab's inventory names no data-centre namespace to probe from")
    return agents


def agent_config(state: Path, lang: str) -> dict[str, Any]:
    return {"state_dir": str(state), "allowed_networks": LAB_NETS, "lang": lang, "storage": {"sink": "local"}}


def probe(agents: Sequence[LabAgent], inventory: Path, work: Path, seconds: float) -> dict[str, Path]:
    """`netprobe run --agent DC` inside each DC namespace for `seconds`, then SIGTERM; returns state dirs."""
    env = {k: v for k, v in os.environ.items() if k not in ("NETPROBE_CONFIG", "NETPROBE_ALLOWED_NETS")}
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    states: dict[str, Path] = {}
    try:
        for agent in agents:
            state = work / agent.name
            state.mkdir()
            config = work / f"{agent.name}.yaml"
            config.write_text(yaml.safe_dump(agent_config(state, "en")), encoding="utf-8")
            log = state / "agent.log"
            netprobe = [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inventory)]
            run = ["run", "--agent", agent.name, "--stop-timeout", str(STOP_TIMEOUT_S)]
            argv = ["ip", "netns", "exec", agent.netns, *netprobe, *run]
            with log.open("wb") as out:
                procs[agent.name] = (
                    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env),
                    log,
                )
            states[agent.name] = state
        names = ", ".join(f"{a.name} (namespace {a.netns})" for a in agents)
        say(f"probing for {fmt_duration(seconds)} from {names}: ping every {DEMO_PROBES['ping']['interval_s']} s, "
            f"SNMP and TCP every {DEMO_PROBES['snmp']['interval_s']} s …")  # fmt: skip
        _wait(procs, states, seconds)
    finally:
        _stop(procs)
    return states


def _wait(
    procs: Mapping[str, tuple[subprocess.Popen[bytes], Path]], states: Mapping[str, Path], seconds: float
) -> None:
    start = time.monotonic()
    end = start + seconds
    next_report = start + min(PROGRESS_EVERY_S, seconds / 2)
    while (now := time.monotonic()) < end:
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                raise DemoError(f"the agent {name} stopped early (exit {proc.returncode}): {last_line(log)}")
        if now >= next_report:
            say(f"  … {fmt_duration(now - start)} of {fmt_duration(seconds)}: "
                f"{stored_points(states.values())} results stored")  # fmt: skip
            next_report += PROGRESS_EVERY_S
        time.sleep(min(0.5, max(0.0, end - now)))


def _stop(procs: Mapping[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    """SIGTERM: runs in flight finish and are stored (the agent's clean stop), bounded by --stop-timeout."""
    for proc, _ in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S + 5
    for proc, _ in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def last_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [s for s in log.read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
        if lines:
            return lines[-1]
    return f"no output (see {log})"


def fmt_duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:.0f} s"


def stored_points(states: Iterable[Path]) -> int:
    import sqlite3

    total = 0
    for state in states:
        path = state / "store.db"
        if not path.exists():
            continue
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db,
        ):
            total += int(db.execute("SELECT count(*) FROM points").fetchone()[0])
    return total


# ---------------------------------------------------------------------------------------------------
# What was seen: status and two checks, from the stores the agents wrote
# ---------------------------------------------------------------------------------------------------
class MergedSource:
    """A PointSource over several embedded stores (one per data-centre agent), oldest first."""

    def __init__(self, stores: Sequence[Any]) -> None:
        self.stores = stores

    def read(
        self, measurement: str, since_ns: int, until_ns: int, tags: Mapping[str, str] | None = None
    ) -> Iterator[Point]:
        return heapq.merge(*(s.read(measurement, since_ns, until_ns, tags) for s in self.stores), key=_time_ns)


def _time_ns(p: Point) -> int:
    return p.time_ns


@contextlib.contextmanager
def merged_history(states: Mapping[str, Path]) -> Iterator[MergedSource]:
    from netprobe.storage.local import LocalStore

    stores = [LocalStore(state / "store.db") for state in states.values() if (state / "store.db").exists()]
    if not stores:
        raise DemoError("the agents stored nothing; see their logs above")
    try:
        yield MergedSource(stores)
    finally:
        for s in stores:
            s.close()


def fault_communes(inventory: Any, fault: Mapping[str, Any]) -> set[str]:
    """The communes a fault of the lab's ground truth touches."""
    commune_of = {line.id: c.slug for c in inventory.communes for s in c.sites for line in s.lines}
    commune_of |= {d.id: c.slug for c in inventory.communes for s in c.sites for d in s.devices}
    named = [fault["target"], *fault.get("lines", []), *fault.get("devices", [])]
    whole = {fault["target"]} if fault.get("target_kind") == "commune" else set()
    return {commune_of[x] for x in named if x in commune_of} | whole


def pick_communes(inventory: Any, truth: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(a faulty commune, a healthy one), from the lab's ground truth: a lossy line first, else a dead one."""
    faulted = set().union(*(fault_communes(inventory, f) for f in truth))
    faulty = next(
        (sorted(fault_communes(inventory, f))[0] for kind in ("loss", "down") for f in truth if f["fault"] == kind),
        None,
    )
    healthy = next((c.slug for c in inventory.communes if c.slug not in faulted), None)
    if faulty is None or healthy is None:
        raise DemoError("the lab's ground truth has no lossy/dead line or no healthy commune to check")
    return faulty, healthy


def flapping_commune(inventory: Any, truth: Sequence[Mapping[str, Any]]) -> str | None:
    """The commune of the first flapping line in the ground truth (the demo checks it: it must say flapping)."""
    return next((sorted(fault_communes(inventory, f))[0] for f in truth if f["fault"] == "flap"), None)


def truth_vs_status(
    truth: Mapping[str, Any], problems: Sequence[Any], now: float, commune_of: Mapping[str, str]
) -> list[str]:
    """One line per imposed fault: which problems of `status` name it (or that none does, or not yet).

    `commune_of` maps line ids to commune slugs: a cut single line is named as its isolated commune.
    """
    up_at = float(truth.get("up_at") or now)
    rows: list[tuple[str, str]] = []
    explained: set[str] = set()
    for f in (f for f in truth.get("faults", []) if isinstance(f, dict)):
        params = {k: v for k, v in f.get("params", {}).items() if v}
        what = f"{f['fault']} on {f['target']}"
        if params:
            what += (
                " (" + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) + ")"
            )
        start = f.get("start")
        if start is None or float(start) > now:
            planned = float(f.get("planned_start") or up_at)
            rows.append((what, f"not yet: starts at +{planned - up_at:.0f} s, after the probing"))
            continue
        lines = f.get("lines", [])
        subjects = {f["target"], *lines, *f.get("devices", [])}
        communes = {f["target"], *(commune_of.get(line, "") for line in lines)}
        named = [p for p in problems if p.subject in subjects or (p.kind == "commune" and p.commune in communes)]
        behind = [p for p in problems if p.kind == "device" and p.line in lines and p not in named]
        explained |= {p.subject for p in named + behind}
        if named:
            found = "named: " + ", ".join(f"{p.subject} {'RECOVERED' if p.recovered else p.state.value}" for p in named)
            found += f" (+ {len(behind)} device(s) behind it)" if behind else ""
        else:
            found = f"not named (imposed at +{float(start) - up_at:.0f} s)"
        rows.append((what, found))
    width = max((len(w) for w, _ in rows), default=0)
    out = [f"  {w.ljust(width)}  {found}" for w, found in rows]
    extra = [p for p in problems if p.kind != "agent" and p.subject not in explained]
    agents = [p for p in problems if p.kind == "agent"]
    if extra:
        out.append("  named with no fault imposed on it: " + ", ".join(f"{p.subject} {p.state.value}" for p in extra))
    if agents:
        out.append("  vantage points judged: " + ", ".join(f"{p.subject} {p.state.value}" for p in agents))
    return out or ["  (no ground truth recorded)"]


def show_results(
    inventory_path: Path, lab: Mapping[str, Any], states: Mapping[str, Path], seconds: float, lang: str
) -> None:
    from netprobe.check import render
    from netprobe.check.runner import CheckSettings, vantage_points
    from netprobe.check.service import check_commune
    from netprobe.cli.status_cmd import render_plain, render_rich
    from netprobe.health.status import status_from_source
    from netprobe.health.topology import Topology
    from netprobe.i18n import Translator
    from netprobe.inventory.loader import load_inventory

    inv = load_inventory(inventory_path)
    tty = sys.stdout.isatty()
    console = Console(width=None if tty else 120, highlight=False, no_color=not tty, soft_wrap=False)
    allow = AllowList.build(LAB_NETS, env={})
    _ = Translator(lang)
    faulty, healthy = pick_communes(inv, truth_faults(lab))
    flapping = flapping_commune(inv, truth_faults(lab))
    window = seconds + 120.0
    with merged_history(states) as history:
        report = status_from_source(Topology.from_inventory(inv), history, time.time(), window)
        click.echo(
            f"\n== netprobe status: the province's problems, worst first ({fmt_duration(seconds)} of probing) =="
        )
        if tty:
            render_rich(report, console)
        else:
            click.echo(render_plain(report))
        click.echo("\n== the lab's ground truth: what it imposed, and what status named ==")
        commune_of = {line.id: c.slug for c in inv.communes for site in c.sites for line in site.lines}
        click.echo("\n".join(truth_vs_status(load_truth(lab), report.problems, time.time(), commune_of)))
        for slug in (faulty, *([flapping] if flapping else []), healthy):
            say(f"checking {slug} now from every data centre (ping, TCP, SNMP, traceroute of a failing line) …")
            result = check_commune(
                inv,
                slug,
                vantage_points(inv, slug, None, None),
                allow,
                CheckSettings(trace=True),
                history=history,
                history_window_s=window,
                history_source="local",
            )
            click.echo(f"\n== netprobe check {slug} ==")
            render.render_text(result, _, console)


# ---------------------------------------------------------------------------------------------------
# Signals: SIGTERM/SIGHUP end the demo like Ctrl-C (KeyboardInterrupt), so the lab is always taken down
# ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    def still(signum: int, frame: FrameType | None) -> None:
        say("still taking the lab down (it removes every namespace and process it made) …")

    previous = {s: signal.signal(s, still) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # not the ones ignored on purpose (nohup, a background job without job control)
    wanted = [s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if signal.getsignal(s) != signal.SIG_IGN]
    previous = {s: signal.signal(s, stop) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
