"""The outbox: a durable local queue (SQLite, WAL) every point enters before any database sees it.

Points are stored as line-protocol lines with their own timestamps, so a replay after a crash or an
outage rewrites the same series+time and InfluxDB overwrites instead of duplicating. A row is deleted only
after the database acknowledged the batch it was in (see drain.py). Bounded by size and age: when a
bound is hit the *oldest* points are dropped, counted (`dropped`, exported as the agent's
`outbox_dropped` self-metric) and logged at ERROR — never silently.

Several processes may open the same outbox (the agent writes, `netprobe outbox flush` drains); SQLite's
locking keeps them consistent and drain.py's lock file keeps a single drainer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from netprobe.storage.errors import OutboxFull, StorageError, prepare_dir, sqlite_error

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- AUTOINCREMENT: ids never reused, so an ack can never hit a newer row
    enqueued_ns INTEGER NOT NULL,
    line TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    enqueued_ns INTEGER NOT NULL,
    quarantined_ns INTEGER NOT NULL,
    line TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""


# (id, line) exactly as SQLite returns it: no per-row object (a dataclass cost ~8 µs per row at 50k rows/s).
Row = tuple[int, str]


@dataclass(frozen=True)
class OutboxStats:
    path: Path
    depth: int
    oldest_age_s: float | None
    size_mb: float
    dropped: int
    quarantined: int
    sent: int
    last_error: str | None
    last_error_age_s: float | None
    last_ok_age_s: float | None
    beyond_retention: int = 0


# Space set aside next to the outbox so that acknowledging (deleting) sent points still works when the disk
# is full: SQLite needs a few free pages to delete. Released on SQLITE_FULL during an ack, re-made later.
RESERVE_MAX_BYTES = 4 << 20
_SMALL_ACK = 100  # rows per delete when the disk is full


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or any(
        s in str(exc) for s in ("malformed", "not a database")
    )


class Outbox:
    """One connection to the outbox database at `path` (use one Outbox per thread)."""

    def __init__(
        self, path: Path, *, max_mb: float = 512.0, max_age_h: float = 24.0 * 7, for_draining: bool = False
    ) -> None:
        """`for_draining`: this connection only acknowledges. Its commits skip the fsync (synchronous=NORMAL:
        still atomic and safe against a crash of the process): an ack lost to a power cut only means the
        batch is sent again, which overwrites. Queueing (enqueue) always fsyncs."""
        self.path = Path(path)
        self.max_bytes = int(max_mb * 1e6)
        self.max_age_ns = int(max_age_h * 3600e9)
        prepare_dir(self.path.parent, "outbox")
        # `<outbox>.known` holds how many points were queued at the last close: so an outbox that was
        # deleted or truncated under us is noticed and what was lost is said, instead of starting at 0.
        self.known_path = self.path.with_name(self.path.name + ".known")
        self._notice_vanished()
        try:
            self._connect(for_draining)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise sqlite_error(exc, self.path, "outbox") from None
            self._move_aside(exc)
            try:
                self._connect(for_draining)
            except sqlite3.Error as again:
                raise sqlite_error(again, self.path, "outbox") from None
        self._for_draining = for_draining
        self._identity = self._file_identity()
        self._write_known()
        self.reserve_path = self.path.with_name(self.path.name + ".reserve")
        self._make_reserve()

    def _connect(self, for_draining: bool) -> None:
        self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk (WAL fsynced) before write() returns — survives power loss too.
            self.db.execute(f"PRAGMA synchronous={'NORMAL' if for_draining else 'FULL'}")
            # A small WAL (~1 MB) is checkpointed into pages the database file already has, so draining
            # on a full disk only needs the reserve below, not room for a big WAL.
            # The drainer checkpoints less often (each checkpoint is two fsyncs), unless space is short.
            self.db.execute(f"PRAGMA wal_autocheckpoint={4096 if for_draining and not self._space_short() else 256}")
            self.db.executescript(_SCHEMA)
            # reading both tables' b-trees end to end finds a damaged page now, not at the first drain
            self.db.execute("SELECT count(*), max(id) FROM outbox").fetchone()
            self.db.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.Error:
            self.db.close()
            raise

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _reopen_if_replaced(self) -> None:
        """The outbox file was deleted (or replaced) under the open connection: SQLite would go on writing
        into the unlinked inode, whose points no restart and no other process would ever see. Move what is
        queued there into a new outbox at the path, so nothing queued is lost, and say so."""
        identity = self._file_identity()
        if identity is not None and identity == self._identity:
            return
        old = self.db
        try:
            self._connect(self._for_draining)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None
        moved = 0
        if not self._for_draining:  # the writer moves the points; a drainer only follows it to the new file
            try:
                cur = old.execute("SELECT enqueued_ns, line FROM outbox ORDER BY id")
                with self._tx():
                    while batch := cur.fetchmany(10_000):  # bounded by the outbox's own size cap
                        self.db.executemany("INSERT INTO outbox (enqueued_ns, line) VALUES (?, ?)", batch)
                        moved += len(batch)
            except sqlite3.Error as exc:
                log.error("outbox %s: could not move the queued points out of the deleted file: %s", self.path, exc)
        old.close()
        self._identity = self._file_identity()
        log.error(
            "outbox %s was %s while in use: %s into a new outbox at the same path",
            self.path,
            "deleted" if identity is None else "replaced by another file",
            f"moved its {moved} queued points" if not self._for_draining else "the drainer follows",
        )

    def _last_known(self) -> int | None:
        try:
            return int(self.known_path.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return None

    def _write_known(self) -> None:
        try:
            depth = self.depth()
            tmp = self.known_path.with_name(self.known_path.name + ".tmp")
            tmp.write_text(f"{depth}\n", encoding="ascii")
            os.replace(tmp, self.known_path)
        except (OSError, StorageError):
            pass  # only a hint for the next open; never a reason to refuse to queue

    def _notice_vanished(self) -> None:
        known = self._last_known()
        if known is None:
            return
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = -1
        except OSError:
            return
        if size <= 0:  # deleted, or truncated to nothing: SQLite would silently make a new, empty outbox
            log.error(
                "outbox %s %s: %d queued points (last recorded, at an open or close) are lost; starting a fresh outbox",
                self.path,
                "vanished" if size < 0 else "was truncated to 0 bytes",
                known,
            )

    def _move_aside(self, exc: sqlite3.Error) -> None:
        """A damaged outbox must not stop the agent: keep it for forensics, start fresh, say what was lost."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        known = self._last_known()
        lost = (
            f"{known} queued points (last recorded, at an open or close)" if known is not None else "its queued points"
        )
        log.error(
            "outbox %s is corrupt (%s): moved aside to %s; %s are lost unless recovered from it "
            "(sqlite3 %s .recover); starting a fresh outbox",
            self.path,
            exc,
            aside,
            lost,
            aside,
        )

    def _space_short(self) -> bool:
        try:
            return shutil.disk_usage(self.path.parent).free < 64e6
        except OSError:
            return True

    def _make_reserve(self) -> None:
        if self.reserve_path.exists():
            return
        try:
            usage = shutil.disk_usage(self.path.parent)
            size = min(RESERVE_MAX_BYTES, usage.total // 10)
            if usage.free < 3 * size:
                return  # not while space is short; tried again at the next open
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError:
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()

    def _release_reserve(self) -> bool:
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        log.warning("outbox %s: disk full — released the reserve space to keep draining", self.path)
        return True

    def close(self) -> None:
        self._write_known()
        self.db.close()

    # --- writer side ----------------------------------------------------------------------------------

    def enqueue(self, lines: Sequence[str]) -> int:
        """Durably queue `lines` (one transaction, fsynced); returns how many. Then enforce the bounds."""
        if not lines:
            return 0
        now = time.time_ns()
        self._reopen_if_replaced()
        try:
            with self._tx():
                self.db.executemany("INSERT INTO outbox (enqueued_ns, line) VALUES (?, ?)", ((now, x) for x in lines))
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None
        self._enforce_bounds()
        return len(lines)

    def _enforce_bounds(self) -> None:
        try:
            used = self.used_bytes()
            if used > self.max_bytes:
                depth = self.depth()
                # Drop the oldest down to 90% of the bound, estimating bytes per row from the average.
                excess = used - int(self.max_bytes * 0.9)
                n = max(1, min(depth, int(excess / max(used / max(depth, 1), 1)) + 1))
                self._drop_oldest(n, f"outbox over storage.outbox_max_mb={self.max_bytes / 1e6:g}")
            cutoff = time.time_ns() - self.max_age_ns
            oldest = self.db.execute("SELECT enqueued_ns FROM outbox ORDER BY id LIMIT 1").fetchone()
            if oldest and oldest[0] < cutoff:  # one indexed row per enqueue; the full count only when needed
                n = self.db.execute("SELECT count(*) FROM outbox WHERE enqueued_ns < ?", (cutoff,)).fetchone()[0]
                if n:
                    self._drop_oldest(n, f"points older than storage.outbox_max_age_h={self.max_age_ns / 3600e9:g}")
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None

    def _drop_oldest(self, n: int, why: str) -> None:
        with self._tx():
            self.db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (n,))
            self._bump("dropped", n)
        log.error(
            "outbox %s: DROPPED the %d oldest points (%s); the database has been unreachable too long — "
            "see `netprobe outbox status`",
            self.path,
            n,
            why,
        )

    # --- drainer side ---------------------------------------------------------------------------------

    def peek(self, limit: int, after_id: int = 0) -> list[Row]:
        """The oldest `limit` queued rows after `after_id`, oldest first (left in place until acked)."""
        if after_id == 0:  # the start of a drain round: ids of an earlier file mean nothing in a new one
            self._reopen_if_replaced()
        try:
            cur = self.db.execute("SELECT id, line FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
            rows: list[Row] = cur.fetchall()
            return rows
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None

    def ack(self, rows: Sequence[Row], *, beyond_retention: int = 0) -> None:
        """The database accepted `rows` (a contiguous slice of one peek): delete them. `beyond_retention`:
        how many of them the database dropped as older than its retention (counted, not resent)."""
        if not rows:
            return
        if beyond_retention:
            with contextlib.suppress(sqlite3.Error), self._tx():
                self._bump("beyond_retention", beyond_retention)
        try:
            self._delete_range(rows)
        except OutboxFull:
            # Disk full: free the reserve, then delete in small steps (each needs only a few free pages).
            # A step that still fails leaves the rest queued: they are resent, and resending overwrites.
            self._release_reserve()
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("PRAGMA wal_autocheckpoint=256")
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            for start in range(0, len(rows), _SMALL_ACK):
                self._delete_range(rows[start : start + _SMALL_ACK])

    def _delete_range(self, rows: Sequence[Row]) -> None:
        try:
            with self._tx():
                # A peek returns consecutive ids and new rows get larger ids: the range is exactly `rows`.
                self.db.execute("DELETE FROM outbox WHERE id BETWEEN ? AND ?", (rows[0][0], rows[-1][0]))
                self._bump("sent", len(rows))
                self._set("last_ok_ns", time.time_ns())
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None

    def quarantine(self, row: Row, error: str) -> None:
        """The database refuses this one point for good (malformed): keep it aside, never resend."""
        now = time.time_ns()
        try:
            with self._tx():
                moved = self.db.execute(
                    "INSERT INTO quarantine (id, enqueued_ns, quarantined_ns, line, error) "
                    "SELECT id, enqueued_ns, ?, line, ? FROM outbox WHERE id = ?",
                    (now, error, row[0]),
                ).rowcount
                self.db.execute("DELETE FROM outbox WHERE id = ?", (row[0],))
                self._bump("quarantined", moved)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None
        log.error("outbox %s: quarantined a point the database refused (%s): %s", self.path, error, row[1][:200])

    def record_error(self, message: str | None) -> None:
        try:
            with self._tx():
                self._set("last_error", message)
                self._set("last_error_ns", time.time_ns() if message else None)
        except sqlite3.Error:
            log.debug("could not record the last error in the outbox", exc_info=True)

    # --- reading ------------------------------------------------------------------------------------

    def depth(self) -> int:
        # max(id) - min(id) would be O(1) but wrong after quarantine/drop holes; count(*) on the rowid
        # b-tree is fast enough for status and self-metrics (≈ 10 ms per million rows).
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def used_bytes(self) -> int:
        page = self.db.execute("PRAGMA page_size").fetchone()[0]
        count = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((count - free) * page)

    def counter(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def quarantined_lines(self, limit: int = 20) -> list[tuple[str, str]]:
        cur = self.db.execute("SELECT line, error FROM quarantine ORDER BY id DESC LIMIT ?", (limit,))
        return [(str(a), str(b)) for a, b in cur]

    def stats(self) -> OutboxStats:
        try:
            now = time.time_ns()
            oldest = self.db.execute("SELECT enqueued_ns FROM outbox ORDER BY id LIMIT 1").fetchone()
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "outbox") from None

        def age(ns: object) -> float | None:
            return (now - int(ns)) / 1e9 if isinstance(ns, int) else None

        return OutboxStats(
            path=self.path,
            depth=self.depth(),
            oldest_age_s=age(oldest[0]) if oldest else None,
            size_mb=self.used_bytes() / 1e6,
            dropped=int(meta.get("dropped") or 0),
            quarantined=int(meta.get("quarantined") or 0),
            sent=int(meta.get("sent") or 0),
            last_error=meta.get("last_error"),
            last_error_age_s=age(meta.get("last_error_ns")),
            last_ok_age_s=age(meta.get("last_ok_ns")),
            beyond_retention=int(meta.get("beyond_retention") or 0),
        )

    # --- helpers ------------------------------------------------------------------------------------

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)

    def _bump(self, key: str, n: int) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (key, n),
        )

    def _set(self, key: str, value: object) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): the writer lock is taken up front, no upgrade deadlock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            with contextlib.suppress(sqlite3.Error):  # it may have rolled back already (e.g. SQLITE_FULL)
                self.db.execute("ROLLBACK")


__all__ = ["Outbox", "OutboxStats", "Row", "StorageError"]
