"""Lab bring-up and tear-down time (root). Last line:
`lab scenario=NAME up_s=X down_s=Y namespaces=N lines=L snmpd=A leftover=K`.

Also checks that every SNMP agent started, the DC can reach a sample of CE routers, and that `down`
left no namespace or process behind (leftover must be 0).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from netprobe.lab import build


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks lab")
    parser.add_argument("--scenario", default="province", help="shipped name or scenario file (default: province)")
    parser.add_argument("--id", default=f"b{os.getpid() % 100000}", help="lab id (default: unique per run)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("error: the lab benchmark needs root (network namespaces); rerun with sudo", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        st = build.up(args.id, args.scenario, lifetime_s=300)
        up_s = time.perf_counter() - t0
        plan = build.load_plan(args.id)
        sample = [line.ce for line in list(plan.lines.values())[:: max(1, len(plan.lines) // 20)]]
        ping = subprocess.run(
            ["nsenter", f"--net=/run/netns/{plan.dc_namespaces[0]}", "fping", "-q", "-c", "3", "-p", "20", *sample],
            capture_output=True,
            text=True,
            check=False,
        )
        reachable = sum(" 0%" in line or "/0%" in line for line in ping.stderr.splitlines())
        print(
            f"up: {st['namespaces_present']} namespaces, {st['snmp_agents_running']}/{st['snmp_agents']} snmpd, "
            f"{reachable}/{len(sample)} sampled CE routers answer (faulted ones may not)"
        )
    finally:
        t1 = time.perf_counter()
        result = build.down(args.id)
        down_s = time.perf_counter() - t1
    names = st["namespaces"]
    leftover = sum(os.path.exists(f"/run/netns/{n}") for n in names) + len(build.pids_in(names))
    print(
        f"lab scenario={args.scenario} up_s={up_s:.1f} down_s={down_s:.1f} namespaces={result['namespaces']} "
        f"lines={st['lines']} snmpd={st['snmp_agents_running']} leftover={leftover}"
    )
    return 0 if leftover == 0 else 1
