"""Web services (subject kind `service`): one page fetch → a state, the rule `netprobe check` and the
agent's `link_health` rows share.

A page is DOWN when the GET failed (refused, timeout, HTTP >= 400, the expected text missing, a bad
certificate), DEGRADED when it worked but the TLS certificate expires within CERT_WARN_DAYS or the whole
GET took longer than WEB_SLOW_MS, OK otherwise. The agent writes one `link_health` row per service per
fetch (kind=service, target=<service id>), with the state's `since` kept while the state holds.
"""

from __future__ import annotations

from collections.abc import Iterable

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
