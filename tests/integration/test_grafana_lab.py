"""Every Grafana query run on a real influxd FILLED BY A LAB RUN, checked against the lab's truth.json.

A four-commune lab with short, known faults: Kinh Bắc's only line loses 30 % all along (UNSTABLE), Vũ Ninh's
only line is cut for 70 s starting 3 s before a minute boundary (so exactly one whole SLA minute is down),
Từ Sơn is healthy, Tam Sơn's switch reboots. The real agent (`netprobe run --agent dc1`) probes from the
lab's DC namespace every 5 s (SNMP every 10 s) with live verdicts and storage sink `influxdb`. The DC
namespace has no route to the host's loopback, so every point waits in the agent's durable outbox, and
`netprobe outbox flush` drains it into the influxd afterwards — the path a real agent takes after a
database outage. Then the dashboards' and alert rules' queries run through the same harness as
tests/integration/test_grafana_queries.py (which keeps the scripted scenario for the alert timings that
need hours of data).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from netprobe.grafana import evaluate
from netprobe.grafana.alerting import rules_file
from netprobe.grafana.dashboards import all_dashboards
from netprobe.grafana.influx import InfluxClient, ScratchInfluxd, Series
from netprobe.grafana.influxql import Query, dashboard_queries, render_rule, rule_queries

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.influx,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces, snmpd on port 161)"),
]

LAB_ID = f"gl{os.getpid() % 100000}"
PING_S = 5.0
SNMP_S = 10.0
WARMUP_S = 20.0  # the verdicts have a few bursts of history before the cut
CUT_LEAD_S = 3.0  # the cut starts this long before a minute boundary …
CUT_S = 70.0  # … and lasts past the next one: exactly one whole minute bucket sees no reply
RECOVER_S = 35.0  # after the cut: clear_s (20) + a few bursts, so the line is no longer DOWN at the end
LOSSY, CUT, HEALTHY, REBOOTED = "kinh-bac-l1", "vu-ninh-l1", "tu-son-l1", "tam-son-sw"
SCENARIO = f"""
name: grafana-lab-test
dcs: 1
lifetime_s: 600
communes:
  - {{name: Phường Kinh Bắc, lines: [{{provider: VNPT}}]}}
  - {{name: Phường Vũ Ninh, lines: [{{provider: Viettel}}]}}
  - {{name: Phường Từ Sơn, lines: [{{provider: VNPT}}]}}
  - {{name: Phường Tam Sơn, lines: [{{provider: FPT}}]}}
faults:
  - {{target: {LOSSY}, fault: loss, start_s: 0, duration_s: 600, loss_pct: 30}}
  - {{target: {REBOOTED}, fault: reboot, start_s: 25, duration_s: 15}}
"""
COORDINATES = {  # given to the lab's inventory so the geomap has something to show
    "kinh-bac": (21.1861, 106.0763),
    "vu-ninh": (21.1905, 106.0900),
    "tu-son": (21.1167, 105.9667),
    "tam-son": (21.1300, 105.9500),
}
VIEW_MS = 3_600_000  # Grafana "Last 1 hour"
BOARDS = all_dashboards()
RULES = rules_file()
PANEL_QUERIES = [q for name, board in BOARDS.items() for q in dashboard_queries(name, board)]
RULE_QUERIES = rule_queries(RULES)


@dataclass
class LabRun:
    client: InfluxClient
    truth: dict[str, Any]
    inventory: dict[str, Any]
    start_s: float  # the agent started
    end_s: float  # the agent stopped
    timings: dict[str, float]

    def fault(self, kind: str, target: str) -> tuple[float, float]:
        (f,) = [f for f in self.truth["faults"] if f["fault"] == kind and f["target"] == target]
        assert f["start"] is not None and f["end"] is not None, f
        return float(f["start"]), float(f["end"])


def netprobe(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def lab_inventory(path: Path) -> dict[str, Any]:
    """The lab's inventory with short intervals, fast-clearing verdicts and commune coordinates."""
    inv: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    inv["defaults"] = {
        **inv.get("defaults", {}),
        "probes": {
            "ping": {"interval_s": PING_S, "count": 10, "spacing_ms": 20, "timeout_ms": 500},
            "snmp": {"interval_s": SNMP_S, "timeout_ms": 1000, "retries": 1},
            "tcp": {"enabled": False},
        },
        "thresholds": {"window_s": 60, "min_state_s": 20, "clear_s": 20},
    }
    for commune in inv["communes"]:
        lat, lon = COORDINATES[commune["slug"]]
        commune["coordinates"] = {"lat": lat, "lon": lon}
    return inv


def seconds_to_cut(now: float) -> float:
    """From `now`, the wait until CUT_LEAD_S before the first minute boundary at least WARMUP_S away."""
    boundary = math.ceil((now + WARMUP_S + CUT_LEAD_S) / 60) * 60
    return boundary - CUT_LEAD_S - now


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRun]:
    if shutil.which("influxd") is None:
        pytest.skip("influxd not installed: run scripts/setup.sh (Debian package influxdb)")
    tmp = tmp_path_factory.mktemp("grafana-lab")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    with ScratchInfluxd(tmp / "influxd") as server:
        client = server.client("netprobe")
        client.create_database()
        scenario = tmp / "scenario.yaml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        netprobe("lab", "down", "--id", LAB_ID)
        status = json.loads(netprobe("lab", "up", "--id", LAB_ID, "--scenario", str(scenario), "--json"))
        timings["influxd + lab up"] = time.monotonic() - t0
        try:
            inv = lab_inventory(Path(status["inventory"]))
            inventory = tmp / "inventory.yaml"
            inventory.write_text(yaml.safe_dump(inv, allow_unicode=True), encoding="utf-8")
            config = tmp / "netprobe.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "allowed_networks": ["127.0.0.0/8", "::1/128", "198.18.0.0/15"],
                        "state_dir": str(tmp / "state"),
                        "storage": {
                            "sink": "influxdb",
                            "influxdb": {"url": server.url, "api": "v1", "database": "netprobe"},
                        },
                    }
                ),
                encoding="utf-8",
            )
            env = {**os.environ, "NETPROBE_ALLOWED_NETS": "127.0.0.0/8,::1/128,198.18.0.0/15"}
            env.pop("NETPROBE_CONFIG", None)
            env.pop("NETPROBE_STATE_DIR", None)
            agent_cmd = [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inventory), "run"]
            t1 = time.monotonic()
            with open(tmp / "agent.log", "w", encoding="utf-8") as log:
                agent = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "netprobe",
                        "lab",
                        "exec",
                        "--id",
                        LAB_ID,
                        "--",
                        *agent_cmd,
                        "--agent",
                        "dc1",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
                start_s = time.time()
                try:
                    time.sleep(seconds_to_cut(time.time()))
                    netprobe("lab", "impair", "--id", LAB_ID, CUT, "--down", "--for", str(CUT_S))
                    time.sleep(CUT_S + RECOVER_S)
                finally:
                    agent.send_signal(signal.SIGTERM)
                    code = agent.wait(timeout=60)
                end_s = time.time()
            assert code == 0, (tmp / "agent.log").read_text(encoding="utf-8")[-3000:]
            timings["agent run"] = time.monotonic() - t1
            t2 = time.monotonic()
            out = netprobe("-c", str(config), "outbox", "flush", "--timeout", "60", env=env)
            assert "outbox empty" in out, out
            timings["outbox flush"] = time.monotonic() - t2
            truth = json.loads(Path(status["truth"]).read_text(encoding="utf-8"))
            yield LabRun(client, truth, inv, start_s, end_s, timings)
        finally:
            netprobe("lab", "down", "--id", LAB_ID)


def run(
    q: Query, lab: LabRun, chosen: dict[str, str | list[str]] | None = None, end_s: float | None = None
) -> list[Series]:
    """The query as the dashboard sends it for the last hour up to the agent's stop (or up to `end_s`): the
    agent's run and the hour before it, empty, as a manager opening a dashboard right after would see it."""
    board = BOARDS[q.origin]
    end_ms = int((end_s or lab.end_s) * 1000)
    ctx = evaluate.view(board, lab.client, end_ms - VIEW_MS, end_ms, chosen or {})
    return evaluate.run_panel_query(q, lab.client, ctx, board)


def panel_query(origin: str, title: str, ref: str = "A") -> Query:
    for q in PANEL_QUERIES:
        if q.origin == origin and q.title.startswith(title) and q.ref == ref:
            return q
    raise KeyError(f"{origin}: {title} {ref}")


def rows(series: list[Series]) -> list[dict[str, Any]]:
    return [row for s in series for row in s.rows()]


def mid_cut(lab: LabRun) -> float:
    start, end = lab.fault("down", CUT)
    return (start + end) / 2 + 10  # late enough in the cut for the DOWN verdict (two lost bursts)


# ---------------------------------------------------------------------------------------------------
# Every query is valid InfluxQL for the server and returns the lab's data
# ---------------------------------------------------------------------------------------------------
DETAIL_VIEWS: dict[str, dict[str, str | list[str]]] = {"commune-detail": {"commune": "kinh-bac"}}


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=lambda q: q.label)
def test_every_dashboard_query_runs_and_returns_lab_data(query: Query, lab_run: LabRun) -> None:
    chosen = {"commune": "tam-son"} if query.title.startswith("Reboots") else DETAIL_VIEWS.get(query.origin, {})
    # During the cut every panel has something to show (after it, "Isolated communes" is rightly empty).
    assert run(query, lab_run, chosen, end_s=mid_cut(lab_run)), f"{query.label} returned nothing"  # raises on error


@pytest.mark.parametrize("query", RULE_QUERIES, ids=lambda q: q.label)
def test_every_alert_query_runs_on_the_lab_data(query: Query, lab_run: LabRun) -> None:
    series = lab_run.client.query(render_rule(query.text, int(mid_cut(lab_run) * 1000)))  # raises on any error
    assert series, f"{query.label}: no series during the cut"


# ---------------------------------------------------------------------------------------------------
# Province overview
# ---------------------------------------------------------------------------------------------------
def test_unstable_table_lists_exactly_the_lines_the_lab_made_unstable_or_down(lab_run: LabRun) -> None:
    query = panel_query("province-overview", "Unstable and down lines")
    during = {r["line"]: r for r in rows(run(query, lab_run, end_s=mid_cut(lab_run)))}
    assert {line: r["state"] for line, r in during.items()} == {LOSSY: 2, CUT: 3}
    assert (during[CUT]["commune"], during[CUT]["provider"]) == ("vu-ninh", "Viettel")
    assert float(during[LOSSY]["loss_pct"]) >= 10 and during[LOSSY]["reasons"] and during[CUT]["reasons"]
    cut_start, _ = lab_run.fault("down", CUT)
    assert 0 <= float(during[CUT]["since"]) / 1000 - cut_start <= 3 * PING_S  # detected within the down rule
    after = {r["line"]: r["state"] for r in rows(run(query, lab_run))}
    assert after == {LOSSY: 2}  # the cut line recovered; the healthy and rebooted communes never appear


def test_isolated_communes_during_the_cut(lab_run: LabRun) -> None:
    query = panel_query("province-overview", "Isolated communes")
    assert {r["commune"] for r in rows(run(query, lab_run, end_s=mid_cut(lab_run)))} == {"vu-ninh"}
    assert rows(run(query, lab_run)) == []


def test_geomap_has_one_row_per_commune_with_worst_state(lab_run: LabRun) -> None:
    query = panel_query("province-overview", "Communes by worst")
    during = {r["commune"]: r for r in rows(run(query, lab_run, end_s=mid_cut(lab_run)))}
    assert set(during) == set(COORDINATES)
    assert {c: r["worst"] for c, r in during.items()} == {"kinh-bac": 2, "vu-ninh": 3, "tu-son": 0, "tam-son": 0}
    after = {r["commune"]: r["worst"] for r in rows(run(query, lab_run))}
    assert after["kinh-bac"] == 2 and after["tu-son"] == 0 and after["vu-ninh"] <= 1  # DEGRADED: it flapped once


def test_geomap_coordinates_are_the_inventorys(lab_run: LabRun) -> None:
    keys = {row[0] for s in lab_run.client.query('SHOW FIELD KEYS FROM "link_health"') for row in s.values}
    if not {"lat", "lon"} <= keys:
        pytest.skip(
            "link_health carries no lat/lon yet: netprobe/health/points.py must write the commune's inventory "
            "coordinates (storage.schema declares them); the scoring branch is adding it"
        )
    table = rows(run(panel_query("province-overview", "Communes by worst"), lab_run))
    assert {r["commune"]: (r["latitude"], r["longitude"]) for r in table} == COORDINATES


def test_problem_timeline_shows_the_faulty_lines(lab_run: LabRun) -> None:
    series = run(panel_query("province-overview", "Problem lines"), lab_run)
    worst = {s.tags["line"]: max(v[1] for v in s.values) for s in series}
    assert worst.get(LOSSY) == 2 and worst.get(CUT) == 3 and HEALTHY not in worst


# ---------------------------------------------------------------------------------------------------
# Commune detail
# ---------------------------------------------------------------------------------------------------
def test_loss_panel_shows_the_lossy_line_at_the_imposed_rate(lab_run: LabRun) -> None:
    series = run(panel_query("commune-detail", "Packet loss"), lab_run, {"commune": "kinh-bac"})
    (lossy,) = series
    values = [v[1] for v in lossy.values if v[1] is not None]
    mean = sum(values) / len(values)
    assert 20 <= mean <= 40, values  # 30 % imposed; ~300 packets over the run
    (healthy,) = run(panel_query("commune-detail", "Packet loss"), lab_run, {"commune": "tu-son"})
    assert max(v[1] for v in healthy.values if v[1] is not None) == 0


def test_reboot_annotation_marks_the_rebooted_switch(lab_run: LabRun) -> None:
    _start, back = lab_run.fault("reboot", REBOOTED)
    marks = rows(run(panel_query("commune-detail", "Reboots", ""), lab_run, {"commune": "tam-son"}))
    assert [m["device"] for m in marks] == [REBOOTED]
    # the first poll after it came back (the truth's `end` is written once routes are restored, which can be
    # a fraction of a second after the agent already answers)
    assert -1 <= marks[0]["time"] / 1000 - back <= SNMP_S + 3
    assert marks[0]["uptime_s"] <= SNMP_S + 3
    uptime = {
        s.tags["device"] for s in run(panel_query("commune-detail", "Device uptime"), lab_run, {"commune": "tam-son"})
    }
    assert uptime == {"tam-son-rt", REBOOTED}


# ---------------------------------------------------------------------------------------------------
# Provider SLA
# ---------------------------------------------------------------------------------------------------
def test_sla_availability_of_the_cut_line_matches_the_truth_within_one_interval(lab_run: LabRun) -> None:
    start, end = lab_run.fault("down", CUT)
    table = {r["line"]: r for r in rows(run(panel_query("provider-sla", "Availability per line"), lab_run))}
    assert set(table) == {LOSSY, CUT, HEALTHY, "tam-son-l1"}
    cut = table[CUT]
    whole_minutes = math.floor(end / 60) - math.ceil(start / 60)  # minute buckets inside the cut
    assert cut["down_minutes"] == whole_minutes == 1  # the cut was placed over one whole minute
    measured = cut["measured_minutes"]
    assert abs(cut["down_minutes"] - (end - start) / 60) <= 1  # within one interval (1 min) of the truth
    truth_pct = 100 * (1 - (end - start) / 60 / measured)
    assert abs(cut["availability"] - truth_pct) <= 100 / measured
    for line in (LOSSY, HEALTHY, "tam-son-l1"):
        assert table[line]["down_minutes"] == 0 and table[line]["availability"] == 100, table[line]


def test_sla_per_provider(lab_run: LabRun) -> None:
    series = {
        s.tags["provider"]: s.values[0][1]
        for s in run(panel_query("provider-sla", "Availability per provider"), lab_run)
    }
    assert series == {"VNPT": 100, "FPT": 100, "Viettel": pytest.approx(series["Viettel"])}
    assert series["Viettel"] < 100


def test_outage_list_has_the_cut(lab_run: LabRun) -> None:
    start, end = lab_run.fault("down", CUT)
    outages = evaluate.group_outages(rows(run(panel_query("provider-sla", "Outages"), lab_run)))
    assert [o["line"] for o in outages] == [CUT]
    (o,) = outages
    assert abs(o["start"] / 1000 - start) <= 60  # the panel shows the minute it started
    assert abs(o["duration"] / 1000 - (end - start)) <= 60 + 2 * PING_S


# ---------------------------------------------------------------------------------------------------
# Agent health
# ---------------------------------------------------------------------------------------------------
def test_agent_health_shows_the_lab_agent(lab_run: LabRun) -> None:
    series = run(panel_query("agent-health", "Agent reporting"), lab_run)
    assert {s.tags["agent"]: s.values[-1][1] > 0 for s in series} == {"dc1": True}  # reporting, not silent
    depth = run(panel_query("agent-health", "Outbox depth"), lab_run)
    assert max(v[1] or 0 for s in depth for v in s.values) > 0  # nothing reached the database during the run
