"""Who is told of an event, over which channel, and when (quiet hours).

- the commune's contacts: every incident of their commune (and its recovery);
- the province duty roster (`duty`, those on duty today by ISO weekday): every incident;
- the provider's escalation contacts: a critical incident still open after `escalate_after_min` (the
  `escalate` event), and its recovery once escalated;
- a recipient with `min_severity: critical` hears only of critical incidents.
Every address of a recipient gets the message (Zalo, e-mail, its webhook); the same address reached
twice for one event (a person both on duty and a commune contact) gets it once.
Quiet hours (local time, Asia/Ho_Chi_Minh) hold warnings until the end of the quiet period; critical
incidents are always sent at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from netprobe.inventory.model import NotifyConfig, QuietHours, Recipient
from netprobe.notify.incidents import Event

LOCAL = timezone(timedelta(hours=7), "ICT")  # Vietnam: UTC+7, no daylight saving


@dataclass(frozen=True)
class Delivery:
    recipient: str  # "duty/Trực ban", "communes/hap-linh/Cán bộ CNTT", "providers/VNPT/NOC"
    channel: str  # "zalo", "email", "webhook:<name>"
    address: str  # the Zalo user id, the e-mail address, the webhook name
    lang: str


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(LOCAL)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def quiet_until(quiet: QuietHours | None, now: float) -> float | None:
    """The end of the quiet period `now` is in (unix seconds), or None when not quiet."""
    if quiet is None:
        return None
    t = local(now)
    minute = t.hour * 60 + t.minute
    start, end = _minutes(quiet.start), _minutes(quiet.end)
    inside = start <= minute < end if start <= end else minute >= start or minute < end
    if not inside or start == end:
        return None
    end_today = t.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end_today <= t:
        end_today += timedelta(days=1)
    return end_today.timestamp()


def on_duty(r: Recipient, now: float) -> bool:
    return r.days is None or local(now).isoweekday() in r.days


def providers_of(
    incident_kind: str, subject: str, line_provider: Mapping[str, str], commune_lines: Mapping[str, Sequence[str]]
) -> list[str]:
    """Provider keys to escalate to: the line's provider, or every provider of an isolated commune."""
    if incident_kind == "line":
        return [p] if (p := line_provider.get(subject)) else []
    if incident_kind == "commune":
        return sorted({line_provider[ln] for ln in commune_lines.get(subject, ()) if ln in line_provider})
    return []


def route(
    cfg: NotifyConfig,
    event: Event,
    line_provider: Mapping[str, str],
    commune_lines: Mapping[str, Sequence[str]],
) -> list[Delivery]:
    inc = event.incident
    groups: list[tuple[str, list[Recipient]]] = []
    if event.kind != "escalate" and inc.commune is not None:
        groups.append((f"communes/{inc.commune}", cfg.communes.get(inc.commune, [])))
    groups.append(("duty", [r for r in cfg.duty if on_duty(r, event.time)]))
    if event.kind == "escalate" or (event.kind == "recover" and inc.escalated):
        for p in providers_of(inc.kind, inc.subject, line_provider, commune_lines):
            groups.append((f"providers/{p}", cfg.providers.get(p, [])))
    out: list[Delivery] = []
    seen: set[tuple[str, str]] = set()
    for group, people in groups:
        for r in people:
            if r.min_severity == "critical" and inc.severity != "critical":
                continue
            addresses = [("zalo", r.zalo_user_id), ("email", r.email), (f"webhook:{r.webhook}", r.webhook)]
            for channel, address in addresses:
                if address is None or (channel, address) in seen:
                    continue
                seen.add((channel, address))
                out.append(Delivery(f"{group}/{r.name}", channel, address, r.lang))
    return out
