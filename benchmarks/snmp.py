"""SNMP: netprobe (v2c and v3 authPriv) vs net-snmp `snmpget` run in parallel, same agents, same OIDs.

    python -m benchmarks snmp --polls 1000

Starts its own net-snmp snmpd agents on 127.0.0.1 (temp configs, free ports) pinned to the last CPU; the
clients (netprobe in this process, snmpget processes) are pinned to CPU 0, so "polls/s" is what ONE client
core does. A poll is one GET of sysUpTime, sysName, sysDescr and one interface row (14 IF-MIB columns of
ifIndex 1): what the probe asks every cycle. A dead agent (a bound UDP port that never answers) is polled
alongside the live ones to show it costs only its own timeout. Last line:
`snmp polls=N v2c_per_s=A v3_per_s=B netsnmp_per_s=C ratio=A/C` (C: snmpget v2c in parallel).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import tempfile
import time
from contextlib import ExitStack

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import SnmpSettings, SnmpV2c, SnmpV3
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.probes.snmp.probe import IF_COLUMNS, SYS_DESCR, SYS_NAME, SYS_UPTIME, SnmpProbe
from netprobe.probes.snmp.snmpd import LocalSnmpd

OIDS = [SYS_UPTIME, SYS_NAME, SYS_DESCR, *(f"{oid}.1" for oid, _ in IF_COLUMNS.values())]


def _targets(agents: list[LocalSnmpd], n: int, version: str, settings: SnmpSettings) -> list[Target]:
    out = []
    for i in range(n):
        a = agents[i % len(agents)]
        profile: SnmpV2c | SnmpV3
        if version == "2c":
            profile = SnmpV2c.model_validate({"version": "2c", "community": "${NPP_BENCH_COMMUNITY}", "port": a.port})
        else:
            profile = SnmpV3.model_validate({
                "version": "3", "user": a.v3_user, "auth_protocol": "SHA256", "auth_key": "${NPP_BENCH_AUTH}",
                "priv_protocol": "AES", "priv_key": "${NPP_BENCH_PRIV}", "port": a.port,
            })  # fmt: skip
        out.append(Target(f"bench/{version}/{i}", ProbeKind.SNMP, "127.0.0.1", {}, port=a.port, snmp=settings,
                          snmp_profile=profile, interfaces=(1,)))  # fmt: skip
    return out


def _netprobe(probe: SnmpProbe, targets: list[Target]) -> tuple[float, float, list[Measurement]]:
    async def go() -> list[Measurement]:
        return await probe.run(targets, asyncio.get_running_loop().time() + 120)

    cpu, wall = time.process_time(), time.perf_counter()
    ms = asyncio.run(go())
    return time.perf_counter() - wall, time.process_time() - cpu, ms


async def _snmpget_all(argvs: list[list[str]], concurrency: int, env: dict[str, str]) -> list[int]:
    gate = asyncio.Semaphore(concurrency)

    async def one(argv: list[str]) -> int:
        async with gate:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env
            )
            return await proc.wait()

    return list(await asyncio.gather(*(one(a) for a in argvs)))


def _netsnmp(agents: list[LocalSnmpd], n: int, version: str, concurrency: int, state_dir: str) -> tuple[float, int]:
    argvs = []
    for i in range(n):
        a = agents[i % len(agents)]
        if version == "2c":
            auth = ["-v2c", "-c", a.community]
        else:
            auth = ["-v3", "-l", "authPriv", "-u", a.v3_user, "-a", "SHA-256", "-A", a.auth_key, "-x", "AES",
                    "-X", a.priv_key]  # fmt: skip
        argvs.append(["snmpget", *auth, "-On", "-r", "1", "-t", "2", f"127.0.0.1:{a.port}", *OIDS])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SNMP_PERSISTENT_DIR": state_dir, "MIBS": ""}
    started = time.perf_counter()
    codes = asyncio.run(_snmpget_all(argvs, concurrency, env))
    return time.perf_counter() - started, sum(c == 0 for c in codes)


def _report(name: str, n: int, wall: float, cpu: float, ms: list[Measurement]) -> float:
    ok = [m for m in ms if m.status is Status.OK]
    rt = sorted(float(m.fields["response_ms"]) for m in ok)
    p99 = rt[int(0.99 * (len(rt) - 1))] if rt else float("nan")
    print(f"{name:22} {len(ok)}/{n} ok  {n / wall:7.0f} polls/s wall  {n / cpu:7.0f} polls per client CPU-s  "
          f"p50 {statistics.median(rt) if rt else float('nan'):.1f} ms  p99 {p99:.1f} ms")  # fmt: skip
    return n / wall


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks snmp", description=__doc__.split("\n")[0])
    ap.add_argument("--polls", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16, help="snmpget processes at once (net-snmp side)")
    ap.add_argument("--dead-timeout-ms", type=float, default=1000.0)
    args = ap.parse_args(argv)
    n = args.polls
    cpus = sorted(os.sched_getaffinity(0))
    client_cpu, agent_cpu = {cpus[0]}, {cpus[-1]}
    settings = SnmpSettings(timeout_ms=2000, retries=1)
    with ExitStack() as stack:
        agents = [stack.enter_context(LocalSnmpd()) for _ in range(args.agents)]
        for a in agents:
            if a.pid is not None:
                os.sched_setaffinity(a.pid, agent_cpu)
        os.environ["NPP_BENCH_COMMUNITY"] = agents[0].community
        os.environ["NPP_BENCH_AUTH"] = agents[0].auth_key
        os.environ["NPP_BENCH_PRIV"] = agents[0].priv_key
        state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="npp-snmp-"))
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, client_cpu)
        try:
            print(f"snmp: {n} polls ({len(OIDS)} varbinds) against {len(agents)} snmpd on CPU {agent_cpu}, "
                  f"clients on CPU {client_cpu}")  # fmt: skip
            probe = SnmpProbe(AllowList.build(None, {}))
            _netprobe(probe, _targets(agents, 20, "2c", settings) + _targets(agents, 20, "3", settings))  # warm-up
            wall, cpu, ms = _netprobe(probe, _targets(agents, n, "2c", settings))
            v2c = _report("netprobe v2c", n, wall, cpu, ms)
            wall, cpu, ms = _netprobe(probe, _targets(agents, n, "3", settings))
            v3 = _report("netprobe v3 authPriv", n, wall, cpu, ms)
            ns_wall, ns_ok = _netsnmp(agents, n, "2c", args.concurrency, state_dir)
            netsnmp = n / ns_wall
            print(f"{'snmpget v2c ×' + str(args.concurrency):22} {ns_ok}/{n} ok  {netsnmp:7.0f} polls/s wall")
            ns3_wall, ns3_ok = _netsnmp(agents, n, "3", args.concurrency, state_dir)
            print(f"{'snmpget v3 ×' + str(args.concurrency):22} {ns3_ok}/{n} ok  {n / ns3_wall:7.0f} polls/s wall")
            # a dead agent among live ones: it must cost only its own timeout
            silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            silent.bind(("127.0.0.1", 0))
            stack.callback(silent.close)
            dead_settings = SnmpSettings(timeout_ms=args.dead_timeout_ms, retries=0)
            dead_profile = SnmpV2c.model_validate(
                {"version": "2c", "community": "${NPP_BENCH_COMMUNITY}", "port": silent.getsockname()[1]}
            )
            dead = Target("bench/dead", ProbeKind.SNMP, "127.0.0.1", {}, port=silent.getsockname()[1],
                          snmp=dead_settings, snmp_profile=dead_profile, interfaces=(1,))  # fmt: skip
            live = _targets(agents, n, "2c", settings)
            live_wall, _cpu, _ms = _netprobe(probe, live)
            started = time.time()
            wall, _cpu, ms = _netprobe(probe, [dead, *live])
            live_ok = [m for m in ms[1:] if m.status is Status.OK]
            live_rt = sorted(float(m.fields["response_ms"]) for m in live_ok)
            last_live = max(m.time + float(m.fields["response_ms"]) / 1000 for m in live_ok) - started
            print(
                f"dead agent: {ms[0].status.value} after its own {args.dead_timeout_ms / 1000:g} s; "
                f"{len(live_ok)}/{n} live polls ok, p99 {live_rt[int(0.99 * (len(live_rt) - 1))]:.1f} ms, the last "
                f"done {last_live:.2f} s after the start (run {wall:.2f} s; {live_wall:.2f} s without the dead agent)"
            )
        finally:
            os.sched_setaffinity(0, saved)
    print(f"snmp polls={n} v2c_per_s={v2c:.0f} v3_per_s={v3:.0f} netsnmp_per_s={netsnmp:.0f} ratio={v2c / netsnmp:.2f}")
    return 0
