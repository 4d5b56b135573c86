"""Replay throughput: points drained from the outbox into a real influxd on loopback.

Starts its own influxd (Debian's 1.6.7) on a free loopback port, queues N realistic ping points in the
outbox, times the drain, then counts what arrived with InfluxQL. Last line:
`replay points=N points_per_s=X lost=0`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from netprobe.config import Config
from netprobe.storage import lineproto
from netprobe.storage.facade import open_storage
from netprobe.storage.influxd import InfluxD, http_request
from netprobe.storage.point import Point


def sample_points(n: int, series: int, t0: int) -> list[Point]:
    """Ping points like a province's: 9 tags, 12 fields, `series` lines, one point per line per 30 s."""
    out = []
    for i in range(n):
        s = i % series
        out.append(
            Point(
                "ping",
                {
                    "agent": "dc-bac-ninh",
                    "province": "bac-ninh",
                    "commune": f"xa-{s % 99}",
                    "site": "ubnd",
                    "line": f"line-{s}",
                    "provider": "VNPT" if s % 2 else "Viettel",
                    "kind": "ce",
                    "target": f"line-{s}/ce",
                },
                {
                    "packets_transmitted": 10,
                    "packets_received": 10 - i % 3,
                    "percent_packet_loss": (i % 3) * 10.0,
                    "minimum_response_ms": 1.25,
                    "average_response_ms": 2.5 + (i % 7) / 10,
                    "maximum_response_ms": 9.75,
                    "standard_deviation_ms": 0.8,
                    "median_response_ms": 2.4,
                    "p95_response_ms": 7.1,
                    "jitter_ms": 0.31,
                    "result_code": 0,
                    "status": "ok",
                },
                t0 + (i // series) * 30 * 10**9 + s,
            )
        )
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reference_post(influxd: InfluxD, lines: list[str], batch_size: int, concurrency: int) -> float:
    """The same lines POSTed straight to /write with the same concurrency, nothing else: influxd's own
    ceiling on this machine, now."""
    bodies = ["\n".join(lines[i : i + batch_size]).encode() for i in range(0, len(lines), batch_size)]

    def post(body: bytes) -> None:
        status, _, text = http_request(influxd.port, "POST", "/write?db=reference&precision=ns", body)
        if status != 204:
            raise RuntimeError(f"reference write failed: {status} {text[:200]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, bodies))
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks replay")
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--series", type=int, default=1_000)
    parser.add_argument("--fields", type=int, default=12, help="Fields per point (a full ping point has 12).")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2, help="Batches in flight (storage.write_concurrency).")
    parser.add_argument("--gzip", action="store_true", help="Compress bodies (pointless on loopback; on for WANs).")
    args = parser.parse_args(argv)
    t0 = time.time_ns() - 7 * 86400 * 10**9
    points = [
        Point(p.measurement, p.tags, dict(list(p.fields.items())[: args.fields]), p.time_ns)
        for p in sample_points(args.points, args.series, t0)
    ]
    counted = next(iter(points[0].fields))
    with tempfile.TemporaryDirectory(prefix="netprobe-replay-") as tmp:
        # The reference gets its own fresh influxd: one that just ingested the other run's points is still
        # snapshotting/compacting them, which would penalise whichever runs second.
        with InfluxD.start(Path(tmp) / "influxd-reference") as influxd:
            influxd.create_database("reference")
            reference_s = reference_post(
                influxd, [lineproto.encode(p) for p in points], args.batch_size, args.concurrency
            )
            reference_arrived = influxd.count("reference", "ping", counted)
        with InfluxD.start(Path(tmp) / "influxd") as influxd:
            influxd.create_database("replay")
            config = Config.model_validate(
                {
                    "state_dir": f"{tmp}/state",
                    "storage": {
                        "sink": "influxdb",
                        "batch_size": args.batch_size,
                        "write_concurrency": args.concurrency,
                        "influxdb": {"url": influxd.url, "database": "replay", "gzip": args.gzip},
                    },
                }
            )
            with open_storage(config) as storage:
                started = time.perf_counter()
                storage.write(points)
                enqueue_s = time.perf_counter() - started
                assert influxd.proc is not None
                server_cpu, started = cpu_s(influxd.proc.pid), time.perf_counter()
                result = storage.flush(timeout_s=600)
                drain_s = time.perf_counter() - started
                server_cpu = cpu_s(influxd.proc.pid) - server_cpu
            arrived = influxd.count("replay", "ping", counted)
    lost = args.points - arrived
    rate, ref_rate = args.points / drain_s, reference_arrived / reference_s
    print(
        f"enqueue (encode + SQLite, fsynced): {args.points / enqueue_s:,.0f} points/s; "
        f"drain: {result.sent} sent in {drain_s:.2f} s (batch {args.batch_size}, {args.fields} fields, "
        f"{args.series} series, gzip {args.gzip}, {args.concurrency} in flight); error: {result.error}"
    )
    print(
        f"influxd CPU during the drain: {server_cpu:.1f} s = {server_cpu / args.points * 1e6:.0f} us/point, "
        f"i.e. one idle core ingests ~{args.points / server_cpu:,.0f} points/s"
    )
    print(
        f"reference (same lines POSTed directly to /write, a fresh influxd): {ref_rate:,.0f} points/s; "
        f"outbox drain / reference = {rate / ref_rate:.2f}"
    )
    print(f"replay points={args.points} points_per_s={rate:.0f} lost={lost}")
    return 0 if lost == 0 and result.error is None else 1
