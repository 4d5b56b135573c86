"""Inventory load time at scale. Last line: `inventory targets=N load_s=X`."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from netprobe.engine.targets import build_targets
from netprobe.inventory import generate
from netprobe.inventory.loader import load_inventory


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks inventory")
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.yaml"
        generate.write(generate.generate(targets=args.targets), path)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            n = len(build_targets(load_inventory(path)))
            best = min(best, time.perf_counter() - started)
    print(f"inventory targets={n} load_s={best:.2f}")
    return 0
