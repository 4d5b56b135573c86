"""A minimal InfluxDB 1.x HTTP client for proving queries: /write line protocol and /query InfluxQL.
(A private server to run it against: netprobe.storage.influxd.InfluxD.)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from netprobe import limits
from netprobe.storage.point import Point


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """Grafana's table view of one series: its tags plus one dict per row."""
        return [{**self.tags, **dict(zip(self.columns, row, strict=True))} for row in self.values]


class QueryError(RuntimeError):
    pass


# Line protocol escaping (InfluxDB docs): measurement , and space; tag keys/values and field keys , = space.
def _esc_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _field_value(value: float | int | str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def line_protocol(point: Point) -> str:
    tags = "".join(f",{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(point.tags.items()) if v != "")
    fields = ",".join(f"{_esc_key(k)}={_field_value(v)}" for k, v in point.fields.items())
    measurement = point.measurement.replace(",", "\\,").replace(" ", "\\ ")
    return f"{measurement}{tags} {fields} {point.time_ns}"


@dataclass
class InfluxClient:
    url: str  # e.g. http://127.0.0.1:8086
    database: str
    timeout_s: float = 30.0
    token: str | None = field(default=None, repr=False)  # sent as `Authorization: Token …` (2.x, 3.x, 1.8)

    def _post(self, path: str, params: Mapping[str, str], body: bytes, content_type: str) -> bytes:
        request = urllib.request.Request(
            f"{self.url}{path}?{urllib.parse.urlencode(params)}",
            data=body,
            method="POST",
            headers={"Content-Type": content_type, **({"Authorization": f"Token {self.token}"} if self.token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return limits.read_capped(response, limits.HTTP_ANSWER_MAX_BYTES, f"the answer from {self.url}{path}")
        except urllib.error.HTTPError as exc:
            raise QueryError(
                f"{exc.code} from {self.url}{path}: {exc.read(2000).decode(errors='replace').strip()}"
            ) from None

    def create_database(self) -> None:
        self.query(f'CREATE DATABASE "{self.database}"')

    def write(self, points: Iterable[Point], batch: int = 20000) -> int:
        """Write points (nanosecond precision); returns how many were written."""
        lines: list[str] = []
        count = 0
        for p in points:
            lines.append(line_protocol(p))
            if len(lines) >= batch:
                count += self._write_lines(lines)
                lines = []
        if lines:
            count += self._write_lines(lines)
        return count

    def _write_lines(self, lines: list[str]) -> int:
        self._post("/write", {"db": self.database, "precision": "ns"}, "\n".join(lines).encode(), "text/plain")
        return len(lines)

    def query(self, text: str) -> list[Series]:
        """Run one InfluxQL statement (POST, as Grafana's httpMode POST does); raise QueryError on any error."""
        body = urllib.parse.urlencode({"q": text, "db": self.database, "epoch": "ms"}).encode()
        raw = self._post("/query", {}, body, "application/x-www-form-urlencoded")
        payload = json.loads(raw)
        if "error" in payload:
            raise QueryError(f"{payload['error']} in: {text}")
        series: list[Series] = []
        for result in payload.get("results", []):
            if "error" in result:
                raise QueryError(f"{result['error']} in: {text}")
            for s in result.get("series", []):
                series.append(
                    Series(
                        s.get("name", ""), dict(s.get("tags", {})), list(s["columns"]), [list(v) for v in s["values"]]
                    )
                )
        return series
