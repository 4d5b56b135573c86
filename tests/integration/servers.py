"""Real database servers for tests and benchmarks: Debian's influxd (netprobe.storage.influxd, re-exported
here) and victoria-metrics (it speaks /api/v2/write, so the 2.x write path is proven against a real server).

Each server runs on a free loopback port with its own temporary data dir and config, and is stopped by
the process that started it (never by name).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netprobe.storage.influxd import INFLUXD, InfluxD, free_port, http_request, stop_process, wait_ready

__all__ = ["INFLUXD", "VICTORIA", "InfluxD", "VictoriaMetrics", "free_port", "have", "http_request"]

VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


@dataclass
class VictoriaMetrics:
    """One victoria-metrics on 127.0.0.1:<port>: accepts /api/v2/write; read back via /api/v1/export."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path, extra_args: list[str] | None = None) -> VictoriaMetrics:
        """`extra_args` e.g. ["-httpAuth.username=u", "-httpAuth.password=p"] to require credentials."""
        server = cls(root=Path(root), extra_args=list(extra_args or []))
        server.root.mkdir(parents=True, exist_ok=True)
        log = server.root / "victoria.log"
        for _attempt in range(5):
            server.port = free_port()
            with log.open("ab") as out:
                server.proc = subprocess.Popen(
                    [
                        VICTORIA,
                        f"-httpListenAddr=127.0.0.1:{server.port}",
                        f"-storageDataPath={server.root / 'data'}",
                        "-retentionPeriod=100y",
                        "-search.disableCache",
                        "-search.latencyOffset=0s",
                        *server.extra_args,
                    ],
                    stdout=out,
                    stderr=out,
                )
            if wait_ready(server.port, "/health", server.proc, log):
                return server
        raise RuntimeError(f"victoria-metrics would not start; see {log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def export(self, match: str) -> Iterator[dict[str, Any]]:
        """Every series matching the selector, as VictoriaMetrics' JSON-lines export (values, timestamps)."""
        http_request(self.port, "GET", "/internal/force_flush")
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        status, _, body = http_request(self.port, "GET", f"/api/v1/export?{query}")
        if status != 200:
            raise RuntimeError(f"victoria-metrics export: HTTP {status}: {body[:300]!r}")
        for line in body.splitlines():
            if line.strip():
                yield json.loads(line)

    def count_samples(self, match: str, expected: int, timeout_s: float = 15.0) -> int:
        """Samples matching `match`, waiting up to `timeout_s` for `expected` (ingestion is buffered ~1 s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            n = sum(len(s["values"]) for s in self.export(match))
            if n >= expected or time.monotonic() > deadline:
                return n
            time.sleep(0.3)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> VictoriaMetrics:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def have(binary: str) -> bool:
    return os.access(binary, os.X_OK)
