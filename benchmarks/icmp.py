"""ICMP: netprobe vs fping, side by side in one run, on the same targets and pacing.

    python -m benchmarks icmp --targets 10000            # loopback 127.x.y.z, 5 packets each
    python -m benchmarks icmp --targets 200 --lossy      # lab namespaces, 20% nft drop, 500 packets
    python -m benchmarks icmp --targets 10000 --lossy --every 5 --count 20   # exactly every 5th dropped

Pacing is fping `-i 0.1`: one packet every 0.1 ms at most (10,000 packets/s), each target's packets 1 s
apart (fping's default period with -C); netprobe gets the same: `--rate 10000 --spacing-ms 1000`.
Both run as separate processes measured the same way (wall clock, user+sys CPU and peak RSS from wait4).
Last line: `icmp targets=N wall_ratio=X cpu_ratio=Y rss_mb=M rtt_p50_delta_ms=Z loss_delta_pp=W` where the
ratios are netprobe/fping, rss_mb is netprobe's peak RSS, rtt_p50_delta_ms the difference of the medians
(over targets) of each target's median RTT, and loss_delta_pp the difference of mean loss over targets.
--lossy also prints the per-target loss agreement (mean and max |netprobe − fping|, share within ±2 points).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from netprobe.probes.testbed import Testbed, lab_address


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    rss_mb: float
    loss: dict[str, float]  # per target, percent
    median_rtt: dict[str, float]  # per target, ms (targets with replies only)
    stdout: str
    stderr: str


def measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str, str]:
    """Run a command; wall, user+sys CPU and peak RSS of that one child (wait4), and its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode(), err.read().decode()


def run_fping(prefix: list[str], file: str, count: int, period_ms: float, timeout_ms: float) -> Run:
    argv = [
        *prefix,
        "fping",
        "-C",
        str(count),
        "-i",
        "0.1",
        "-p",
        str(period_ms),
        "-t",
        str(timeout_ms),
        "-q",
        "-f",
        file,
    ]
    wall, cpu, rss, out, err = measured(argv)
    loss: dict[str, float] = {}
    rtt: dict[str, float] = {}
    for line in err.splitlines():
        address, sep, rest = line.partition(" : ")
        if not sep:
            continue
        values = rest.split()
        got = [float(v) for v in values if v != "-"]
        loss[address.strip()] = 100.0 * (len(values) - len(got)) / len(values)
        if got:
            rtt[address.strip()] = statistics.median(got)
    return Run(wall, cpu, rss, loss, rtt, out, err)


def run_netprobe(prefix: list[str], file: str, count: int, period_ms: float, timeout_ms: float) -> Run:
    argv = [*prefix, sys.executable, "-m", "netprobe", "probe", "ping", "--json", "-f", file, "-c", str(count),
            "--spacing-ms", str(period_ms), "--rate", "10000", "--timeout-ms", str(timeout_ms)]  # fmt: skip
    env = os.environ | {"NETPROBE_ALLOWED_NETS": "127.0.0.0/8,198.18.0.0/15"}
    wall, cpu, rss, out, err = measured(argv, env)
    loss: dict[str, float] = {}
    rtt: dict[str, float] = {}
    for line in out.splitlines():
        record = json.loads(line)
        fields = record["fields"]
        if "percent_packet_loss" in fields:
            loss[record["target"]] = fields["percent_packet_loss"]
        if "median_response_ms" in fields:
            rtt[record["target"]] = fields["median_response_ms"]
    return Run(wall, cpu, rss, loss, rtt, out, err)


def loopback_targets(n: int) -> list[str]:
    return [f"127.{1 + i // 62_500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks icmp", description=__doc__.split("\n")[0])
    ap.add_argument("--targets", type=int, default=10_000)
    ap.add_argument("--count", type=int, help="packets per target (default 5; 500 with --lossy)")
    ap.add_argument("--lossy", action="store_true", help="half the targets behind a random nft drop in a lab netns")
    ap.add_argument("--loss-pct", type=float, default=20.0)
    ap.add_argument(
        "--every",
        type=int,
        help="with --lossy: drop exactly every Nth request per target (no sampling noise) instead of random",
    )
    args = ap.parse_args(argv)
    count = args.count or (500 if args.lossy else 5)
    n = args.targets
    prefix: list[str] = []
    bed: Testbed | None = None
    if args.lossy:
        half = n // 2
        targets = [lab_address(i, lossy=True) for i in range(half)] + [
            lab_address(i, lossy=False) for i in range(n - half)
        ]
        bed = Testbed("bench").up(loss_pct=0 if args.every else args.loss_pct)
        if args.every:
            bed.drop_every(args.every, targets[:half])
        prefix = ["ip", "netns", "exec", bed.prober]
        # per-target period: a round of n packets at 10k/s, but at least 10 ms (fping's minimum sensible -p)
        period_ms = max(10.0, n / 10.0)
    else:
        targets = loopback_targets(n)
        period_ms = 1000.0
    timeout_ms = 500.0
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(targets) + "\n")
        print(f"icmp: {n} targets × {count} packets, 10,000 packets/s cap, {period_ms:g} ms per-target period")
        fping = run_fping(prefix, f.name, count, period_ms, timeout_ms)
        ours = run_netprobe(prefix, f.name, count, period_ms, timeout_ms)
    finally:
        os.unlink(f.name)
        if bed is not None:
            bed.close()
    if len(ours.loss) != n or len(fping.loss) != n:
        print(
            f"error: results for {len(ours.loss)} (netprobe) / {len(fping.loss)} (fping) of {n} targets",
            file=sys.stderr,
        )
        print(ours.stderr[-500:], fping.stderr[-300:], file=sys.stderr)
        return 1
    for name, r in (("fping", fping), ("netprobe", ours)):
        mean_loss = statistics.fmean(r.loss.values())
        rtt = statistics.median(r.median_rtt.values()) if r.median_rtt else float("nan")
        print(f"{name:9} wall {r.wall_s:6.2f} s  cpu {r.cpu_s:5.2f} s  rss {r.rss_mb:6.1f} MB  "
              f"rtt_p50 {rtt:.4f} ms  mean loss {mean_loss:.2f}%")  # fmt: skip
    if args.lossy:
        lossy = targets[: n // 2]
        healthy = targets[n // 2 :]
        deltas = [abs(ours.loss[a] - fping.loss[a]) for a in lossy]
        within = sum(d <= 2.0 for d in deltas) / len(deltas)
        print(
            f"lossy targets: netprobe mean {statistics.fmean(ours.loss[a] for a in lossy):.2f}% "
            f"fping {statistics.fmean(fping.loss[a] for a in lossy):.2f}%; per-target |delta| mean "
            f"{statistics.fmean(deltas):.2f} max {max(deltas):.2f} points, {within:.0%} within ±2 points "
            + (
                f"(deterministic: every {args.every}th request dropped, both must agree exactly)"
                if args.every
                else f"(two independent draws of a {args.loss_pct:g}% drop over {count} packets differ by "
                f"σ≈{(2 * args.loss_pct * (100 - args.loss_pct) / count) ** 0.5:.1f} points)"
            )
        )
        print(
            f"healthy targets: netprobe max loss {max(ours.loss[a] for a in healthy):.2f}%, "
            f"fping max {max(fping.loss[a] for a in healthy):.2f}%"
        )
    rtt_delta = (
        statistics.median(ours.median_rtt.values()) - statistics.median(fping.median_rtt.values())
        if ours.median_rtt and fping.median_rtt
        else float("nan")
    )
    loss_delta = statistics.fmean(ours.loss.values()) - statistics.fmean(fping.loss.values())
    print(
        f"icmp targets={n} wall_ratio={ours.wall_s / fping.wall_s:.2f} cpu_ratio={ours.cpu_s / fping.cpu_s:.2f} "
        f"rss_mb={ours.rss_mb:.0f} rtt_p50_delta_ms={rtt_delta:.4f} loss_delta_pp={loss_delta:.2f}"
    )
    return 0
