"""Fill an influxd from a LAB RUN: the data the Grafana queries are proven on and the previews drawn from.

A four-commune lab (netprobe.lab) with short, known faults: Kinh Bắc's only line loses 30 % all along
(UNSTABLE), Vũ Ninh's only line is cut for 70 s starting 3 s before a minute boundary (so exactly one whole
SLA minute is down, and the commune is isolated meanwhile), Từ Sơn is healthy, Tam Sơn's switch reboots.
The real agent (`netprobe run --agent dc1`) probes from the lab's DC namespace every 5 s (SNMP every 10 s)
with live verdicts and storage sink `influxdb`. The DC namespace has no route to the host's loopback, so
every point waits in the agent's durable outbox, and `netprobe outbox flush` drains it into the influxd
afterwards — the path a real agent's points take after a database outage.

Root only (network namespaces). Probe traffic stays in the lab (198.18.0.0/15, from the DC namespace);
the only host traffic is to the influxd on 127.0.0.1. Bounded: the lab's conductor stops by itself at
`lifetime_s`, the agent is stopped after ~2–3 min, and the lab is taken down whatever happens.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netprobe.grafana.influx import InfluxClient

PING_S = 5.0
SNMP_S = 10.0
WARMUP_S = 20.0  # the verdicts have a few bursts of history before the cut
CUT_LEAD_S = 3.0  # the cut starts this long before a minute boundary …
CUT_S = 70.0  # … and lasts past the next one: exactly one whole minute bucket sees no reply
RECOVER_S = 35.0  # after the cut: clear_s (20) + a few bursts, so the line is no longer DOWN at the end
LOSSY, CUT, HEALTHY, REBOOTED = "kinh-bac-l1", "vu-ninh-l1", "tu-son-l1", "tam-son-sw"
LOSS_PCT = 30
SCENARIO = f"""
name: grafana-lab
dcs: 1
lifetime_s: 600
communes:
  - {{name: Phường Kinh Bắc, lines: [{{provider: VNPT}}]}}
  - {{name: Phường Vũ Ninh, lines: [{{provider: Viettel}}]}}
  - {{name: Phường Từ Sơn, lines: [{{provider: VNPT}}]}}
  - {{name: Phường Tam Sơn, lines: [{{provider: FPT}}]}}
faults:
  - {{target: {LOSSY}, fault: loss, start_s: 0, duration_s: 600, loss_pct: {LOSS_PCT}}}
  - {{target: {REBOOTED}, fault: reboot, start_s: 25, duration_s: 15}}
"""
COORDINATES = {  # given to the lab's inventory so the geomap has something to show
    "kinh-bac": (21.1861, 106.0763),
    "vu-ninh": (21.1905, 106.0900),
    "tu-son": (21.1167, 105.9667),
    "tam-son": (21.1300, 105.9500),
}
ALLOWED = ["127.0.0.0/8", "::1/128", "198.18.0.0/15"]


class LabRunError(RuntimeError):
    pass


@dataclass
class LabRun:
    """What the run made happen: the lab's truth.json, the inventory the agent used, when the agent ran."""

    truth: dict[str, Any]
    inventory: dict[str, Any]
    start_s: float  # the agent started
    end_s: float  # the agent stopped
    timings: dict[str, float] = field(default_factory=dict)
    flushed: int = 0  # points the outbox flush sent to the influxd
    extra: Any = None  # what `while_up` returned (observations taken before the lab came down)

    def fault(self, kind: str, target: str) -> tuple[float, float]:
        """(start, end) unix seconds of the one `kind` fault on `target`, as the conductor recorded them."""
        (f,) = [f for f in self.truth["faults"] if f["fault"] == kind and f["target"] == target]
        if f.get("start") is None or f.get("end") is None:
            raise LabRunError(f"lab fault {kind} on {target} was not imposed and lifted: {f}")
        return float(f["start"]), float(f["end"])


def _netprobe(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    p = subprocess.run(
        [sys.executable, "-m", "netprobe", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if p.returncode != 0:
        raise LabRunError(
            f"netprobe {' '.join(args[:3])}: exit {p.returncode}: {(p.stdout + p.stderr).strip()[-2000:]}"
        )
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
    # the duty roster told over a webhook nobody listens on (the DC namespace's own loopback, port 9): the
    # faults' incidents queue up and the channel fails, as the agent-health notification panels must show
    inv["notify"] = {
        "webhooks": {"ops-board": {"url": "http://127.0.0.1:9/hooks/netprobe", "timeout_s": 2}},
        "duty": [{"name": "Trực ban", "webhook": "ops-board"}],
        "settings": {"senders": ["dc1"], "confirm_s": 10, "backoff_s": 5, "backoff_max_s": 30},
    }
    return inv


def seconds_to_cut(now: float) -> float:
    """From `now`, the wait until CUT_LEAD_S before the first minute boundary at least WARMUP_S away."""
    boundary = math.ceil((now + WARMUP_S + CUT_LEAD_S) / 60) * 60
    return boundary - CUT_LEAD_S - now


def _agent_config(path: Path, client: InfluxClient, state: Path) -> None:
    config = {
        "allowed_networks": ALLOWED,
        "state_dir": str(state),
        "storage": {"sink": "influxdb", "influxdb": {"url": client.url, "api": "v1", "database": client.database}},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def fill_from_lab(
    client: InfluxClient,
    workdir: Path,
    lab_id: str | None = None,
    while_up: Callable[[Path, Path, dict[str, str]], Any] | None = None,
) -> LabRun:
    """Run the lab scenario with the real agent, flush its outbox into `client`'s database; the truth.

    `while_up(config, inventory, env)`: run right after the flush, while the lab (and its faults) are still
    up — e.g. `check` and `status` against the same store at the same time; its result is `LabRun.extra`."""
    if os.geteuid() != 0:
        raise LabRunError("a lab run needs root (network namespaces, snmpd on port 161)")
    lab_id = lab_id or f"gl{os.getpid() % 100000}"
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    client.create_database()
    scenario = workdir / "scenario.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    _netprobe("lab", "down", "--id", lab_id)
    status = json.loads(_netprobe("lab", "up", "--id", lab_id, "--scenario", str(scenario), "--json"))
    timings["lab up"] = time.monotonic() - t0
    try:
        inv = lab_inventory(Path(status["inventory"]))
        inventory = workdir / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(inv, allow_unicode=True), encoding="utf-8")
        config = workdir / "netprobe.yaml"
        _agent_config(config, client, workdir / "state")
        env = {**os.environ, "NETPROBE_ALLOWED_NETS": ",".join(ALLOWED)}
        env.pop("NETPROBE_CONFIG", None)
        env.pop("NETPROBE_STATE_DIR", None)
        agent_cmd = [sys.executable, "-m", "netprobe", "-c", str(config), "-i", str(inventory), "run", "--agent", "dc1"]
        t1 = time.monotonic()
        log_path = workdir / "agent.log"
        with open(log_path, "w", encoding="utf-8") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "netprobe", "lab", "exec", "--id", lab_id, "--", *agent_cmd],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            start_s = time.time()
            try:
                time.sleep(seconds_to_cut(time.time()))
                _netprobe("lab", "impair", "--id", lab_id, CUT, "--down", "--for", str(CUT_S))
                time.sleep(CUT_S + RECOVER_S)
            finally:
                agent.send_signal(signal.SIGTERM)
                code = agent.wait(timeout=60)
            end_s = time.time()
        if code != 0:
            raise LabRunError(f"the agent exited {code}: {log_path.read_text(encoding='utf-8')[-2000:]}")
        timings["agent run"] = time.monotonic() - t1
        t2 = time.monotonic()
        out = _netprobe("-c", str(config), "outbox", "flush", "--timeout", "60", env=env)
        if "outbox empty" not in out:
            raise LabRunError(f"outbox flush: {out}")
        timings["outbox flush"] = time.monotonic() - t2
        flushed = int(out.split()[1].replace(",", ""))  # "flushed 5,123 points to …"
        truth = json.loads(Path(status["truth"]).read_text(encoding="utf-8"))
        extra = while_up(config, inventory, env) if while_up is not None else None
        return LabRun(truth, inv, start_s, end_s, timings, flushed, extra)
    finally:
        _netprobe("lab", "down", "--id", lab_id)
