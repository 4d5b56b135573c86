"""The embedded store: with no InfluxDB configured, points land in SQLite under the state dir.

Same schema and the same semantics as InfluxDB where it matters: a point is identified by measurement +
tags + time, and writing it again merges its fields (replays overwrite, never duplicate). Retention-limited
(storage.local_retention_days). Implements PointSource for verdicts, `check` and reports.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from netprobe.storage.errors import prepare_dir, sqlite_error
from netprobe.storage.point import FieldValue, Point
from netprobe.storage.schema import SCHEMA

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    series TEXT NOT NULL,           -- canonical JSON of the tags (sorted keys): the series identity
    time_ns INTEGER NOT NULL,
    fields TEXT NOT NULL,           -- JSON object
    PRIMARY KEY (measurement, series, time_ns)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (measurement, time_ns);
CREATE INDEX IF NOT EXISTS points_by_line ON points (measurement, json_extract(series, '$.line'), time_ns);
CREATE INDEX IF NOT EXISTS points_by_device ON points (measurement, json_extract(series, '$.device'), time_ns);
"""
# Reads by one line or device (the SLA report, `check`'s history) use these: without them each read scans
# every point of the measurement in the time range — a province-month report read the whole month once
# per line. The query must spell the expression exactly as the index does (a literal path, not a `?`).
_INDEXED_TAGS = ("line", "device")

_PRUNE_EVERY_S = 3600.0


def coerce_fields(measurement: str, fields: Mapping[str, object]) -> dict[str, FieldValue]:
    """Field values in the schema's types (JSON and InfluxQL do not keep 1 and 1.0 apart)."""
    schema = SCHEMA.get(measurement)
    out: dict[str, FieldValue] = {}
    for name, value in fields.items():
        if value is None:
            continue
        expected = schema.fields.get(name) if schema else None
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            out[name] = float(value)
        elif expected is int and isinstance(value, float) and value.is_integer():
            out[name] = int(value)
        elif isinstance(value, bool | int | float | str):
            out[name] = value
    return out


class LocalStore:
    """SQLite (WAL) points table; one instance per thread."""

    def __init__(self, path: Path, retention_days: float = 35.0) -> None:
        self.path = Path(path)
        self.retention_ns = int(retention_days * 86400e9)
        self._last_prune = float("-inf")  # prune at the first write, then hourly
        prepare_dir(self.path.parent, "local store")
        try:
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "local store") from None

    def close(self) -> None:
        self.db.close()

    def write(self, points: Iterable[Point]) -> int:
        rows = [
            (p.measurement, json.dumps(p.tags, sort_keys=True, ensure_ascii=False), p.time_ns, json.dumps(p.fields))
            for p in points
        ]
        if not rows:
            return 0
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    "INSERT INTO points (measurement, series, time_ns, fields) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET fields = json_patch(fields, excluded.fields)",
                    rows,
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK") if self.db.in_transaction else None
                raise
            if time.monotonic() - self._last_prune > _PRUNE_EVERY_S:
                self.prune()
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "local store") from None
        return len(rows)

    def prune(self, now_ns: int | None = None) -> int:
        """Delete points older than the retention; returns how many."""
        self._last_prune = time.monotonic()
        cutoff = (now_ns if now_ns is not None else time.time_ns()) - self.retention_ns
        try:
            return self.db.execute("DELETE FROM points WHERE time_ns < ?", (cutoff,)).rowcount
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "local store") from None

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM points").fetchone()[0])

    def read(
        self, measurement: str, since_ns: int, until_ns: int, tags: Mapping[str, str] | None = None
    ) -> Iterator[Point]:
        """PointSource: points with since_ns <= time < until_ns matching `tags`, oldest first."""
        sql = "SELECT series, time_ns, fields FROM points WHERE measurement = ? AND time_ns >= ? AND time_ns < ?"
        args: list[object] = [measurement, since_ns, until_ns]
        for key, value in (tags or {}).items():
            if key in _INDEXED_TAGS:
                sql += f" AND json_extract(series, '$.{key}') = ?"
                args.append(value)
            else:
                sql += " AND json_extract(series, ?) = ?"
                args += [f'$."{key}"', value]
        sql += " ORDER BY time_ns, series"
        try:
            cursor = self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, "local store") from None
        for series, time_ns, fields in cursor:
            yield Point(measurement, json.loads(series), coerce_fields(measurement, json.loads(fields)), time_ns)
