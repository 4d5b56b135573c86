"""Bring a lab up and take it down: namespaces, veths, addresses, routes, nftables, snmpd, conductor.

Speed (the 99-commune province must be up in < 60 s on 2 cores): one `ip -batch` creates every
namespace, one more every veth pair (created directly inside their namespaces, so nothing ever
appears in the root namespace); then one `ip -n NS -batch` per namespace, run in parallel. sysctls are
written in-process after setns(2), without a process per namespace.

Safety: before anything is created, the list of namespaces is written to the state dir (the manifest).
`down` deletes exactly those (plus what the plan names), kills every process inside them and the
conductor, and removes the state dir; it works after a crash at any point and is idempotent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netprobe.errors import NetprobeError, PrivilegeError
from netprobe.lab import netns, procs, snmpd
from netprobe.lab.inventory_out import write_inventory
from netprobe.lab.plan import Plan, build_plan
from netprobe.lab.scenario import load_scenario

STATE_ROOT = Path(os.environ.get("NETPROBE_LAB_STATE", "/run/netprobe-lab"))
LAB_ID = re.compile(r"^[a-z][a-z0-9]{0,7}$")
WORKERS = 4


class LabError(NetprobeError):
    """The lab could not be built, found or taken down."""


# ---------------------------------------------------------------------------------------------------
# State dir and names
# ---------------------------------------------------------------------------------------------------
def check_id(lab_id: str) -> str:
    if not LAB_ID.match(lab_id):
        raise LabError(f"lab id {lab_id!r} is invalid: 1–8 lowercase letters/digits, starting with a letter (e.g. np)")
    return lab_id


def require_root(what: str = "the lab") -> None:
    if os.geteuid() != 0:
        raise PrivilegeError(f"{what} needs root (network namespaces, snmpd on port 161); rerun with sudo")


def state_dir(lab_id: str) -> Path:
    return STATE_ROOT / check_id(lab_id)


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def manifest(self) -> Path:
        return self.root / "namespaces.txt"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def truth(self) -> Path:
        return self.root / "truth.json"

    @property
    def conductor_pid(self) -> Path:
        return self.root / "conductor.pid"

    @property
    def conductor_ready(self) -> Path:
        return self.root / "conductor.ready"

    @property
    def conductor_log(self) -> Path:
        return self.root / "conductor.log"

    @property
    def requests(self) -> Path:
        return self.root / "requests"

    @property
    def scenario(self) -> Path:
        return self.root / "scenario.json"


def paths(lab_id: str) -> Paths:
    return Paths(state_dir(lab_id))


# ---------------------------------------------------------------------------------------------------
# Running ip / nft
# ---------------------------------------------------------------------------------------------------
def ip_batch(lines: Iterable[str], ns: str | None = None, *, force: bool = False) -> None:
    text = "\n".join(lines) + "\n"
    cmd = ["ip"] + (["-n", ns] if ns else []) + (["-force"] if force else []) + ["-batch", "-"]
    result = subprocess.run(cmd, input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0 and not force:
        msg = (result.stderr.strip().splitlines() or ["?"])[0]
        raise LabError(f"ip {'-n ' + ns + ' ' if ns else ''}-batch failed: {msg}")


def run_in(ns: str, argv: list[str], stdin: str | None = None, *, check: bool = True) -> str:
    """Run a command inside namespace `ns` (nsenter: network namespace only, no mount games)."""
    result = subprocess.run(
        ["nsenter", f"--net={netns.path_of(ns)}", *argv], input=stdin, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        msg = (result.stderr.strip().splitlines() or ["?"])[0]
        raise LabError(f"{argv[0]} in namespace {ns} failed: {msg}")
    return result.stdout


def _parallel(fn: Any, items: Iterable[Any]) -> None:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in pool.map(fn, items):
            pass


# ---------------------------------------------------------------------------------------------------
# up
# ---------------------------------------------------------------------------------------------------
def up(lab_id: str, scenario_ref: str, lifetime_s: float | None = None) -> dict[str, Any]:
    require_root()
    scenario, source = load_scenario(scenario_ref)
    plan = build_plan(check_id(lab_id), scenario)
    if lifetime_s is not None:
        plan.lifetime_s = lifetime_s
    plan.scenario_source = source
    p = paths(lab_id)
    existing = [ns for ns in plan.namespaces if netns.path_of(ns).exists()]
    if p.root.exists() or existing:
        raise LabError(
            f"lab {lab_id!r} is already up (or was not taken down: {p.root}); run `netprobe lab down --id {lab_id}` "
            "first, or pick another --id"
        )
    p.root.mkdir(parents=True, mode=0o700)
    p.manifest.write_text("\n".join(plan.namespaces) + "\n", encoding="utf-8")  # before creating anything
    try:
        _build(plan, p, scenario.model_dump_json())
    except BaseException:
        down(lab_id)
        raise
    return status(lab_id)


def _build(plan: Plan, p: Paths, scenario_json: str) -> None:
    creds = _write_secrets(p.root)
    p.plan.write_text(plan.to_json(), encoding="utf-8")
    p.scenario.write_text(scenario_json, encoding="utf-8")
    ip_batch(f"netns add {ns}" for ns in plan.namespaces)
    _sysctls(plan)
    ip_batch(
        f"link add name {link.if_a} netns {link.ns_a} type veth peer name {link.if_b} netns {link.ns_b}"
        for link in plan.links.values()
    )
    _parallel(lambda ns: ip_batch(_namespace_batch(plan, ns), ns), plan.namespaces)
    _parallel(lambda ns: run_in(ns, ["nft", "-f", "-"], _nft_base(plan, ns)), _far_side_namespaces(plan))
    for device in plan.snmp_devices():
        files = snmpd.agent_files(p.root, device.id)
        snmpd.write_config(files, device, creds)
        snmpd.start(files, device.ns)
    write_inventory(plan, p.root)
    _wait_agents(plan, p)  # before the conductor: a fault at start_s 0 may need a running agent
    _start_conductor(plan, p)


def _write_secrets(root: Path) -> snmpd.Credentials:
    creds = snmpd.Credentials(
        community=f"lab{secrets.token_hex(6)}",
        user="netprobe",
        auth_key=secrets.token_hex(12),
        priv_key=secrets.token_hex(12),
    )
    for name, value in (
        ("snmp-community", creds.community),
        ("snmp-auth.key", creds.auth_key),
        ("snmp-priv.key", creds.priv_key),
    ):
        path = root / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
    return creds


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


def _sysctls(plan: Plan) -> None:
    routers = set(plan.forwarding)
    dcs = set(plan.dc_namespaces)
    for ns in plan.namespaces:
        with netns.inside(ns):
            for scope in ("all", "default"):
                _write(f"/proc/sys/net/ipv4/conf/{scope}/rp_filter", "0")  # lines are asymmetric by design
                _write(f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6", "1")  # an IPv4 lab: no DAD/RS noise
                if ns in routers:
                    _write(f"/proc/sys/net/ipv4/conf/{scope}/ignore_routes_with_linkdown", "1")
            if ns in routers:
                _write("/proc/sys/net/ipv4/ip_forward", "1")
                _write("/proc/sys/net/ipv4/icmp_ratelimit", "0")  # traceroute sees every hop, every probe
                _write("/proc/sys/net/ipv4/icmp_msgs_per_sec", "100000")
            if ns in dcs:
                _write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")  # unprivileged ICMP, lab only


def _namespace_batch(plan: Plan, ns: str) -> list[str]:
    out = ["link set lo up"]
    bridge = plan.bridges.get(ns)
    if bridge:
        out.append(f"link add {bridge['name']} type bridge")
        out += [f"link set {port} master {bridge['name']}" for port in bridge["ports"]]
        if bridge.get("address"):
            out.append(f"addr add {bridge['address']} dev {bridge['name']}")
        out.append(f"link set {bridge['name']} up")
    for ifname, link in plan.links_in(ns):
        addr = link.addr_a if (link.ns_a == ns and link.if_a == ifname) else link.addr_b
        if addr:
            out.append(f"addr add {addr} dev {ifname}")
        if link.alias:
            out.append(f'link set {ifname} alias "{link.alias}"')
        out.append(f"link set {ifname} up")
    out += [f"route replace {r}" for r in plan.routes.get(ns, [])]
    return out


def nft_table(plan: Plan) -> str:
    return f"{plan.lab_id}_lab"


def _far_side_namespaces(plan: Plan) -> list[str]:
    return [plan.core_ns, *(c.ce_ns for c in plan.communes.values())]


def _nft_base(plan: Plan, ns: str) -> str:
    """A per-link chain, jumped to by input interface: faults fill and flush it without touching others."""
    ifaces = [link.if_b for link in plan.links.values() if link.ns_b == ns and link.kind == "line"]
    if ns == plan.core_ns:
        ifaces = [link.if_a for link in plan.links.values() if link.ns_a == ns and link.kind == "dc"]
    table = nft_table(plan)
    lines = [f"table inet {table} {{", "  chain pre {", "    type filter hook prerouting priority -150; policy accept;"]
    lines += [f'    iifname "{i}" jump link_{i}' for i in ifaces]
    lines += ["  }"]
    lines += [f"  chain link_{i} {{\n  }}" for i in ifaces]
    if ns != plan.core_ns:  # the congestion load's sink: traverses the line, then is silently dropped
        lines += [
            "  chain input {",
            "    type filter hook input priority 0; policy accept;",
            "    udp dport 9 drop",
            "  }",
        ]
    lines += ["}"]
    return "\n".join(lines) + "\n"


def _start_conductor(plan: Plan, p: Paths) -> None:
    p.requests.mkdir(mode=0o700, exist_ok=True)
    with open(p.conductor_log, "ab") as log:
        pid = procs.spawn(
            [sys.executable, "-m", "netprobe.lab.conductor", "--id", plan.lab_id, "--state", str(p.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    p.conductor_pid.write_text(f"{pid}\n", encoding="ascii")
    deadline = time.monotonic() + 20
    while not p.conductor_ready.exists():
        if not procs.alive(pid):
            tail = p.conductor_log.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise LabError(f"the lab conductor exited at start ({p.conductor_log}): {tail[0]}")
        if time.monotonic() > deadline:
            raise LabError(f"the lab conductor did not get ready in 20 s; see {p.conductor_log}")
        time.sleep(0.05)


def _wait_agents(plan: Plan, p: Paths) -> None:
    pending = {d.id: snmpd.agent_files(p.root, d.id) for d in plan.snmp_devices()}
    deadline = time.monotonic() + 30
    while pending:
        pending = {k: f for k, f in pending.items() if not snmpd.is_ready(f)}
        if not pending:
            return
        if time.monotonic() > deadline:
            first = next(iter(pending.values()))
            raise LabError(f"{len(pending)} snmpd agents did not start in 30 s, e.g. see {first.log}")
        time.sleep(0.05)


@contextmanager
def running(scenario: str = "demo", lab_id: str | None = None, lifetime_s: float = 1800.0) -> Iterator[dict[str, Any]]:
    """A lab for the length of a `with` block (tests, demos, benchmarks): yields `status()`, always downs it.

    The default id is unique per process, so parallel users never collide.
    """
    chosen = lab_id or f"l{os.getpid() % 10_000_000}"
    try:
        yield up(chosen, scenario, lifetime_s)
    finally:
        down(chosen)


# ---------------------------------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------------------------------
def _lab_namespaces(lab_id: str, p: Paths) -> list[str]:
    names: dict[str, None] = {}
    if p.manifest.exists():
        for line in p.manifest.read_text(encoding="utf-8").splitlines():
            if line.strip():
                names[line.strip()] = None
    if p.plan.exists():
        try:
            for ns in Plan.load(p.plan).namespaces:
                names[ns] = None
        except (ValueError, KeyError, TypeError):
            pass
    return [n for n in names if n.startswith(f"{lab_id}-")]


def _ns_inodes(names: Iterable[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for name in names:
        with contextlib.suppress(OSError):
            out[netns.inode_of(name)] = name
    return out


def pids_in(names: Iterable[str]) -> list[int]:
    """Every process whose network namespace is one of `names` (what `ip netns pids` does, for all at once)."""
    inodes = _ns_inodes(names)
    if not inodes:
        return []
    found = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            link = os.readlink(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        m = re.match(r"net:\[(\d+)\]", link)
        if m and int(m.group(1)) in inodes:
            found.append(int(entry.name))
    return found


def _stop_conductor(p: Paths, lab_id: str) -> None:
    try:
        pid = int(p.conductor_pid.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if b"netprobe.lab.conductor" not in cmdline or lab_id.encode() not in cmdline:
        return  # the pid was reused by something else: not ours
    procs.stop(pid, timeout_s=5.0)


def down(lab_id: str) -> dict[str, int]:
    """Remove everything lab `lab_id` made. Safe to run twice, or after a crash."""
    require_root()
    p = paths(lab_id)
    _stop_conductor(p, lab_id)
    names = [n for n in _lab_namespaces(lab_id, p) if netns.path_of(n).exists()]
    victims = pids_in(names)
    pids_killed = list(victims)
    for pid in victims:  # agents, loads, probes someone left running in the lab: all of them go
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while victims and time.monotonic() < deadline:
        victims = [pid for pid in victims if procs.alive(pid)]
        if victims:
            time.sleep(0.02)
    for pid in pids_killed:
        procs.reap(pid)
    if names:
        ip_batch((f"netns del {n}" for n in names), force=True)
    left = [n for n in names if netns.path_of(n).exists()]
    if left:
        raise LabError(f"could not delete namespaces {', '.join(left[:5])}; try `ip netns del {left[0]}`")
    shutil.rmtree(p.root, ignore_errors=True)
    return {"namespaces": len(names), "processes": len(pids_killed)}


# ---------------------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------------------
def load_plan(lab_id: str) -> Plan:
    p = paths(lab_id)
    if not p.plan.exists():
        raise LabError(f"lab {lab_id!r} is not up (no {p.plan}); start it with `netprobe lab up --id {lab_id}`")
    return Plan.load(p.plan)


def status(lab_id: str) -> dict[str, Any]:
    p = paths(lab_id)
    plan = load_plan(lab_id)
    present = [ns for ns in plan.namespaces if netns.path_of(ns).exists()]
    agents_up = 0
    for d in plan.snmp_devices():
        pid = snmpd.read_pid(snmpd.agent_files(p.root, d.id))
        agents_up += bool(pid and procs.alive(pid))
    try:
        conductor = int(p.conductor_pid.read_text().strip())
    except (OSError, ValueError):
        conductor = 0
    truth: dict[str, Any] = {}
    if p.truth.exists():
        try:
            truth = json.loads(p.truth.read_text(encoding="utf-8"))
        except ValueError:
            truth = {}
    return {
        "id": lab_id,
        "scenario": plan.scenario,
        "scenario_source": plan.scenario_source,
        "state_dir": str(p.root),
        "inventory": str(p.inventory),
        "truth": str(p.truth),
        "dc_namespaces": plan.dc_namespaces,
        "namespaces": plan.namespaces,
        "namespaces_present": len(present),
        "communes": len(plan.communes),
        "lines": len(plan.lines),
        "devices": len(plan.devices),
        "snmp_agents": len(plan.snmp_devices()),
        "snmp_agents_running": agents_up,
        "conductor_pid": conductor,
        "conductor_running": bool(conductor and procs.alive(conductor)),
        "up_at": truth.get("up_at"),
        "active_faults": [f for f in truth.get("faults", []) if f.get("start") and f.get("end") is None],
    }
