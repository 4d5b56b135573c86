"""One `netprobe run` agent, N loopback targets, M minutes: CPU, cycle lag, memory.

    python -m benchmarks agent --targets 2000 --minutes 10           # ping 30 s + SNMP 60 s (real snmpd)
    python -m benchmarks agent --targets 10000 --minutes 10 --no-snmp  # 10,000 ping targets at 30 s

The agent is the real CLI in a subprocess (raw ICMP: run as root or with CAP_NET_RAW), writing into the
embedded local store in a temp state dir. SNMP-capable devices are answered by one real net-snmp `snmpd`
listening on every SNMP device's loopback address (started and stopped by pid here).
Measured from outside: CPU from /proc/PID/stat (utime+stime) over the steady window (after a warm-up of
two SNMP intervals, until every series exists, or 20 % of the run when shorter), RSS from
/proc/PID/status at the start and end of that window; lag from the agent's per-cycle log lines:
lag_p99_s is the largest per-cycle p99 (each cycle has at most 1 % of its runs later than it, so the
whole run does too: an upper bound).
Last line: `agent targets=N cpu_pct=X lag_p99_s=Y rss_growth_pct=Z`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from netprobe.inventory import generate

NETWORK = "127.216.0.0/16"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CYCLE = re.compile(
    r"cycle (\w+) every=\S+ targets=(\d+) ok=(\d+) errors=(\d+) late=(\d+) skipped=(\d+) "
    r".*lag_p99_s=(\S+) lag_max_s=(\S+)"
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def free_udp_port(addresses: list[str]) -> int:
    """A port free on the first of `addresses` (the others are fresh loopback addresses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((addresses[0] if addresses else "127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Snmpd:
    """Debian's snmpd answering on many loopback addresses (one process), temp config and state."""

    def __init__(self, addresses: list[str], port: int, community: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="npa-snmpd-"))
        # listening addresses on the command line: a config line that long is cut by net-snmp
        listen = [f"udp:{a}:{port}" for a in addresses]
        (self.dir / "snmpd.conf").write_text(f"rocommunity {community} 127.0.0.0/8\nsysName np-bench\n")
        exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
        self.proc = subprocess.Popen(
            [
                exe,
                "-f",
                "-C",
                "-c",
                str(self.dir / "snmpd.conf"),
                "-Lf",
                str(self.dir / "log"),
                "-M",
                "/dev/null",
                *listen,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"SNMP_PERSISTENT_DIR": str(self.dir), "PATH": "/usr/sbin:/usr/bin:/bin", "MIBS": ""},
        )
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise SystemExit(f"snmpd did not start: {(self.dir / 'log').read_text(errors='replace')[-400:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def make_inventory(
    path: Path, targets: int, snmp: bool, port: int, long_window_s: float | None = None, network: str = NETWORK
) -> list[str]:
    """Write the inventory; return the SNMP devices' addresses."""
    data: dict[str, Any] = generate.generate(targets=targets, network=network, snmp=snmp)
    data["snmp_profiles"]["v2c"]["port"] = port
    data["defaults"]["probes"] = {"ping": {"interval_s": 30}, "snmp": {"interval_s": 60}, "tcp": {"interval_s": 60}}
    if long_window_s is not None:  # the verdict engine's memory fills within this window, then stays flat
        data["defaults"]["thresholds"] = {"long_window_s": long_window_s}
    generate.write(data, path)
    return [d["address"] for c in data["communes"] for d in c["sites"][0]["devices"] if d.get("snmp")]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks agent", description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--no-snmp", action="store_true", help="ping targets only")
    parser.add_argument("--no-verdicts", action="store_true", help="run the agent without live verdicts")
    parser.add_argument("--warmup", type=float, help="seconds before CPU/RSS are measured (default: 60 s or 20%%)")
    parser.add_argument(
        "--long-window", type=float, metavar="S", help="verdicts' long window (inventory thresholds.long_window_s)"
    )
    parser.add_argument(
        "--network",
        default=NETWORK,
        help=f"loopback range of the targets (default {NETWORK}; another one lets two runs share the machine)",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the inventory, state and log in DIR")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("note: not root: the agent needs CAP_NET_RAW for ICMP (or an open ping_group_range)", file=sys.stderr)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="npa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    inv = work / "inventory.yaml"
    community = "np-bench"
    port = 16161
    network = ipaddress.ip_network(args.network)
    if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
        parser.error("--network must be inside 127.0.0.0/8: this benchmark sends traffic to loopback only")
    snmp_addresses = make_inventory(inv, args.targets, not args.no_snmp, port, args.long_window, args.network)
    if snmp_addresses:
        port = free_udp_port(snmp_addresses)
        snmp_addresses = make_inventory(inv, args.targets, True, port, args.long_window, args.network)
    snmpd = Snmpd(snmp_addresses, port, community) if snmp_addresses else None
    env = dict(os.environ)
    env.update(
        NETPROBE_STATE_DIR=str(work / "state"),
        NETPROBE_ALLOWED_NETS="127.0.0.0/8",
        NETPROBE_SNMP_COMMUNITY=community,
    )
    env.pop("NETPROBE_CONFIG", None)
    log_path = work / "agent.log"
    cycles: list[tuple[str, int, int, int, int, int, float, float]] = []
    proc: subprocess.Popen[str] | None = None
    # SIGTERM (a stopped soak): unwind through the finally below, so the agent and snmpd are stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with log_path.open("w", encoding="utf-8", buffering=1) as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "netprobe", "-i", str(inv), "run", "--agent", "dc1"]
                + (["--no-verdicts"] if args.no_verdicts else []),
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert proc.stderr is not None
            stderr = proc.stderr

            def read() -> None:
                for line in stderr:
                    log_file.write(line)
                    if m := CYCLE.search(line):
                        k, n, ok, err, late, skip = m.group(1), *(int(m.group(i)) for i in range(2, 7))
                        cycles.append((k, n, ok, err, late, skip, float(m.group(7)), float(m.group(8))))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            duration = args.minutes * 60.0
            # until every series exists: two intervals of the slowest probe (SNMP 60 s), 20 % of a short run
            warmup = args.warmup if args.warmup is not None else min(120.0, 0.2 * duration)
            started = time.monotonic()
            time.sleep(warmup)
            cpu0, rss0, t0 = cpu_seconds(proc.pid), rss_mb(proc.pid), time.monotonic()
            samples = [rss0]
            per_minute = [rss0]  # the trajectory: filling up, or growing for good?
            while time.monotonic() - started < duration and proc.poll() is None:
                time.sleep(min(10.0, max(0.1, duration - (time.monotonic() - started))))
                if proc.poll() is None:
                    samples.append(rss_mb(proc.pid))
                    if time.monotonic() - t0 >= 60.0 * len(per_minute):
                        per_minute.append(samples[-1])
            if proc.poll() is not None:
                print(f"error: the agent exited early ({proc.returncode}); see {log_path}", file=sys.stderr)
                return 1
            cpu1, rss1, t1 = cpu_seconds(proc.pid), rss_mb(proc.pid), time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
            reader.join(5)
            stderr.close()
    finally:
        if proc is not None and proc.poll() is None:  # interrupted: leave nothing running
            proc.kill()
            proc.wait(10)
        if snmpd is not None:
            snmpd.stop()
    cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    growth = 100.0 * (rss1 - rss0) / rss0 if rss0 else 0.0
    lag_p99 = max((c[6] for c in cycles), default=0.0)
    lag_max = max((c[7] for c in cycles), default=0.0)
    for kind in sorted({c[0] for c in cycles}):
        mine = [c for c in cycles if c[0] == kind]
        print(
            f"  {kind}: cycles={len(mine)} runs={sum(c[1] for c in mine)} ok={sum(c[2] for c in mine)} "
            f"errors={sum(c[3] for c in mine)} late={sum(c[4] for c in mine)} skipped={sum(c[5] for c in mine)} "
            f"lag_p99_s(max over cycles)={max(c[6] for c in mine):.3f} lag_max_s={max(c[7] for c in mine):.3f}"
        )
    print(
        f"  window={t1 - t0:.0f}s after warm-up {warmup:.0f}s; rss_mb start={rss0:.1f} end={rss1:.1f} "
        f"min={min(samples):.1f} max={max(samples):.1f}; lag_max_s={lag_max:.3f}; exit={code}; log={log_path}"
    )
    step = max(1, len(per_minute) // 20)
    print("  rss_mb each minute after warm-up: " + " ".join(f"{v:.1f}" for v in per_minute[::step]))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"agent targets={args.targets} cpu_pct={cpu_pct:.1f} lag_p99_s={lag_p99:.3f} rss_growth_pct={growth:.1f}")
    return 0 if code == 0 else 1
