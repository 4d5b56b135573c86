"""Score live verdicts against the lab's ground truth.

    python -m benchmarks verdicts --scenario demo --minutes 15
    python -m benchmarks verdicts --scenario my-faults.yaml --minutes 5 --keep /tmp/run1

Brings up the lab with the scenario (any scenario file in docs/lab.md's format), runs the real agent
(`netprobe run --agent dcN`) inside every DC namespace for M minutes into one embedded store, stops the
agents (SIGTERM), then scores the stored `link_health` verdicts against truth.json. The scoring rules
(what is flagged, which windows count, grace at fault start and end) are in docs/verdicts.md,
"Scoring against the lab". The last line is always

    verdicts precision=P recall=R max_detect_intervals=K false_flags=F
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netprobe.errors import NetprobeError
from netprobe.health.observation import Source, from_points
from netprobe.health.topology import Node, Topology
from netprobe.storage.point import Point

REPO = Path(__file__).resolve().parents[1]
FLAGGED = frozenset({"DEGRADED", "UNSTABLE", "DOWN", "UNREACHABLE"})
HEALTH_FLAGS = frozenset({"DEGRADED", "UNSTABLE", "DOWN"})
LINE_FAULTS = frozenset({"loss", "down", "flap", "latency", "congestion"})
OUTAGE_FAULTS = frozenset({"down", "flap"})  # the line carries nothing while down: gear behind is UNREACHABLE
ANY = "*"  # an expectation that holds for every agent's verdicts


# ---- expectations from the truth ------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """What a subject's verdicts may or must be between start and end (unix s), from one fault."""

    subject: str
    agent: str  # ANY, or the one agent whose views the fault affects (a DC fault)
    start: float
    end: float  # the fault's end plus its grace (flags here are still the fault's)
    fault_end: float  # the fault's own end (required detections must happen before end)
    accepted: frozenset[str]  # flagged states that are right here; other flagged states are wrong
    required: bool  # recall counts it: the verdict must reach an accepted state
    ignored: bool = False  # anything goes (no precision, no recall): e.g. gear behind a lossy line
    fault: int = 0
    what: str = ""
    reboot: bool = False  # visible once the device is back (sysUpTime reset): delay counts from `fault_end`
    snmp: bool = False  # seen by SNMP polls: the delay is counted in SNMP intervals
    # (from, to, states): inside these spans only the states of the spans covering the time are right
    phases: tuple[tuple[float, float, frozenset[str]], ...] = ()

    def accepted_at(self, t: float) -> frozenset[str]:
        covering = [states for a, b, states in self.phases if a <= t <= b]
        return frozenset().union(*covering) if covering else self.accepted

    def accepts(self, state: str, t: float) -> bool:
        return state in self.accepted_at(t)


@dataclass
class Score:
    tp_samples: int = 0
    fp_samples: int = 0
    required: int = 0
    detected: int = 0
    delays: list[tuple[float, str]] = field(default_factory=list)  # (probe intervals, what)
    false_episodes: list[str] = field(default_factory=list)
    wrong_state: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        flagged = self.tp_samples + self.fp_samples
        return self.tp_samples / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.required if self.required else 1.0

    @property
    def max_detect_intervals(self) -> float:
        return max((d for d, _ in self.delays), default=0.0)

    def last_line(self) -> str:
        return (
            f"verdicts precision={self.precision:.3f} recall={self.recall:.3f} "
            f"max_detect_intervals={self.max_detect_intervals:.1f} false_flags={len(self.false_episodes)}"
        )


def _grace_after(node: Node, fault: str) -> float:
    """How long after a fault ends its evidence legitimately keeps the verdict flagged (see docs)."""
    t = node.thresholds
    interval = node.ping_interval_s or node.snmp_interval_s or 30.0
    if fault in ("down", "flap", "reboot"):
        # an outage is a flap, a reboot a reboot, for the whole long window; then clear_s to step down
        return t.long_window_s + t.min_state_s + t.clear_s + 2 * interval
    return t.window_s + t.min_state_s + t.clear_s + 2 * interval


FLAP_LONG_DOWN_S = 180.0  # an outage this long is DOWN even inside a flap (it is an outage, not a blip)


def _flap_phases(
    node: Node, f: dict[str, Any], start: float, end: float, grace: float
) -> tuple[tuple[float, float, frozenset[str]], ...]:
    """A flapping line, once it has gone down a second time (and its probes had 2 intervals and an
    evaluation to see it), is UNSTABLE — flapping, not DOWN — until the flap ends; DOWN only inside a down
    phase that has lasted FLAP_LONG_DOWN_S; after the end it decays (UNSTABLE or DEGRADED: flaps in 1 h)."""
    interval = node.ping_interval_s or 30.0
    allowance = 2 * interval + 30.0
    downs = [(float(d), float(u) if u is not None else end) for d, u in f.get("transitions") or [] if d is not None]
    if not downs and f.get("params", {}).get("period_s"):
        period = float(f["params"]["period_s"])
        downs = [(start + k * 2 * period, min(end, start + (2 * k + 1) * period)) for k in range(2)]
    if len(downs) < 2 or downs[1][0] + allowance >= end:
        return ()  # one outage (or too short to tell): DOWN is right all along
    phases = [(downs[1][0] + allowance, end, frozenset({"UNSTABLE"}))]
    phases += [
        (d + FLAP_LONG_DOWN_S, u + allowance, frozenset({"DOWN"})) for d, u in downs if u - d >= FLAP_LONG_DOWN_S
    ]
    phases.append((end, end + grace, frozenset({"UNSTABLE", "DEGRADED"})))
    return tuple(phases)


def _devices_behind(topology: Topology, line: str) -> list[Node]:
    return [n for n in topology.nodes.values() if n.kind == "device" and n.line == line]


def expectations(topology: Topology, truth: dict[str, Any], run_end: float) -> list[Window]:
    out: list[Window] = []
    faults = [f for f in truth.get("faults", []) if f.get("start") is not None and not f.get("error")]
    # per line: intervals when it carries nothing (down/flap), to decide whether a commune's LAN is cut off
    outages: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for f in faults:
        if f["fault"] in OUTAGE_FAULTS and f.get("target_kind") in ("line", "commune"):
            for line in f.get("lines", []):
                outages[line].append((f["start"], f["end"] or run_end))

    def all_lines_out(commune: str, start: float, end: float) -> bool:
        lines = [n.id for n in topology.lines_of(commune)]
        return bool(lines) and all(any(s <= start and e >= end for s, e in outages[ln]) for ln in lines)

    for f in faults:
        start, end = float(f["start"]), float(f["end"] or run_end)
        kind, fid, what = f["fault"], int(f["id"]), f"#{f['id']} {f['fault']} on {f['target']}"
        if f.get("target_kind") == "dc":
            agent = str(f["target"])
            # the agent's own views are not evidence about the communes while its uplink is broken
            for each in topology.nodes.values():
                # no long-window grace: once the agent is back its verdicts on the lines must be right again
                grace = 2 * (each.ping_interval_s or each.snmp_interval_s or 30.0) + 30.0
                out.append(Window(each.id, agent, start, end + grace, end, FLAGGED, False, True, fid, what))
            out.append(Window(agent, ANY, start, end + 120.0, end, frozenset({"DOWN", "UNSTABLE"}),
                              kind in OUTAGE_FAULTS, kind not in OUTAGE_FAULTS, fid, what))  # fmt: skip
            continue
        if kind in LINE_FAULTS:
            for line in f.get("lines", []):
                node = topology.nodes.get(line)
                if node is None:
                    continue
                grace = _grace_after(node, kind)
                phases = _flap_phases(node, f, start, end, grace) if kind == "flap" else ()
                out.append(Window(line, ANY, start, end + grace, end, HEALTH_FLAGS, True, False, fid, what,
                                  phases=phases))  # fmt: skip
                for dev in _devices_behind(topology, line):
                    dev_grace = _grace_after(dev, kind)
                    if kind in OUTAGE_FAULTS and all_lines_out(node.commune, start, end):
                        # cut off: UNREACHABLE, never DOWN; required for a lasting outage, allowed for a flap
                        out.append(Window(dev.id, ANY, start, end + dev_grace, end, frozenset({"UNREACHABLE"}),
                                          kind == "down", False, fid, what))  # fmt: skip
                    elif kind == "down":
                        continue  # failover: a backup line carries the LAN, so the gear is fine: never flagged
                    else:
                        # its path includes the line: its own loss/latency is real (a flap: failover in progress)
                        out.append(Window(dev.id, ANY, start, end + dev_grace, end, FLAGGED, False, True, fid, what))
            continue
        if kind == "reboot":
            target = str(f["target"])
            rebooted = topology.nodes.get(target)
            # its neighbours' ports to it lost carrier (IF-MIB down, ifLastChange moved): real evidence, so
            # the parent and the gear behind may be flagged (gear behind also UNREACHABLE); not required
            neighbours = [d for d in [*f.get("devices", []), *f.get("lines", [])] if d != target]  # a router's lines
            if rebooted is not None and rebooted.parent:
                neighbours.append(rebooted.parent)
            if rebooted is not None:
                grace = _grace_after(rebooted, "reboot")
                # while it is off, a router is indistinguishable from a cut at its line's end (CE silent, PE
                # answers): UNREACHABLE is right until its next SNMP polls prove the reboot, never after
                proof = end + 2 * (rebooted.snmp_interval_s or 60.0)
                out.append(Window(target, ANY, start, proof, end, frozenset({"UNREACHABLE"}), False, False, fid, what))
                out.append(Window(target, ANY, start, end + grace, end, HEALTH_FLAGS, True, False, fid, what,
                                  reboot=True))  # fmt: skip
            for dev_id in neighbours:
                gear = topology.nodes.get(dev_id)
                if gear is not None:
                    grace = _grace_after(gear, "reboot")
                    out.append(Window(dev_id, ANY, start, end + grace, end, FLAGGED, False, False, fid, what))
            continue
        if kind == "snmp_dead":
            # a hung agent: the device answers ping, SNMP times out; DEGRADED is what a user must see
            for dev_id in f.get("devices", []) or [str(f["target"])]:
                node = topology.nodes.get(dev_id)
                if node is not None:
                    grace = _grace_after(node, kind)
                    out.append(Window(dev_id, ANY, start, end + grace, end, frozenset({"DEGRADED"}), True, False,
                                      fid, what, snmp=True))  # fmt: skip
            continue
        # anything else the scorer does not know: neither required nor penalised
        for dev_id in [*f.get("devices", []), *f.get("lines", [])]:
            node = topology.nodes.get(dev_id)
            if node is not None:
                grace = _grace_after(node, kind)
                out.append(Window(dev_id, ANY, start, end + grace, end, FLAGGED, False, True, fid, what))
    return out


# ---- scoring ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    agent: str
    subject: str
    kind: str  # line, device, agent
    time: float
    state: str
    reasons: str = ""


def samples_from_points(points: Iterable[Point]) -> list[Sample]:
    out = []
    for p in points:
        kind = p.tags.get("kind", "")
        if kind not in ("line", "device", "agent"):
            continue
        agent = p.tags.get("agent", "") if kind != "agent" else p.tags.get("target", "")
        state, reasons = str(p.fields.get("state", "")), str(p.fields.get("reasons", ""))
        out.append(Sample(agent, p.tags.get("target", ""), kind, p.time_ns / 1e9, state, reasons))
    return sorted(out, key=lambda s: (s.agent, s.subject, s.time))


def probe_times(ping_points: Iterable[Point]) -> dict[tuple[str, str], list[float]]:
    """(agent, line or device) → when that agent probed it (CE for a line), sorted; SNMP polls of a
    device (snmp_sys points) under (agent, "snmp:" + device)."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for o in from_points(ping_points):
        if o.source is Source.SNMP_SYS:
            times[(o.agent, f"snmp:{o.subject}")].append(o.time)
        elif o.role in ("ce", "device"):
            times[(o.agent, o.subject)].append(o.time)
    return {k: sorted(v) for k, v in times.items()}


def first_probes(ping_points: Iterable[Point]) -> dict[tuple[str, str], float]:
    """(agent, line or device) → when that agent first probed it (its first stored ping burst)."""
    return {k: v[0] for k, v in probe_times(ping_points).items() if v}


def score(
    topology: Topology,
    truth: dict[str, Any],
    samples: Sequence[Sample],
    first_probe: dict[tuple[str, str], float],
    run_end: float,
    probes_of: dict[tuple[str, str], list[float]] | None = None,
) -> Score:
    """`probes_of` (optional): every probe time per (agent, subject), to tell how many bursts a detection took."""
    windows = expectations(topology, truth, run_end)
    by_subject: dict[str, list[Window]] = defaultdict(list)
    for w in windows:
        by_subject[w.subject].append(w)
    result = Score()
    series: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        series[(s.agent, s.subject)].append(s)

    # precision: every flagged sample is right (an accepted state inside a fault's window), ignored, or false
    for (agent, subject), rows in series.items():
        in_false = False
        for s in rows:
            if s.state not in FLAGGED:
                in_false = False
                continue
            covering = [w for w in by_subject[subject] if w.start <= s.time <= w.end and w.agent in (ANY, agent)]
            # an ignored window (gear behind a lossy line, in its grace) does not hide a fault that is
            # active now and says what the sample must be (the same line cut after its loss ended)
            active = [w for w in covering if not w.ignored and w.start <= s.time <= w.fault_end]
            if active:
                covering = [w for w in covering if not w.ignored]
            elif any(w.ignored for w in covering):
                in_false = False
                continue
            if any(w.accepts(s.state, s.time) for w in covering):
                result.tp_samples += 1
                in_false = False
                continue
            result.fp_samples += 1
            label = f"{subject} {s.state} from {agent} at +{s.time - truth['up_at']:.0f} s"
            if covering:
                expected = frozenset().union(*(w.accepted_at(s.time) for w in covering))
                result.wrong_state.append(f"{label} (expected {'/'.join(sorted(expected))})")
            if not in_false:
                result.false_episodes.append(label)
            in_false = True

    # recall and delay: every required window, per agent that probed the subject
    agents = sorted({a for a, _ in first_probe})
    for w in windows:
        if not w.required:
            continue
        node = topology.nodes.get(w.subject)
        if node is None:  # an agent (vantage point) window: the agent's own verdict series
            probes = [t for (a, _), t in first_probe.items() if a == w.subject]
            views = [(w.subject, min(probes))] if probes else []
            interval = min((n.ping_interval_s for n in topology.nodes.values() if n.ping_interval_s), default=30.0)
        else:
            views = [(a, first_probe[(a, w.subject)]) for a in agents if (a, w.subject) in first_probe]
            interval = (node.snmp_interval_s if w.reboot or w.snmp else node.ping_interval_s) or 30.0
            if w.snmp:  # seen by SNMP polls only: from that agent's first poll of it, in SNMP intervals
                views = [(a, first_probe.get((a, f"snmp:{w.subject}"), t)) for a, t in views]
        for agent, first in views:
            if w.agent not in (ANY, agent):
                continue
            # a fault can only be seen from the first probe on; a reboot only once the device is back
            ref = max(w.fault_end if w.reboot else w.start, first)
            label = f"{w.what}: {w.subject} from {agent}"
            # a reboot is proven after the fact (sysUpTime), so it may be found until the end of its grace
            if min(w.end if w.reboot else w.fault_end, run_end) - ref < 2 * interval + 30.0:
                result.skipped.append(f"{label} (seen for less than 2 intervals + an evaluation)")
                continue
            # that agent's own broken uplink hides the subject from it: required only if it could see the
            # fault for 2 intervals + an evaluation in all, before and after the outage (its blind span +
            # grace; the engine's windows span the blind minutes, so the pieces add up)
            blind = sorted((o.start, o.end) for o in by_subject[w.subject] if o.agent == agent and o.ignored)
            seen_until = min(w.end if w.reboot else w.fault_end, run_end)
            pieces, t = [], ref
            for a, b in blind:
                if b < t or a > seen_until:
                    continue
                pieces.append(min(a, seen_until) - t)
                t = max(t, b)
            pieces.append(seen_until - t)
            if blind and sum(max(0.0, p) for p in pieces) < 2 * interval + 30.0:
                result.skipped.append(f"{label} (that agent's own uplink was broken)")
                continue
            result.required += 1
            hits = [
                s
                for s in series.get((agent, w.subject), [])
                if w.start <= s.time <= w.end and w.accepts(s.state, s.time)
            ]
            if not hits:
                result.missed.append(label)
                continue
            result.detected += 1
            probed = f"snmp:{w.subject}" if w.snmp else w.subject
            bursts = sum(1 for t in (probes_of or {}).get((agent, probed), []) if ref <= t <= hits[0].time)
            result.delays.append((max(0.0, hits[0].time - ref) / interval, f"{label} ({bursts} bursts)"))
    return result


def _current(topology: Topology) -> Topology:
    """A kept topology with its thresholds rebuilt by today's model: a run kept before a threshold was
    added judges by that threshold's default."""
    from dataclasses import replace

    from netprobe.inventory.model import Thresholds

    def fresh(th: Thresholds) -> Thresholds:
        return Thresholds.model_construct(**{**Thresholds().__dict__, **th.__dict__})

    nodes = {k: replace(n, thresholds=fresh(n.thresholds)) for k, n in topology.nodes.items()}
    return replace(topology, nodes=nodes)


# ---- the run ----------------------------------------------------------------------------------------
def _agent_cmd(lab_id: str, dc: int, inventory: str, agent: str) -> list[str]:
    netprobe = [sys.executable, "-m", "netprobe"]
    return [*netprobe, "lab", "exec", "--id", lab_id, "--dc", str(dc), "--", *netprobe, "-i", inventory, "run",
            "--agent", agent]  # fmt: skip


def run_lab(
    scenario: str, minutes: float, state: Path, lab_id: str | None = None
) -> tuple[Topology, dict[str, Any], list[Point], list[Point], float]:
    from netprobe.inventory.loader import load_inventory
    from netprobe.lab.build import running

    lifetime = minutes * 60 + 900  # faults "for the lab's lifetime" must outlast the run
    with running(scenario, lab_id, lifetime_s=lifetime) as lab:
        inv = load_inventory(lab["inventory"])
        topology = Topology.from_inventory(inv)
        env = dict(os.environ, NETPROBE_STATE_DIR=str(state), PYTHONPATH=str(REPO))
        env["NETPROBE_ALLOWED_NETS"] = "198.18.0.0/15"
        env.pop("NETPROBE_CONFIG", None)
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            for agent in inv.agents:
                if agent.netns not in lab["dc_namespaces"]:
                    continue
                dc = lab["dc_namespaces"].index(agent.netns) + 1
                cmd = _agent_cmd(lab["id"], dc, lab["inventory"], agent.name)
                with (state / f"agent-{agent.name}.log").open("wb") as log:  # the child keeps its own copy
                    procs.append((agent.name, subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=REPO)))
                print(f"agent {agent.name} in {agent.netns} (pid {procs[-1][1].pid})", file=sys.stderr)
            if not procs:
                raise SystemExit("error: the lab's inventory names no agent in a DC namespace")
            deadline = time.monotonic() + minutes * 60
            while time.monotonic() < deadline:
                dead = [name for name, p in procs if p.poll() is not None]
                if dead:
                    raise SystemExit(f"error: agent {dead[0]} stopped early; see {state}/agent-{dead[0]}.log")
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        finally:
            for _, p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for _, p in procs:
                try:
                    p.wait(40)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        run_end = time.time()
        truth = json.loads(Path(lab["truth"]).read_text(encoding="utf-8"))
        truth["run_end"] = run_end
        (state / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
        (state / "topology.pickle").write_bytes(pickle.dumps(topology))
    return topology, truth, *read_store(state), run_end


def read_store(state: Path) -> tuple[list[Point], list[Point]]:
    from netprobe.storage.local import LocalStore

    store = LocalStore(state / "store.db")
    try:
        verdicts = list(store.read("link_health", 0, 2**62))
        pings = [*store.read("ping", 0, 2**62), *store.read("snmp_sys", 0, 2**62)]
    finally:
        store.close()
    return verdicts, pings


def replay_verdicts(topology: Topology, state: Path, run_end: float) -> list[Point]:
    """The link_health points the current rules give on a kept run's stored probe results: each agent's own
    engine on its own observations, evaluated every 30 s from its first result (as `netprobe run` does)."""
    from netprobe.health.engine import HealthEngine
    from netprobe.health.points import to_points
    from netprobe.health.replay import INPUT_MEASUREMENTS, replay
    from netprobe.storage.local import LocalStore

    store = LocalStore(state / "store.db")
    try:
        points = [p for m in INPUT_MEASUREMENTS for p in store.read(m, 0, 2**62)]
    finally:
        store.close()
    by_agent: dict[str, list[Any]] = defaultdict(list)
    for o in from_points(points):
        by_agent[o.agent].append(o)
    out: list[Point] = []
    for agent, obs in sorted(by_agent.items()):
        start = min(o.time for o in obs) + 30.0
        for evaluation in replay(HealthEngine(topology), obs, start, run_end, 30.0):
            out.extend(p for p in to_points(evaluation, topology, agent=agent)
                       if p.tags.get("kind") != "agent" or p.tags.get("target") == agent)  # fmt: skip
    return out


def report(result: Score) -> None:
    for title, rows in (("missed", result.missed), ("false flags", result.false_episodes),
                        ("wrong state", result.wrong_state), ("not required", result.skipped)):  # fmt: skip
        if rows:
            print(f"{title} ({len(rows)}):")
            for row in rows[:40]:
                print(f"  {row}")
    for delay, label in sorted(result.delays, reverse=True)[:10]:
        print(f"  detected after {delay:.1f} intervals: {label}")
    print(f"flagged samples: {result.tp_samples} right, {result.fp_samples} wrong; "
          f"required detections: {result.detected}/{result.required}")  # fmt: skip


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks verdicts", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="demo", help="demo, province, or a scenario YAML file")
    parser.add_argument("--minutes", type=float, default=15.0, help="how long the agents run (0.5–240)")
    parser.add_argument("--id", dest="lab_id", help="lab id (default: one unique to this process)")
    parser.add_argument("--keep", type=Path, help="keep the agents' state dir (store, logs, truth) here")
    parser.add_argument("--rescore", type=Path, metavar="DIR", help="score a run kept with --keep again (no lab)")
    parser.add_argument("--replay", action="store_true",
                        help="with --rescore: judge the kept probe results again with the current rules")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rescore:
        missing = [n for n in ("truth.json", "topology.pickle", "store.db") if not (args.rescore / n).is_file()]
        if missing:
            print(f"error: {args.rescore} is not a finished kept run (no {missing[0]})", file=sys.stderr)
            return 2
        truth = json.loads((args.rescore / "truth.json").read_text(encoding="utf-8"))
        topology = _current(pickle.loads((args.rescore / "topology.pickle").read_bytes()))  # our own, from --keep
        verdicts, pings = read_store(args.rescore)
        if args.replay:
            verdicts = replay_verdicts(topology, args.rescore, float(truth["run_end"]))
        return _print(topology, truth, verdicts, pings, float(truth["run_end"]))
    if not 0.5 <= args.minutes <= 240:
        parser.error("--minutes must be between 0.5 and 240")
    if args.keep and args.keep.is_dir() and any(args.keep.iterdir()):
        # the agents would carry on from its store (every device "rebooted" against the old run's
        # sysUpTime, "no measurements for 54 min"), and the old run would be lost
        print(f"error: {args.keep} already holds a run; keep this one in an empty or new directory", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("error: needs root (the lab's namespaces)", file=sys.stderr)
        return 2
    # SIGTERM (and SIGINT, ignored in a background job) must still stop the agents and take the lab down
    signal.signal(signal.SIGTERM, _interrupted)
    with tempfile.TemporaryDirectory(prefix="np-verdicts-") as tmp:
        state = args.keep or Path(tmp)
        state.mkdir(parents=True, exist_ok=True)
        try:
            topology, truth, verdicts, pings, run_end = run_lab(args.scenario, args.minutes, state, args.lab_id)
        except NetprobeError as exc:  # a bad scenario, a lab id in use: one line, no traceback
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return _print(topology, truth, verdicts, pings, run_end)


def _print(topology: Topology, truth: dict[str, Any], verdicts: list[Point], pings: list[Point], run_end: float) -> int:
    times = probe_times(pings)
    first = {k: v[0] for k, v in times.items() if v}
    result = score(topology, truth, samples_from_points(verdicts), first, run_end, times)
    print(f"scenario {truth.get('scenario')}: {len(verdicts)} link_health points, {len(pings)} probe points, "
          f"{len(truth.get('faults', []))} faults")  # fmt: skip
    report(result)
    print(result.last_line())
    return 0
