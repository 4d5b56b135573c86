"""`python -m netprobe.grafana generate|check|preview` — see docs/grafana.md."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import urllib.error
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
    pre.add_argument(
        "--lab", action="store_true", help="draw from a lab run (root, ~3 min) instead of the scripted scenario"
    )
    ver = sub.add_parser("verify", help="run every dashboard and alert query on a live InfluxDB (last 6 h)")
    ver.add_argument("--url", default=os.environ.get("NETPROBE_INFLUX_URL", ""), help="default: $NETPROBE_INFLUX_URL")
    ver.add_argument(
        "--db", default=os.environ.get("NETPROBE_INFLUX_DB", "netprobe"), help="default: $NETPROBE_INFLUX_DB"
    )
    args = parser.parse_args(argv)
    if args.command == "verify":
        return verify(args.url, args.db)
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

    for path in render_all(args.out, args.inventory, lab=args.lab):
        print(path)
    return 0


def verify(url: str, database: str) -> int:
    """Every query as Grafana would send it for the last 6 hours: OK with its series count, or the error."""
    from netprobe.grafana import evaluate
    from netprobe.grafana.alerting import rules_file
    from netprobe.grafana.dashboards import all_dashboards
    from netprobe.grafana.influx import InfluxClient, QueryError
    from netprobe.grafana.influxql import dashboard_queries, render, render_rule, rule_queries, variable_definitions

    if not url:
        print("verify: no InfluxDB URL; pass --url http://HOST:8086 or set NETPROBE_INFLUX_URL", file=sys.stderr)
        return 2
    client = InfluxClient(url, database, token=os.environ.get("NETPROBE_INFLUX_TOKEN") or None)
    end_ms = int(time.time() * 1000)
    queries: list[tuple[str, str]] = []
    try:
        for name, board in all_dashboards().items():
            ctx = evaluate.view(board, client, end_ms - 6 * 3_600_000, end_ms, {})
            for q in dashboard_queries(name, board):
                ctx_q = dataclasses.replace(ctx, min_interval=q.panel["interval"]) if q.panel.get("interval") else ctx
                queries.append((q.label, render(q.text, ctx_q, variable_definitions(board))))
        queries += [(q.label, render_rule(q.text, end_ms)) for q in rule_queries(rules_file())]
        failures = 0
        for label, text in queries:
            try:
                print(f"ok   {label}: {len(client.query(text))} series")
            except QueryError as exc:
                failures += 1
                print(f"FAIL {label}: {exc}")
    except (urllib.error.URLError, OSError) as exc:
        print(f"verify: cannot reach {url}: {exc}; check NETPROBE_INFLUX_URL", file=sys.stderr)
        return 2
    except QueryError as exc:  # a template variable's query failed: the panels cannot be rendered
        print(f"FAIL template variable: {exc}", file=sys.stderr)
        return 1
    print(f"verify: {len(queries)} queries, {failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
