"""Per-series history and what the windows say: loss, latency, jitter, baseline, outages, flaps (ping);
reboots, interface flaps, interface down, error rates (SNMP). Pure functions of the stored observations.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netprobe.health.observation import FIELDS, Observation, Source
from netprobe.inventory.model import Thresholds

HOUR = 3600.0
SYSUPTIME_WRAP_S = 2**32 / 100  # sysUpTime is 32-bit TimeTicks: it wraps after ~497 days
BASELINE_MIN_HOURS = 3  # hourly medians needed before a baseline is trusted


LAST_CHANGE_SLACK_S = 10.0  # see snmp_stats: interface flaps between polls


def stale_after(interval_s: float) -> float:
    """No observation for this long: the series says nothing any more."""
    return 3 * interval_s + 30.0


# One column per field, all float64 (an int or bool round-trips exactly; None is NaN): ~56 bytes an
# observation instead of ~235 as objects — a province's hour (2,079 series) is ~17 MB, not ~58 MB.
_INTS = frozenset({"sent", "received", "oper_status", "admin_status"})
_BOOLS = frozenset({"ok", "rebooted"})
NAN = float("nan")
INF = float("inf")


def _pack(value: float | int | bool | None) -> float:
    return NAN if value is None else float(value)


def _unpack(name: str, value: float) -> Any:
    if name in _BOOLS:
        return value != 0.0
    if value != value:  # NaN
        return None
    if name in _INTS:
        return int(value) if abs(value) != INF else None  # a counter of infinity is no counter
    return value


@dataclass(frozen=True, slots=True)
class PingWindow:
    """One reachability series over a window, as columns (what ping_stats reads)."""

    agent: str
    times: Sequence[float]
    sent: Sequence[float]
    received: Sequence[float]
    rtt: Sequence[float]  # NaN: no reply
    jitter: Sequence[float]
    lost: Sequence[float]  # 1.0: the burst got no reply at all


class Series:
    """One time-ordered stream of observations (one series key), at most one per timestamp, stored as
    preallocated columns: `capacity` is what the engine keeps of it (long window + margin, over the probe
    interval), so its memory is taken once, when the series first appears, and stays flat after —
    trimming shifts the columns in place; only an interval shortened under it makes it grow."""

    __slots__ = ("agent", "capacity", "cols", "fields", "ifname", "n", "role", "source", "subject")

    def __init__(self, source: Source, subject: str, role: str, agent: str, ifname: str = "", capacity: int = 16):
        self.source, self.subject, self.role, self.agent, self.ifname = source, subject, role, agent, ifname
        self.fields = ("time", *FIELDS[source], *(("lost",) if source is Source.PING else ()))
        self.capacity = max(4, capacity)
        self.cols = {name: array("d", bytes(8 * self.capacity)) for name in self.fields}
        self.n = 0

    @classmethod
    def of(cls, o: Observation, capacity: int = 16) -> Series:
        return cls(o.source, o.subject, o.role, o.agent, o.ifname, capacity)

    @property
    def times(self) -> array[float]:
        return self.cols["time"][: self.n]

    def __len__(self) -> int:
        return self.n

    def _row(self, o: Observation) -> list[float]:
        return [o.time, *(_pack(getattr(o, name)) for name in FIELDS[self.source])] + (
            [1.0 if o.lost_all else 0.0] if self.source is Source.PING else []
        )

    def observation(self, i: int) -> Observation:
        values = {name: _unpack(name, self.cols[name][i]) for name in FIELDS[self.source]}
        return Observation(
            self.cols["time"][i], self.source, self.subject, self.role, self.agent, ifname=self.ifname, **values
        )

    def _grow(self, need: int) -> None:
        while self.capacity < need:
            self.capacity *= 2
        for col in self.cols.values():
            col.frombytes(bytes(8 * (self.capacity - len(col))))

    def add(self, o: Observation) -> Observation | None:
        """Insert in time order; an observation at an existing time replaces it (replays overwrite).
        Returns the replaced one."""
        n, times = self.n, self.cols["time"]
        i = bisect.bisect_left(times, o.time, 0, n)
        row = self._row(o)
        if i < n and times[i] == o.time:
            old = self.observation(i)
            for name, value in zip(self.fields, row, strict=True):
                self.cols[name][i] = value
            return old
        if n == self.capacity:
            self._grow(n + 1)
        for name, value in zip(self.fields, row, strict=True):
            col = self.cols[name]
            if i < n:
                col[i + 1 : n + 1] = col[i:n]
            col[i] = value
        self.n = n + 1
        return None

    def appendable(self, observations: list[Observation]) -> bool:
        """They are strictly time-ordered and all later than what is here: a bulk append is exact."""
        return (
            bool(observations)
            and (not self.n or self.cols["time"][self.n - 1] < observations[0].time)
            and all(a.time < b.time for a, b in itertools.pairwise(observations))
        )

    def extend(self, observations: list[Observation]) -> None:
        """Add many at once: in bulk when appendable, else one by one (replacing same-time ones)."""
        if not self.appendable(observations):
            for o in observations:
                self.add(o)
            return
        n, m = self.n, len(observations)
        if n + m > self.capacity:
            self._grow(n + m)
        cols = [self.cols[name] for name in self.fields]
        for i, o in enumerate(observations, n):  # live: one or two per series per cycle
            for col, value in zip(cols, self._row(o), strict=True):
                col[i] = value
        self.n = n + m

    def trim(self, before: float) -> None:
        i = bisect.bisect_left(self.cols["time"], before, 0, self.n)
        if i:
            keep = self.n - i
            for col in self.cols.values():
                col[0:keep] = col[i : self.n]  # same length: a move in place, no reallocation
            self.n = keep

    def _bounds(self, start: float, now: float) -> tuple[int, int]:
        times = self.cols["time"]
        return bisect.bisect_left(times, start, 0, self.n), bisect.bisect_right(times, now, 0, self.n)

    def between(self, start: float, now: float) -> list[Observation]:
        """Observations with start <= time <= now."""
        lo, hi = self._bounds(start, now)
        return [self.observation(i) for i in range(lo, hi)]

    def window(self, start: float, now: float) -> PingWindow:
        """A ping series with start <= time <= now, as columns."""
        lo, hi = self._bounds(start, now)
        c = self.cols
        return PingWindow(
            self.agent,
            c["time"][lo:hi],
            c["sent"][lo:hi],
            c["received"][lo:hi],
            c["rtt_ms"][lo:hi],
            c["jitter_ms"][lo:hi],
            c["lost"][lo:hi],
        )

    def reachability(self, start: float, now: float) -> PingWindow:
        """SNMP system polls as one-packet bursts: reachability for gear that is not pinged."""
        lo, hi = self._bounds(start, now)
        ok = self.cols["ok"][lo:hi]
        m = hi - lo
        return PingWindow(
            self.agent,
            self.cols["time"][lo:hi],
            array("d", [1.0]) * m,
            ok,
            array("d", [NAN]) * m,
            array("d", [NAN]) * m,
            array("d", [1.0 - x for x in ok]),
        )

    def encode(self) -> dict[str, Any]:
        """The saved-state form: key and one list per field (ints and bools as ints, None as null)."""
        out: dict[str, Any] = {
            "key": [self.source.value, self.subject, self.role, self.agent, self.ifname],
            "time": self.times.tolist(),
        }
        for name in FIELDS[self.source]:
            values = self.cols[name][: self.n].tolist()
            if name in _BOOLS or name in _INTS:
                out[name] = [None if v != v or abs(v) == INF else int(v) for v in values]
            else:
                out[name] = [None if v != v else v for v in values]
        return out


@dataclass
class Baseline:
    """A target's own usual RTT: the median of hourly medians over the last `baseline_s` (not this hour)."""

    hours: dict[int, float] = field(default_factory=dict)  # finished hour → median RTT
    open: dict[int, array[float]] = field(default_factory=dict)  # unfinished hour → RTT samples

    def add(self, time: float, rtt: float | None, replaced: float | None = None) -> None:
        hour = int(time // HOUR)
        if hour in self.hours:
            return  # that hour is closed; a late sample does not reopen it (reproducibility)
        samples = self.open.get(hour)
        if samples is None:
            samples = self.open[hour] = array("d")
        if replaced is not None and replaced in samples:
            samples.remove(replaced)
        if rtt is not None:
            samples.append(rtt)

    def close(self, now: float, keep_s: float) -> None:
        for hour in sorted(h for h in self.open if (h + 1) * HOUR <= now):
            samples = self.open.pop(hour)
            if samples:
                self.hours[hour] = statistics.median(samples)
        oldest = int((now - keep_s) // HOUR)
        for hour in [h for h in self.hours if h < oldest]:
            del self.hours[hour]

    def value(self, now: float, baseline_s: float) -> float | None:
        first = (now - baseline_s) // HOUR
        medians = [m for h, m in sorted(self.hours.items()) if h >= first]
        return statistics.median(medians) if len(medians) >= BASELINE_MIN_HOURS else None

    def to_json(self) -> dict[str, Any]:
        return {
            "hours": {str(h): m for h, m in self.hours.items()},
            "open": {str(h): s.tolist() for h, s in self.open.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baseline:
        return cls(
            {int(h): float(m) for h, m in data.get("hours", {}).items()},
            {int(h): array("d", [float(x) for x in s]) for h, s in data.get("open", {}).items()},
        )


RECENT_BURSTS = 3  # latency and jitter also enter on the median of the newest bursts (2 of 3 slow)
STEP_SPREAD = 4.0  # the newest burst alone shows a latency step when it rose this many × its own jitter


@dataclass(frozen=True)
class PingStats:
    """What one reachability series (a line end or a device, from one vantage point) says at `now`."""

    agent: str
    last_time: float
    fresh: bool
    last_lost: bool  # the newest burst got no reply at all (a suspect, not yet down)
    down: bool  # the newest `down_probes` bursts got no reply
    down_probes: int  # length of the current all-lost run
    down_since: float | None  # when the current all-lost run began
    loss_pct: float | None  # short window, outage bursts excluded
    lost: int
    sent: int
    rtt_ms: float | None
    jitter_ms: float | None
    baseline_ms: float | None
    flaps: int  # outages (≥ down_probes all-lost bursts) that began within the long window
    outages: tuple[tuple[float, float], ...] = ()  # (first lost burst, last lost burst) of each outage
    lost_times: tuple[float, ...] = ()  # every all-lost burst in the long window (outage or not)
    # (time, sent, lost) of the bursts counted in loss_pct that lost any packet (partial or whole)
    lossy: tuple[tuple[float, int, int], ...] = ()
    lossy_times: tuple[float, ...] = ()  # every burst in the long window that lost any packet (outages too)
    # those that lost min_lost_packets or more, or all they sent: evidence of an outage, not a stray loss
    losing_times: tuple[float, ...] = ()


def ping_stats(
    window: PingWindow, now: float, th: Thresholds, interval_s: float, baseline: Baseline | None = None
) -> PingStats | None:
    """`window`: one series over the long window [now - long_window_s, now], time-ordered. None when
    there is nothing in it."""
    times, sent_col, received_col, all_lost = window.times, window.sent, window.received, window.lost
    n = len(times)
    if not n:
        return None
    # This runs for every series at every evaluation: .index jumps between all-lost runs in C.
    # Outages: runs of all-lost bursts at least down_probes long (and min_lost_packets); they count as
    # flaps, and are left out of the loss/latency figures so a recovered line is not "lossy" for 5 min.
    excluded: set[int] = set()
    outages: list[tuple[float, float]] = []
    lost_times: list[float] = []
    down = False
    i = 0
    while True:
        try:
            i = all_lost.index(1.0, i)
        except ValueError:
            break
        try:
            j = all_lost.index(0.0, i)
        except ValueError:
            j = n
        lost_times.extend(times[i:j])
        if j - i >= th.down_probes and sum(sent_col[i:j]) >= th.min_lost_packets:
            excluded.update(range(i, j))
            # the bursts either side that lost part of their packets straddled the cut or the repair: the
            # outage's edges, not loss (a line back from a cut is not "lossy" for 5 min)
            excluded.update(x for x in (i - 1, j) if 0 <= x < n and received_col[x] < sent_col[x])
            outages.append((times[i], times[j - 1]))
            down = j == n
        i = j
    run = 0
    while run < n and all_lost[n - 1 - run]:
        run += 1
    k = n
    short_start = now - th.window_s
    while k > 0 and times[k - 1] > short_start:
        k -= 1
    short: Sequence[int] = [x for x in range(k, n) if x not in excluded] if excluded else range(k, n)

    def pick(col: Sequence[float]) -> Sequence[float]:
        return [col[x] for x in short] if excluded else col[k:n]  # a slice (in C) in the usual case

    sent = int(sum(pick(sent_col)))
    lost = sent - int(sum(pick(received_col)))
    lossy = (
        tuple(
            (times[x], int(sent_col[x]), int(sent_col[x] - received_col[x]))
            for x in short
            if received_col[x] < sent_col[x]
        )
        if lost > 0
        else ()
    )
    # sums in C first: most series lost nothing in the hour, and this runs for every one at every evaluation
    floor = th.min_lost_packets
    lossy_times: tuple[float, ...] = ()
    losing_times: tuple[float, ...] = ()
    if sum(received_col) < sum(sent_col):
        lossy_times = tuple(times[x] for x in range(n) if received_col[x] < sent_col[x])
        losing_times = tuple(times[x] for x in range(n) if sent_col[x] - received_col[x] >= floor or all_lost[x])
    rtts = [v for v in pick(window.rtt) if v == v]  # NaN: no reply
    jitters = [v for v in pick(window.jitter) if v == v]
    # the window's median, or that of its newest RECENT_BURSTS when higher: a latency step is seen as soon as
    # most of the newest bursts are slow (the window's median needs half the window: ~5 intervals), and it
    # still leaves only as the window's median does (hysteresis)
    level = statistics.median(rtts) if rtts else None
    rtt_ms = max(level, statistics.median(rtts[-RECENT_BURSTS:])) if level is not None else None
    if level is not None and len(rtts) > 1 and k < n and received_col[n - 1] > 0 and (n - 1) not in excluded:
        # a step: the newest burst is above the window's level by far more than its own spread — every
        # reply of it was slow (a path change, an added delay), not a spike inside it — so it counts alone,
        # an interval sooner than 2 of 3 slow bursts; a congested queue (its spread as large as its rise)
        # still needs the 2 of 3
        newest, spread = window.rtt[n - 1], window.jitter[n - 1]
        rise = newest - level
        if newest == newest and spread == spread and rise >= max(th.rtt_excess_min_ms, STEP_SPREAD * spread):
            rtt_ms = max(rtt_ms or 0.0, newest)
    jitter_ms = max(statistics.median(jitters), statistics.median(jitters[-RECENT_BURSTS:])) if jitters else None
    last_time = times[n - 1]
    return PingStats(
        agent=window.agent,
        last_time=last_time,
        fresh=last_time >= now - stale_after(interval_s),
        last_lost=run > 0,
        down=down,
        down_probes=run,
        down_since=times[n - run] if run else None,
        loss_pct=100.0 * lost / sent if sent else None,
        lost=lost,
        sent=sent,
        rtt_ms=rtt_ms,
        jitter_ms=jitter_ms,
        baseline_ms=baseline.value(now, th.baseline_s) if baseline is not None else None,
        flaps=len(outages),
        outages=tuple(outages),
        lost_times=tuple(lost_times),
        lossy=lossy,
        lossy_times=lossy_times,
        losing_times=losing_times,
    )


# Path loss (a line's loss told within a burst or two): the line's end and the gear behind it are probed
# over the same access line, so their bursts are 3-4x the line's own packets on one path; a loss that
# chance at a healthy line's background cannot explain is named now, not once the 5-min figure crosses
# the level (4 lost packets of the line's own: 4-10 intervals at 5 %).
PATH_LOSS_ROUNDS = 3  # the newest 1, 2 and 3 probe intervals are tested (the 5-min figure covers longer)
PATH_LOSS_BACKGROUND = 0.125  # x the degraded level: the loss a healthy line may show (0.25 % for 2 %)
PATH_LOSS_ALPHA = 1e-3  # chance that a line at that background loses as much (per test)
PATH_LOSS_PE_SHARE = 0.25  # the provider edges losing this share of the path's rate: upstream, not the line


@dataclass(frozen=True)
class PathLoss:
    """Pooled loss of a line's end and the gear behind it, over the newest `span_s`."""

    lost: int
    sent: int
    targets: int  # how many of the pooled targets lost packets
    pooled: int  # how many targets were pooled (the line's end and its gear with bursts in the span)
    span_s: float

    @property
    def pct(self) -> float:
        return 100.0 * self.lost / self.sent if self.sent else 0.0


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed from k up (terms shrink fast when p is small)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
    log_term += (n - k) * math.log1p(-p)
    term, total, ratio = math.exp(log_term), 0.0, p / (1.0 - p)
    for i in range(k, n + 1):
        total += term
        if term < total * 1e-12:
            break
        term *= (n - i) / (i + 1) * ratio
    return min(1.0, total)


def clean_bursts(w: PingWindow, start: float, skip: Sequence[tuple[float, float]] = ()) -> tuple[int, int]:
    """(sent, lost) of the bursts after `start` that tell loss: not all lost (an outage, judged as such),
    not next to an all-lost burst (an outage's edges: the cut or the repair happened during them), not
    inside `skip` (a reboot, the agent's own impaired spans)."""
    times, sent_col, received_col, all_lost = w.times, w.sent, w.received, w.lost
    n = len(times)
    sent = lost = 0
    for x in range(n - 1, -1, -1):
        t = times[x]
        if t <= start:
            break
        if all_lost[x] or (x > 0 and all_lost[x - 1]) or (x + 1 < n and all_lost[x + 1]):
            continue
        if any(a <= t <= b for a, b in skip):
            continue
        sent += int(sent_col[x])
        lost += int(sent_col[x] - received_col[x])
    return sent, lost


def path_loss(
    paths: Sequence[PingWindow],
    upstream: Callable[[float], tuple[int, int]],
    now: float,
    interval_s: float,
    th: Thresholds,
    skip: Sequence[tuple[float, float]] = (),
) -> PathLoss | None:
    """The pooled loss of `paths` (the line's end first, then the gear behind it) over the newest 1..
    PATH_LOSS_ROUNDS intervals, when it is at least the degraded level, lost on two targets or more (one
    target's own trouble is not the line's: a bare line keeps the 5-min rule), is beyond chance at a
    healthy line's background, and the provider edges the same agent probes (`upstream(start)` → their
    (sent, lost) since start) lost far less and not beyond chance over the same span (else the loss is on
    the data-centre side). None otherwise."""
    degraded = th.loss_pct.degraded
    if degraded is None or not paths:
        return None
    p0 = degraded / 100.0 * PATH_LOSS_BACKGROUND
    for k in range(1, PATH_LOSS_ROUNDS + 1):
        start = now - k * interval_s
        counts = [clean_bursts(w, start, skip) for w in paths]
        sent = sum(c[0] for c in counts)
        lost = sum(c[1] for c in counts)
        probed = sum(1 for c in counts if c[0])
        losing = sum(1 for c in counts if c[1])
        if not sent or losing < 2 or 100.0 * lost / sent < degraded:
            continue
        if binomial_tail(lost, sent, p0) > PATH_LOSS_ALPHA:
            continue
        pe_sent, pe_lost = upstream(start)
        if pe_sent and (
            pe_lost / pe_sent >= PATH_LOSS_PE_SHARE * lost / sent
            or binomial_tail(pe_lost, pe_sent, p0) <= PATH_LOSS_ALPHA
        ):
            return None  # the provider edges lose too, beyond chance: the data-centre side, not this line
        return PathLoss(lost, sent, losing, probed, k * interval_s)
    return None


def without_bursts(stats: PingStats, gone: Sequence[tuple[float, int, int]]) -> PingStats:
    """The stats with these lossy bursts (sent and lost) left out of the loss figure."""
    if not gone:
        return stats
    sent = stats.sent - sum(x[1] for x in gone)
    lost = stats.lost - sum(x[2] for x in gone)
    kept = tuple(x for x in stats.lossy if x not in gone)
    return replace(stats, sent=sent, lost=lost, loss_pct=100.0 * lost / sent if sent else None, lossy=kept)


def without_times(stats: PingStats, spans: Sequence[tuple[float, float]]) -> PingStats:
    """The stats with the lossy bursts inside `spans` left out of the loss figure: outages that are
    someone else's (a commune router that rebooted), not the line's."""
    return without_bursts(stats, [x for x in stats.lossy if any(a <= x[0] <= b for a, b in spans)])


def without_parent_losses(
    stats: PingStats,
    parent_losing: Sequence[float],
    slack_s: float,
    parent_dropping: bool = False,
    undecided_after: float | None = None,
    dropping_spans: Sequence[Sequence[float]] = (),
) -> PingStats:
    """The stats of gear behind a line with the lossy bursts (partial or whole) that are not its own left
    out of the loss figure:
    - those within slack_s of a burst the parent (or anything above) lost packets in: gear behind a line
      that was losing lost nothing of its own then — a burst straddling one of a flapping line's
      transitions loses part of its packets, the line's burst nearby loses all or part of its own;
      `parent_losing`: sorted times of the ancestors' bursts that lost any packet;
    - all of them when `parent_dropping`: the line above is flagged and dropping whole bursts right now (a
      flapping line) — its bursts and the gear's need not coincide (probe phases differ); and those inside
      `dropping_spans`, when it was (its last flap's edge is its, after the line is judged OK again);
    - the newest all-lost ones while they are still a run shorter than `down_probes`, and any sent after
      `undecided_after` (the parent's newest burst, its next one due): undecided until the next burst (or
      the line's) tells an outage, the line's fault, or a loss of its own apart;
    - a single all-lost burst left on its own: one blip of a second or so, its path's or its own — one
      burst cannot tell (two make it loss; two runs make it "went down", its own outages stay outages)."""
    pending_from = stats.down_since if stats.last_lost and not stats.down else None

    def not_its_own(t: float) -> bool:
        return (
            parent_dropping
            or (pending_from is not None and t >= pending_from)
            or (undecided_after is not None and t > undecided_after)
            or any(a <= t <= b for a, b in dropping_spans)
            or explained(t, t, parent_losing, slack_s)
        )

    gone = [x for x in stats.lossy if not_its_own(x[0])]
    kept = [x for x in stats.lossy if x not in gone]
    if len(kept) == 1 and kept[0][1] == kept[0][2]:
        gone.append(kept[0])
    return without_bursts(stats, gone)


FLAP_WINDOW_S = 600.0  # "went down N times in M min" counts outages this recent
FLAP_EPISODES = 2  # down, back, down again within FLAP_WINDOW_S: flapping (UNSTABLE), not one long outage
FLAP_DOWN_MAX_S = 180.0  # a flapping line's current outage is still a flap until it lasts this long


def down_episodes(lost_times: Sequence[float], interval_s: float, since: float) -> list[tuple[float, float]]:
    """Runs of consecutive all-lost bursts (each one time it went down), the latest ending after `since`."""
    gap = 1.5 * max(interval_s, 1.0)
    runs: list[tuple[float, float]] = []
    for t in lost_times:
        if runs and t - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return [r for r in runs if r[1] >= since]


def explained(start: float, end: float, parent_lost: Sequence[float], slack_s: float) -> bool:
    """Did the parent lose a whole burst during [start, end], give or take slack_s (probe phases differ)?"""
    i = bisect.bisect_left(parent_lost, start - slack_s)
    return i < len(parent_lost) and parent_lost[i] <= end + slack_s


def own_flaps(stats: PingStats, parent_lost: Sequence[float], slack_s: float) -> int:
    """Outages not explained by the parent failing at the same time: a router that went dark with its
    line did not flap on its own. `parent_lost`: sorted times of the parent's all-lost bursts."""
    return sum(1 for start, end in stats.outages if not explained(start, end, parent_lost, slack_s))


@dataclass(frozen=True)
class SnmpStats:
    reboots: int
    if_flaps: tuple[str, int] | None  # the interface that changed most, and how often (down transitions)
    if_down: tuple[str, ...]
    if_errors: tuple[str, float] | None  # the interface with the most errors/s (short-window mean)
    silent_s: float | None = None  # SNMP has not answered for this long (the last SNMP_SILENT_POLLS timed out)
    last_boot: float | None = None  # when the latest of the `reboots` booted (unix s)


REBOOT_HOLD_S = 600.0  # a seen reboot is flagged this long (Zabbix: uptime < 10 min; see docs/verdicts.md)
REBOOT_OUTAGE_MAX_S = 300.0  # a line outage up to this long before a proven router boot is that reboot (power cut)


def reboots(sys_obs: Sequence[Observation], now: float, th: Thresholds, interval_s: float) -> int:
    """How many reboots netprobe saw happen within REBOOT_HOLD_S (see reboot_times)."""
    return len(recent_boots(sys_obs, now, interval_s))


def recent_boots(sys_obs: Sequence[Observation], now: float, interval_s: float) -> list[float]:
    """When the reboots netprobe saw within REBOOT_HOLD_S booted, sorted."""
    return [b for b in reboot_times(sys_obs, interval_s) if now - REBOOT_HOLD_S <= b <= now]


def reboot_times(sys_obs: Sequence[Observation], interval_s: float) -> list[float]:
    """When the reboots netprobe saw happen booted (sorted): sysUpTime went back against an earlier poll (any
    vantage point, stored history included) or the prober flagged it. A first poll with a low uptime says
    when the device booted, not that it rebooted while watched: it is not evidence."""
    tolerance = max(60.0, 2 * interval_s)
    seen: list[float] = []  # when the boots that followed an earlier poll happened
    latest_boot: float | None = None
    prev_uptime: float | None = None
    wraps = 0.0  # after a wrap, uptimes are WRAP short: add it back so the boot time stays put
    for o in sys_obs:
        if not o.ok or o.uptime_s is None:
            if o.ok and o.rebooted:
                seen.append(o.time)
            continue
        boot = o.time - o.uptime_s - wraps
        if (
            prev_uptime is not None
            and latest_boot is not None
            and prev_uptime > SYSUPTIME_WRAP_S - 2 * 86_400
            and abs(boot - latest_boot - SYSUPTIME_WRAP_S) < tolerance
        ):
            wraps += SYSUPTIME_WRAP_S
            boot -= SYSUPTIME_WRAP_S
        if latest_boot is not None and boot - latest_boot > tolerance:
            seen.append(boot)
        elif o.rebooted:
            seen.append(boot)
        latest_boot = boot if latest_boot is None else max(latest_boot, boot)
        prev_uptime = o.uptime_s
    distinct: list[float] = []
    for boot in sorted(seen):
        if not distinct or boot - distinct[-1] > tolerance:
            distinct.append(boot)
    return distinct


SNMP_SILENT_POLLS = 2  # consecutive unanswered polls: the hang is named within 3 intervals of its start


def snmp_silence(sys_obs: Sequence[Observation], now: float, interval_s: float) -> float | None:
    """How long the agent has not answered, when its last SNMP_SILENT_POLLS polls (any vantage point, the
    latest still fresh) all timed out; None while it answers."""
    polls = [o for o in sys_obs if o.time <= now]
    tail = polls[-SNMP_SILENT_POLLS:]
    if len(tail) < SNMP_SILENT_POLLS or any(o.ok for o in tail) or tail[-1].time < now - stale_after(interval_s):
        return None
    last_ok = max((o.time for o in polls if o.ok), default=None)
    first_failed = min(o.time for o in polls if last_ok is None or o.time > last_ok)
    return now - (last_ok if last_ok is not None else first_failed)


def snmp_stats(
    sys_obs: Sequence[Observation],
    if_obs: Mapping[str, Sequence[Observation]],
    now: float,
    th: Thresholds,
    interval_s: float,
    neighbour_boots: Sequence[tuple[float, float]] = (),
) -> SnmpStats:
    """`neighbour_boots`: spans when gear cabled to this device rebooted — its ports to them lost carrier
    then: the neighbour's reboot (named on it), not this device's interface flapping or down."""

    def rebooting(t: float) -> bool:
        return any(a <= t <= b for a, b in neighbour_boots)

    flaps: list[tuple[int, str]] = []
    down: list[str] = []
    errors: list[tuple[float, str]] = []
    for ifname in sorted(if_obs):
        series = [o for o in if_obs[ifname] if o.time >= now - th.long_window_s - 2 * interval_s]
        changes = 0
        for a, b in itertools.pairwise(series):
            if b.time < now - th.long_window_s:
                continue
            went_down = a.oper_status == 1 and b.oper_status not in (None, 1)
            # last_change_s is seconds since the change (sysUpTime - ifLastChange); the change's own time
            # moving forward while up at both polls is a flap between polls. The slack absorbs poll timing
            # and the agent's ifTable cache (net-snmp refreshes it every few seconds).
            moved = (
                a.oper_status == b.oper_status == 1
                and a.last_change_s is not None
                and b.last_change_s is not None
                and (b.time - b.last_change_s) - (a.time - a.last_change_s) > LAST_CHANGE_SLACK_S
            )
            if went_down and rebooting(b.time):
                went_down = False
            if moved and rebooting(b.time - (b.last_change_s or 0.0)):
                moved = False
            changes += 1 if went_down or moved else 0
        if changes:
            flaps.append((changes, ifname))
        if series:
            last = series[-1]
            fresh = last.time >= now - stale_after(interval_s)
            if fresh and last.oper_status in (2, 7) and last.admin_status != 2 and not rebooting(last.time):
                down.append(ifname)
        rates = [o.errors_per_s for o in series if o.time > now - th.window_s and o.errors_per_s is not None]
        if rates:
            errors.append((sum(rates) / len(rates), ifname))
    worst_flap = max(flaps, key=lambda x: (x[0], _neg(x[1]))) if flaps else None
    worst_err = max(errors, key=lambda x: (x[0], _neg(x[1]))) if errors else None
    boots = recent_boots(sys_obs, now, interval_s)
    return SnmpStats(
        len(boots),
        (worst_flap[1], worst_flap[0]) if worst_flap else None,
        tuple(down),
        (worst_err[1], worst_err[0]) if worst_err else None,
        snmp_silence(sys_obs, now, interval_s),
        boots[-1] if boots else None,
    )


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that prefers the alphabetically first name among equals under max()."""
    return tuple(-ord(c) for c in name)
