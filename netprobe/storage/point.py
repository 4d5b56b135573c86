"""One time-series point: what every probe result and verdict becomes before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str  # a key of storage.schema.SCHEMA
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int  # unix nanoseconds; (measurement, tags, time_ns) identifies the point: replays overwrite
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # not stored; e.g. debug context
