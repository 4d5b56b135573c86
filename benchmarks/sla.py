"""SLA report cost: `python -m benchmarks sla [--lines N] [--interval S] [--agents A]`.

Writes a month of CE pings (every S seconds from A agents, with one outage per line) for N lines into a
fresh embedded store in a temporary directory, then times `build_report` over it, split into reading the
store and the arithmetic. Prints one line per phase.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta, timezone
from pathlib import Path

from netprobe.report.sla import LineInfo, build_report, burst_from_point, line_sla, month_bounds, steps
from netprobe.storage.local import LocalStore
from netprobe.storage.point import Point

ICT = timezone(timedelta(hours=7))
MONTH = "2026-11"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks sla", description=__doc__)
    ap.add_argument("--lines", type=int, default=2)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--agents", type=int, default=2)
    args = ap.parse_args(argv)
    first, after = month_bounds(MONTH, ICT)
    start, end = first.timestamp(), after.timestamp()
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "store.db")
        t0 = time.perf_counter()
        n = 0
        for i in range(args.lines):
            outage = (start + 86400 * (i % 28) + 3600, start + 86400 * (i % 28) + 5400)
            points = []
            for a in range(args.agents):
                t = start + a
                while t < end:
                    down = outage[0] <= t < outage[1]
                    fields: dict[str, float | int | str | bool] = {
                        "packets_transmitted": 10,
                        "packets_received": 0 if down else 10,
                        "percent_packet_loss": 100.0 if down else 0.0,
                        "status": "timeout" if down else "ok",
                    }
                    if not down:
                        fields["median_response_ms"] = 5.0
                    points.append(
                        Point("ping", {"line": f"l{i}", "kind": "ce", "agent": f"dc{a}"}, fields, int(t * 1e9))
                    )
                    t += args.interval
            n += store.write(points)
        print(f"write: {n} points in {time.perf_counter() - t0:.1f} s")
        infos = [LineInfo(f"l{i}", "VNPT") for i in range(args.lines)]
        t0 = time.perf_counter()
        report = build_report(store, infos, MONTH, ICT, end)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        bursts = [
            b
            for b in (burst_from_point(p) for p in store.read("ping", int(start * 1e9), int(end * 1e9), {"line": "l0"}))
            if b is not None
        ]
        read = time.perf_counter() - t0
        t0 = time.perf_counter()
        line_sla("l0", "VNPT", bursts, start, end, steps(first, after, timedelta(hours=1)), [])
        arithmetic = time.perf_counter() - t0
        print(f"report: {args.lines} lines in {total:.2f} s ({total / args.lines:.2f} s per line-month)")
        print(f"one line: read+decode {read:.2f} s, arithmetic {arithmetic:.2f} s ({len(bursts)} bursts)")
        print(f"availability l0: {report.lines[0].availability_pct:.4f} %, outages {len(report.lines[0].outages)}")
        store.close()
    return 0
