"""From this moment's measurements to verdicts and a diagnosis: which part is at fault, why, what to do.

The reasoning is the one a network engineer does by hand, from the data centre outwards:

1. A vantage point (data centre) that reaches none of the commune's provider edges (PE) while another
   one does has its own problem: its uplink. Its results say nothing about the commune and are set aside.
2. A line: its CE (commune end) down or lossy while its PE answers cleanly → the line itself (the access
   circuit or the commune router at its end). PE down or lossy as well → the provider's network. A
   traceroute places the hop where replies stop or loss begins; loss that does not carry on to the last
   hop is a router rate-limiting its own ICMP answers, not loss of traffic, and is ignored.
3. A device behind a line that is up, which does not answer → the commune's LAN; a device behind a device
   that is down is UNREACHABLE (not blamed twice). SNMP adds interface state and errors.
4. A data-centre service that does not accept connections from any vantage point → the data centre.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from netprobe.check.model import (
    Finding,
    Hop,
    IfStats,
    Item,
    Msg,
    Part,
    PingStats,
    SnmpStats,
    State,
    TcpStats,
    Trace,
    WebStats,
    rank,
)
from netprobe.health.fresh import CHECK_WINDOW_S, Judged, judge_commune
from netprobe.health.observation import Observation, Source, from_measurement
from netprobe.health.reasons import Code, Reason, display_params, plural_suffix
from netprobe.health.service import CERT_WARN_DAYS, WEB_SLOW_MS, Fetch, judge_service
from netprobe.health.signals import snmp_stats as snmp_if_stats
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation, Verdict
from netprobe.inventory.loader import Inventory, ResolvedDevice, ResolvedLine
from netprobe.probes.base import Measurement, ProbeKind

LOCAL = ("error", "not_allowed")
IF_UP, IF_DOWN = 1, 2


# ---------------------------------------------------------------------------------------------------
# Measurements → per-item stats
# ---------------------------------------------------------------------------------------------------
def _f(fields: Mapping[str, object], name: str) -> float | None:
    v = fields.get(name)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def ping_stats(agent: str, m: Measurement) -> PingStats:
    f = m.fields
    sent = int(_f(f, "packets_transmitted") or 0)
    received = int(_f(f, "packets_received") or 0)
    return PingStats(
        agent=agent,
        address=m.target.address,
        status=m.status.value,
        sent=sent,
        received=received,
        loss_pct=_f(f, "percent_packet_loss") if sent else None,
        rtt_p50_ms=_f(f, "median_response_ms"),
        rtt_p95_ms=_f(f, "p95_response_ms"),
        jitter_ms=_f(f, "jitter_ms"),
        error=m.error,
    )


def snmp_stats(agent: str, m: Measurement) -> SnmpStats:
    interfaces = []
    for row in m.rows:
        fields = row.get("fields", row)
        tags = row.get("tags", {})
        name = str(tags.get("ifname") or row.get("ifname") or fields.get("ifname") or fields.get("if_index", "?"))
        errors = [_f(fields, k) for k in ("in_errors_per_s", "out_errors_per_s")]
        discards = [_f(fields, k) for k in ("in_discards_per_s", "out_discards_per_s")]
        oper, admin = _f(fields, "oper_status"), _f(fields, "admin_status")
        interfaces.append(
            IfStats(
                name=name,
                oper_status=int(oper) if oper is not None else None,
                admin_status=int(admin) if admin is not None else None,
                errors_per_s=sum(e for e in errors if e is not None) if any(e is not None for e in errors) else None,
                discards_per_s=(
                    sum(d for d in discards if d is not None) if any(d is not None for d in discards) else None
                ),
            )
        )
    uptime = _f(m.fields, "uptime_s")
    boot = m.time - uptime if uptime is not None else None
    return SnmpStats(agent, m.status.value, uptime, interfaces, m.error, boot)


def tcp_stats(agent: str, m: Measurement) -> TcpStats:
    return TcpStats(agent, m.target.port or 0, m.status.value, _f(m.fields, "connect_ms"), m.error)


def web_stats(agent: str, m: Measurement) -> WebStats:
    code = m.fields.get("http_status")
    return WebStats(
        agent,
        m.status.value,
        code if isinstance(code, int) else None,
        _f(m.fields, "total_ms"),
        _f(m.fields, "ttfb_ms"),
        _f(m.fields, "cert_days_left"),
        m.error,
    )


def judge_web(web: Sequence[WebStats]) -> tuple[State, list[Msg]]:
    """A web service from every vantage point: DOWN when no point gets a good page, DEGRADED when the
    certificate expires within CERT_WARN_DAYS or a page takes longer than WEB_SLOW_MS."""
    measured = [w for w in web if w.status not in LOCAL]
    if not measured:
        return State.UNKNOWN, []
    ok = [w for w in measured if w.status == "ok"]
    if not ok:
        return State.DOWN, [Msg("reason.web", status=measured[0].status, code=measured[0].http_status or "–")]
    reasons: list[Msg] = []
    days = [w.cert_days_left for w in measured if w.cert_days_left is not None]
    if days and min(days) < CERT_WARN_DAYS:
        reasons.append(Msg("reason.cert_expiring", days=f"{min(days):.0f}"))
    slow = [w for w in ok if w.total_ms is not None and w.total_ms > WEB_SLOW_MS]
    if slow:
        worst_ms = max(w.total_ms or 0.0 for w in slow)
        reasons.append(Msg("reason.web_slow", ms=f"{worst_ms:.0f}", agents=",".join(w.agent for w in slow)))
    return (State.DEGRADED if reasons else State.OK), reasons


# ---------------------------------------------------------------------------------------------------
# The diagnosis
# ---------------------------------------------------------------------------------------------------
@dataclass
class Observed:
    """Everything measured for one commune, per vantage point (agent name)."""

    measurements: Mapping[str, Sequence[Measurement]]
    traces: Sequence[Trace] = ()


def _by_key(observed: Observed) -> dict[str, list[tuple[str, Measurement]]]:
    out: dict[str, list[tuple[str, Measurement]]] = {}
    for agent, ms in observed.measurements.items():
        for m in ms:
            out.setdefault(m.target.key, []).append((agent, m))
    return out


def _line_label(r: ResolvedLine) -> str:
    extra = ", ".join(x for x in (r.line.provider, r.line.circuit_id) if x)
    return f"{r.line.id} ({extra})"


def broken_agents(evaluation: Evaluation) -> set[str]:
    """Vantage points the engine judged impaired (DOWN: its uplink) or cut off from communes another agent
    reaches (UNSTABLE: its route): their results say nothing about the commune."""
    return {a for a, v in evaluation.agents.items() if v.state in (State.DOWN, State.UNSTABLE)}


def reason_msgs(v: Verdict | None) -> list[Msg]:
    """The engine's reasons as check messages: `verdict.<code>` with the parameters as a catalogue shows
    them (vi/en in netprobe/i18n; the same words as status)."""
    if v is None:
        return [Msg("reason.not_measured")]
    return [reason_msg(r) for r in v.reasons]


def reason_msg(r: Reason) -> Msg:
    params: dict[str, object] = dict(display_params(r))
    # durations as numbers of minutes/seconds, so each language says its own unit
    if "window_s" in r.p:
        params["window_min"] = f"{float(r.p['window_s']) / 60:g}"
    if "seconds" in r.p:
        params["seconds"] = f"{max(0.0, float(r.p['seconds'])):g}"
    return Msg(f"verdict.{r.code.value}{plural_suffix(r)}", **params)


def judge(
    inv: Inventory,
    slug: str,
    observed: Observed,
    now: float | None = None,
    history: Sequence[Observation] = (),
    window_s: float = CHECK_WINDOW_S,
    impaired: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> Judged:
    """The one judge (netprobe.health): check's fresh measurements and the commune's stored history
    (`impaired`: the agents' stored impaired spans, health.fresh.impaired_spans_of)."""
    if now is None:
        now = max((m.time for ms in observed.measurements.values() for m in ms), default=0.0) + 1.0
    topology = Topology.from_inventory(inv)
    return judge_commune(topology, slug, observed.measurements, now, history, window_s, impaired)


def diagnose(
    inv: Inventory,
    slug: str,
    observed: Observed,
    judged: Judged | None = None,
) -> tuple[list[Item], list[Finding]]:
    """States, scores and reasons come from the health engine (`judged`, by default this burst alone);
    this adds which part is at fault, the evidence and the next step."""
    judged = judged if judged is not None else judge(inv, slug, observed)
    ev = judged.evaluation
    by_key = _by_key(observed)
    broken = broken_agents(ev)
    items: list[Item] = []
    findings: list[Finding] = []
    for agent in sorted(broken):
        findings.append(
            Finding(
                Part.DATACENTRE,
                ev.agents[agent].state,
                agent,
                Msg("finding.agent_isolated", agent=agent),
                [Msg("evidence.agent_isolated", agent=agent), *reason_msgs(ev.agents[agent])],
                Msg("next.datacentre_uplink", agent=agent),
                affects_commune=False,
            )
        )

    def usable(key: str) -> list[tuple[str, Measurement]]:
        return [(a, m) for a, m in by_key.get(key, []) if a not in broken]

    line_state: dict[str, State] = {}
    line_loss: dict[str, tuple[float, int] | None] = {}

    def line_end(r: ResolvedLine, role: str, kind: str, key: str, label: str, address: str) -> Item:
        """One end of a line (the CE router or the provider's PE), as the engine judged it."""
        item = Item(
            kind, key, label, provider=r.line.provider, circuit_id=r.line.circuit_id, site=r.site.id, address=address
        )
        item.ping = [ping_stats(a, m) for a, m in usable(f"ping/line/{r.id}/{role}")]
        v = ev.nodes.get(r.id if role == "ce" else key)
        item.state = v.state if v is not None else State.UNKNOWN
        item.score = v.score if v is not None else None
        item.judged_loss_pct = v.loss_pct if v is not None else None
        item.reasons = reason_msgs(v)
        items.append(item)
        return item

    for r in inv.lines_of(slug):
        ce = line_end(r, "ce", "line", r.id, _line_label(r), r.line.ce)
        pe = line_end(r, "pe", "pe", f"{r.id}/pe", f"{r.id} PE", r.line.pe) if r.line.pe is not None else None
        line_state[r.id] = ce.state
        best = ce.best_ping()
        line_loss[r.id] = (best.loss_pct or 0.0, best.sent) if best is not None and best.loss_pct is not None else None
        finding = _line_finding(r, ce, pe, [t for t in observed.traces if t.line == r.id and t.agent not in broken])
        if finding is not None:
            _flapping(finding, ev.nodes.get(r.id), judged.outages.get(r.id, ()), ev.time)
            port = _line_port_changes(r, observed, judged.history, ev.time)
            if port is not None:
                finding.evidence.append(port)
            findings.append(finding)

    _router_reboots(inv, slug, observed, judged, findings)
    _note_backups(inv, slug, line_state, findings)
    lines = inv.lines_of(slug)
    if len(lines) > 1 and all(line_state.get(r.id) is State.DOWN for r in lines):
        findings.insert(0, _isolated(inv, slug, findings))
    dev_items, dev_findings = _devices(inv, slug, usable, ev, line_loss, findings)
    items += dev_items
    findings += dev_findings
    svc_items, svc_findings = _services(inv, by_key)
    items += svc_items
    findings += svc_findings
    findings.sort(key=lambda f: rank(f.state), reverse=True)
    return items, findings


# ---------------------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------------------
def classify_hops(trace: Trace, r: ResolvedLine) -> None:
    """Tag each hop with the part of the path it belongs to: provider up to and including the PE, then line."""
    pe_ttl = next((h.ttl for h in trace.hops if r.line.pe is not None and h.address == r.line.pe), None)
    for h in trace.hops:
        if h.address == r.line.ce or (pe_ttl is not None and h.ttl > pe_ttl):
            h.part = Part.LINE
        else:
            h.part = Part.PROVIDER


def loss_origin(trace: Trace, threshold_pct: float) -> Hop | None:
    """The first hop from which loss ≥ threshold carries on to every later answering hop (the mtr rule)."""
    answering = [h for h in trace.hops if h.address is not None]
    for i, h in enumerate(answering):
        if h.loss_pct >= threshold_pct and all(x.loss_pct >= threshold_pct for x in answering[i:]):
            return h
    return None


def last_answering(trace: Trace) -> Hop | None:
    answering = [h for h in trace.hops if h.address is not None and h.received > 0]
    return answering[-1] if answering else None


def _line_finding(r: ResolvedLine, ce: Item, pe: Item | None, traces: list[Trace]) -> Finding | None:
    if ce.state in (State.OK, State.UNKNOWN):
        return None
    for t in traces:
        classify_hops(t, r)
    provider, circuit, hotline = r.line.provider, r.line.circuit_id or "?", r.hotline or "?"
    best = ce.best_ping()
    # the loss that made the state (the engine's, over its window), not the best fresh burst, which may
    # have been lucky: "loses 0%" beside "call the provider about the loss" contradicts itself
    loss = ce.judged_loss_pct if ce.judged_loss_pct is not None else (best.loss_pct if best is not None else None)
    pe_bad = pe is not None and pe.state not in (State.OK, State.UNKNOWN)
    pe_ok = pe is not None and pe.state is State.OK
    evidence: list[Msg] = []
    for p in ce.ping:
        evidence.append(_ping_evidence("evidence.ce", r.id, p))
    if pe is not None:
        evidence += [_ping_evidence("evidence.pe", r.id, p) for p in pe.ping]
    part = Part.PROVIDER if pe_bad else Part.LINE
    hop: Hop | None = None
    if ce.state is State.DOWN:
        trace = traces[0] if traces else None
        hop = last_answering(trace) if trace else None
        if hop is not None:
            evidence.append(
                Msg(
                    "evidence.trace_stops",
                    ttl=hop.ttl,
                    address=hop.address or "?",
                    part=f"part.{hop.part.value if hop.part else 'provider'}",
                )
            )
        elif trace is not None:
            evidence.append(Msg("evidence.trace_nothing"))
        if pe_ok:
            msg = Msg("finding.line_down", line=r.id, provider=provider, circuit=circuit)
            step = Msg(
                "next.line_down", site=r.site.name or r.site.id, provider=provider, hotline=hotline, circuit=circuit
            )
        else:
            msg = Msg("finding.provider_down", line=r.id, provider=provider, circuit=circuit)
            step = Msg(
                "next.call_provider_down",
                provider=provider,
                hotline=hotline,
                circuit=circuit,
                ttl=hop.ttl + 1 if hop else 1,
            )
        return Finding(
            part,
            State.DOWN,
            r.id,
            msg,
            evidence,
            step,
            provider,
            r.line.circuit_id,
            r.hotline,
            hop.ttl + 1 if hop else None,
            100.0,
        )
    # degraded or unstable: loss, delay or jitter
    threshold = r.thresholds.loss_pct.degraded or 2.0
    origin = None
    for t in traces:
        origin = loss_origin(t, threshold)
        if origin is not None:
            break
    if origin is not None:
        part = origin.part or part
        evidence.append(
            Msg(
                "evidence.trace_loss",
                ttl=origin.ttl,
                address=origin.address or "?",
                loss=round(origin.loss_pct),
                part=f"part.{part.value}",
            )
        )
    lossy = any(m.key == "verdict.loss" for m in ce.reasons)
    if lossy:
        msg = Msg("finding.line_loss", line=r.id, loss=round(loss or 0), part=f"part.{part.value}")
        if origin is not None:
            step = Msg(
                "next.call_provider_loss_hop",
                provider=provider,
                hotline=hotline,
                circuit=circuit,
                loss=round(loss or 0),
                ttl=origin.ttl,
                part=f"part.{part.value}",
            )
        else:
            step = Msg(
                "next.call_provider_loss", provider=provider, hotline=hotline, circuit=circuit, loss=round(loss or 0)
            )
    else:
        msg = Msg(
            "finding.line_slow",
            line=r.id,
            rtt=round(best.rtt_p50_ms or 0) if best else 0,
            jitter=round(best.jitter_ms or 0) if best else 0,
        )
        step = Msg("next.call_provider_slow", provider=provider, hotline=hotline, circuit=circuit)
    return Finding(
        part,
        ce.state,
        r.id,
        msg,
        evidence,
        step,
        provider,
        r.line.circuit_id,
        r.hotline,
        origin.ttl if origin else None,
        loss,
    )


def _flapping(finding: Finding, v: Verdict | None, outages: Sequence[tuple[float, float]], now: float) -> None:
    """A line the engine flags for its outages in the long window (stored history, or the router port's
    ifLastChange) is flapping, whatever check's own burst caught: say so, with how often and over how long."""
    if v is None or finding.state is State.DOWN:
        return
    flaps = next((r for r in v.reasons if r.code in (Code.FLAPS, Code.IF_FLAPS)), None)
    if flaps is None:
        return
    times = int(flaps.p.get("flaps", flaps.p.get("changes", len(outages))))
    first = min((start for start, _ in outages), default=now - float(flaps.p.get("window_s", 3600.0)))
    minutes = max(1, math.ceil((now - first) / 60.0))
    once = times == 1  # one outage that is over: not flapping, but worth telling (status flags it too)
    key = "line_went_down" if once else "line_flapping"
    finding.message = Msg(f"finding.{key}", line=finding.subject, times=times, minutes=minutes)
    finding.evidence.insert(0, reason_msg(flaps))
    finding.next_step = Msg(
        "next.call_provider_went_down" if once else "next.call_provider_flapping",
        provider=finding.provider or "?",
        hotline=finding.hotline or "?",
        circuit=finding.circuit_id or "?",
        times=times,
        minutes=minutes,
    )


def _router_reboots(inv: Inventory, slug: str, observed: Observed, judged: Judged, findings: list[Finding]) -> None:
    """The engine attributes a line's outages to its commune router rebooting (a power cut at the commune
    office; health.engine.reboot_outages): the router's, not the provider's to fix — never "call VNPT"."""
    ev = judged.evaluation
    for r in inv.lines_of(slug):
        recent = ev.time - r.thresholds.long_window_s
        spans = [(a, b, dev) for a, b, dev in judged.reboots.get(r.id, ()) if b >= recent]
        router = inv.devices.get(spans[-1][2]) if spans else None
        if router is None:
            continue
        line_finding = next((f for f in findings if f.subject == r.id), None)
        if line_finding is not None and line_finding.state is State.DOWN:
            continue  # down now: a reboot that ended earlier does not explain it
        outages = judged.outages.get(r.id, ())
        if line_finding is not None and not all(any(a <= o[0] <= b for a, b, _ in spans) for o in outages):
            continue  # an outage the reboot does not explain: the line's (or the provider's) after all
        dv = ev.nodes.get(router.id)
        state = line_finding.state if line_finding is not None else dv.state if dv is not None else State.OK
        if state not in (State.DEGRADED, State.UNSTABLE):
            continue
        boot = spans[-1][1] - 2 * max(r.probes.ping.interval_s, 30.0)  # the span ends two intervals after it
        finding = Finding(
            Part.LAN,
            state,
            router.id,
            Msg("finding.router_rebooted", line=r.id, device=router.id, boot=_clock(boot)),
            [
                Msg("evidence.router_boot", device=router.id, boot=_clock(boot), outages=len(outages)),
                *(reason_msgs(dv) if dv is not None else []),
                *(line_finding.evidence if line_finding is not None else []),
            ],
            Msg("next.router_power", device=router.id, site=router.site.name or router.site.id),
        )
        if line_finding is not None:
            findings[findings.index(line_finding)] = finding
        else:
            findings.append(finding)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _line_port_changes(r: ResolvedLine, observed: Observed, history: Sequence[Observation], now: float) -> Msg | None:
    """The router port where the line lands (ifOperStatus, ifLastChange; stored polls and check's own):
    how often it went down, or moved its last change, in the long window — the line's flaps as the router saw
    them, even between probes."""
    port = r.line.router_port
    if port is None:
        return None
    obs = [o for o in history if o.source is Source.SNMP_IF and o.subject == port.device and o.ifname == port.interface]
    for agent, ms in observed.measurements.items():
        for m in ms:
            if m.target.key == f"snmp/device/{port.device}":
                obs += [o for o in from_measurement(m, agent) if o.ifname == port.interface]
    obs.sort(key=lambda o: (o.time, o.agent))
    if not obs:
        return None
    interval_s = r.probes.snmp.interval_s or 60.0
    stats = snmp_if_stats([], {port.interface: obs}, now, r.thresholds, interval_s)
    changes = stats.if_flaps[1] if stats.if_flaps else 0
    last = next((o for o in reversed(obs) if o.last_change_s is not None), None)
    # ifLastChange is "seconds before that poll": now, it is that much plus the poll's age
    ago = (
        last.last_change_s + max(0.0, now - last.time) if last is not None and last.last_change_s is not None else None
    )
    if not changes and (ago is None or ago > r.thresholds.long_window_s):
        return None
    if ago is not None and ago <= r.thresholds.long_window_s:
        changes = max(changes, 1)  # the last change itself lies in the window, seen or not between polls
    key = "evidence.line_port_changes"
    polled_ago = now - obs[-1].time
    if polled_ago > 2 * interval_s:  # the router has not answered SNMP since: say how old this is
        key = "evidence.line_port_changes_stale"
    return Msg(
        key,
        device=port.device,
        ifname=port.interface,
        changes=changes,
        minutes=round(r.thresholds.long_window_s / 60),
        ago=round(ago) if ago is not None else "?",
        polled=round(polled_ago),
    )


def _isolated(inv: Inventory, slug: str, findings: list[Finding]) -> Finding:
    """Every line of the commune is down: one headline before the per-line findings, which say whom to call."""
    commune = inv.commune_by_slug(slug)
    line_findings = [f for f in findings if f.state is State.DOWN]
    part = Part.PROVIDER if line_findings and all(f.part is Part.PROVIDER for f in line_findings) else Part.LINE
    calls = "; ".join(f"{f.provider} {f.hotline or '?'} ({f.circuit_id or '?'})" for f in line_findings)
    return Finding(
        part,
        State.DOWN,
        slug,
        Msg("finding.isolated", commune=commune.name, lines=len(inv.lines_of(slug))),
        [Msg("evidence.isolated", lines=", ".join(r.id for r in inv.lines_of(slug)))],
        Msg("next.isolated", calls=calls or "?"),
    )


def _note_backups(inv: Inventory, slug: str, line_state: Mapping[str, State], findings: list[Finding]) -> None:
    """A dead line while another line of the commune still carries traffic: say so (the office still works)."""
    alive = [r for r in inv.lines_of(slug) if line_state.get(r.id) in (State.OK, State.DEGRADED, State.UNSTABLE)]
    for f in findings:
        if f.state is State.DOWN and f.subject in line_state and alive:
            other = alive[0]
            f.evidence.append(Msg("evidence.backup_ok", line=other.id, provider=other.line.provider))


def _ping_evidence(key: str, line: str, p: PingStats) -> Msg:
    return Msg(
        key,
        line=line,
        agent=p.agent,
        address=p.address,
        sent=p.sent,
        received=p.received,
        loss=round(p.loss_pct) if p.loss_pct is not None else "?",
    )


# ---------------------------------------------------------------------------------------------------
# Devices (the commune's LAN)
# ---------------------------------------------------------------------------------------------------
def _devices(
    inv: Inventory,
    slug: str,
    get: Callable[[str], list[tuple[str, Measurement]]],
    ev: Evaluation,
    line_loss: Mapping[str, tuple[float, int] | None],
    line_findings: list[Finding],
) -> tuple[list[Item], list[Finding]]:
    """`line_findings`: the lines' (a router's line ports add their evidence there)."""
    devices = inv.devices_of(slug)
    loss: dict[str, tuple[float, int] | None] = dict(line_loss)
    items: list[Item] = []
    findings: list[Finding] = []
    for d in _parents_first(devices):
        item = Item(
            "device", d.id, d.device.name or d.id, d.device.kind.value, site=d.site.id, address=d.device.address
        )
        item.ping = [ping_stats(a, m) for a, m in get(f"ping/device/{d.id}")]
        item.snmp = [snmp_stats(a, m) for a, m in get(f"snmp/device/{d.id}")]
        for port in d.device.tcp_ports:
            item.tcp += [tcp_stats(a, m) for a, m in get(f"tcp/device/{d.id}/{port}")]
        v = ev.nodes.get(d.id)
        item.state = v.state if v is not None else State.UNKNOWN
        item.score = v.score if v is not None else None
        item.judged_loss_pct = v.loss_pct if v is not None else None
        item.reasons = reasons = reason_msgs(v)
        parent_loss = loss.get(d.device.parent or "")
        best = item.best_ping()
        loss[d.id] = (best.loss_pct or 0.0, best.sent) if best is not None and best.loss_pct is not None else None
        inherited = False
        if item.state in (State.DEGRADED, State.UNSTABLE) and loss[d.id] is not None and parent_loss is not None:
            # which part is at fault (not the state): loss behind a lossy line is the line's
            inherited = not significantly_more(loss[d.id], parent_loss, d.thresholds.loss_pct.degraded or 2.0)
            if inherited:
                item.reasons = [*reasons, Msg("reason.inherited", parent=d.device.parent or "?")]
        # ports where lines land: their state is the line's evidence, not the router's fault
        line_ports = {
            r.line.router_port.interface: r.id
            for r in inv.lines_of(slug)
            if r.line.router_port is not None and r.line.router_port.device == d.id
        }
        _line_port_evidence(d, item, line_ports, line_findings)
        best_now = item.best_ping()
        dead_line = next((r.id for r in inv.lines_of(slug) if r.line.ce == d.device.address), None)
        if item.state is State.OK and best_now is not None and best_now.received == 0 and dead_line is not None:
            # its inventory address is the CE of a line that is down, and the gear behind it answers: it
            # routes over another line. Say so, or "OK" beside "no answer" reads as a contradiction
            item.reasons = [*item.reasons, Msg("reason.answers_behind", address=d.device.address, line=dead_line)]
        snmp_finding = _snmp_findings(d, item, set(line_ports))
        if item.state in (State.DEGRADED, State.UNSTABLE) and snmp_finding is not None:
            snmp_finding.state = item.state  # the engine's state; the finding says where and what to do
            findings.append(snmp_finding)
        if item.state is State.DOWN:
            findings.append(
                Finding(
                    Part.LAN,
                    State.DOWN,
                    d.id,
                    Msg("finding.device_down", device=d.id, kind=f"kind.{d.device.kind.value}"),
                    [_ping_evidence("evidence.device", d.id, p) for p in item.ping],
                    Msg(
                        "next.device_down",
                        device=d.id,
                        kind=f"kind.{d.device.kind.value}",
                        site=d.site.name or d.site.id,
                        parent=d.device.parent or "?",
                    ),
                )
            )
        elif (
            item.state in (State.DEGRADED, State.UNSTABLE)
            and not inherited
            and any(m.key == "verdict.loss" for m in reasons)
        ):
            p = item.best_ping()
            judged = item.judged_loss_pct if item.judged_loss_pct is not None else (p.loss_pct if p else None)
            findings.append(
                Finding(
                    Part.LAN,
                    item.state,
                    d.id,
                    Msg("finding.device_loss", device=d.id, loss=round(judged or 0)),
                    [_ping_evidence("evidence.device", d.id, x) for x in item.ping],
                    Msg("next.device_loss", device=d.id, site=d.site.name or d.site.id),
                )
            )
        items.append(item)
    return items, findings


def significantly_more(child: tuple[float, int] | None, parent: tuple[float, int], margin_pct: float) -> bool:
    """Is the child's loss more than its parent's by `margin_pct` and by 3 standard errors of the difference?

    Loss behind a lossy line is the line's loss: a device is only blamed for loss it adds itself.
    """
    if child is None:
        return False
    (c, nc), (p, np_) = child, parent
    if nc <= 0 or np_ <= 0:
        return c - p >= margin_pct
    pooled = (c * nc + p * np_) / (nc + np_) / 100.0
    se = 100.0 * math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / np_))
    return c - p >= max(margin_pct, 3 * se)


def _answered(item: Item) -> SnmpStats | None:
    return next((s for s in item.snmp if s.status == "ok"), None)


def _is_down(i: IfStats) -> bool:
    return i.oper_status == IF_DOWN and i.admin_status in (None, IF_UP)


def _line_port_evidence(d: ResolvedDevice, item: Item, line_ports: dict[str, str], findings: list[Finding]) -> None:
    """A router port where a line lands has no link: evidence on that line's finding (the cable to the
    provider's modem, or the line itself), not a LAN fault of the router."""
    snap = _answered(item)
    if snap is None or not line_ports:
        return
    for i in snap.interfaces:
        line = line_ports.get(i.name)
        if line is not None and _is_down(i):
            for f in findings:
                if f.subject == line:
                    f.evidence.append(Msg("evidence.line_port_down", device=d.id, ifname=i.name, line=line))


def _snmp_findings(d: ResolvedDevice, item: Item, line_ports: Collection[str] = ()) -> Finding | None:
    if not item.snmp:
        return None
    answered = [s for s in item.snmp if s.status == "ok"]
    if not answered:
        s = item.snmp[0]
        if s.status in LOCAL:
            return None
        if item.state in (State.OK, State.DEGRADED):  # answers ping (the engine may flag the silent agent)
            key = "finding.snmp_auth" if s.status == "auth" else "finding.snmp_silent"
            return Finding(
                Part.LAN,
                State.DEGRADED,
                d.id,
                Msg(key, device=d.id),
                [Msg("evidence.snmp_status", device=d.id, status=s.status, error=s.error or "")],
                Msg("next.snmp_check", device=d.id),
            )
        return None
    snap = answered[0]
    own = [i for i in snap.interfaces if i.name not in line_ports]
    down = [i for i in own if _is_down(i)]
    errors = [i for i in own if (i.errors_per_s or 0) > 0]
    if down:
        names = ", ".join(i.name for i in down)
        return Finding(
            Part.LAN,
            State.DEGRADED,
            d.id,
            Msg("finding.if_down", device=d.id, ifname=names),
            [Msg("evidence.if_down", device=d.id, ifname=names)],
            Msg("next.if_down", device=d.id, ifname=names, site=d.site.name or d.site.id),
        )
    if errors:
        worst_if = max(errors, key=lambda i: i.errors_per_s or 0)
        return Finding(
            Part.LAN,
            State.DEGRADED,
            d.id,
            Msg("finding.if_errors", device=d.id, ifname=worst_if.name, rate=round(worst_if.errors_per_s or 0, 1)),
            [Msg("evidence.if_errors", device=d.id, ifname=worst_if.name, rate=round(worst_if.errors_per_s or 0, 1))],
            Msg("next.if_errors", device=d.id, ifname=worst_if.name),
        )
    return None


def _parents_first(devices: list[ResolvedDevice]) -> list[ResolvedDevice]:
    ids = {d.id for d in devices}
    done: set[str] = set()
    out: list[ResolvedDevice] = []
    pending = list(devices)
    for _ in range(len(devices) + 1):  # bounded: the loader already refused cycles
        rest = []
        for d in pending:
            parent = d.device.parent
            if parent is None or parent not in ids or parent in done:
                out.append(d)
                done.add(d.id)
            else:
                rest.append(d)
        pending = rest
        if not pending:
            break
    return out + pending


# ---------------------------------------------------------------------------------------------------
# Data-centre services
# ---------------------------------------------------------------------------------------------------
def _services(inv: Inventory, by_key: Mapping[str, list[tuple[str, Measurement]]]) -> tuple[list[Item], list[Finding]]:
    items: list[Item] = []
    findings: list[Finding] = []
    for s in inv.services:
        results = by_key.get(f"tcp/service/{s.id}", [])
        web = by_key.get(f"http/service/{s.id}", [])
        if not results and not web:
            continue
        item = Item("service", s.id, s.name, address=s.url or f"{s.address}:{s.port}")
        item.tcp = [tcp_stats(a, m) for a, m in results if m.target.kind is ProbeKind.TCP]
        item.web = [web_stats(a, m) for a, m in web]
        measured = [t for t in item.tcp if t.status not in LOCAL]
        web_state, web_reasons = judge_web(item.web)
        # the state is health.service's, the one status applies to stored probes; check words its reasons
        fetches = [Fetch(a, str(m.target.kind), m.time, m.status.value, _f(m.fields, "total_ms"),
                         _f(m.fields, "cert_days_left")) for a, m in [*results, *web]]  # fmt: skip
        state, _ = judge_service(fetches)
        if web_state is not State.UNKNOWN:  # the page is what people use: its verdict wins over the port's
            item.state, item.reasons = state, web_reasons
            if state is State.DOWN:
                findings.append(
                    Finding(
                        Part.DATACENTRE,
                        State.DOWN,
                        s.id,
                        Msg("finding.service_down", service=s.name),
                        [Msg("evidence.web", agent=w.agent, url=s.url or "", status=w.status) for w in item.web],
                        Msg("next.service_down", service=s.name),
                    )
                )
        elif state is not State.DOWN:
            item.state = state
        else:
            item.state = State.DOWN
            item.reasons = [Msg("reason.tcp", status=measured[0].status)]
            findings.append(
                Finding(
                    Part.DATACENTRE,
                    State.DOWN,
                    s.id,
                    Msg("finding.service_down", service=s.name),
                    [
                        Msg("evidence.tcp", agent=t.agent, address=s.address, port=s.port, status=t.status)
                        for t in measured
                    ],
                    Msg("next.service_down", service=s.name),
                )
            )
        items.append(item)
    return items, findings
