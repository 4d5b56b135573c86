"""INTERIM FILLER — a deterministic scripted scenario with known ground truth, written through /write.

The dashboards and alert rules must be proven on data a lab run produced (issue 9). Until the lab (issue 3),
probes (4), agent (7) and verdicts (6) are merged, this module stands in for that run: it derives, from the
example inventory and a fixed script of events, every point the agents and the verdict engine would write
(ping, snmp_sys, snmp_if, http, link_health, netprobe_agent — all checked against storage.schema), and returns the
script's ground truth. It is the ONLY place the interim data comes from: the lead swaps `fill_interim_scenario`
for a lab run that returns the same `GroundTruth`.

Nothing here probes anything; it writes points into the database it is given.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from netprobe.engine.targets import device_tags, line_tags
from netprobe.grafana.influx import InfluxClient
from netprobe.inventory.loader import Inventory, ResolvedDevice, ResolvedLine, load_inventory
from netprobe.probes.base import Role
from netprobe.storage.point import Point
from netprobe.storage.schema import check_point

MIN = 60
START_S = 1_795_132_800  # 2026-11-20T00:00:00Z: a fixed past instant, so every run writes the same points
DURATION_S = 180 * MIN
PING_EVERY_S = 30
SNMP_EVERY_S = 60
STATE_NAMES = ("OK", "DEGRADED", "UNSTABLE", "DOWN", "UNREACHABLE", "UNKNOWN")


@dataclass(frozen=True)
class Episode:
    """A scripted condition on one line: [start_s, end_s) relative to START_S."""

    line: str
    condition: str  # "unstable" (10–40% loss, jitter), "down" (no reply), "degraded" (high RTT)
    start_s: int
    end_s: int


@dataclass
class GroundTruth:
    """What the scenario (or a lab run) made happen; absolute unix seconds."""

    start_s: int
    end_s: int
    lines: dict[str, tuple[str, str]]  # line -> (commune, provider)
    communes: dict[str, tuple[float, float]]  # commune -> (lat, lon)
    final_state: dict[str, int]  # line -> state_code of its newest verdict
    outages: list[tuple[str, int, int]]  # (line, first silent second, first answering second) — truth from pings
    # (line, state_code it must cause, start_s, end_s): the imposed conditions — the truth, not the verdicts,
    # which follow within a detection delay (issue 6: two probe intervals)
    episodes: list[tuple[str, int, int, int]]
    isolated_communes: dict[str, int]  # commune -> second from which every line was down
    silent_agents: dict[str, int]  # agent -> last second it wrote
    dropping_agents: dict[str, tuple[int, int]]  # agent -> (first, last) second its outbox dropped points
    reboots: list[tuple[str, int]]  # (device, second of the first poll after the reboot)
    agent_only_episodes: list[tuple[str, str, int, int, int]]  # (agent, line, code, start, end): one agent's view
    agents: list[str] = field(default_factory=list)
    points: int = 0

    def measured_minutes(self) -> int:
        return (self.end_s - self.start_s) // MIN

    def down_minutes(self, line: str) -> int:
        return sum((end - start) // MIN for name, start, end in self.outages if name == line)

    def availability_pct(self, lines: list[str]) -> float:
        total = self.measured_minutes() * len(lines)
        return 100.0 * (total - sum(self.down_minutes(line) for line in lines)) / total


def script() -> list[Episode]:
    """The fixed events (seconds from START_S), chosen to exercise every panel and rule."""
    return [
        Episode("tu-son-vnpt-1", "unstable", 40 * MIN, 46 * MIN),  # too short for the 10-minute rule
        Episode("que-vo-vnpt-1", "down", 60 * MIN, 90 * MIN),  # a past 30-minute outage, commune still has a line
        Episode("kinh-bac-vnpt-1", "unstable", 100 * MIN, DURATION_S),  # unstable until now
        Episode("luc-nam-vnpt-1", "degraded", 20 * MIN, DURATION_S),
        Episode("son-dong-viettel-1", "down", 150 * MIN, DURATION_S),  # both lines: commune isolated
        Episode("son-dong-vnpt-2", "down", 150 * MIN, DURATION_S),
    ]


SILENT_AGENT = ("dc-bac-giang", 170 * MIN)  # stops writing anything from here
DROPPING_AGENT = ("dc-bac-ninh", 120 * MIN, 125 * MIN)  # outbox over its bound: 50 points dropped per cycle
REBOOT = ("kinh-bac-rt1", 45 * MIN)
# One data centre's own path to a commune breaks: that agent sees its lines DOWN, the other agent sees them
# fine. The lines are NOT down (best of the agents), so no outage, no alert, full availability.
AGENT_UPLINK = ("dc-bac-giang", "yen-phong", 120 * MIN, 140 * MIN)
CONDITION_CODE = {"degraded": 1, "unstable": 2, "down": 3}  # the verdict each scripted condition must cause
VERDICT_DELAY_S = 60  # the verdict engine needs two probe intervals to enter a state (hysteresis)


def _condition(line: str, t: int, episodes: list[Episode]) -> str:
    for e in episodes:
        if e.line == line and e.start_s <= t < e.end_s:
            return e.condition
    return "ok"


def _ping_fields(
    rng: random.Random, condition: str, base_rtt: float, role: Role
) -> dict[str, float | int | str | bool]:
    sent = 10
    if condition == "down" and role is Role.CE:
        return {
            "packets_transmitted": sent,
            "packets_received": 0,
            "percent_packet_loss": 100.0,
            "result_code": 0,
            "status": "timeout",
        }
    lost = rng.randint(1, 4) if condition == "unstable" else (1 if rng.random() < 0.02 else 0)
    received = sent - lost
    spread = 25.0 if condition == "unstable" else 1.5
    rtt = base_rtt * (4.0 if condition == "degraded" else 1.0)
    samples = sorted(max(0.2, rng.gauss(rtt, spread)) for _ in range(received))
    mean = sum(samples) / len(samples)
    jitter = sum(abs(a - b) for a, b in itertools.pairwise(samples)) / max(1, len(samples) - 1)
    return {
        "packets_transmitted": sent,
        "packets_received": received,
        "percent_packet_loss": 100.0 * lost / sent,
        "minimum_response_ms": samples[0],
        "average_response_ms": mean,
        "maximum_response_ms": samples[-1],
        "median_response_ms": samples[len(samples) // 2],
        "p95_response_ms": samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))],
        "standard_deviation_ms": (sum((s - mean) ** 2 for s in samples) / len(samples)) ** 0.5,
        "jitter_ms": jitter,
        "result_code": 0,
        "status": "ok",
    }


def _verdicts(episodes: list[Episode]) -> dict[str, list[tuple[int, int, int]]]:
    """line -> [(state_code, since_s, until_s)] as the verdict engine would decide (entered after a delay)."""
    code = CONDITION_CODE
    out: dict[str, list[tuple[int, int, int]]] = {}
    for e in episodes:
        until = e.end_s + VERDICT_DELAY_S if e.end_s < DURATION_S else DURATION_S
        out.setdefault(e.line, []).append((code[e.condition], e.start_s + VERDICT_DELAY_S, until))
    return out


def _state_at(verdicts: list[tuple[int, int, int]], t: int) -> tuple[int, int]:
    """(state_code, since_s relative) of a line at t; OK since the end of its last episode."""
    since = 0
    for code, start, end in sorted(verdicts, key=lambda v: v[1]):
        if start <= t < end:
            return code, start
        if end <= t:
            since = end
    return 0, since


def _agent_views(inv: Inventory, episodes: list[Episode]) -> dict[str, list[Episode]]:
    """What each agent sees: the real episodes plus its own uplink fault."""
    agent, commune, start, end = AGENT_UPLINK
    own = [Episode(r.id, "down", start, end) for r in inv.lines_of(commune)]
    return {a: episodes + (own if a == agent else []) for a in inv.agent_names()}


def _points(inv: Inventory, episodes: list[Episode]) -> Iterator[Point]:
    rng = random.Random(20261121)
    agents = inv.agent_names()
    verdicts = _verdicts(episodes)
    views = _agent_views(inv, episodes)
    agent_verdicts = {a: _verdicts(v) for a, v in views.items()}
    lines = sorted(inv.lines.values(), key=lambda r: r.id)
    coords = {c.slug: c.coordinates for c in inv.communes}
    base_rtt = {r.id: 3.0 + 2.0 * i % 17 for i, r in enumerate(lines)}
    silent_agent, silent_from = SILENT_AGENT
    web_rng = random.Random(20261122)  # its own stream: the other measurements stay exactly as they were
    for t in range(0, DURATION_S, PING_EVERY_S):
        ts = (START_S + t) * 1_000_000_000
        live = [a for a in agents if not (a == silent_agent and t >= silent_from)]
        for r in lines:
            for agent in live:
                condition = _condition(r.id, t, views[agent])
                for role in (Role.CE, Role.PE):
                    tags = {**line_tags(inv, r, role), "agent": agent}
                    yield Point(
                        "ping", tags, _ping_fields(rng, condition, base_rtt[r.id], role), ts + rng.randint(0, 9) * 10**8
                    )
                yield _line_verdict(inv, r, agent, agent_verdicts[agent].get(r.id, []), t, ts, coords)
        for d in sorted(inv.devices.values(), key=lambda d: d.id):
            above = device_tags(inv, d).get("line")
            code, _since = _state_at(verdicts.get(above or "", []), t)
            c = coords[d.commune.slug]
            for agent in live if t % SNMP_EVERY_S == 0 else []:  # device verdicts follow the SNMP cadence
                seen, since = _state_at(agent_verdicts[agent].get(above or "", []), t)
                dev_code, reasons = (4, f"behind {above}, which is DOWN") if seen == 3 else (0, "")
                yield Point(
                    "link_health",
                    {**device_tags(inv, d), "agent": agent},
                    {
                        "state": STATE_NAMES[dev_code],
                        "state_code": dev_code,
                        "score": 0.0 if dev_code else 100.0,
                        "reasons": reasons,
                        "since_s": START_S + (since if seen == 3 else 0),
                        **({"lat": c.lat, "lon": c.lon} if c else {}),
                    },
                    ts,
                )
            if t % SNMP_EVERY_S == 0 and d.snmp_profile is not None and d.device.snmp and code != 3:
                yield from _snmp(inv, d, t, ts, rng, _condition(above or "", t, episodes))
        if t % SNMP_EVERY_S == 0:
            yield from _web(inv, live, t, ts, web_rng)
        yield from _agent_metrics(live, t, ts, len(lines), rng)


def _line_verdict(
    inv: Inventory,
    r: ResolvedLine,
    agent: str,
    verdicts: list[tuple[int, int, int]],
    t: int,
    ts: int,
    coords: Mapping[str, object],
) -> Point:
    code, since = _state_at(verdicts, t)
    reasons = {
        0: "",
        1: "RTT 4× its baseline over 5 min",
        2: "loss 25% over 5 min; 4 flaps in 1 h",
        3: "no reply from CE for 2 intervals",
    }[code]
    score = {0: 100.0, 1: 70.0, 2: 35.0, 3: 0.0}[code]
    tags = {
        "province": inv.province.slug,
        "commune": r.commune.slug,
        "site": r.site.id,
        "line": r.id,
        "provider": r.line.provider,
        "kind": "line",
        "target": r.id,
        "agent": agent,
    }
    c = r.commune.coordinates
    fields: dict[str, float | int | str | bool] = {
        "state": STATE_NAMES[code],
        "state_code": code,
        "score": score,
        "reasons": reasons,
        "since_s": START_S + since,
        "loss_pct": {2: 25.0, 3: 100.0}.get(code, 0.0),
        "flaps": 4 if code == 2 else 0,
    }
    if c is not None:
        fields.update(lat=c.lat, lon=c.lon)
    return Point("link_health", tags, fields, ts)


def _snmp(inv: Inventory, d: ResolvedDevice, t: int, ts: int, rng: random.Random, condition: str) -> Iterator[Point]:
    tags = device_tags(inv, d)
    boot = REBOOT[1] if d.id == REBOOT[0] and t >= REBOOT[1] else -86_400 * 40
    uptime = float(t - boot)
    rebooted = d.id == REBOOT[0] and REBOOT[1] <= t < REBOOT[1] + SNMP_EVERY_S
    yield Point(
        "snmp_sys",
        tags,
        {"uptime_s": uptime, "rebooted": rebooted, "sys_name": d.id, "response_ms": 2.0 + rng.random(), "status": "ok"},
        ts,
    )
    for index, name in enumerate(d.device.interfaces, start=1):
        speed = 1000.0
        load = 0.15 + 0.1 * ((t // 600 + index) % 4) + rng.random() * 0.05
        in_bps, out_bps = speed * 1e6 * load, speed * 1e6 * load * 0.4
        errors = rng.uniform(2, 8) if condition == "unstable" and index == 1 else 0.0
        yield Point(
            "snmp_if",
            {**tags, "ifname": str(name)},
            {
                "if_index": index,
                "oper_status": 1,
                "admin_status": 1,
                "speed_mbps": speed,
                "in_bps": in_bps,
                "out_bps": out_bps,
                "in_util_pct": 100 * load,
                "out_util_pct": 40 * load,
                "in_errors_per_s": errors,
                "out_errors_per_s": 0.0,
                "in_discards_per_s": errors / 2,
                "out_discards_per_s": 0.0,
                "counter_event": "",
            },
            ts,
        )


WEB_PEAK_S = (60 * MIN, 180 * MIN)  # 01:00–03:00 UTC = 08:00–10:00 in Vietnam: the portal's morning rush
CERT_DAYS = (200.0, 10.0)  # the first service's certificate is fine, the others' expire within 14 days


def _web(inv: Inventory, live: list[str], t: int, ts: int, rng: random.Random) -> Iterator[Point]:
    """One HTTP(S) GET per service per DC each minute: slow in the morning peak, from both DCs."""
    peak = WEB_PEAK_S[0] <= t < WEB_PEAK_S[1]
    for n, service in enumerate(inv.services):
        tags = {"province": inv.province.slug, "kind": Role.SERVICE.value, "target": service.id}
        for agent in live:
            ttfb = rng.uniform(1500.0, 4000.0) if peak else rng.uniform(80.0, 250.0)
            fields: dict[str, float | int | str | bool] = {
                "connect_ms": rng.uniform(0.5, 2.0),
                "tls_ms": rng.uniform(3.0, 8.0),
                "ttfb_ms": ttfb,
                "total_ms": ttfb + rng.uniform(20.0, 120.0),
                "http_status": 200,
                "body_bytes": 48_000,
                "cert_days_left": CERT_DAYS[min(n, 1)] - t / 86_400.0,
                "status": "ok",
            }
            yield Point("http", {**tags, "agent": agent}, fields, ts + rng.randint(0, 9) * 10**8)


def _agent_metrics(live: list[str], t: int, ts: int, lines: int, rng: random.Random) -> Iterator[Point]:
    agent_dropping, drop_from, drop_to = DROPPING_AGENT
    for agent in live:
        cycles = t // PING_EVERY_S
        dropping = agent == agent_dropping and drop_from <= t < drop_to
        dropped = 0
        if agent == agent_dropping and t >= drop_from:
            dropped = 50 * (min(t, drop_to - PING_EVERY_S) - drop_from) // PING_EVERY_S + 50
        depth = 20000 if dropping else rng.randint(0, 40)
        for probe in ("ping", "snmp", "tcp"):
            yield Point(
                "netprobe_agent",
                {"agent": agent, "probe": probe, "province": "bac-ninh"},
                {
                    "cycle_s": 1.5 + rng.random(),
                    "lag_s": rng.random() * 0.2,
                    "targets": lines * 2,
                    "probes_per_s": lines * 2 / PING_EVERY_S,
                    "outbox_depth": depth,
                    "outbox_dropped": dropped,
                    "errors": 0,
                    "rss_mb": 60.0 + cycles * 0.001,
                    "late_cycles": 0,
                },
                ts,
            )
        if agent == live[0]:  # the sending agent's notification queue (issue 17): the webhook fails for a while
            for channel in ("zalo", "email", "webhook:ops"):
                failing = channel == "webhook:ops" and drop_from <= t < drop_to
                yield Point(
                    "netprobe_notify",
                    {"agent": agent, "channel": channel, "province": "bac-ninh"},
                    {"queue_depth": 12 if failing else 0, "sent": cycles, "failed": 0, "failures": int(failing),
                     "failing": int(failing), "oldest_s": 300.0 if failing else 0.0},
                    ts,
                )  # fmt: skip


def fill_interim_scenario(client: InfluxClient, inventory: str | Path) -> GroundTruth:
    """Write the scripted scenario into `client`'s database and return its ground truth.

    The seam for the lab run: replace this call with one that runs the lab's scenario and returns a
    GroundTruth built from the lab's recorded ground truth.
    """
    inv = load_inventory(inventory)
    episodes = script()
    problems: list[str] = []

    def checked() -> Iterator[Point]:
        for p in _points(inv, episodes):
            problems.extend(check_point(p.measurement, p.tags, dict(p.fields)))
            yield p

    client.create_database()
    written = client.write(checked())
    if problems:
        raise ValueError(f"scenario points break the schema: {sorted(set(problems))[:5]}")
    verdicts = _verdicts(episodes)
    final = {r: _state_at(verdicts.get(r, []), DURATION_S - PING_EVERY_S)[0] for r in inv.lines}
    down = [e for e in episodes if e.condition == "down"]
    isolated: dict[str, int] = {}
    for c in inv.communes:
        lines_of = [r.id for r in inv.lines_of(c.slug)]
        starts = [e.start_s for e in down if e.line in lines_of and e.end_s == DURATION_S]
        if lines_of and len(starts) == len(lines_of):
            isolated[c.slug] = START_S + max(starts)
    return GroundTruth(
        start_s=START_S,
        end_s=START_S + DURATION_S,
        lines={r.id: (r.commune.slug, r.line.provider) for r in inv.lines.values()},
        communes={c.slug: (c.coordinates.lat, c.coordinates.lon) for c in inv.communes if c.coordinates},
        final_state=final,
        outages=[(e.line, START_S + e.start_s, START_S + e.end_s) for e in down],
        episodes=[(e.line, CONDITION_CODE[e.condition], START_S + e.start_s, START_S + e.end_s) for e in episodes],
        isolated_communes=isolated,
        silent_agents={SILENT_AGENT[0]: START_S + SILENT_AGENT[1] - PING_EVERY_S},
        dropping_agents={DROPPING_AGENT[0]: (START_S + DROPPING_AGENT[1], START_S + DROPPING_AGENT[2] - PING_EVERY_S)},
        reboots=[(REBOOT[0], START_S + REBOOT[1])],
        agent_only_episodes=[
            (AGENT_UPLINK[0], e.line, CONDITION_CODE[e.condition], START_S + e.start_s, START_S + e.end_s)
            for e in _agent_views(inv, [])[AGENT_UPLINK[0]]
        ],
        agents=inv.agent_names(),
        points=written,
    )
