"""The notification queue: SQLite (WAL, synchronous=FULL) in the state directory, like the outbox.

One row per (incident event, recipient, channel); its `key` is the idempotency key and UNIQUE, so the
same event queued twice (a restart replaying an evaluation) is one row. The incident tracker's state is
saved in the same transaction as the rows its events produced: after a crash either both or neither.

Delivery order is kept per *lane* (recipient + channel): only the oldest undelivered row of a lane that
is due is offered. Deferred rows (quiet hours, `not_before` in the future) are out of the order until they
are due, so a held warning never holds back a critical message behind it.

Crash between send and mark (what is guaranteed): a row is marked `sending` (committed, fsynced) before
the request leaves; `sent` after the channel acknowledged. A row found `sending` at the next start is *in
doubt* and is sent again, once per crash, with the same idempotency key: webhooks carry it as the
`Idempotency-Key` header (a receiver that honours it sees no duplicate) and e-mail as a stable Message-ID
(a mail client that threads by it shows one); the Zalo OA API has no idempotency key, so a kill landing
after Zalo accepted and before the mark can show a message twice — at most once more per crash, never lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netprobe.storage.errors import prepare_dir, sqlite_error

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the order of a lane
    key TEXT NOT NULL UNIQUE,               -- idempotency key: incident|event|recipient|channel
    lane TEXT NOT NULL,
    recipient TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    incident TEXT NOT NULL,
    event TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    payload TEXT NOT NULL,                  -- the webhook's JSON (also kept for `notify status`)
    created REAL NOT NULL,
    not_before REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed | cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS messages_open ON messages(channel, state, lane, id);
CREATE INDEX IF NOT EXISTS messages_incident ON messages(incident, state);
CREATE TABLE IF NOT EXISTS channels (
    channel TEXT PRIMARY KEY,
    ok_at REAL,
    error TEXT,
    error_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,     -- failed attempts since the queue was made
    consecutive INTEGER NOT NULL DEFAULT 0,  -- failed attempts since the last success: > 0 is "failing"
    next_try REAL NOT NULL DEFAULT 0,        -- the whole channel waits until then (it is down)
    sent INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

OPEN_STATES = ("pending", "sending")
KEEP_DONE_S = 7 * 86400.0  # sent/cancelled rows kept this long: their keys keep deduplicating replays
KEEP_FAILED_S = 30 * 86400.0
MAX_TITLE = 200
MAX_BODY = 4000
MAX_ERROR = 300


@dataclass(frozen=True)
class NewMessage:
    key: str
    recipient: str
    channel: str
    address: str
    incident: str
    event: str
    severity: str
    title: str
    body: str
    payload: Mapping[str, Any]
    not_before: float = 0.0


@dataclass(frozen=True)
class Queued:
    id: int
    key: str
    recipient: str
    channel: str
    address: str
    incident: str
    event: str
    title: str
    body: str
    payload: dict[str, Any]
    created: float
    attempts: int
    in_doubt: bool  # was `sending` when a process died: it may have reached the receiver


@dataclass(frozen=True)
class ChannelStatus:
    channel: str
    depth: int
    failed: int
    sent: int
    failures: int
    consecutive: int
    ok_at: float | None
    error: str | None
    error_at: float | None
    oldest_s: float | None

    @property
    def failing(self) -> bool:
        return self.consecutive > 0


class NotifyQueue:
    """One connection to the queue at `path` (one per thread)."""

    def __init__(self, path: Path, *, max_queued: int = 20_000) -> None:
        self.path = Path(path)
        self.max_queued = max_queued
        if not self.path.exists():  # (its write test is per process: threads opening an existing queue skip it)
            prepare_dir(self.path.parent, "notify queue")
        try:
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before we send or forget
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "notify queue") from None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Any:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "notify queue") from None

    # ---- producing --------------------------------------------------------------------------------
    def enqueue(
        self,
        messages: Sequence[NewMessage],
        *,
        state: Mapping[str, Any] | None = None,
        state_key: str = "tracker",
        now: float | None = None,
        cancel: Sequence[str] = (),
    ) -> int:
        """Queue messages (an existing key is left as it is) and save `state` in the same transaction.
        Returns how many rows were new. Beyond `max_queued` undelivered rows new ones are refused, counted
        (`dropped`) and logged: never silently."""
        now = time.time() if now is None else now
        added = 0
        with self._tx() as db:
            for incident in cancel:  # held for the quiet hours and over already: withdrawn
                db.execute(
                    "UPDATE messages SET state='cancelled' WHERE incident=? AND state='pending' AND not_before>?",
                    (incident, now),
                )
            open_rows = int(
                db.execute("SELECT count(*) FROM messages WHERE state IN ('pending','sending')").fetchone()[0]
            )
            dropped = 0
            for m in messages:
                if open_rows + added >= self.max_queued:
                    dropped += 1
                    continue
                cur = db.execute(
                    "INSERT OR IGNORE INTO messages (key, lane, recipient, channel, address, incident, event, severity,"
                    " title, body, payload, created, not_before) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        m.key, f"{m.recipient}|{m.channel}", m.recipient, m.channel, m.address, m.incident, m.event,
                        m.severity, m.title[:MAX_TITLE], m.body[:MAX_BODY], json.dumps(m.payload, ensure_ascii=False),
                        now, m.not_before,
                    ),
                )  # fmt: skip
                added += cur.rowcount
            if dropped:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('dropped', ?) ON CONFLICT(key) DO UPDATE SET"
                    " value = CAST(value AS INTEGER) + excluded.value",
                    (str(dropped),),
                )
                log.error(
                    "notify queue %s is full (%d undelivered): %d messages dropped", self.path, open_rows, dropped
                )
            if state is not None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (state_key, json.dumps(state, ensure_ascii=False, separators=(",", ":"))),
                )
        return added

    def load_state(self, state_key: str = "tracker") -> dict[str, Any] | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (state_key,)).fetchone()
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "notify queue") from None
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            log.warning("notify queue %s: unreadable %s state, starting afresh", self.path, state_key)
            return None
        return value if isinstance(value, dict) else None

    def has_deferred(self, incident: str, now: float) -> bool:
        """Are messages of this incident still held for later (quiet hours)?"""
        row = self.db.execute(
            "SELECT 1 FROM messages WHERE incident=? AND state='pending' AND not_before>? LIMIT 1", (incident, now)
        ).fetchone()
        return row is not None

    # ---- delivering -------------------------------------------------------------------------------
    def due(self, channel: str, now: float, limit: int = 50) -> list[Queued]:
        """The head of every lane of `channel` that is due, oldest first."""
        rows = self.db.execute(
            "SELECT m.id, m.key, m.recipient, m.channel, m.address, m.incident, m.event, m.title, m.body,"
            " m.payload, m.created, m.attempts, m.state FROM messages m JOIN ("
            "  SELECT min(id) AS id FROM messages WHERE channel=? AND state IN ('pending','sending')"
            "  AND not_before<=? GROUP BY lane) h ON m.id = h.id"
            " WHERE m.next_try<=? ORDER BY m.id LIMIT ?",
            (channel, now, now, limit),
        ).fetchall()
        return [
            Queued(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], json.loads(r[9]), r[10], r[11], r[12] == "sending"
            )
            for r in rows
        ]

    def mark_sending(self, row: Queued) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET state='sending', attempts=attempts+1 WHERE id=?", (row.id,))

    def mark_sent(self, row: Queued, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET state='sent', sent_at=?, last_error=NULL WHERE id=?", (now, row.id))
            self._channel(db, row.channel, now, None, 0.0)

    def mark_retry(
        self, row: Queued, error: str, retry_at: float, now: float, *, channel_retry_at: float = 0.0
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE messages SET state='pending', next_try=?, last_error=? WHERE id=?",
                (retry_at, error[:MAX_ERROR], row.id),
            )
            self._channel(db, row.channel, now, error, channel_retry_at)

    def mark_failed(self, row: Queued, error: str, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET state='failed', last_error=? WHERE id=?", (error[:MAX_ERROR], row.id))
            self._channel(db, row.channel, now, error, 0.0)

    def _channel(self, db: sqlite3.Connection, channel: str, now: float, error: str | None, retry_at: float) -> None:
        db.execute("INSERT OR IGNORE INTO channels (channel) VALUES (?)", (channel,))
        if error is None:
            db.execute(
                "UPDATE channels SET ok_at=?, consecutive=0, next_try=0, sent=sent+1 WHERE channel=?", (now, channel)
            )
        else:
            db.execute(
                "UPDATE channels SET error=?, error_at=?, failures=failures+1, consecutive=consecutive+1, next_try=?"
                " WHERE channel=?",
                (error[:MAX_ERROR], now, retry_at, channel),
            )

    def channel_wait(self, channel: str) -> tuple[float, int]:
        """(until when the whole channel waits, its consecutive failures)."""
        row = self.db.execute("SELECT next_try, consecutive FROM channels WHERE channel=?", (channel,)).fetchone()
        return (float(row[0]), int(row[1])) if row else (0.0, 0)

    def channels_with_work(self) -> list[str]:
        return [
            r[0] for r in self.db.execute("SELECT DISTINCT channel FROM messages WHERE state IN ('pending','sending')")
        ]

    # ---- looking --------------------------------------------------------------------------------
    def depth(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM messages WHERE state IN ('pending','sending')").fetchone()[0])

    def dropped(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone()
        return int(row[0]) if row else 0

    def status(self, channels: Iterable[str] = (), now: float | None = None) -> list[ChannelStatus]:
        now = time.time() if now is None else now
        names = set(channels) | {r[0] for r in self.db.execute("SELECT DISTINCT channel FROM messages")}
        names |= {r[0] for r in self.db.execute("SELECT channel FROM channels")}
        out = []
        for name in sorted(names):
            depth, oldest = self.db.execute(
                "SELECT count(*), min(created) FROM messages WHERE channel=? AND state IN ('pending','sending')",
                (name,),
            ).fetchone()
            failed = self.db.execute(
                "SELECT count(*) FROM messages WHERE channel=? AND state='failed'", (name,)
            ).fetchone()[0]
            row = self.db.execute(
                "SELECT sent, failures, consecutive, ok_at, error, error_at FROM channels WHERE channel=?", (name,)
            ).fetchone() or (0, 0, 0, None, None, None)
            out.append(
                ChannelStatus(
                    name, int(depth), int(failed), int(row[0]), int(row[1]), int(row[2]), row[3], row[4], row[5],
                    None if oldest is None else max(0.0, now - float(oldest)),
                )
            )  # fmt: skip
        return out

    def rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT id, key, recipient, channel, event, state, attempts, last_error FROM messages ORDER BY id LIMIT ?",
            (limit,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def prune(self, now: float) -> int:
        """Forget old delivered, cancelled and failed rows, a bounded batch at a time."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE"
                " (state IN ('sent','cancelled') AND created < ?) OR (state='failed' AND created < ?) LIMIT 5000)",
                (now - KEEP_DONE_S, now - KEEP_FAILED_S),
            )
            return int(cur.rowcount)
