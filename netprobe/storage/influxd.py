"""A private InfluxDB 1.x server (Debian's `influxd`) for tests, benchmarks and previews.

It runs on a free 127.0.0.1 port with its own temporary config and data dir and is stopped by the process
that started it (never by name); the data survives stop()/restart(). Production sites run their own
InfluxDB (1.x, 2.x or 3.x) — this only exists so that what netprobe writes and what Grafana queries are
proven against a real server here:

    with InfluxD.start(tmp_path) as influx:
        influx.create_database("netprobe")
        influx.query("netprobe", "SELECT count(*) FROM ping")
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (another helper may race us; start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 15.0) -> None:
    """Stop a server this process started: SIGTERM, then SIGKILL if it has not exited in time."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            status, _, _ = http_request(port, "GET", path)
            if status in (200, 204):
                return True
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} not ready after {timeout_s}s; see {log}")


@dataclass
class InfluxD:
    """One influxd 1.x on 127.0.0.1:<port>, data under `root`. Survives stop()/restart() with its data."""

    root: Path
    port: int = 0
    auth: bool = False
    proc: subprocess.Popen[bytes] | None = None
    admin: tuple[str, str] = ("admin", "admin-secret")

    @classmethod
    def start(cls, root: Path, *, auth: bool = False) -> InfluxD:
        server = cls(root=Path(root), auth=auth)
        server.root.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            server.port = free_port()
            if server._spawn():
                if auth:
                    # With no user yet, influxd lets the first admin be created without credentials.
                    server.query(
                        "", f"CREATE USER {server.admin[0]} WITH PASSWORD '{server.admin[1]}' WITH ALL PRIVILEGES"
                    )
                return server
        raise RuntimeError(f"influxd would not start; see {server.root / 'influxd.log'}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        rpc_port = free_port()
        text = f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{self.root}/meta"
  logging-enabled = false
[data]
  dir = "{self.root}/data"
  wal-dir = "{self.root}/wal"
  query-log-enabled = false
  index-version = "inmem"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
  unix-socket-enabled = false
  max-body-size = 0
"""
        path = self.root / "influxd.conf"
        path.write_text(text)
        return path

    def _spawn(self) -> bool:
        config = self._config()
        log = self.root / "influxd.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen([INFLUXD, "-config", str(config)], stdout=out, stderr=out)
        return wait_ready(self.port, "/ping", self.proc, log)

    def stop(self) -> None:
        """Stop the server we started, keeping its data."""
        stop_process(self.proc)
        self.proc = None

    def restart(self) -> None:
        """Start again on the same port with the same data (after stop())."""
        self.stop()
        if not self._spawn():
            raise RuntimeError(f"influxd did not restart on port {self.port}; see {self.root / 'influxd.log'}")

    def _auth_params(self) -> dict[str, str]:
        return {"u": self.admin[0], "p": self.admin[1]} if self.auth else {}

    def query(self, db: str, q: str) -> dict[str, Any]:
        params = {"q": q, "epoch": "ns", **self._auth_params()}
        if db:
            params["db"] = db
        status, _, body = http_request(
            self.port,
            "POST",
            "/query?" + urllib.parse.urlencode(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise RuntimeError(f"influxd /query {q!r}: HTTP {status}: {body[:300]!r}")
        result: dict[str, Any] = json.loads(body)
        return result

    def create_database(self, db: str) -> None:
        self.query("", f'CREATE DATABASE "{db}"')

    def count(self, db: str, measurement: str, field_name: str) -> int:
        """How many points of `measurement` carry `field_name` (InfluxQL count)."""
        res = self.query(db, f'SELECT count("{field_name}") FROM "{measurement}"')
        series = res["results"][0].get("series")
        return int(series[0]["values"][0][1]) if series else 0

    def __enter__(self) -> InfluxD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
