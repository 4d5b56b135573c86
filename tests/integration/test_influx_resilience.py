"""Nothing is lost: `kill -9` while flushing, and a database outage while points keep coming."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from netprobe.config import Config
from netprobe.storage.facade import open_storage
from netprobe.storage.point import Point
from tests.integration.conftest import influx_config
from tests.integration.servers import InfluxD

pytestmark = pytest.mark.influx
REPO = Path(__file__).resolve().parents[2]


def ping_points(start: int, n: int, t0: int) -> list[Point]:
    return [
        Point(
            "ping",
            {"target": f"line-{i % 97}", "commune": "Xã Đông Cứu"},
            {"packets_received": i % 10, "status": "ok"},
            t0 + i,
        )
        for i in range(start, start + n)
    ]


def series_counts(influxd: InfluxD, db: str) -> dict[str, int]:
    res = influxd.query(db, 'SELECT count("packets_received") FROM "ping" GROUP BY "target"')
    return {s["tags"]["target"]: int(s["values"][0][1]) for s in res["results"][0].get("series", [])}


def test_kill_9_while_flushing_loses_nothing_and_duplicates_nothing(influxd: InfluxD, tmp_path: Path) -> None:
    influxd.create_database("crash")
    cfg_dict = influx_config(tmp_path / "state", influxd.url, database="crash", batch_size=200)
    cfg_path = tmp_path / "netprobe.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg_dict))
    n, t0 = 60_000, time.time_ns() - 3600 * 10**9
    points = ping_points(0, n, t0)
    with open_storage(Config.model_validate(cfg_dict)) as storage:
        storage.write(points)
    flush = [sys.executable, "-m", "netprobe", "-c", str(cfg_path), "outbox", "flush", "--timeout", "120"]
    kills = 0
    for round_ in range(3):
        proc = subprocess.Popen(flush, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        target = (round_ + 1) * n // 5  # kill at ~20%, 40%, 60% written
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if influxd.count("crash", "ping", "packets_received") >= target:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=30)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
        kills += proc.returncode == -signal.SIGKILL
    assert kills >= 2, "the flusher finished before it could be killed: make the batches smaller"
    arrived_before_restart = influxd.count("crash", "ping", "packets_received")
    assert 0 < arrived_before_restart < n
    # Restart: the rest is sent; the batch in flight at the kill is sent again and overwrites itself.
    done = subprocess.run(flush, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert influxd.count("crash", "ping", "packets_received") == n
    counts = series_counts(influxd, "crash")
    assert len(counts) == 97 and sum(counts.values()) == n
    assert counts == {f"line-{k}": len(range(k, n, 97)) for k in range(97)}
    with open_storage(Config.model_validate(cfg_dict)) as storage:
        status = storage.status()
        assert status.outbox is not None and status.outbox.depth == 0 and status.outbox.dropped == 0
        assert status.outbox.sent >= n  # ≥: batches acknowledged-but-killed were replayed, invisibly
        read = list(storage.source().read("ping", t0, t0 + n))
    assert [p.time_ns for p in read] == [p.time_ns for p in points]
    assert read[123].tags == points[123].tags and read[123].fields == points[123].fields


OUTAGE_S = float(os.environ.get("NETPROBE_TEST_OUTAGE_S", "120"))


@pytest.mark.slow
def test_two_minute_outage_while_points_keep_coming(tmp_path: Path) -> None:
    influxd = InfluxD.start(tmp_path / "influxd")
    try:
        influxd.create_database("outage")
        cfg_dict = influx_config(tmp_path / "state", influxd.url, database="outage", batch_size=1000)
        cfg_dict["storage"]["flush_interval_s"] = 0.2  # type: ignore[index]
        storage = open_storage(Config.model_validate(cfg_dict))
        storage.start_background_flush()
        written, stop = [0], threading.Event()
        t0 = time.time_ns() - 3600 * 10**9

        def writer() -> None:  # like an agent: a burst of results every 100 ms, whatever the database does
            while not stop.is_set():
                storage.write(ping_points(written[0], 50, t0))
                written[0] += 50
                stop.wait(0.1)

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(3)
        assert influxd.count("outage", "ping", "packets_received") > 0
        influxd.stop()
        down_at = written[0]
        time.sleep(OUTAGE_S)
        during = storage.status().outbox
        assert during is not None and during.depth >= written[0] - down_at - 100 and during.last_error
        assert "cannot reach InfluxDB" in during.last_error
        influxd.restart()
        time.sleep(3)
        stop.set()
        thread.join()
        deadline = time.monotonic() + 90  # the backoff is capped at 30 s
        while storage.self_metrics()["outbox_depth"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert storage.self_metrics() == {"outbox_depth": 0, "outbox_dropped": 0}
        assert written[0] > 2000
        assert influxd.count("outage", "ping", "packets_received") == written[0]
        storage.close()
    finally:
        influxd.stop()
