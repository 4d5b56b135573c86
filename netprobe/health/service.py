"""Web services (subject kind `service`): one page fetch → a state, the rule `netprobe check` and the
agent's `link_health` rows share.

A page is DOWN when the GET failed (refused, timeout, HTTP >= 400, the expected text missing, a bad
certificate), DEGRADED when it worked but the TLS certificate expires within CERT_WARN_DAYS or the whole
GET took longer than WEB_SLOW_MS, OK otherwise. The agent writes one `link_health` row per service per
fetch (kind=service, target=<service id>), with the state's `since` kept while the state holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netprobe.health.verdict import SCORE_BAND, State
from netprobe.probes.base import Measurement, Role, Status
from netprobe.storage.point import Point

CERT_WARN_DAYS = 14.0  # a certificate expiring sooner: time to renew it
WEB_SLOW_MS = 3000.0  # a page slower than this: people wait, forms time out


def page_state(status: str, total_ms: float | None, cert_days_left: float | None) -> tuple[State, list[str]]:
    """One fetch's state and its reasons (English, one phrase each)."""
    if status != Status.OK.value:
        return State.DOWN, [f"page failed ({status})"]
    reasons = []
    if cert_days_left is not None and cert_days_left < CERT_WARN_DAYS:
        reasons.append(f"TLS certificate expires in {cert_days_left:.0f} days")
    if total_ms is not None and total_ms > WEB_SLOW_MS:
        reasons.append(f"page took {total_ms:.0f} ms")
    return (State.DEGRADED if reasons else State.OK), reasons


def _num(fields: dict[str, float | int | str | bool], name: str) -> float | None:
    value = fields.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class ServiceVerdicts:
    """`link_health` rows for the web services this agent fetches (additive: lines and devices are the
    health engine's)."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[State, float]] = {}

    def observe(self, measurements: Iterable[Measurement], agent: str) -> list[Point]:
        out = []
        for m in measurements:
            if m.target.tags.get("kind") != Role.SERVICE.value or not m.target.key.startswith("http/"):
                continue
            subject = m.target.tags.get("target", "")
            total = _num(m.fields, "total_ms")
            state, reasons = page_state(m.status.value, total, _num(m.fields, "cert_days_left"))
            held = self._since.get(subject)
            since = held[1] if held is not None and held[0] is state else m.time
            self._since[subject] = (state, since)
            low, high = SCORE_BAND[state]
            tags = {k: v for k, v in m.target.tags.items() if v} | ({"agent": agent} if agent else {})
            fields: dict[str, float | int | str | bool] = {
                "state": state.value,
                "state_code": state.code,
                "score": high if state is State.OK else low,
                "reasons": "; ".join(reasons),
                "since_s": int(since),
            }
            if total is not None:
                fields["rtt_ms"] = total
            out.append(Point("link_health", tags, fields, round(m.time * 1e9)))
        return out


# -- a service across vantage points: the rule `status` applies (and `check`, over its own fresh probes) --
LOCAL_STATUSES = (Status.ERROR.value, Status.NOT_ALLOWED.value)  # the prober's own fault: no evidence either way
STALE_INTERVALS = 3.0  # a probe older than this many intervals no longer says anything about now


@dataclass(frozen=True)
class Fetch:
    """One probe of a data-centre service from one agent: a TCP connect or a page fetch."""

    agent: str
    probe: str  # "tcp" or "http"
    time: float
    status: str
    total_ms: float | None = None
    cert_days_left: float | None = None


def fetch_of_point(point: Point) -> tuple[str, Fetch] | None:
    """(service id, Fetch) from a stored tcp/http point of a service; None for any other point."""
    if point.measurement not in ("tcp", "http") or point.tags.get("kind") != Role.SERVICE.value:
        return None
    service = point.tags.get("target", "")
    status = point.fields.get("status")
    if not service or not isinstance(status, str):
        return None
    fetch = Fetch(
        point.tags.get("agent", ""),
        point.measurement,
        point.time_ns / 1e9,
        status,
        _num(point.fields, "total_ms"),
        _num(point.fields, "cert_days_left"),
    )
    return service, fetch


def judge_service(latest: Iterable[Fetch]) -> tuple[State, list[str]]:
    """The latest probes of one service (one per agent and probe): the page is what people use, so its
    verdict wins over the port's. DOWN when no vantage point gets it; DEGRADED as page_state says for any."""
    measured = [f for f in latest if f.status not in LOCAL_STATUSES]
    web = [f for f in measured if f.probe == "http"]
    tcp = [f for f in measured if f.probe == "tcp"]
    if web:
        if not any(f.status == Status.OK.value for f in web):
            return State.DOWN, [f"page failed ({', '.join(sorted({f'{f.agent}: {f.status}' for f in web}))})"]
        reasons = sorted({r for f in web for r in page_state(f.status, f.total_ms, f.cert_days_left)[1]})
        return (State.DEGRADED if reasons else State.OK), reasons
    if tcp:
        if any(f.status == Status.OK.value for f in tcp):
            return State.OK, []
        return State.DOWN, [f"port not accepting ({', '.join(sorted({f'{f.agent}: {f.status}' for f in tcp}))})"]
    return State.UNKNOWN, []


@dataclass(frozen=True)
class ServiceVerdict:
    service: str
    name: str
    state: State
    since: float
    reasons: tuple[str, ...]
    worst: State  # the worst state at any probe in the window (a service fine now but not then: recovered)
    worst_since: float
    worst_reasons: tuple[str, ...]


def service_verdicts(
    services: Mapping[str, tuple[str, float]], points: Iterable[Point], now: float, since_s: float
) -> list[ServiceVerdict]:
    """Each service's state now and its worst in [now - since_s, now], judged after every stored probe
    with judge_service over the latest fresh probe of each agent. Services nobody probed are left out."""
    by_service: dict[str, list[Fetch]] = {}
    for p in points:
        got = fetch_of_point(p)
        if got is not None and got[0] in services and got[1].time <= now:
            by_service.setdefault(got[0], []).append(got[1])
    out = []
    for service, fetches in sorted(by_service.items()):
        name, interval_s = services[service]
        stale_s = STALE_INTERVALS * interval_s
        latest: dict[tuple[str, str], Fetch] = {}
        state, since, reasons = State.UNKNOWN, now - since_s, list[str]()
        worst, worst_since, worst_reasons = State.OK, now, list[str]()
        for f in sorted(fetches, key=lambda f: f.time):
            latest[(f.agent, f.probe)] = f
            fresh = [x for x in latest.values() if x.time >= f.time - stale_s]
            judged, why = judge_service(fresh)
            if judged is not state:
                state, since = judged, f.time
            reasons = why
            if f.time >= now - since_s and judged.severity > worst.severity:
                worst, worst_since, worst_reasons = judged, since, why
        if not any(x.time >= now - stale_s for x in latest.values()):
            state, reasons = State.UNKNOWN, [f"no probe in the last {stale_s:.0f} s"]
        out.append(
            ServiceVerdict(service, name, state, since, tuple(reasons), worst, worst_since, tuple(worst_reasons))
        )
    return out
