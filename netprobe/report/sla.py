"""SLA arithmetic: availability, outages, loss, RTT and unstable hours per line and per provider.

Definitions (docs/check.md, "SLA report", says the same in words a contract manager can check):

- A *burst* is one stored `ping` point to a line's CE (the commune end): up when at least one reply came
  back, down when none did. A burst whose status says the agent itself failed (`error`, `not_allowed`)
  is no measurement of the line: it counts as no data.
- Each burst's state holds from its time until the same agent's next burst, at most `hold_factor` × that
  agent's usual interval. So reachability is known at every probe (every 30 s by default, i.e. at least
  once a minute) and a silent agent turns into *no data*, never into "up".
- With several vantage points (the two data centres), the line is up when any of them reaches it, down
  when those that measure all fail: a data-centre uplink failure seen by one side is not the line's fault.
- Availability = up time / (up + down) time inside the period; time without data is excluded from both
  and reported as coverage, so monitoring gaps neither inflate nor deflate the provider's figure.
- An outage is a maximal stretch of down time: it starts at the first failed burst and ends at the first
  burst that gets a reply again, so its start, end and length are exact to one probe interval. Outages
  are clipped to the period and flagged when they began before it or were still going at its end.
- Mean loss is over the bursts that were up (outages are counted as down time, not as 100 % loss);
  p95 RTT is the 95th percentile of the bursts' median RTTs.
- An hour (province time) is unstable when the line was down at any moment in it or its mean loss
  reached the line's `loss_pct.degraded` threshold.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from netprobe.health.observation import from_points
from netprobe.health.signals import reboot_times
from netprobe.inventory.loader import Inventory
from netprobe.storage.point import Point, PointSource

LOCAL_STATUSES = frozenset({"error", "not_allowed"})  # the agent failed, not the line
NS = 1_000_000_000
LineState = Literal["up", "down", "nodata"]


@dataclass(frozen=True, slots=True)
class Burst:
    time_s: float
    agent: str
    up: bool
    loss_pct: float
    rtt_ms: float | None  # median RTT of the burst


@dataclass(frozen=True, slots=True)
class Segment:
    start_s: float
    end_s: float
    state: LineState

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Outage:
    start_s: float
    end_s: float
    began_before: bool = False  # already down when the period began
    ongoing: bool = False  # still down when the period (or the data) ended

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class LineSla:
    line: str
    provider: str
    commune: str = ""
    commune_name: str = ""
    circuit_id: str = ""
    period_s: float = 0.0
    up_s: float = 0.0
    down_s: float = 0.0
    outages: list[Outage] = field(default_factory=list)
    mean_loss_pct: float | None = None
    p95_rtt_ms: float | None = None
    unstable_hours: int = 0
    bursts: int = 0
    daily: list[tuple[float, float]] = field(default_factory=list)  # per day of the period: (up_s, down_s)
    rtts: list[float] = field(default_factory=list, repr=False)  # medians, kept to aggregate per provider
    losses: list[float] = field(default_factory=list, repr=False)
    # outages the commune router's own boot ended (power at the commune office): not the provider's; they
    # count neither as up nor as down in the availability, and are listed apart
    local_outages: list[Outage] = field(default_factory=list)
    local_down_s: float = 0.0

    @property
    def measured_s(self) -> float:
        return self.up_s + self.down_s

    @property
    def availability_pct(self) -> float | None:
        return 100.0 * self.up_s / self.measured_s if self.measured_s > 0 else None

    @property
    def coverage_pct(self) -> float:
        return 100.0 * (self.measured_s + self.local_down_s) / self.period_s if self.period_s > 0 else 0.0


@dataclass
class ProviderSla:
    provider: str
    lines: list[LineSla]

    @property
    def up_s(self) -> float:
        return sum(x.up_s for x in self.lines)

    @property
    def down_s(self) -> float:
        return sum(x.down_s for x in self.lines)

    @property
    def availability_pct(self) -> float | None:
        measured = self.up_s + self.down_s
        return 100.0 * self.up_s / measured if measured > 0 else None

    @property
    def coverage_pct(self) -> float:
        period = sum(x.period_s for x in self.lines)
        measured = self.up_s + self.down_s + sum(x.local_down_s for x in self.lines)
        return 100.0 * measured / period if period > 0 else 0.0

    @property
    def outages(self) -> int:
        return sum(len(x.outages) for x in self.lines)

    @property
    def mean_loss_pct(self) -> float | None:
        losses = [v for x in self.lines for v in x.losses]
        return statistics.fmean(losses) if losses else None

    @property
    def p95_rtt_ms(self) -> float | None:
        return percentile([v for x in self.lines for v in x.rtts], 95)

    @property
    def unstable_hours(self) -> int:
        return sum(x.unstable_hours for x in self.lines)

    def daily_availability(self) -> list[float | None]:
        """Per day of the period, the provider's availability over all its lines (None: no data)."""
        days = max((len(x.daily) for x in self.lines), default=0)
        out: list[float | None] = []
        for d in range(days):
            up = sum(x.daily[d][0] for x in self.lines if d < len(x.daily))
            down = sum(x.daily[d][1] for x in self.lines if d < len(x.daily))
            out.append(100.0 * up / (up + down) if up + down > 0 else None)
        return out


@dataclass
class SlaReport:
    start_s: float
    end_s: float  # the period actually covered (a running month ends now)
    month: str  # YYYY-MM
    tz: tzinfo
    lines: list[LineSla]
    providers: list[ProviderSla]
    province: str = ""


# ---------------------------------------------------------------------------------------------------
# Pure arithmetic (unit tested on constructed series)
# ---------------------------------------------------------------------------------------------------
def percentile(values: Iterable[float], q: float) -> float | None:
    """q-th percentile with linear interpolation between closest ranks (numpy's default); None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def burst_from_point(p: Point) -> Burst | None:
    """A stored ping point as a burst; None when it says nothing about the line."""
    status = str(p.fields.get("status", "ok"))
    if status in LOCAL_STATUSES:
        return None
    sent = _num(p.fields.get("packets_transmitted"))
    received = _num(p.fields.get("packets_received"))
    if sent is None or sent <= 0 or received is None:
        return None
    loss = _num(p.fields.get("percent_packet_loss"))
    rtt = _num(p.fields.get("median_response_ms"))
    if rtt is None:
        rtt = _num(p.fields.get("average_response_ms"))
    return Burst(
        time_s=p.time_ns / NS,
        agent=p.tags.get("agent", ""),
        up=received > 0,
        loss_pct=loss if loss is not None else 100.0 * (sent - received) / sent,
        rtt_ms=rtt if received > 0 else None,
    )


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def typical_interval(times: list[float]) -> float | None:
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(gaps) if gaps else None


def timeline(bursts: Iterable[Burst], hold_factor: float = 2.5, default_interval_s: float = 30.0) -> list[Segment]:
    """The line's state over time, merged over agents: up if any agent reaches it, down if all that measure fail.

    Returns contiguous segments (adjacent ones may share a state); time not covered is absent.
    """
    by_agent: dict[str, list[Burst]] = defaultdict(list)
    for b in bursts:
        by_agent[b.agent].append(b)
    # Each agent's own piecewise state: (start, end, up)
    pieces: list[tuple[float, float, bool]] = []
    for series in by_agent.values():
        series.sort(key=lambda b: b.time_s)
        interval = typical_interval([b.time_s for b in series]) or default_interval_s
        hold = hold_factor * interval
        for i, b in enumerate(series):
            nxt = series[i + 1].time_s if i + 1 < len(series) else math.inf
            end = min(nxt, b.time_s + hold)
            if end > b.time_s:
                pieces.append((b.time_s, end, b.up))
    if not pieces:
        return []
    # Sweep: count, at every elementary interval, how many agents hold "up" and how many hold anything.
    events: list[tuple[float, int, int]] = []  # (time, d_any, d_up)
    for start, end, up in pieces:
        events.append((start, 1, 1 if up else 0))
        events.append((end, -1, -1 if up else 0))
    events.sort(key=lambda e: e[0])
    out: list[Segment] = []
    n_any = n_up = 0
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:
            n_any += events[i][1]
            n_up += events[i][2]
            i += 1
        if i >= len(events):
            break
        nxt = events[i][0]
        if n_any > 0 and nxt > t:
            state: LineState = "up" if n_up > 0 else "down"
            if out and out[-1].state == state and out[-1].end_s == t:
                out[-1] = Segment(out[-1].start_s, nxt, state)
            else:
                out.append(Segment(t, nxt, state))
    return out


def clip(segments: Iterable[Segment], start_s: float, end_s: float) -> list[Segment]:
    out = []
    for s in segments:
        a, b = max(s.start_s, start_s), min(s.end_s, end_s)
        if b > a:
            out.append(Segment(a, b, s.state))
    return out


def outages(segments: list[Segment], start_s: float, end_s: float) -> list[Outage]:
    """Maximal down stretches clipped to [start_s, end_s), flagged at the period's edges.

    `segments` should extend beyond the period when the data does, so an outage that began before the
    period (or continued after it) is recognised as such.
    """
    out: list[Outage] = []
    run_start: float | None = None
    run_end = 0.0
    for s in segments:
        if s.state == "down":
            if run_start is not None and s.start_s == run_end:
                run_end = s.end_s
                continue
            if run_start is not None:
                out.extend(_clipped_outage(run_start, run_end, start_s, end_s, False))
            run_start, run_end = s.start_s, s.end_s
        elif run_start is not None:
            out.extend(_clipped_outage(run_start, run_end, start_s, end_s, False))
            run_start = None
    if run_start is not None:
        # the data ends while the line is down: without a later reply we cannot say it came back
        out.extend(_clipped_outage(run_start, run_end, start_s, end_s, True))
    return out


def _clipped_outage(a: float, b: float, start_s: float, end_s: float, data_ended: bool) -> list[Outage]:
    ca, cb = max(a, start_s), min(b, end_s)
    if cb <= ca:
        return []
    return [Outage(ca, cb, began_before=a < start_s, ongoing=b > end_s or (data_ended and cb == b))]


def time_in(segments: Iterable[Segment], state: LineState, start_s: float, end_s: float) -> float:
    return sum(s.duration_s for s in clip(segments, start_s, end_s) if s.state == state)


def unstable_hours(
    segments: list[Segment], bursts: list[Burst], hours: list[tuple[float, float]], degraded_loss_pct: float
) -> int:
    """Hours in which the line was down at any moment, or its mean loss reached `degraded_loss_pct`.

    One pass over sorted data (a month of 30-s bursts from two agents is ~170,000 per line).
    """
    downs = sorted((s.start_s, s.end_s) for s in segments if s.state == "down")
    up = sorted((b.time_s, b.loss_pct) for b in bursts if b.up)
    up_times = [t for t, _ in up]
    prefix = [0.0]
    for _, loss in up:
        prefix.append(prefix[-1] + loss)
    count = 0
    d = 0
    for a, b in hours:
        while d < len(downs) and downs[d][1] <= a:
            d += 1
        if d < len(downs) and downs[d][0] < b:
            count += 1
            continue
        lo, hi = bisect.bisect_left(up_times, a), bisect.bisect_left(up_times, b)
        if hi > lo and (prefix[hi] - prefix[lo]) / (hi - lo) >= degraded_loss_pct:
            count += 1
    return count


def line_sla(
    line: str,
    provider: str,
    bursts: list[Burst],
    start_s: float,
    end_s: float,
    hours: list[tuple[float, float]],
    days: list[tuple[float, float]],
    degraded_loss_pct: float = 2.0,
    hold_factor: float = 2.5,
) -> LineSla:
    segments = timeline(bursts, hold_factor)
    inside = [b for b in bursts if start_s <= b.time_s < end_s]
    up_inside = [b for b in inside if b.up]
    losses = [b.loss_pct for b in up_inside]
    rtts = [b.rtt_ms for b in up_inside if b.rtt_ms is not None]
    return LineSla(
        line=line,
        provider=provider,
        period_s=end_s - start_s,
        up_s=time_in(segments, "up", start_s, end_s),
        down_s=time_in(segments, "down", start_s, end_s),
        outages=outages(segments, start_s, end_s),
        mean_loss_pct=statistics.fmean(losses) if losses else None,
        p95_rtt_ms=percentile(rtts, 95),
        unstable_hours=unstable_hours(segments, inside, hours, degraded_loss_pct),
        bursts=len(inside),
        daily=[(time_in(segments, "up", a, b), time_in(segments, "down", a, b)) for a, b in days],
        rtts=rtts,
        losses=losses,
    )


REBOOT_SLACK_S = 60.0  # the router's boot and the end of the outage it caused (probe phases, boot time)


def boots_from_points(points: Iterable[Point], interval_s: float = 60.0) -> list[float]:
    """When the device rebooted while netprobe watched it (its sysUpTime went back against an earlier poll:
    the verdicts' own rule, health.signals.reboot_times), from its stored snmp_sys polls."""
    polls = sorted(from_points(points), key=lambda o: (o.time, o.agent))
    return reboot_times(polls, interval_s)


def set_apart_router_reboots(
    sla: LineSla, boots: Sequence[float], days: Sequence[tuple[float, float]], slack_s: float = REBOOT_SLACK_S
) -> None:
    """Move the outages the commune router's boot ended (a power cut at the commune office: the router was
    off, not the line) out of the provider's downtime, into `local_outages`. An outage still going on, or
    one no boot falls in, stays the provider's."""
    keep: list[Outage] = []
    for o in sla.outages:
        if not o.ongoing and any(o.start_s - slack_s <= b <= o.end_s + slack_s for b in boots):
            sla.local_outages.append(o)
            sla.local_down_s += o.duration_s
            sla.down_s -= o.duration_s
            for i, (a, b) in enumerate(days[: len(sla.daily)]):
                overlap = max(0.0, min(b, o.end_s) - max(a, o.start_s))
                up, down = sla.daily[i]
                sla.daily[i] = (up, max(0.0, down - overlap))
        else:
            keep.append(o)
    sla.outages = keep


# ---------------------------------------------------------------------------------------------------
# Calendar: months, days and hours in the province's time zone
# ---------------------------------------------------------------------------------------------------
def month_bounds(month: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """[first instant, first instant of next month) of 'YYYY-MM' in `tz`. ValueError on a bad month."""
    year_text, _, month_text = month.partition("-")
    if len(year_text) != 4 or len(month_text) != 2 or not (year_text + month_text).isdigit():
        raise ValueError(month)
    year, mon = int(year_text), int(month_text)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start, end


def steps(start: datetime, end: datetime, step: timedelta) -> list[tuple[float, float]]:
    out = []
    t = start
    while t < end:
        nxt = min(t + step, end)
        out.append((t.timestamp(), nxt.timestamp()))
        t = nxt
    return out


def steps_between(start_s: float, end_s: float, step_s: float) -> list[tuple[float, float]]:
    out = []
    t = start_s
    while t < end_s:
        out.append((t, min(t + step_s, end_s)))
        t += step_s
    return out


# ---------------------------------------------------------------------------------------------------
# From a PointSource
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineInfo:
    line: str
    provider: str
    commune: str = ""
    commune_name: str = ""
    circuit_id: str = ""
    degraded_loss_pct: float = 2.0
    router: str = ""  # the commune router at its end (its reboots explain outages: not the provider's)


def build_report(
    source: PointSource,
    lines: Iterable[LineInfo],
    month: str,
    tz: tzinfo,
    now_s: float,
    *,
    province: str = "",
    provider: str | None = None,
    margin_s: float = 3600.0,
    hold_factor: float = 2.5,
) -> SlaReport:
    """Read each line's CE pings for the month (plus a margin each side, for outages at the edges)."""
    first, after = month_bounds(month, tz)
    start_s = first.timestamp()
    end_s = min(after.timestamp(), now_s)
    hours = steps(first, datetime.fromtimestamp(end_s, tz), timedelta(hours=1)) if end_s > start_s else []
    days = steps(first, after, timedelta(days=1))
    results: list[LineSla] = []
    for info in lines:
        if provider is not None and info.provider.casefold() != provider.casefold():
            continue
        points = source.read(
            "ping",
            int((start_s - margin_s) * NS),
            int((end_s + margin_s) * NS),
            {"line": info.line, "kind": "ce"},
        )
        bursts = [b for b in (burst_from_point(p) for p in points) if b is not None]
        bursts = [b for b in bursts if b.time_s < now_s]
        line_days = [(a, min(b, end_s)) for a, b in days if a < end_s]
        sla = line_sla(
            info.line,
            info.provider,
            bursts,
            start_s,
            end_s,
            hours,
            line_days,
            info.degraded_loss_pct,
            hold_factor,
        )
        if info.router and sla.outages:
            polls = source.read(
                "snmp_sys", int((start_s - margin_s) * NS), int((end_s + margin_s) * NS), {"device": info.router}
            )
            set_apart_router_reboots(sla, boots_from_points(polls), line_days)
        sla.commune, sla.commune_name, sla.circuit_id = info.commune, info.commune_name, info.circuit_id
        results.append(sla)
    by_provider: dict[str, list[LineSla]] = defaultdict(list)
    for r in results:
        by_provider[r.provider].append(r)
    providers = [ProviderSla(name, by_provider[name]) for name in sorted(by_provider)]
    return SlaReport(start_s, max(end_s, start_s), month, tz, results, providers, province)


def line_infos(inv: Inventory) -> list[LineInfo]:
    """LineInfo for every inventory line, in inventory order."""
    out = []
    for r in inv.lines.values():
        degraded = r.thresholds.loss_pct.degraded
        out.append(
            LineInfo(
                line=r.line.id,
                provider=r.line.provider,
                commune=r.commune.slug,
                commune_name=r.commune.name,
                circuit_id=r.line.circuit_id or "",
                degraded_loss_pct=degraded if degraded is not None else 2.0,
                router=router_of(inv, r.id),
            )
        )
    return out


def router_of(inv: Inventory, line: str) -> str:
    """The router where the line lands (router_port), else the router right behind it; "" if none."""
    r = inv.lines[line]
    if r.line.router_port is not None:
        return r.line.router_port.device
    behind = [d for d in inv.devices_of(r.commune.slug) if d.device.parent == line and d.device.kind.value == "router"]
    return behind[0].id if behind else ""
