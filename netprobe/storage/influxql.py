"""Reading history back from InfluxDB with InfluxQL `/query`: 1.x natively, 2.x through its v1
compatibility API (needs a DBRP mapping for the bucket), 3.x natively (database = bucket)."""

from __future__ import annotations

import heapq
import json
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from netprobe.config import InfluxConfig
from netprobe.errors import EXIT_USAGE
from netprobe.storage.local import coerce_fields
from netprobe.storage.point import Point
from netprobe.storage.sinks import Endpoint, HttpClient, SinkError, error_text


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def select_statement(measurement: str, since_ns: int, until_ns: int, tags: Mapping[str, str] | None) -> str:
    where = [f"time >= {int(since_ns)}", f"time < {int(until_ns)}"]
    where += [f"{quote_ident(k)} = {quote_string(v)}" for k, v in (tags or {}).items()]
    # GROUP BY * returns tags as tags (not mixed into columns) and one series per tag set.
    return f"SELECT * FROM {quote_ident(measurement)} WHERE {' AND '.join(where)} GROUP BY *"


class InfluxQLSource:
    """PointSource over InfluxDB's /query (chunked, epoch=ns)."""

    def __init__(self, cfg: InfluxConfig, api: str = "v1") -> None:
        self.cfg = cfg
        self.api = api
        self.endpoint = Endpoint.parse(cfg.url)
        self.http = HttpClient(self.endpoint, max(cfg.timeout_s, 30.0))

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.api == "v2":
            token = os.environ.get(self.cfg.token_env)
            return {}, ({"Authorization": f"Token {token}"} if token else {})
        user = os.environ.get(self.cfg.username_env)
        return ({"u": user, "p": os.environ.get(self.cfg.password_env, "")} if user else {}), {}

    def query(self, statement: str) -> Iterator[dict[str, Any]]:
        """Every series object of the (chunked) answer."""
        params, headers = self._auth()
        db = self.cfg.database if self.api == "v1" else self.cfg.bucket
        query = urllib.parse.urlencode(
            {"db": db, "q": statement, "epoch": "ns", "chunked": "true", "chunk_size": "10000", **params}
        )
        status, resp_headers, body = self.http.request("GET", f"/query?{query}", headers=headers)
        url = f"{self.endpoint.url}/query"
        if status in (401, 403):
            hint = self.cfg.token_env if self.api == "v2" else f"{self.cfg.username_env}/{self.cfg.password_env}"
            raise SinkError(f"{status} from {url}: check {hint}", exit_code=EXIT_USAGE)
        if status != 200:
            raise SinkError(f"{status} from {url}: {error_text(body, resp_headers)}")
        for line in body.splitlines():
            if not line.strip():
                continue
            chunk = json.loads(line)
            for result in chunk.get("results", []):
                if "error" in result:
                    msg = str(result["error"])
                    code = EXIT_USAGE if "database not found" in msg else None
                    raise SinkError(f"{url}: {msg}", exit_code=code)
                yield from result.get("series", [])

    def read(
        self, measurement: str, since_ns: int, until_ns: int, tags: Mapping[str, str] | None = None
    ) -> Iterator[Point]:
        """PointSource: points with since_ns <= time < until_ns matching `tags`, oldest first."""
        per_series: dict[tuple[tuple[str, str], ...], list[Point]] = {}
        for series in self.query(select_statement(measurement, since_ns, until_ns, tags)):
            series_tags = {k: v for k, v in (series.get("tags") or {}).items() if v != ""}
            columns = series["columns"]
            bucket = per_series.setdefault(tuple(sorted(series_tags.items())), [])
            for values in series.get("values", []):
                row = dict(zip(columns, values, strict=False))
                time_ns = int(row.pop("time"))
                fields = coerce_fields(measurement, row)
                if fields:
                    bucket.append(Point(measurement, series_tags, fields, time_ns))
        yield from heapq.merge(*per_series.values(), key=lambda p: p.time_ns)

    def close(self) -> None:
        self.http.close()
