"""Part 1 of `python -m benchmarks peers` (`--only verdicts`): one lab run, three tools side by side.

In one lab of the `peers` scenario, inside each DC namespace: netprobe's agent (as `benchmarks verdicts`
runs it), blackbox_exporter + Prometheus (ICMP probes of every line's CE and every LAN device, TCP probes
of the DC services, every 30 s, rules in peers_configs/prometheus-rules.yml) and SmokePing (fping, 20 pings
every 30 s, alerts someloss/bigloss/rttdetect). Every peer is a child of this process in its own session,
bound to the namespace's loopback (Prometheus also to its DC address, for the other DC to scrape), probing
only lab addresses, and is killed by its process group at the end, on error and on Ctrl-C/SIGTERM.

Each peer's alerts become flag series in benchmarks/verdicts.py's Sample format, scored by its `score`:
- a probed address stands for one subject: a line's CE for the line, a LAN device's address for the device
  (a router's address is its primary line's CE, so the peers cannot tell the router from its line: they get
  no router subject, and no router fault is required of them);
- a firing down alert (BlackboxProbeFailed) is DOWN, any other firing alert (loss, latency, SmokePing's
  patterns) DEGRADED; a device flagged while the same tool flags its line is UNREACHABLE (the inhibit rule
  an operator adds, e.g. Alertmanager `inhibit_rules`);
- the other DC's Prometheus missing (PrometheusTargetMissing) is that DC's agent DOWN.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from benchmarks.verdicts import REPO, Sample, Score, _agent_cmd, probe_times, read_store, samples_from_points, score
from netprobe.health.observation import from_points
from netprobe.health.topology import Topology

CONFIGS = Path(__file__).parent / "peers_configs"
STEP_S = 30.0  # every tool's probe interval: netprobe's ping interval, the scrape interval, SmokePing's step
BLACKBOX_PORT, PROMETHEUS_PORT = 9115, 9090
DOWN_ALERTS = frozenset({"BlackboxProbeFailed"})
PEER_ALERTS = frozenset({"BlackboxProbeFailed", "BlackboxProbeLoss", "BlackboxProbeSlowPing"})
SMOKEPING_ALERTS = ("someloss", "bigloss", "rttdetect")
MAX_READ = 64 << 20  # cap on any file or HTTP answer read back


@dataclass(frozen=True)
class Targets:
    """What the peers probe, from the inventory: address → subject, the DCs, the services."""

    subject_of: dict[str, str]  # ICMP address → line or device id
    services: list[str]  # address:port
    dcs: list[tuple[str, str, str]]  # (agent name, namespace, source address)


def peer_targets(inventory: Any) -> Targets:
    subject_of: dict[str, str] = {}
    for r in inventory.lines.values():
        subject_of.setdefault(str(r.line.ce), r.id)
    for d in inventory.devices.values():
        if d.device.address is not None:
            subject_of.setdefault(str(d.device.address), d.id)  # a router's address is its line's CE: taken
    services = [f"{s.address}:{s.port}" for s in inventory.services]
    dcs = [(a.name, str(a.netns), str(a.source)) for a in inventory.agents if a.netns and a.source]
    return Targets(subject_of, services, dcs)


# ---- flag series --------------------------------------------------------------------------------------
def flag_samples(
    topology: Topology,
    flags: dict[tuple[str, str], dict[float, set[str]]],
    grid: Sequence[float],
    down_alerts: frozenset[str] = DOWN_ALERTS,
) -> list[Sample]:
    """(agent, subject) → {grid time → alert names firing} into one Sample per subject, agent and grid time.

    A subject never flagged still gets its OK samples (it was probed); a device flagged while its own line is
    flagged by the same tool and agent is UNREACHABLE, as an inhibit rule would present it."""
    out: list[Sample] = []
    for (agent, subject), at in flags.items():
        node = topology.nodes.get(subject)
        kind = "agent" if node is None else node.kind
        parent = flags.get((agent, node.line)) if node is not None and node.kind == "device" and node.line else None
        for t in grid:
            names = at.get(t, set())
            if not names:
                state = "OK"
            elif parent is not None and parent.get(t):
                state = "UNREACHABLE"
            elif names & down_alerts or kind == "agent":
                state = "DOWN"
            else:
                state = "DEGRADED"
            out.append(Sample(agent, subject, kind, t, state, ",".join(sorted(names))))
    return sorted(out, key=lambda s: (s.agent, s.subject, s.time))


def snap(t: float, grid: Sequence[float]) -> float | None:
    """The first grid time at or after t (an alert seen at t shows on the next evaluation), None past the end."""
    for g in grid:
        if g >= t - 1e-6:
            return g
    return None


def prometheus_flags(
    agent: str, alerts: list[dict[str, Any]], subject_of: dict[str, str], peer_agent: dict[str, str],
    grid: Sequence[float],
) -> dict[tuple[str, str], dict[float, set[str]]]:  # fmt: skip
    """A query_range of ALERTS{alertstate="firing"} (its `result`) → flags per (agent, subject) on the grid."""
    flags: dict[tuple[str, str], dict[float, set[str]]] = defaultdict(lambda: defaultdict(set))
    for series in alerts:
        labels = series.get("metric", {})
        name, instance = labels.get("alertname", ""), labels.get("instance", "")
        if name == "PrometheusTargetMissing" and instance in peer_agent:
            key = (peer_agent[instance], peer_agent[instance])
        elif name in PEER_ALERTS and instance in subject_of:
            key = (agent, subject_of[instance])
        else:
            continue  # a TCP service probe: not a subject of the scorer
        for t, _v in series.get("values", []):
            g = snap(float(t), grid)
            if g is not None:
                flags[key][g].add(name)
    return flags


def smokeping_flags(
    agent: str, log: str, subject_of: dict[str, str], grid: Sequence[float]
) -> dict[tuple[str, str], dict[float, set[str]]]:
    """The alert hook's log (`epoch alert section.target` per match, every step it matches) → flags."""
    by_section = {s: s for s in subject_of.values()}
    flags: dict[tuple[str, str], dict[float, set[str]]] = defaultdict(lambda: defaultdict(set))
    for line in log.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        subject = by_section.get(parts[2].rsplit(".", 1)[-1])
        g = snap(t, grid)
        if subject is not None and g is not None:
            flags[(agent, subject)][g].add(parts[1])
    return flags


# ---- measured loss and RTT ----------------------------------------------------------------------------
@dataclass
class Series:
    """One tool's per-probe results for a subject from one agent: (time, sent, received, rtt_ms or None)."""

    rows: list[tuple[float, int, int, float | None]]

    def between(self, start: float, end: float) -> tuple[float | None, float | None]:
        """Loss % and median of the per-probe median RTTs over [start, end]; None when nothing there."""
        inside = [r for r in self.rows if start <= r[0] <= end]
        sent = sum(r[1] for r in inside)
        rtts = [r[3] for r in inside if r[3] is not None]
        loss = 100.0 * (1 - sum(r[2] for r in inside) / sent) if sent else None
        return loss, (statistics.median(rtts) if rtts else None)


def imposed(fault: dict[str, Any]) -> tuple[str, str]:
    """What the lab imposed on the line during the fault: loss and RTT, as the scenario states them."""
    kind, p = fault["fault"], fault.get("params", {})
    if kind == "loss":
        return f"{p.get('loss_pct', 0):.0f}", "+0"
    if kind == "down":
        return "100", "-"
    if kind == "flap":
        return "~50", "+0"  # down half of every period
    if kind == "latency":
        return "0", f"+{p.get('latency_ms', 0):.0f}±{p.get('jitter_ms', 0):.0f}"
    if kind == "congestion":
        return "queue drops", f"≤+{p.get('queue_ms', 0):.0f} (queue)"
    return "-", "-"


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def loss_rtt_table(truth: dict[str, Any], tools: dict[str, dict[str, Series]], healthy: list[str]) -> list[str]:
    """Per faulted line (during its fault) and the healthy lines together (whole run): loss %, median RTT."""
    names = list(tools)
    head = f"{'line':16} {'fault':11} {'imposed loss %':>14} {'imposed RTT ms':>15} " + " ".join(
        f"{n + ' loss%/RTT':>22}" for n in names
    )
    out = [head]
    for f in truth.get("faults", []):
        if f.get("start") is None or f.get("target_kind") not in ("line", "commune"):
            continue
        start, end = float(f["start"]), float(f["end"] or truth["run_end"])
        loss, rtt = imposed(f)
        for line in f.get("lines", []):
            cells = []
            for n in names:
                s = tools[n].get(line)
                lo, rt = s.between(start, end) if s else (None, None)
                cells.append(f"{_fmt(lo) + ' / ' + _fmt(rt, 2):>22}")
            out.append(f"{line:16} {f['fault']:11} {loss:>14} {rtt:>15} " + " ".join(cells))
    cells = []
    for n in names:
        rows = [r for line in healthy if line in tools[n] for r in tools[n][line].rows]
        lo, rt = Series(rows).between(0, float("inf"))
        cells.append(f"{_fmt(lo, 2) + ' / ' + _fmt(rt, 2):>22}")
    out.append(f"{f'{len(healthy)} healthy':16} {'-':11} {'0':>14} {'+0':>15} " + " ".join(cells))
    return out


def netprobe_series(pings: list[Any], agent: str) -> dict[str, Series]:
    out: dict[str, list[tuple[float, int, int, float | None]]] = defaultdict(list)
    for o in from_points(pings):
        if o.agent == agent and o.role == "ce":
            out[o.subject].append((o.time, o.sent, o.received, o.rtt_ms))
    return {k: Series(sorted(v)) for k, v in out.items()}


def blackbox_series(
    success: list[dict[str, Any]], rtt: list[dict[str, Any]], subject_of: dict[str, str]
) -> dict[str, Series]:
    """Raw probe_success and probe_icmp_duration_seconds{phase="rtt"} samples: one packet per probe."""
    rtts: dict[tuple[str, float], float] = {}
    for series in rtt:
        for t, v in series.get("values", []):
            rtts[(series["metric"].get("instance", ""), float(t))] = 1000 * float(v)
    out: dict[str, Series] = {}
    for series in success:
        instance = series["metric"].get("instance", "")
        if instance not in subject_of or series["metric"].get("job") != "blackbox_icmp":
            continue
        rows = []
        for t, v in series.get("values", []):
            ok = float(v) == 1.0
            rows.append((float(t), 1, int(ok), rtts.get((instance, float(t))) if ok else None))
        out[subject_of[instance]] = Series(rows)
    return out


def smokeping_series(fetched: str, subject_of: dict[str, str], pings: int) -> dict[str, Series]:
    """`subject time loss median` rows (our rrd fetch) → series; U (unknown) rows are skipped."""
    known = set(subject_of.values())
    out: dict[str, list[tuple[float, int, int, float | None]]] = defaultdict(list)
    for line in fetched.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[0] not in known or parts[2] == "U":
            continue
        lost = round(float(parts[2]))
        med = None if parts[3] == "U" else 1000 * float(parts[3])
        out[parts[0]].append((float(parts[1]), pings, pings - lost, med))
    return {k: Series(v) for k, v in out.items()}


# ---- running the peers --------------------------------------------------------------------------------
def ns_get(ns: str, url: str, timeout: float = 30.0) -> bytes:
    """GET a URL from inside a namespace (its loopback is not ours): a child python in that namespace."""
    code = ("import sys,urllib.request;sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1],timeout="
            f"{timeout}).read({MAX_READ}))")  # fmt: skip
    run = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code, url], capture_output=True,
                         timeout=timeout + 10)  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"GET {url} in {ns}: {run.stderr.decode(errors='replace').strip()[-200:]}")
    return run.stdout


def wait_http(ns: str, url: str, proc: subprocess.Popen[bytes], log: Path, within: float = 60.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{str(proc.args)[:120]} exited: "
                               f"{log.read_bytes()[-300:].decode(errors='replace')}")  # fmt: skip
        try:
            ns_get(ns, url, 2.0)
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            time.sleep(1.0)
    raise RuntimeError(f"{url} in {ns} did not answer within {within:.0f} s")


@contextmanager
def child(
    argv: list[str], log: Path, env: dict[str, str] | None = None, stop_s: float = 10.0
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own session; at the end its whole process group (it and the probes it forked) is
    sent SIGTERM, then SIGKILL after `stop_s`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                cwd=log.parent)  # fmt: skip
    try:
        yield proc
    finally:
        for sig, wait in ((signal.SIGTERM, stop_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                os.killpg(proc.pid, 0)  # the leader is gone: is any of its group left?
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break


def write_configs(work: Path, dc: tuple[str, str, str], targets: Targets, other_dcs: list[str]) -> dict[str, Path]:
    """Per-DC config files from peers_configs/ with the lab's targets filled in."""
    agent, _ns, _src = dc
    d = work / agent
    for sub in ("tsdb", "sp/data", "sp/var", "sp/cache"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    prom = yaml.safe_load((CONFIGS / "prometheus.yml").read_text())
    icmp = sorted(targets.subject_of, key=lambda a: tuple(int(x) for x in a.split(".")))
    fill = {"blackbox_icmp": icmp, "blackbox_tcp": targets.services,
            "prometheus_peer": [f"{src}:{PROMETHEUS_PORT}" for src in other_dcs]}  # fmt: skip
    for job in prom["scrape_configs"]:
        job["static_configs"][0]["targets"] = fill[job["job_name"]]
    prom["rule_files"] = [str(CONFIGS / "prometheus-rules.yml")]
    (d / "prometheus.yml").write_text(yaml.safe_dump(prom, sort_keys=False))
    hook = d / "sp" / "alert.sh"
    hook.write_text(f"#!/bin/sh\n# SmokePing alert hook: alert target loss rtt host\n"
                    f"printf '%s %s %s\\n' \"$(date +%s)\" \"$1\" \"$2\" >> {d / 'sp' / 'alerts.log'}\n")  # fmt: skip
    hook.chmod(0o755)
    sp = (CONFIGS / "smokeping.conf").read_text().replace("__WORK__", str(d / "sp")).replace("__ALERT__", str(hook))
    sp += "\n+ lab\nmenu = lab\ntitle = lab\n"
    for addr in icmp:
        s = targets.subject_of[addr]
        sp += f"\n++ {s}\nmenu = {s}\ntitle = {s} {addr}\nhost = {addr}\nalerts = {','.join(SMOKEPING_ALERTS)}\n"
    (d / "smokeping.conf").write_text(sp)
    return {"dir": d, "prometheus": d / "prometheus.yml", "smokeping": d / "smokeping.conf"}


RRD_FETCH = r"""
use RRDs;
my ($s0, $e0) = (shift, shift);
for my $f (@ARGV) {
  my ($name) = $f =~ m{([^/]+)\.rrd$};
  my ($s, $st, $names, $data) = RRDs::fetch($f, "AVERAGE", "-r", 30, "-s", $s0, "-e", $e0);
  next if RRDs::error;
  my %i; @i{@$names} = 0..$#$names;
  for my $r (@$data) {
    my ($l, $m) = map { defined $_ ? $_ : "U" } @$r[$i{loss}, $i{median}];
    print "$name $s $l $m\n";
    $s += $st;
  }
}
"""


def collect_prometheus(ns: str, src: str, start: float, end: float) -> dict[str, Any]:
    base = f"http://{src}:{PROMETHEUS_PORT}/api/v1/"
    span = int(end - start) + 60

    def q(path: str) -> list[dict[str, Any]]:
        body = json.loads(ns_get(ns, base + path, 60.0))
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus in {ns}: {str(body)[:200]}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    firing = quote('ALERTS{alertstate="firing"}')
    alerts = q(f"query_range?query={firing}&start={start:.0f}&end={end:.0f}&step={STEP_S:.0f}")
    success = q(f"query?query={quote(f'probe_success[{span}s]')}&time={end:.0f}")
    rtt_query = quote('probe_icmp_duration_seconds{phase="rtt"}' + f"[{span}s]")
    rtt = q(f"query?query={rtt_query}&time={end:.0f}")
    return {"alerts": alerts, "success": success, "rtt": rtt}


def run(scenario: str, lab_id: str, minutes: float, keep: Path) -> None:
    """Bring the lab up, run netprobe + the peers in every DC namespace for `minutes`, keep everything in
    `keep` (store, truth, topology, the peers' raw results) for `score_run`."""
    from netprobe.inventory.loader import load_inventory
    from netprobe.lab.build import running

    keep.mkdir(parents=True, exist_ok=True)
    with running(scenario, lab_id=lab_id, lifetime_s=minutes * 60 + 900) as lab, ExitStack() as stack:
        inv = load_inventory(lab["inventory"])
        topology = Topology.from_inventory(inv)
        targets = peer_targets(inv)
        dcs = [d for d in targets.dcs if d[1] in lab["dc_namespaces"]]
        env = dict(os.environ, NETPROBE_STATE_DIR=str(keep / "netprobe"), PYTHONPATH=str(REPO),
                   NETPROBE_ALLOWED_NETS="198.18.0.0/15")  # fmt: skip
        env.pop("NETPROBE_CONFIG", None)
        (keep / "netprobe").mkdir(exist_ok=True)
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        for agent, ns, src in dcs:
            conf = write_configs(keep / "peers", (agent, ns, src), targets, [s for _, n, s in dcs if n != ns])
            d = conf["dir"]
            dc = lab["dc_namespaces"].index(ns) + 1
            cmd = _agent_cmd(lab["id"], dc, lab["inventory"], agent)
            procs.append((f"netprobe {agent}", stack.enter_context(child(cmd, d / "netprobe.log", env, 40.0))))
            bb = ["ip", "netns", "exec", ns, "prometheus-blackbox-exporter",
                  f"--config.file={CONFIGS / 'blackbox.yml'}", f"--web.listen-address=127.0.0.1:{BLACKBOX_PORT}",
                  "--log.level=warn"]  # fmt: skip
            procs.append((f"blackbox {agent}", stack.enter_context(child(bb, d / "blackbox.log"))))
            prom = ["ip", "netns", "exec", ns, "prometheus", f"--config.file={conf['prometheus']}",
                    f"--storage.tsdb.path={d / 'tsdb'}", f"--web.listen-address={src}:{PROMETHEUS_PORT}",
                    "--log.level=warn"]  # fmt: skip
            procs.append((f"prometheus {agent}", stack.enter_context(child(prom, d / "prometheus.log"))))
            sp = ["ip", "netns", "exec", ns, "smokeping", f"--config={conf['smokeping']}", "--nodaemon"]
            procs.append((f"smokeping {agent}", stack.enter_context(child(sp, d / "smokeping.log"))))
            wait_http(ns, f"http://127.0.0.1:{BLACKBOX_PORT}/metrics", procs[-3][1], d / "blackbox.log")
            wait_http(ns, f"http://{src}:{PROMETHEUS_PORT}/-/ready", procs[-2][1], d / "prometheus.log")
            print(f"{agent} in {ns}: netprobe, blackbox_exporter, prometheus, smokeping running", file=sys.stderr)
        started = time.time()
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            dead = [name for name, p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0]} stopped early; see its log in {keep / 'peers'}")
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        end = time.time()
        raw: dict[str, Any] = {"started": started, "end": end, "subject_of": targets.subject_of,
                               "dcs": dcs, "prometheus": {}, "smokeping": {}}  # fmt: skip
        for agent, ns, src in dcs:
            try:
                raw["prometheus"][agent] = collect_prometheus(ns, src, started, end)
            except (RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as e:  # keep the rest of the run
                print(f"warning: prometheus {agent}: {e}", file=sys.stderr)
                raw["prometheus"][agent] = {"alerts": [], "success": [], "rtt": [], "error": str(e)}
            d = keep / "peers" / agent / "sp"
            log = d / "alerts.log"
            rrds = sorted(str(p) for p in (d / "data").rglob("*.rrd"))
            fetched = subprocess.run(["perl", "-e", RRD_FETCH, f"{started:.0f}", f"{end:.0f}", *rrds],
                                     capture_output=True, text=True, timeout=120).stdout  # fmt: skip
            raw["smokeping"][agent] = {"alerts": log.read_text()[:MAX_READ] if log.exists() else "",
                                       "rrd": fetched}  # fmt: skip
        truth = json.loads(Path(lab["truth"]).read_text(encoding="utf-8"))
    # the with block stopped every child (netprobe's agents by SIGTERM, so their store is flushed) and the lab
    truth["run_end"] = end
    (keep / "truth.json").write_text(json.dumps(truth), encoding="utf-8")
    (keep / "topology.pickle").write_bytes(pickle.dumps(topology))
    (keep / "peers.json").write_text(json.dumps(raw), encoding="utf-8")


# ---- scoring ------------------------------------------------------------------------------------------
def f1(s: Score) -> float:
    p, r = s.precision, s.recall
    return 2 * p * r / (p + r) if p + r else 0.0


def _grid(start: float, end: float) -> list[float]:
    n = int((end - start) // STEP_S)
    return [start + STEP_S * (i + 1) for i in range(min(n, 100_000))]


def _first(samples: list[Sample]) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], list[float]]]:
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in samples:
        if s.kind != "agent":
            times[(s.agent, s.subject)].append(s.time)
    return {k: v[0] for k, v in times.items()}, dict(times)


def score_run(keep: Path, verbose: bool = True) -> dict[str, float]:
    """Score netprobe and the peers from a kept run; print the tables; return each tool's F1."""
    truth = json.loads((keep / "truth.json").read_text(encoding="utf-8"))
    topology: Topology = pickle.loads((keep / "topology.pickle").read_bytes())  # our own file, from `run`
    raw = json.loads((keep / "peers.json").read_text(encoding="utf-8")[:MAX_READ])
    run_end = float(truth["run_end"])
    verdicts, pings = read_store(keep / "netprobe")
    np_times = probe_times(pings)
    np_first = {k: v[0] for k, v in np_times.items() if v}
    results: dict[str, Score] = {}
    results["netprobe"] = score(topology, truth, samples_from_points(verdicts), np_first, run_end, np_times)
    subject_of: dict[str, str] = raw["subject_of"]
    peer_subjects = set(subject_of.values())
    same = [s for s in samples_from_points(verdicts) if s.subject in peer_subjects or s.kind == "agent"]
    same_first = {k: v for k, v in np_first.items() if k[1] in peer_subjects}
    results["netprobe (peers' subjects)"] = score(topology, truth, same, same_first, run_end, np_times)
    grid = _grid(float(raw["started"]), float(raw["end"]))
    peer_agent = {f"{src}:{PROMETHEUS_PORT}": agent for agent, _ns, src in raw["dcs"]}
    bb_flags: dict[tuple[str, str], dict[float, set[str]]] = {}
    sp_flags: dict[tuple[str, str], dict[float, set[str]]] = {}
    bb_loss: dict[str, Series] = {}
    sp_loss: dict[str, Series] = {}
    for agent, _ns, _src in raw["dcs"]:
        bb_flags |= prometheus_flags(agent, raw["prometheus"][agent]["alerts"], subject_of, peer_agent, grid)
        sp_flags |= smokeping_flags(agent, raw["smokeping"][agent]["alerts"], subject_of, grid)
        # every probed subject has a series, flagged or not (its OK samples count for the false-flag side)
        for subject in peer_subjects:
            bb_flags.setdefault((agent, subject), {})
            sp_flags.setdefault((agent, subject), {})
        for other, _n, _s in raw["dcs"]:
            if other != agent:
                bb_flags.setdefault((other, other), {})
    dc1 = raw["dcs"][0][0]
    p = raw["prometheus"][dc1]
    bb_loss = blackbox_series(p["success"], p["rtt"], subject_of)
    sp_loss = smokeping_series(raw["smokeping"][dc1]["rrd"], subject_of, 20)
    for name, flags in (("blackbox+prometheus", bb_flags), ("smokeping", sp_flags)):
        samples = flag_samples(topology, flags, grid)
        first, times = _first(samples)
        results[name] = score(topology, truth, samples, first, run_end, times)
    print(f"{'tool (same lab run, both DCs)':28} {'precision':>9} {'recall':>7} {'F1':>6} {'required':>9} "
          f"{'max delay (intervals)':>22} {'false flags':>11} {'flagged samples right/wrong':>28}")  # fmt: skip
    for name, s in results.items():
        print(f"{name:28} {s.precision:9.3f} {s.recall:7.3f} {f1(s):6.3f} {s.detected:>4}/{s.required:<4} "
              f"{s.max_detect_intervals:22.1f} {len(s.false_episodes):11d} "
              f"{s.tp_samples:>13}/{s.fp_samples:<14}")  # fmt: skip
    if verbose:
        for name, s in results.items():
            print(f"-- {name}")
            for title, rows in (("missed", s.missed), ("false flags", s.false_episodes),
                                ("wrong state", s.wrong_state)):  # fmt: skip
                if rows:
                    print(f"  {title} ({len(rows)}): " + "; ".join(rows[:12]) + (" …" if len(rows) > 12 else ""))
            for delay, label in sorted(s.delays, reverse=True)[:3]:
                print(f"  slowest: {delay:.1f} intervals, {label}")
    faulted = {ln for f in truth.get("faults", []) for ln in f.get("lines", [])}
    healthy = sorted(n.id for n in topology.nodes.values() if n.kind == "line" and n.id not in faulted)
    tools = {"netprobe": netprobe_series(pings, dc1), "smokeping": sp_loss, "blackbox": bb_loss}
    print(f"per-line loss % / median RTT ms from {dc1}, during each fault (healthy lines: whole run)")
    for row in loss_rtt_table(truth, tools, healthy):
        print(row)
    return {k: f1(v) for k, v in results.items()}
