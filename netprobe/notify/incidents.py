"""Incidents from verdict transitions: one per root cause, opened, repeated, escalated, recovered.

Pure logic: `root_causes` reads one Evaluation (the verdict engine's public output) and says which
subjects are a root cause now and which are healthy; `Tracker.update` turns the difference with the open
incidents into events. No storms, by construction:
- a commune whose every line is down is ONE incident (`commune:<slug>`): while it is open its lines and
  devices open none (it recovers only when nothing in the commune is a root cause any more, so a single
  line that keeps dropping is one incident, not a commune/line see-saw); incidents already open on them stay
  open silently and say when they recover;
- a root cause that is only "held until better" (hysteresis) never opens an incident;
- UNREACHABLE gear (behind a dead line) and anything whose reasons are PARENT_* or AGENT_IMPAIRED is not
  a root cause: nothing is sent for it; UNKNOWN (no data) neither opens nor clears anything;
- an incident that opens and clears `flap_changes` times within `flap_window_s` becomes *flapping*: one
  message with the count, then silence until it has been calm for `flap_window_s / flap_changes`, then one
  recovery;
- a root cause opens its incident only once it has lasted `confirm_s` (a line's first lossy minute may be
  its commune going dark; gear may look bad a moment before the line above it does);
- while unresolved: a reminder every `repeat_h`, and critical incidents escalate once after
  `escalate_after_min`.
The incident id is `<key>@<since>` (the verdict's own "since"), so the same incident gets the same id
after a restart even if this tracker's state were lost — the queue's idempotency key builds on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from netprobe.health.reasons import Code, Reason
from netprobe.health.verdict import Evaluation, State, Verdict

Severity = Literal["warning", "critical"]
EventKind = Literal["open", "worse", "repeat", "escalate", "flapping", "recover"]
SubjectKind = Literal["line", "device", "commune", "agent", "alert"]

# Reasons that say "not this subject's own fault": no incident of its own.
NOT_ROOT = frozenset({Code.PARENT_DOWN, Code.PARENT_UNSTABLE, Code.AGENT_IMPAIRED})
MAX_CHANGES_KEPT = 200  # per subject: the flap window needs at most flap_changes of them
MAX_OPEN = 5000  # a bound on state; a province has ~10k lines+devices but never that many root causes


@dataclass(frozen=True)
class Cause:
    """A subject that is a root cause in this evaluation."""

    key: str  # "line:vo-cuong-l1", "commune:hap-linh", "device:tam-son-sw", "agent:dc1", "alert:<fp>"
    kind: SubjectKind
    subject: str
    state: str  # health State value (or Grafana's "firing" severity mapped to one)
    since: float
    reasons: tuple[dict[str, Any], ...] = ()  # Reason.to_json() each
    commune: str | None = None
    critical: bool = False
    title: str = ""  # Grafana alerts: the rule's summary; verdicts: empty (message.py writes it)
    text: str = ""  # Grafana alerts: the description
    upstream: tuple[str, ...] = ()  # a device showing only loss/latency/outage: the keys of what is above it
    improving: bool = False  # only "held until better" (hysteresis): keeps an incident open, never opens one


def severity_of(cause: Cause) -> Severity:
    return "critical" if cause.critical or cause.state == State.DOWN.value else "warning"


def _reasons(v: Verdict) -> tuple[dict[str, Any], ...]:
    return tuple(r.to_json() for r in v.reasons)


# What a device behind a bad line or device shows only because of it: the same loss, delay, outage.
INHERITABLE = frozenset(
    {Code.LOSS, Code.RTT, Code.RTT_BASELINE, Code.JITTER, Code.DOWN, Code.FLAPS, Code.WENT_DOWN, Code.HOLDING}
)


def _inherited(v: Verdict, ancestors: list[Verdict]) -> bool:
    """Gear behind a bad line or device that shows nothing but what is upstream (the loss of a lossy line
    reaches every switch behind it): not a root cause. A dead switch behind a merely lossy line is."""
    bad_above = [a for a in ancestors if a.state.severity >= State.DEGRADED.severity and a.state is not State.UNKNOWN]
    if not bad_above:
        return False
    if v.state is State.DOWN and not any(a.state in (State.DOWN, State.UNREACHABLE) for a in bad_above):
        return False
    return all(r.code in INHERITABLE for r in v.reasons)


def root_causes(
    evaluation: Evaluation,
    commune_of: Mapping[str, str],
    min_state: str = "UNSTABLE",
    parent_of: Mapping[str, str | None] | None = None,
) -> tuple[dict[str, Cause], set[str]]:
    """(root causes by key, keys judged healthy). `commune_of`: line/device id → commune slug;
    `parent_of`: device id → the line or device it sits behind."""
    parents = parent_of or {}
    floor = State(min_state).severity
    bad: dict[str, Cause] = {}
    good: set[str] = set()
    isolated: set[str] = set()
    for slug, v in evaluation.communes.items():
        key = f"commune:{slug}"
        if v.state.severity >= floor and any(r.code is Code.COMMUNE_ISOLATED for r in v.reasons):
            isolated.add(slug)
            bad[key] = Cause(key, "commune", slug, v.state.value, v.since, _reasons(v), slug, critical=True)
        elif v.state is not State.UNKNOWN:
            good.add(key)
    for name, v in evaluation.agents.items():
        key = f"agent:{name}"
        if v.state.severity >= floor and v.state not in (State.UNREACHABLE, State.UNKNOWN):
            bad[key] = Cause(key, "agent", name, v.state.value, v.since, _reasons(v))
        elif v.state is not State.UNKNOWN:
            good.add(key)
    for node, v in evaluation.nodes.items():
        key = f"{v.kind}:{node}"
        commune = commune_of.get(node)
        if v.state in (State.UNKNOWN, State.UNREACHABLE) or any(r.code in NOT_ROOT for r in v.reasons):
            continue  # not its own fault, or nothing known: neither opens nor clears
        if commune in isolated:
            continue  # the commune's incident
        ancestors: list[Verdict] = []
        up = parents.get(node)
        while up is not None and len(ancestors) < 32 and (above := evaluation.nodes.get(up)) is not None:
            ancestors.append(above)
            up = parents.get(up)
        if v.state.severity < floor:
            good.add(key)
            continue
        if _inherited(v, ancestors):
            continue  # told in the incident of what it sits behind
        kind: SubjectKind = "line" if v.kind == "line" else "device"
        # what it shows could come from above (a dead device under a merely lossy line is its own fault)
        inheritable = (
            bool(ancestors)
            and all(r.code in INHERITABLE for r in v.reasons)
            and (v.state is not State.DOWN or any(a.state in (State.DOWN, State.UNREACHABLE) for a in ancestors))
        )
        upstream = tuple(f"{a.kind}:{a.subject}" for a in ancestors) if inheritable else ()
        improving = bool(v.reasons) and all(r.code is Code.HOLDING for r in v.reasons)
        bad[key] = Cause(key, kind, node, v.state.value, v.since, _reasons(v), commune, upstream=upstream,
                         improving=improving)  # fmt: skip
    # a commune is well again only when nothing in it is a root cause (its single line may still flap)
    troubled = {c.commune for c in bad.values() if c.kind in ("line", "device")}
    good -= {f"commune:{slug}" for slug in troubled}
    return bad, good


@dataclass
class Incident:
    id: str
    key: str
    kind: SubjectKind
    subject: str
    commune: str | None
    severity: Severity
    state: str
    opened: float
    since: float
    reasons: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    text: str = ""
    last_sent: float = 0.0
    repeats: int = 0
    escalated: bool = False
    flapping: bool = False
    changes: int = 1  # opens + clears of this subject while this incident lasted
    active: bool = True  # bad now (a flapping incident is kept open while it is good for a moment)
    clear_since: float | None = None
    closed: float | None = None

    @classmethod
    def new(cls, cause: Cause, now: float) -> Incident:
        return cls(
            id=f"{cause.key}@{int(cause.since)}",
            key=cause.key,
            kind=cause.kind,
            subject=cause.subject,
            commune=cause.commune,
            severity=severity_of(cause),
            state=cause.state,
            opened=now,
            since=cause.since,
            reasons=list(cause.reasons),
            title=cause.title,
            text=cause.text,
            last_sent=now,
        )

    def reason_objects(self) -> list[Reason]:
        out = []
        for r in self.reasons:
            try:
                out.append(Reason.from_json(r))
            except (KeyError, ValueError, AssertionError):
                continue  # a reason code from a newer engine: shown by the others
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Incident:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Event:
    kind: EventKind
    incident: Incident  # a copy as it was at the event
    time: float
    n: int = 0  # reminders: the how-manieth; flapping: the number of changes

    @property
    def key(self) -> str:
        """The event's part of the idempotency key: stable for the same incident and event."""
        return f"{self.incident.id}|{self.kind}{self.n if self.kind == 'repeat' else ''}"


@dataclass
class TrackerSettings:
    repeat_h: float | None = 4.0
    confirm_s: float = 60.0
    escalate_after_min: float = 30.0
    flap_changes: int = 4
    flap_window_s: float = 3600.0

    @property
    def calm_s(self) -> float:
        return self.flap_window_s / self.flap_changes


class Tracker:
    """The open incidents and recent changes per subject; `update` is called once per evaluation."""

    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        self.open: dict[str, Incident] = {}
        self.changes: dict[str, list[float]] = {}  # subject key → times it opened or cleared
        # root causes not yet confirmed: key → [first seen bad, good since (or None)]
        self.pending: dict[str, list[float | None]] = {}

    def _change(self, key: str, now: float) -> int:
        """Record a change; the number of changes within the flap window (this one included)."""
        window = self.settings.flap_window_s
        kept = [t for t in self.changes.get(key, []) if now - t < window][-MAX_CHANGES_KEPT:]
        kept.append(now)
        self.changes[key] = kept
        return len(kept)

    def _covered(self, cause: Cause, bad: Mapping[str, Cause]) -> bool:
        """Already told, or about to be, in another incident: no incident of its own."""
        if cause.improving:
            return True  # only held by hysteresis: a new incident would announce a recovery
        if cause.kind in ("line", "device") and f"commune:{cause.commune}" in self.open:
            return True  # the commune's open incident (isolated, or its line still flapping) speaks for it
        return any(k in self.open or k in self.pending or k in bad for k in cause.upstream)

    def _event(self, kind: EventKind, inc: Incident, now: float, n: int = 0) -> Event:
        return Event(kind, replace(inc, reasons=list(inc.reasons)), now, n)

    def update(self, bad: Mapping[str, Cause], good: Iterable[str], now: float) -> list[Event]:
        s = self.settings
        events: list[Event] = []
        healthy = set(good)
        for key, (_, good_since) in list(self.pending.items()):
            if key in bad:
                self.pending[key][1] = None
            elif key not in healthy:
                del self.pending[key]  # no longer a root cause of its own (absorbed, inherited, unknown)
            elif good_since is None:
                self.pending[key][1] = now
            elif now - good_since >= s.confirm_s:
                del self.pending[key]  # was a blip
        for key, cause in bad.items():
            found = self.open.get(key)
            if found is None:
                if self._covered(cause, bad):
                    self.pending.pop(key, None)
                    continue
                first = self.pending.setdefault(key, [now, None])[0]
                assert first is not None
                if now - first < s.confirm_s or len(self.open) >= MAX_OPEN:
                    continue  # not confirmed yet
                del self.pending[key]
                count = self._change(key, now)
                inc = Incident.new(cause, now)
                self.open[key] = inc
                if count >= s.flap_changes:  # reopened again and again: one flapping message
                    inc.flapping, inc.changes = True, count
                    events.append(self._event("flapping", inc, now, count))
                else:
                    events.append(self._event("open", inc, now))
                continue
            inc = found
            inc.state, inc.reasons = cause.state, list(cause.reasons)
            inc.title, inc.text = cause.title or inc.title, cause.text or inc.text
            if not inc.active:  # bad again while a flapping incident was calming down
                inc.active, inc.clear_since = True, None
                inc.changes += 1
                self._change(key, now)
            if severity_of(cause) == "critical" and inc.severity == "warning":
                inc.severity = "critical"
                inc.last_sent = now
                events.append(self._event("worse", inc, now))
        for key, inc in list(self.open.items()):
            if key in bad or key not in healthy:
                continue  # still bad, or nothing known (UNKNOWN, UNREACHABLE, not judged by us)
            if inc.active:
                inc.active, inc.clear_since = False, now
                inc.changes += 1
                count = self._change(key, now)
                if not inc.flapping and count >= s.flap_changes:
                    inc.flapping = True
                    inc.last_sent = now
                    events.append(self._event("flapping", inc, now, inc.changes))
                    continue
            assert inc.clear_since is not None
            if not inc.flapping or now - inc.clear_since >= s.calm_s:
                del self.open[key]
                inc.closed = now
                events.append(self._event("recover", inc, now, inc.changes))
        for inc in self.open.values():
            if not inc.active or (inc.kind in ("line", "device") and f"commune:{inc.commune}" in self.open):
                continue  # calming down, or its commune's incident reminds for it
            if s.repeat_h is not None and now - inc.last_sent >= s.repeat_h * 3600.0:
                inc.repeats += 1
                inc.last_sent = now
                events.append(self._event("repeat", inc, now, inc.repeats))
            if inc.severity == "critical" and not inc.escalated and now - inc.opened >= s.escalate_after_min * 60.0:
                inc.escalated = True
                events.append(self._event("escalate", inc, now))
        return events

    # ---- state ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "open": {k: v.to_json() for k, v in self.open.items()},
            "changes": {k: v for k, v in self.changes.items() if v},
            "pending": self.pending,
        }

    def restore(self, blob: Mapping[str, Any]) -> None:
        self.open = {str(k): Incident.from_json(v) for k, v in dict(blob.get("open") or {}).items()}
        self.changes = {
            str(k): [float(t) for t in v][-MAX_CHANGES_KEPT:] for k, v in dict(blob.get("changes") or {}).items()
        }

    def prune(self, now: float) -> None:
        """Forget change times older than the flap window (bounds the state)."""
        window = self.settings.flap_window_s
        self.changes = {k: kept for k, v in self.changes.items() if (kept := [t for t in v if now - t < window])}
