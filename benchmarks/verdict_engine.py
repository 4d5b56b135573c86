"""Cost of the verdict engine on a province-sized synthetic topology (no traffic is sent).

Default: 99 communes × 3 lines, 15 devices each, 2 vantage points, 30-s pings — about the size of Bắc Ninh.
Last line: `verdict_engine nodes=N series=S evaluate_s=X (median) first_s=Y state_mb=Z save_s=A load_s=B`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zlib
from pathlib import Path

from netprobe.health.engine import HealthEngine, load_state, save_state
from netprobe.health.observation import Observation
from netprobe.health.synthetic import pings, topology

T0 = 1_699_999_200.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks verdict_engine")
    parser.add_argument("--communes", type=int, default=99)
    parser.add_argument("--lines", type=int, default=3, help="lines per commune")
    parser.add_argument("--devices", type=int, default=15, help="devices per commune")
    parser.add_argument("--cycles", type=int, default=10, help="steady-state evaluations to time")
    args = parser.parse_args(argv)

    communes = {f"c{i:03d}": [f"c{i:03d}-l{j}" for j in range(args.lines)] for i in range(args.communes)}
    devices: dict[str, tuple[str, str]] = {}
    for c, lines in communes.items():
        for k in range(args.devices):  # a router on the first line, then a binary tree of gear
            devices[f"{c}-d{k}"] = (c, lines[0] if k == 0 else f"{c}-d{(k - 1) // 2}")
    topo = topology(communes, devices)
    hour = 3600.0
    end = T0 + hour + 30 * (args.cycles + 1)
    obs: list[Observation] = []
    for node in topo.nodes.values():
        for agent, phase in (("dc-a", 1.0), ("dc-b", 9.0)):
            for role in ("ce", "pe") if node.kind == "line" else ("device",):
                # 1 in 50 series lossy, so the windows have something to find
                lossy = zlib.crc32(f"{node.id}/{role}".encode()) % 50 == 0
                obs += pings(node.id, role, agent, T0, end, phase_s=phase, lost=lambda t, x=lossy: 2 if x else 0)
    series = len({o.series for o in obs})

    engine = HealthEngine(topo)
    engine.ingest([o for o in obs if o.time <= T0 + hour])
    started = time.perf_counter()
    engine.evaluate(T0 + hour)
    first = time.perf_counter() - started
    times = []
    for k in range(1, args.cycles + 1):
        now = T0 + hour + 30 * k
        engine.ingest([o for o in obs if now - 30 < o.time <= now])
        started = time.perf_counter()
        engine.evaluate(now)
        times.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "verdicts.json.gz"
        started = time.perf_counter()
        save_state(engine, path)
        save_s = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        load_state(topo, path)
        load_s = time.perf_counter() - started
    print(
        f"verdict_engine nodes={len(topo.nodes)} series={series} evaluate_s={statistics.median(times):.2f} "
        f"first_s={first:.2f} state_mb={size_mb:.1f} save_s={save_s:.2f} load_s={load_s:.2f}"
    )
    return 0
