"""One time-series point: what every probe result and verdict becomes before it is stored."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    measurement: str  # a key of storage.schema.SCHEMA
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    time_ns: int  # unix nanoseconds; (measurement, tags, time_ns) identifies the point: replays overwrite
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # not stored; e.g. debug context


class PointSource(Protocol):
    """Where history is read from: the embedded local store or InfluxDB (InfluxQL). Same schema either way.

    Verdicts (`netprobe status`), `check`'s recent history and the SLA report read through this, so they
    work the same on the embedded store and on InfluxDB.
    """

    def read(
        self,
        measurement: str,
        since_ns: int,
        until_ns: int,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[Point]:
        """Points of `measurement` with since_ns <= time < until_ns (and matching `tags`), oldest first."""
        ...
