"""A minimal InfluxDB 1.x HTTP client for proving queries: /write line protocol and /query InfluxQL.

Also starts a throwaway `influxd` (Debian's 1.6.7) on a free loopback port with its own temp config and
data dir, stopped by the process that started it. (storage has the shared server fixtures; this stays
small so the two can be merged.)
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

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
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise QueryError(
                f"{exc.code} from {self.url}{path}: {exc.read().decode(errors='replace').strip()}"
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ScratchInfluxd:
    """`with ScratchInfluxd(tmp_dir) as server:` — a private influxd on 127.0.0.1, gone afterwards."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScratchInfluxd:
        binary = shutil.which("influxd") or "/usr/bin/influxd"
        self.root.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):  # another process may grab the port between probe and bind
            self.port = free_port()
            config = self.root / "influxd.conf"
            config.write_text(self._config(free_port()))
            with (self.root / "influxd.log").open("ab") as log:
                self.proc = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=log)
            if self._ready():
                return self
            self._stop()
        raise RuntimeError(f"influxd did not start; see {self.root / 'influxd.log'}")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()

    def _config(self, rpc_port: int) -> str:
        return f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{self.root}/meta"
  logging-enabled = false
[data]
  dir = "{self.root}/data"
  wal-dir = "{self.root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  suppress-write-log = true
"""

    def _ready(self, timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as r:
                    if r.status == 204:
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def _stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self, database: str) -> InfluxClient:
        return InfluxClient(self.url, database)
