"""The notifier inside the agent: evaluations → incident events → routed, rendered rows in the queue.

Runs on the agent's I/O thread, after each evaluation of the verdict engine (VerdictObserver.listeners).
The tracker's state is saved with the rows of the same evaluation in one SQLite transaction, so a kill
at any point neither loses an event nor queues it twice. Only the agents in `notify.settings.senders`
(default: the inventory's first agent) notify: two data centres judging the same lines send once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netprobe.health.verdict import Evaluation
from netprobe.inventory.loader import Inventory
from netprobe.inventory.model import NotifyConfig
from netprobe.notify.incidents import Cause, Event, Incident, Tracker, TrackerSettings, root_causes
from netprobe.notify.message import Facts, Message, render, render_digest
from netprobe.notify.queue import NewMessage, NotifyQueue
from netprobe.notify.route import Delivery, _minutes, local, on_duty, quiet_until, route
from netprobe.probes.base import Measurement, Target
from netprobe.storage.point import Point

log = logging.getLogger("netprobe.notify")

QUEUE_FILE = "notify.db"
DAY_S = 86400.0
METRICS_EVERY_S = 30.0
MAX_LOG = 10_000  # opened/recovered events remembered for the digest (24 h)


def senders(inv: Inventory) -> list[str]:
    cfg = inv.notify
    if cfg is not None and cfg.settings.senders:
        return list(cfg.settings.senders)
    return inv.agent_names()[:1]


def is_sender(inv: Inventory, agent: str) -> bool:
    names = senders(inv)
    return not names or agent in names


def channel_names(cfg: NotifyConfig) -> list[str]:
    names = (["zalo"] if cfg.zalo else []) + (["email"] if cfg.smtp else [])
    return names + [f"webhook:{n}" for n in sorted(cfg.webhooks)]


def tracker_settings(cfg: NotifyConfig) -> TrackerSettings:
    s = cfg.settings
    return TrackerSettings(s.repeat_h, s.confirm_s, s.escalate_after_min, s.flap_changes, s.flap_window_s)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Notifier:
    """One per sending agent (or per `notify serve`, with its own `state_key`)."""

    state_name = "notify"

    def __init__(
        self, inv: Inventory, agent: str, state_dir: Path, *, state_key: str = "tracker", clock: Any = time.time
    ) -> None:
        assert inv.notify is not None
        self.cfg: NotifyConfig = inv.notify
        self.agent = agent
        self.clock = clock
        self.state_key = state_key
        self.facts = Facts.of(inv)
        self.queue = NotifyQueue(Path(state_dir) / QUEUE_FILE, max_queued=self.cfg.settings.max_queued)
        self.tracker = Tracker(tracker_settings(self.cfg))
        self.log: list[tuple[float, str]] = []  # (time, "open"|"recover") for the digest
        self.digest_day = ""
        saved = self.queue.load_state(state_key)
        if saved:
            try:
                self.tracker.restore(saved.get("tracker") or {})
                self.log = [(float(t), str(k)) for t, k in saved.get("log") or []][-MAX_LOG:]
                self.digest_day = str(saved.get("digest_day") or "")
            except (TypeError, ValueError, KeyError) as exc:
                log.warning("notify: ignoring saved incident state (%s): starting afresh", exc)
        self.enqueued = 0
        self.province = inv.province.slug
        self.channel_names = channel_names(self.cfg)
        self._metrics_at = 0.0
        self._saved = ""

    # ---- the agent's observer protocol (engine.state.StatefulObserver) -----------------------------
    def observe(self, measurements: list[Measurement]) -> list[Point]:
        """The self-metric (netprobe_notify per channel), at most every METRICS_EVERY_S."""
        now = self.clock()
        if now - self._metrics_at < METRICS_EVERY_S:
            return []
        self._metrics_at = now
        from netprobe.engine.selfmetrics import notify_points

        return notify_points(self.queue.status(self.channel_names, now), agent=self.agent, province=self.province,
                             now=now)  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return {}  # kept in the queue database, with the rows (see module doc)

    def restore(self, blob: dict[str, Any]) -> None:
        return None

    def reload(self, inventory: Inventory, targets: Sequence[Target]) -> None:
        if inventory.notify is None:
            log.warning("notify: the reloaded inventory has no notify: block; keeping the previous recipients")
            return
        self.cfg = inventory.notify
        self.facts = Facts.of(inventory)
        self.tracker.settings = tracker_settings(self.cfg)
        self.channel_names = channel_names(self.cfg)

    # ---- evaluations → queue ----------------------------------------------------------------------
    def on_evaluation(self, evaluation: Evaluation) -> int:
        f = self.facts
        bad, good = root_causes(evaluation, f.commune_of(), self.cfg.settings.min_state, f.parent_of())
        return self.process(bad, good, evaluation.time)

    def process(self, bad: Mapping[str, Cause], good: Sequence[str] | set[str], now: float) -> int:
        events = self.tracker.update(bad, good, now)
        rows: list[NewMessage] = []
        cancel: list[str] = []
        for ev in events:
            rows += self.messages(ev, now, cancel)
            if ev.kind in ("open", "flapping", "recover"):
                self.log.append((now, "recover" if ev.kind == "recover" else "open"))
        rows += self.digest(now)
        self.tracker.prune(now)
        self.log = [(t, k) for t, k in self.log if now - t < DAY_S][-MAX_LOG:]
        state = {"tracker": self.tracker.to_json(), "log": self.log, "digest_day": self.digest_day}
        text = json.dumps(state, sort_keys=True)
        if not rows and not cancel and text == self._saved:
            return 0  # nothing changed: no transaction (each is an fsync)
        added = self.queue.enqueue(rows, state=state, state_key=self.state_key, now=now, cancel=cancel)
        self._saved = text
        self.enqueued += added
        for ev in events:
            log.info("notify: %s %s (%s, %s)", ev.kind, ev.incident.id, ev.incident.severity, ev.incident.state)
        return added

    def messages(self, ev: Event, now: float, cancel: list[str]) -> list[NewMessage]:
        inc = ev.incident
        not_before = 0.0
        quiet = quiet_until(self.cfg.settings.quiet_hours, now) if inc.severity == "warning" else None
        if quiet is not None:
            if ev.kind == "repeat":
                return []  # no reminders at night for a warning
            if ev.kind == "recover" and self.queue.has_deferred(inc.id, now):
                cancel.append(inc.id)  # began and ended within the quiet hours: nobody needs to hear of it
                return []
            not_before = quiet
        deliveries = route(self.cfg, ev, self.facts.line_provider(), self.facts.commune_lines)
        if not deliveries:
            log.warning("notify: nobody to tell of %s %s (no recipient in notify:)", ev.kind, inc.id)
        return [self.row(ev.key, ev.kind, inc, d, render(ev, self.facts, d.lang), not_before) for d in deliveries]

    def row(
        self, event_key: str, kind: str, inc: Incident | None, d: Delivery, msg: Message, not_before: float = 0.0
    ) -> NewMessage:
        payload: dict[str, Any] = {
            "source": "netprobe",
            "event": kind,
            "title": msg.title,
            "text": msg.body,
            "recipient": d.recipient,
            "lang": d.lang,
            "agent": self.agent,
        }
        if inc is not None:
            payload.update(
                incident=inc.id, kind=inc.kind, subject=inc.subject, commune=inc.commune, severity=inc.severity,
                state=inc.state, since=_iso(inc.since), opened=_iso(inc.opened),
            )  # fmt: skip
        return NewMessage(
            key=f"{event_key}|{d.recipient}|{d.channel}",
            recipient=d.recipient,
            channel=d.channel,
            address=d.address,
            incident=inc.id if inc is not None else event_key,
            event=kind,
            severity=inc.severity if inc is not None else "info",
            title=msg.title,
            body=msg.body,
            payload=payload,
            not_before=not_before,
        )

    def digest(self, now: float) -> list[NewMessage]:
        at = self.cfg.settings.digest_at
        if at is None:
            return []
        t = local(now)
        day = t.strftime("%Y-%m-%d")
        if day == self.digest_day or t.hour * 60 + t.minute < _minutes(at):
            return []
        self.digest_day = day
        opened = sum(1 for _, k in self.log if k == "open")
        recovered = sum(1 for _, k in self.log if k == "recover")
        still = sorted(self.tracker.open.values(), key=lambda i: (i.severity != "critical", i.opened))
        rows = []
        seen: set[tuple[str, str]] = set()
        for r in self.cfg.duty:
            if not on_duty(r, now):
                continue
            for channel, address in (("zalo", r.zalo_user_id), ("email", r.email), (f"webhook:{r.webhook}", r.webhook)):
                if address is None or (channel, address) in seen:
                    continue
                seen.add((channel, address))
                d = Delivery(f"duty/{r.name}", channel, address, r.lang)
                msg = render_digest(now, opened, recovered, still, self.facts, r.lang)
                rows.append(self.row(f"digest@{day}", "digest", None, d, msg))
        return rows

    def close(self) -> None:
        self.queue.close()
