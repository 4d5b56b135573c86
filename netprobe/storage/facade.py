"""`open_storage(config)`: the one object the agent (`netprobe run`), `check` and `status` use.

    storage = open_storage(config)
    storage.write(points)          # durable when it returns (outbox or local store, fsynced)
    storage.start_background_flush()   # agent: drain the outbox to InfluxDB every flush_interval_s
    storage.flush(timeout_s=30)    # CLI/tests: drain now, until empty or timeout
    storage.source().read("ping", since_ns, until_ns, {"line": "kinh-bac-vnpt-1"})
    storage.status(); storage.self_metrics()   # outbox_depth, outbox_dropped for netprobe_agent
    storage.close()

With `storage.sink: local` (the default) points go straight into the embedded store (already durable,
nothing to drain); with `storage.sink: influxdb` they go into the outbox and drain to InfluxDB.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from netprobe.config import Config
from netprobe.storage import lineproto
from netprobe.storage.drain import BackgroundDrainer, Drainer, FlushResult
from netprobe.storage.influxql import InfluxQLSource
from netprobe.storage.local import LocalStore
from netprobe.storage.outbox import Outbox, OutboxStats
from netprobe.storage.point import Point, PointSource
from netprobe.storage.sinks import Sink, detect_api, make_sink

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.db"
LOCAL_FILE = "store.db"


@dataclass
class StorageStatus:
    sink: str
    outbox: OutboxStats | None = None
    local_points: int | None = None
    local_path: Path | None = None
    unencodable: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        """Points were dropped or quarantined, or the last write to the database failed."""
        o = self.outbox
        return o is not None and (o.dropped > 0 or o.quarantined > 0 or o.last_error is not None)


class Storage:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.storage_cfg = config.storage
        self.state = config.state_path()
        self._lock = threading.Lock()
        self._background: BackgroundDrainer | None = None
        self._sink: Sink | None = None
        self._extra_sinks: list[Sink] = []
        self._source: PointSource | None = None
        self.unencodable = 0
        self.local: LocalStore | None = None
        self.outbox: Outbox | None = None
        if self.storage_cfg.sink == "local":
            self.local = LocalStore(self.state / LOCAL_FILE, self.storage_cfg.local_retention_days)
        else:
            self.outbox = self._open_outbox()

    @property
    def uses_influxdb(self) -> bool:
        return self.storage_cfg.sink == "influxdb"

    def _open_outbox(self, *, for_draining: bool = False) -> Outbox:
        s = self.storage_cfg
        return Outbox(
            self.state / OUTBOX_FILE, max_mb=s.outbox_max_mb, max_age_h=s.outbox_max_age_h, for_draining=for_draining
        )

    def sink(self) -> Sink:
        if self._sink is None:
            self._sink = make_sink(self.storage_cfg.influxdb)
        return self._sink

    def describe_sink(self) -> str:
        if not self.uses_influxdb:
            return f"local store {self.state / LOCAL_FILE}"
        return self.sink().description

    # --- writing --------------------------------------------------------------------------------------

    def write(self, points: Iterable[Point]) -> int:
        """Store `points` durably (fsynced) before returning; raises StorageError (e.g. OutboxFull)."""
        with self._lock:
            if self.local is not None:
                return self.local.write(points)
            assert self.outbox is not None
            lines = []
            for p in points:
                try:
                    lines.append(lineproto.encode(p))
                except lineproto.EncodeError as exc:
                    self.unencodable += 1
                    log.error("storage: point not stored: %s", exc)
            return self.outbox.enqueue(lines)

    def _drainer(self) -> Drainer:
        sink = self.sink()
        while len(self._extra_sinks) < self.storage_cfg.write_concurrency - 1:
            self._extra_sinks.append(make_sink(self.storage_cfg.influxdb))
        return Drainer(self._open_outbox(for_draining=True), sink, self.storage_cfg.batch_size, self._extra_sinks)

    def flush(self, timeout_s: float = 30.0, *, stop_on_config_error: bool = False) -> FlushResult:
        """Drain the outbox into the database until empty or `timeout_s` (retrying with backoff)."""
        if self.outbox is None:
            return FlushResult()
        drainer = self._drainer()
        try:
            return drainer.flush(timeout_s, stop_on_config_error=stop_on_config_error)
        finally:
            drainer.outbox.close()

    def start_background_flush(self) -> None:
        """Drain every `storage.flush_interval_s` on a thread until close() (agent mode)."""
        if self.outbox is None or self._background is not None:
            return
        self._background = BackgroundDrainer(self._drainer, self.storage_cfg.flush_interval_s)
        self._background.start()

    # --- reading --------------------------------------------------------------------------------------

    def source(self) -> PointSource:
        """Where history is read from: the local store, or InfluxDB through InfluxQL."""
        if self._source is None:
            if self.local is not None:
                self._source = self.local
            else:
                cfg = self.storage_cfg.influxdb
                self._source = InfluxQLSource(cfg, api=detect_api(cfg) if cfg.api == "auto" else cfg.api)
        return self._source

    def status(self) -> StorageStatus:
        with self._lock:
            if self.local is not None:
                return StorageStatus(
                    sink=self.describe_sink(), local_points=self.local.count(), local_path=self.local.path
                )
            assert self.outbox is not None
            return StorageStatus(sink=self.describe_sink(), outbox=self.outbox.stats(), unencodable=self.unencodable)

    def self_metrics(self) -> dict[str, int]:
        """Fields for the agent's `netprobe_agent` point."""
        with self._lock:
            if self.outbox is None:
                return {"outbox_depth": 0, "outbox_dropped": 0}
            return {"outbox_depth": self.outbox.depth(), "outbox_dropped": self.outbox.counter("dropped")}

    def close(self, flush_timeout_s: float = 5.0) -> None:
        """Stop the background drain, try a last flush (bounded), close files. Unsent points stay queued."""
        if self._background is not None:
            self._background.stop()
            self._background = None
            if self.outbox is not None and self.outbox.depth():
                self.flush(flush_timeout_s)
        for sink in [*([self._sink] if self._sink else []), *self._extra_sinks]:
            sink.close()
        if isinstance(self._source, InfluxQLSource):
            self._source.close()
        if self.outbox is not None:
            self.outbox.close()
        if self.local is not None:
            self.local.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_storage(config: Config) -> Storage:
    """The storage configured in `config` (creates the state dir; raises a one-line StorageError)."""
    return Storage(config)
