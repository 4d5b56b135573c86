"""`python -m netprobe.grafana generate|check|preview` — see docs/grafana.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netprobe.grafana import provision

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netprobe.grafana", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write grafana/ provisioning, dashboards and alert rules from the code")
    gen.add_argument("--out", type=Path, default=REPO / "grafana")
    chk = sub.add_parser("check", help="exit 1 if a file under grafana/ differs from what the code generates")
    chk.add_argument("--out", type=Path, default=REPO / "grafana")
    pre = sub.add_parser("preview", help="render PNG previews of every dashboard from a scratch influxd (dev)")
    pre.add_argument("--out", type=Path, default=REPO / "grafana" / "preview")
    pre.add_argument("--inventory", type=Path, default=REPO / "inventory" / "example")
    args = parser.parse_args(argv)
    if args.command == "generate":
        for path in provision.write(args.out):
            print(path)
        return 0
    if args.command == "check":
        stale = provision.stale(args.out)
        for rel in stale:
            print(f"{args.out / rel}: out of date; run: python -m netprobe.grafana generate", file=sys.stderr)
        return 1 if stale else 0
    from netprobe.grafana.preview import render_all  # matplotlib is a dev dependency

    for path in render_all(args.out, args.inventory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
