"""Per-series history and what the windows say: loss, latency, jitter, baseline, outages, flaps (ping);
reboots, interface flaps, interface down, error rates (SNMP). Pure functions of the stored observations.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from netprobe.health.observation import Observation, Source
from netprobe.inventory.model import Thresholds

HOUR = 3600.0
SYSUPTIME_WRAP_S = 2**32 / 100  # sysUpTime is 32-bit TimeTicks: it wraps after ~497 days
BASELINE_MIN_HOURS = 3  # hourly medians needed before a baseline is trusted


LAST_CHANGE_SLACK_S = 10.0  # see snmp_stats: interface flaps between polls


def stale_after(interval_s: float) -> float:
    """No observation for this long: the series says nothing any more."""
    return 3 * interval_s + 30.0


@dataclass
class Series:
    """One time-ordered stream of observations (one series key), with at most one per timestamp."""

    obs: list[Observation] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    lost: list[bool] = field(default_factory=list)  # the burst got no reply at all (kept for fast scans)

    def add(self, o: Observation) -> Observation | None:
        """Insert in time order; an observation at an existing time replaces it (replays overwrite).
        Returns the replaced one."""
        i = bisect.bisect_left(self.times, o.time)
        if i < len(self.times) and self.times[i] == o.time:
            old = self.obs[i]
            self.obs[i] = o
            self.lost[i] = o.lost_all
            return old
        self.times.insert(i, o.time)
        self.obs.insert(i, o)
        self.lost.insert(i, o.lost_all)
        return None

    def appendable(self, observations: list[Observation]) -> bool:
        """They are strictly time-ordered and all later than what is here: a bulk append is exact."""
        return (
            bool(observations)
            and (not self.times or self.times[-1] < observations[0].time)
            and all(a.time < b.time for a, b in itertools.pairwise(observations))
        )

    def extend(self, observations: list[Observation]) -> None:
        """Add many at once: in bulk when appendable, else one by one (replacing same-time ones)."""
        if self.appendable(observations):
            self.obs.extend(observations)
            self.times.extend(o.time for o in observations)
            self.lost.extend(o.lost_all for o in observations)
        else:
            for o in observations:
                self.add(o)

    def trim(self, before: float) -> None:
        i = bisect.bisect_left(self.times, before)
        if i:
            del self.times[:i]
            del self.obs[:i]
            del self.lost[:i]

    def between(self, start: float, now: float) -> list[Observation]:
        """Observations with start <= time <= now."""
        return self.obs[bisect.bisect_left(self.times, start) : bisect.bisect_right(self.times, now)]

    def window(self, start: float, now: float) -> tuple[list[Observation], list[bool]]:
        lo, hi = bisect.bisect_left(self.times, start), bisect.bisect_right(self.times, now)
        return self.obs[lo:hi], self.lost[lo:hi]


@dataclass
class Baseline:
    """A target's own usual RTT: the median of hourly medians over the last `baseline_s` (not this hour)."""

    hours: dict[int, float] = field(default_factory=dict)  # finished hour → median RTT
    open: dict[int, list[float]] = field(default_factory=dict)  # unfinished hour → RTT samples

    def add(self, time: float, rtt: float | None, replaced: float | None = None) -> None:
        hour = int(time // HOUR)
        if hour in self.hours:
            return  # that hour is closed; a late sample does not reopen it (reproducibility)
        samples = self.open.setdefault(hour, [])
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
        return {"hours": {str(h): m for h, m in self.hours.items()}, "open": {str(h): s for h, s in self.open.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baseline:
        return cls(
            {int(h): float(m) for h, m in data.get("hours", {}).items()},
            {int(h): [float(x) for x in s] for h, s in data.get("open", {}).items()},
        )


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
    lone_lost: tuple[tuple[float, int], ...] = ()  # (time, sent) of all-lost bursts counted in loss_pct


def ping_stats(
    window: Sequence[Observation],
    now: float,
    th: Thresholds,
    interval_s: float,
    baseline: Baseline | None = None,
    lost_flags: list[bool] | None = None,
) -> PingStats | None:
    """`window`: one series over the long window [now - long_window_s, now], time-ordered (with its
    all-lost flags when the caller has them). None when there is nothing in it."""
    if not window:
        return None
    # This runs for every series at every evaluation: list.index jumps between all-lost runs in C.
    # Outages: runs of all-lost bursts at least down_probes long (and min_lost_packets); they count as
    # flaps, and are left out of the loss/latency figures so a recovered line is not "lossy" for 5 min.
    n = len(window)
    all_lost = lost_flags if lost_flags is not None else [o.lost_all for o in window]
    excluded: set[int] = set()
    outages: list[tuple[float, float]] = []
    lost_times: list[float] = []
    down = False
    i = 0
    while True:
        try:
            i = all_lost.index(True, i)
        except ValueError:
            break
        try:
            j = all_lost.index(False, i)
        except ValueError:
            j = n
        lost_times.extend(o.time for o in window[i:j])
        if j - i >= th.down_probes and sum(o.sent for o in window[i:j]) >= th.min_lost_packets:
            excluded.update(range(i, j))
            outages.append((window[i].time, window[j - 1].time))
            down = j == n
        i = j
    run = 0
    while run < n and all_lost[n - 1 - run]:
        run += 1
    k = n
    short_start = now - th.window_s
    while k > 0 and window[k - 1].time > short_start:
        k -= 1
    short = [window[x] for x in range(k, n) if x not in excluded]
    lone_lost = tuple((window[x].time, window[x].sent) for x in range(k, n) if x not in excluded and all_lost[x])
    sent = sum(o.sent for o in short)
    lost = sent - sum(o.received for o in short)
    rtts = [o.rtt_ms for o in short if o.rtt_ms is not None]
    jitters = [o.jitter_ms for o in short if o.jitter_ms is not None]
    flaps = len(outages)
    last = window[-1]
    return PingStats(
        agent=last.agent,
        last_time=last.time,
        fresh=last.time >= now - stale_after(interval_s),
        last_lost=run > 0,
        down=down,
        down_probes=run,
        down_since=window[n - run].time if run else None,
        loss_pct=100.0 * lost / sent if sent else None,
        lost=lost,
        sent=sent,
        rtt_ms=statistics.median(rtts) if rtts else None,
        jitter_ms=statistics.median(jitters) if jitters else None,
        baseline_ms=baseline.value(now, th.baseline_s) if baseline is not None else None,
        flaps=flaps,
        outages=tuple(outages),
        lost_times=tuple(lost_times),
        lone_lost=lone_lost,
    )


def without_parent_losses(
    stats: PingStats, parent_lost: Sequence[float], slack_s: float, parent_dropping: bool = False
) -> PingStats:
    """The stats of gear behind a line with the all-lost bursts that are not its own left out of the loss
    figure (the same rule as `own_flaps` for outages):
    - those the parent explains: gear behind a line that went dark for a burst lost nothing of its own;
      `parent_lost`: sorted times of the ancestors' all-lost bursts;
    - all of them when `parent_dropping`: the line above is flagged and dropping whole bursts right now (a
      flapping line) — its bursts and the gear's need not coincide (probe phases differ);
    - the newest ones while they are still a run shorter than `down_probes`: undecided until the next
      burst (or the line's) tells an outage, the line's fault, or a lone loss apart."""
    pending_from = stats.down_since if stats.last_lost and not stats.down else None

    def not_its_own(t: float) -> bool:
        return (
            parent_dropping or (pending_from is not None and t >= pending_from) or explained(t, t, parent_lost, slack_s)
        )

    explained_sent = sum(sent for t, sent in stats.lone_lost if not_its_own(t))
    if not explained_sent:
        return stats
    sent, lost = stats.sent - explained_sent, stats.lost - explained_sent
    return replace(stats, sent=sent, lost=lost, loss_pct=100.0 * lost / sent if sent else None, lone_lost=())


def explained(start: float, end: float, parent_lost: Sequence[float], slack_s: float) -> bool:
    """Did the parent lose a whole burst during [start, end], give or take slack_s (probe phases differ)?"""
    i = bisect.bisect_left(parent_lost, start - slack_s)
    return i < len(parent_lost) and parent_lost[i] <= end + slack_s


def own_flaps(stats: PingStats, parent_lost: Sequence[float], slack_s: float) -> int:
    """Outages not explained by the parent failing at the same time: a router that went dark with its
    line did not flap on its own. `parent_lost`: sorted times of the parent's all-lost bursts."""
    return sum(1 for start, end in stats.outages if not explained(start, end, parent_lost, slack_s))


def as_reachability(obs: Sequence[Observation]) -> list[Observation]:
    """SNMP system polls as one-packet bursts: reachability for gear that is not pinged."""
    return [
        Observation(o.time, Source.PING, o.subject, o.role, o.agent, o.ok, 1, 1 if o.ok else 0)
        for o in obs
        if o.source is Source.SNMP_SYS
    ]


@dataclass(frozen=True)
class SnmpStats:
    reboots: int
    if_flaps: tuple[str, int] | None  # the interface that changed most, and how often (down transitions)
    if_down: tuple[str, ...]
    if_errors: tuple[str, float] | None  # the interface with the most errors/s (short-window mean)


def reboots(sys_obs: Sequence[Observation], now: float, th: Thresholds, interval_s: float) -> int:
    """Distinct boots within the long window, from sysUpTime (any vantage point) and the probes' flag."""
    tolerance = max(60.0, 2 * interval_s)
    boots: list[float] = []
    prev_uptime: float | None = None
    prev_boot: float | None = None
    wraps = 0.0  # after a wrap, uptimes are WRAP short: add it back so the boot time stays put
    for o in sys_obs:
        if not o.ok or o.uptime_s is None:
            if o.ok and o.rebooted:
                boots.append(o.time)
            continue
        boot = o.time - o.uptime_s - wraps
        if (
            prev_uptime is not None
            and prev_boot is not None
            and prev_uptime > SYSUPTIME_WRAP_S - 2 * 86_400
            and abs(boot - prev_boot - SYSUPTIME_WRAP_S) < tolerance
        ):
            wraps += SYSUPTIME_WRAP_S
            boot -= SYSUPTIME_WRAP_S
        boots.append(boot)
        prev_uptime, prev_boot = o.uptime_s, boot
    distinct: list[float] = []
    for boot in sorted(boots):
        if not distinct or boot - distinct[-1] > tolerance:
            distinct.append(boot)
    return sum(1 for b in distinct if now - th.long_window_s <= b <= now)


def snmp_stats(
    sys_obs: Sequence[Observation],
    if_obs: Mapping[str, Sequence[Observation]],
    now: float,
    th: Thresholds,
    interval_s: float,
) -> SnmpStats:
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
            changes += 1 if went_down or moved else 0
        if changes:
            flaps.append((changes, ifname))
        if series:
            last = series[-1]
            fresh = last.time >= now - stale_after(interval_s)
            if fresh and last.oper_status in (2, 7) and last.admin_status != 2:  # down / lowerLayerDown, not admin
                down.append(ifname)
        rates = [o.errors_per_s for o in series if o.time > now - th.window_s and o.errors_per_s is not None]
        if rates:
            errors.append((sum(rates) / len(rates), ifname))
    worst_flap = max(flaps, key=lambda x: (x[0], _neg(x[1]))) if flaps else None
    worst_err = max(errors, key=lambda x: (x[0], _neg(x[1]))) if errors else None
    return SnmpStats(
        reboots(sys_obs, now, th, interval_s),
        (worst_flap[1], worst_flap[0]) if worst_flap else None,
        tuple(down),
        (worst_err[1], worst_err[0]) if worst_err else None,
    )


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that prefers the alphabetically first name among equals under max()."""
    return tuple(-ord(c) for c in name)
