"""Peers: netprobe vs what a province would install instead (snmp_exporter, blackbox_exporter, check_icmp).

    bash scripts/setup-peers.sh                     # Debian packages, daemons kept off (as root)
    python -m benchmarks peers --only snmp,icmp

Every peer is a child process of this benchmark, bound to 127.0.0.1, probing only loopback, stopped at the
end. Configs: benchmarks/peers_configs/ (docs/peers.md says where each comes from).
- snmp: snmp_exporter 0.21 `get_*` module = exactly netprobe's poll (sysUpTime, sysName, sysDescr, 14 IF-MIB
  columns of ifIndex 1), v2c and v3 authPriv SHA-256/AES, and `walk_*` = ifTable + ifXTable, against the
  same throw-away snmpd. Exporter CPU from /proc/<pid>/stat (utime+stime, HTTP and exposition included:
  that is what the exporter costs); netprobe's CPU is this process's, asyncio loop included.
- icmp: blackbox_exporter `icmp` module (1 echo request per probe) vs `netprobe probe ping` (a separate
  process, its CPU from wait4, interpreter start-up included), packets per CPU-second.
- verdicts: one lab run of the `peers` scenario (id --verdicts-lab-id, --minutes long) with netprobe's
  agents, blackbox_exporter + Prometheus and SmokePing side by side in both DC namespaces, all scored by
  benchmarks/verdicts.py's scorer (benchmarks/peers_verdicts.py says how alerts become flags).
Last line: `peers netprobe_f1=A blackbox_f1=B smokeping_f1=C snmp_cpu_ratio=D icmp_cpu_ratio=E`; ratios are
peer CPU per poll / netprobe CPU per poll (> 1: netprobe is cheaper); a part not run prints `-`.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml

from benchmarks.icmp import loopback_targets, measured
from benchmarks.snmp import _targets
from netprobe.engine.allowlist import AllowList
from netprobe.errors import NetprobeError
from netprobe.inventory.model import SnmpSettings
from netprobe.probes.base import Status, Target
from netprobe.probes.snmp.probe import SnmpProbe
from netprobe.probes.snmp.snmpd import LocalSnmpd

CONFIGS = Path(__file__).parent / "peers_configs"
WALK_ROOTS = ("1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1")  # ifNumber+ifTable, ifXTable: what if_mib walks
CLK_TCK = os.sysconf("SC_CLK_TCK")
ABSENT = (0x80, 0x81, 0x82)  # noSuchObject, noSuchInstance, endOfMibView: the walk left the table


def proc_cpu(pid: int) -> float:
    """user+system CPU seconds of one process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def peer(argv: list[str], port: int, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a peer on 127.0.0.1:port, wait (bounded) until it listens, stop it by its pid at the end."""
    log = open(workdir / f"{Path(argv[0]).name}.log", "wb")  # noqa: SIM115 (closed in finally, after the peer)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{argv[0]} did not listen on 127.0.0.1:{port} within 15 s")
        if proc.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited: {(workdir / (Path(argv[0]).name + '.log')).read_text()[-300:]}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def scrape_all(port: int, paths: list[str], clients: int, must: bytes) -> tuple[float, int]:
    """GET every path over `clients` keep-alive connections; wall seconds and how many answered `must`."""
    ok = [0] * clients
    chunks = [paths[i::clients] for i in range(clients)]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for p in chunks[i]:
            conn.request("GET", p)
            r = conn.getresponse()
            body = r.read()
            ok[i] += r.status == 200 and must in body
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, sum(ok)


# -- A. SNMP -------------------------------------------------------------------------------------------


async def _walk(probe: SnmpProbe, target: Target) -> int:
    """One whole ifTable+ifXTable walk with netprobe's own GETBULK client; varbinds read."""
    agent = await probe._agent(target, ipaddress.ip_address(target.address), target.snmp or SnmpSettings())
    n = 0
    for root in WALK_ROOTS:
        oid = root
        for _ in range(10_000):  # bounded: each request moves forward or the walk ends
            rows = await agent.bulk(oid)
            inside = [name for name, tagged in rows if name.startswith(root + ".") and tagged[0] not in ABSENT]
            n += len(inside)
            if len(inside) < len(rows) or not inside:
                break
            oid = inside[-1]
    return n


async def _get_run(probe: SnmpProbe, targets: list[Target], _clients: int) -> int:
    ms = await probe.run(targets, asyncio.get_running_loop().time() + 300)
    return sum(m.status is Status.OK for m in ms)


async def _walk_run(probe: SnmpProbe, targets: list[Target], clients: int) -> int:
    gate = asyncio.Semaphore(clients)  # as many walks in flight as the exporter gets scrapes

    async def one(t: Target) -> int:
        async with gate:
            return await _walk(probe, t)

    got = await asyncio.gather(*(one(t) for t in targets))
    probe.close()
    return sum(g > 0 for g in got)


def snmp_part(polls: int, walks: int, clients: int, workdir: Path) -> float:
    """Rows of the SNMP table; returns exporter CPU per GET poll / netprobe CPU per GET poll (v2c)."""
    settings = SnmpSettings(timeout_ms=2000, retries=1)
    cpus = sorted(os.sched_getaffinity(0))
    with ExitStack() as stack:
        agent = stack.enter_context(LocalSnmpd())
        if agent.pid is not None:
            os.sched_setaffinity(agent.pid, {cpus[-1]})  # agent on the last CPU, pollers on the first
        os.environ["NPP_BENCH_COMMUNITY"] = agent.community
        os.environ["NPP_BENCH_AUTH"] = agent.auth_key
        os.environ["NPP_BENCH_PRIV"] = agent.priv_key
        conf = (CONFIGS / "snmp.yml").read_text()
        for k, v in (("__COMMUNITY__", agent.community), ("__USER__", agent.v3_user), ("__AUTH__", agent.auth_key),
                     ("__PRIV__", agent.priv_key)):  # fmt: skip
            conf = conf.replace(k, v)
        (workdir / "snmp.yml").write_text(conf)
        port = free_tcp_port()
        exe = shutil.which("prometheus-snmp-exporter") or "prometheus-snmp-exporter"
        argv = ["taskset", "-c", str(cpus[0]), exe, f"--config.file={workdir / 'snmp.yml'}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
        exporter = stack.enter_context(peer(argv, port, workdir))
        target = f"127.0.0.1:{agent.port}"
        probe = SnmpProbe(AllowList.build(None, {}))
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpus[0]})
        rows: list[tuple[str, int, int, float, float, float]] = []
        try:
            for version, v in (("v2c", "2c"), ("v3", "3")):
                for kind, n in (("get", polls), ("walk", walks)):
                    module = f"{kind}_{version}"
                    paths = [f"/snmp?module={module}&target={target}"] * n
                    scrape_all(port, paths[: max(10, n // 20)], clients, b"ifHCInOctets")  # warm-up
                    c0 = proc_cpu(exporter.pid)
                    wall, ok = scrape_all(port, paths, clients, b"ifHCInOctets")
                    peer_cpu = proc_cpu(exporter.pid) - c0
                    rows.append((f"snmp_exporter {module}", ok, n, wall, peer_cpu, 0.0))
                    targets = _targets([agent], n, v, settings)
                    go = _get_run if kind == "get" else _walk_run
                    asyncio.run(go(probe, targets, clients))  # warm-up (engine discovery, keys)
                    cpu, started = time.process_time(), time.perf_counter()
                    ok = asyncio.run(go(probe, targets, clients))
                    done = time.perf_counter() - started
                    rows.append((f"netprobe {module}", ok, n, done, time.process_time() - cpu, 0.0))
        finally:
            os.sched_setaffinity(0, saved)
    print(f"{'SNMP poller':26} {'ok':>11} {'polls/s wall':>13} {'polls/CPU-s':>12} {'CPU ms/poll':>12}")
    per: dict[str, float] = {}
    for name, ok, n, wall, cpu, _ in rows:
        per[name] = cpu / n
        rate = n / cpu if cpu else float("inf")
        print(f"{name:26} {ok:>5}/{n:<5} {n / wall:13.0f} {rate:12.0f} {1000 * cpu / n:12.3f}")
    for module in ("get_v2c", "get_v3", "walk_v2c", "walk_v3"):
        r = per["snmp_exporter " + module] / per["netprobe " + module]
        print(f"ratio {module}: exporter/netprobe CPU per poll = {r:.2f}")
    return per["snmp_exporter get_v2c"] / per["netprobe get_v2c"]


# -- B. ICMP -------------------------------------------------------------------------------------------


def icmp_part(sizes: list[int], clients: int, workdir: Path) -> float:
    """blackbox `icmp` module vs `netprobe probe ping`; returns blackbox/netprobe CPU per packet at the largest N."""
    port = free_tcp_port()
    exe = shutil.which("prometheus-blackbox-exporter") or "prometheus-blackbox-exporter"
    argv = [exe, f"--config.file={CONFIGS / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn"]  # fmt: skip
    ratio = float("nan")
    print(f"{'ICMP':34} {'ok':>13} {'wall s':>7} {'CPU s':>6} {'pkts/CPU-s':>11}")
    with peer(argv, port, workdir) as bb:
        for n in sizes:
            targets = loopback_targets(n)
            paths = [f"/probe?module=icmp&target={t}" for t in targets]
            scrape_all(port, paths[:50], clients, b"probe_success 1")
            c0 = proc_cpu(bb.pid)
            wall, ok = scrape_all(port, paths, clients, b"probe_success 1")
            bb_cpu = proc_cpu(bb.pid) - c0
            name = f"blackbox icmp ({clients} scrapers)"
            print(f"{name:34} {ok:>6}/{n:<6} {wall:7.2f} {bb_cpu:6.2f} {n / bb_cpu:11.0f}")
            (workdir / "targets.txt").write_text("\n".join(targets) + "\n")
            count = 5
            np_argv = [sys.executable, "-m", "netprobe", "probe", "ping", "--json", "-f", str(workdir / "targets.txt"),
                       "-c", str(count), "--spacing-ms", "1000", "--rate", "10000", "--timeout-ms", "500"]  # fmt: skip
            env = os.environ | {"NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128,198.18.0.0/15"}
            wall, cpu, _rss, out, err = measured(np_argv, env)
            got = sum('"percent_packet_loss": 0' in line for line in out.splitlines())
            name = f"netprobe probe ping -c {count}"
            print(f"{name:34} {got:>6}/{n:<6} {wall:7.2f} {cpu:6.2f} {n * count / cpu:11.0f}")
            if got == 0:
                print(f"netprobe: {err.strip()[-300:]}", file=sys.stderr)
            ratio = (bb_cpu / n) / (cpu / (n * count))
            print(f"ratio icmp N={n}: blackbox/netprobe CPU per packet = {ratio:.2f}")
    return ratio


# -- C. technician check -------------------------------------------------------------------------------

PLUGINS = Path("/usr/lib/nagios/plugins")


def _lab_status(lab_id: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "netprobe", "lab", "status", "--id", lab_id, "--json"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"lab {lab_id} is not up: run `netprobe lab up --id {lab_id}` ({out.stderr.strip()[-200:]})")
    status: dict[str, Any] = json.loads(out.stdout)
    return status


def _faulty_now(truth: dict[str, Any], slug: str, now: float) -> list[str]:
    """The lab's faults active on this commune now (its lines, its devices, or the commune itself)."""
    out = []
    for f in truth["faults"]:
        mine = f["target"] == slug or any(x.startswith(slug + "-") for x in [*f["lines"], *f["devices"]])
        if mine and f["start"] is not None and f["start"] <= now and (f["end"] is None or f["end"] > now):
            out.append(f"{f['fault']}:{f['target']}")
    return out


def check_part(lab_id: str) -> None:
    """check_icmp (+ check_snmp on the SNMP gear) over each commune's addresses vs `netprobe check`."""
    lab = _lab_status(lab_id)
    inv = yaml.safe_load(Path(lab["inventory"]).read_text())
    community = Path(lab["state_dir"], "snmp-community").read_text().strip()
    ns = lab["dc_namespaces"][0]
    env = os.environ | {"NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128,198.18.0.0/15"}
    print(f"technician check on lab {lab_id} ({inv['province']['name']}), Nagios plugins from {ns}")
    print(f"{'commune':14} {'truth now':34} {'netprobe':22} {'s':>5} {'check_icmp+check_snmp':24} {'s':>5}")
    right = {"netprobe": 0, "nagios": 0}
    communes = inv["communes"]
    for c in communes:
        slug = c["slug"]
        ce = [line["ce"] for site in c["sites"] for line in site.get("lines", [])]
        gear = [d for site in c["sites"] for d in site.get("devices", []) if d.get("address")]
        started = time.perf_counter()
        argv = [sys.executable, "-m", "netprobe", "-i", lab["inventory"], "check", slug, "--json", "--lang", "en",
                "--no-trace"]  # fmt: skip
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        np_wall = time.perf_counter() - started
        np_state = json.loads(run.stdout)["state"] if run.stdout.strip().startswith("{") else f"error {run.returncode}"
        started = time.perf_counter()
        # one check_icmp over every address of the commune, its shipped defaults (5 packets, -w 200ms,40% -c 500ms,80%)
        hosts = [a for x in [*ce, *(d["address"] for d in gear)] for a in ("-H", x)]
        icmp = subprocess.run(["ip", "netns", "exec", ns, str(PLUGINS / "check_icmp"), *hosts],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        codes = [icmp.returncode]
        for d in gear:
            if d.get("snmp") is False:
                continue
            snmp = subprocess.run(["ip", "netns", "exec", ns, str(PLUGINS / "check_snmp"), "-H", d["address"], "-P",
                                   "2c", "-C", community, "-o", "1.3.6.1.2.1.1.3.0", "-t", "5"],
                                  capture_output=True, text=True, timeout=60)  # fmt: skip
            codes.append(snmp.returncode)
        ng_wall = time.perf_counter() - started
        worst = max(codes)
        ng_state = {0: "OK", 1: "WARNING", 2: "CRITICAL"}.get(worst, "UNKNOWN")
        truth = _faulty_now(json.loads(Path(lab["truth"]).read_text()), slug, time.time())
        right["netprobe"] += (np_state != "OK") == bool(truth)
        right["nagios"] += (worst != 0) == bool(truth)
        print(f"{slug:14} {','.join(truth) or 'healthy':34} {np_state:22} {np_wall:5.1f} "
              f"{ng_state + ' ' + ','.join(map(str, codes)):24} {ng_wall:5.1f}")  # fmt: skip
    print(f"verdict matches truth (faulty vs healthy): netprobe {right['netprobe']}/{len(communes)}, "
          f"check_icmp+check_snmp {right['nagios']}/{len(communes)}")  # fmt: skip


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks peers", description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="snmp,icmp,check,verdicts", help="comma list of: snmp,icmp,check,verdicts")
    ap.add_argument("--lab-id", default="pe1", help="the (demo) lab `check` runs on: netprobe lab up --id ID")
    ap.add_argument("--polls", type=int, default=2000, help="SNMP GET polls per poller and version")
    ap.add_argument("--walks", type=int, default=200, help="ifTable+ifXTable walks per poller and version")
    ap.add_argument("--clients", type=int, default=8, help="HTTP scrapers at once (Prometheus-like concurrency)")
    ap.add_argument("--targets", default="1000,10000", help="ICMP target counts (loopback 127.x)")
    ap.add_argument("--minutes", type=float, default=15.0, help="verdicts: how long the tools run (5-240)")
    ap.add_argument("--verdicts-lab-id", default="pe2", help="verdicts: the lab id it brings up (must be free)")
    ap.add_argument("--keep", type=Path, help="verdicts: keep the run (stores, peer data, logs) in this dir")
    ap.add_argument("--rescore", type=Path, metavar="DIR", help="verdicts: score a run kept with --keep again")
    args = ap.parse_args(argv)
    parts = set(args.only.split(","))
    unknown = parts - {"snmp", "icmp", "check", "verdicts"}
    if unknown:
        print(f"error: unknown part(s) {','.join(sorted(unknown))}; --only takes snmp,icmp,check,verdicts",
              file=sys.stderr)  # fmt: skip
        return 2
    if "verdicts" in parts and not args.rescore:
        if not 5 <= args.minutes <= 240:
            print("error: --minutes must be between 5 and 240", file=sys.stderr)
            return 2
        if os.geteuid() != 0:
            print("error: the verdicts part needs root (the lab's namespaces)", file=sys.stderr)
            return 2
    if args.rescore and not (args.rescore / "peers.json").is_file():
        print(f"error: {args.rescore} is not a run kept with --keep (no peers.json)", file=sys.stderr)
        return 2
    exes = ["prometheus-snmp-exporter", "prometheus-blackbox-exporter"]
    if "verdicts" in parts:
        exes += ["prometheus", "smokeping", "fping"]
    need = [e for e in exes if shutil.which(e) is None]
    if need:
        print(f"error: {', '.join(need)} not installed: run `bash scripts/setup-peers.sh` as root", file=sys.stderr)
        return 2
    print(f"peers: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine: timings are noisy)")
    snmp_ratio = icmp_ratio = float("nan")
    f1s: dict[str, float] = {}
    # SIGTERM (and SIGINT, ignored in a background job) must still stop every peer and take the lab down
    signal.signal(signal.SIGTERM, _interrupted)
    with tempfile.TemporaryDirectory(prefix="npp-peers-") as tmp:
        if "snmp" in parts:
            snmp_ratio = snmp_part(args.polls, args.walks, args.clients, Path(tmp))
        if "icmp" in parts:
            icmp_ratio = icmp_part([int(x) for x in args.targets.split(",")], args.clients * 4, Path(tmp))
        if "check" in parts:
            try:
                check_part(args.lab_id)
            except RuntimeError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        if "verdicts" in parts:
            from benchmarks import peers_verdicts

            keep = args.rescore or args.keep or Path(tmp) / "verdicts"
            try:
                if not args.rescore:
                    peers_verdicts.run("peers", args.verdicts_lab_id, args.minutes, keep)
                f1s = peers_verdicts.score_run(keep)
            except (RuntimeError, OSError, subprocess.SubprocessError, NetprobeError) as e:
                print(f"error: verdicts: {e}", file=sys.stderr)
                return 2
    snmp, icmp = ("-" if x != x else f"{x:.2f}" for x in (snmp_ratio, icmp_ratio))  # NaN: part not run
    tools = ("netprobe", "blackbox+prometheus", "smokeping")
    np_f1, bb_f1, sp_f1 = (f"{f1s[k]:.3f}" if k in f1s else "-" for k in tools)
    print(f"peers netprobe_f1={np_f1} blackbox_f1={bb_f1} smokeping_f1={sp_f1} snmp_cpu_ratio={snmp} "
          f"icmp_cpu_ratio={icmp}")  # fmt: skip
    return 0


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
