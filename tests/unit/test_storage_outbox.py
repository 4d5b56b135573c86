"""The outbox and the embedded store on their own (no database): durability, bounds, counters, reads."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from netprobe.config import Config
from netprobe.storage import lineproto
from netprobe.storage.drain import Backoff, DrainLock
from netprobe.storage.errors import StoragePathError
from netprobe.storage.facade import open_storage
from netprobe.storage.influxql import select_statement
from netprobe.storage.local import LocalStore
from netprobe.storage.outbox import Outbox
from netprobe.storage.point import Point
from netprobe.storage.schema import points_from_measurement
from netprobe.storage.sinks import is_pre_18
from tests.unit.storage_samples import measurements


def lines(n: int, start: int = 0) -> list[str]:
    return [
        f"ping,target=t{i % 7} packets_received={i}i {1_700_000_000_000_000_000 + i}" for i in range(start, start + n)
    ]


def test_queue_survives_reopen_and_acks_exactly_the_batch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.enqueue(lines(10))
    batch = box.peek(4)
    box.enqueue(lines(3, start=10))  # arrives while the batch is in flight
    box.close()
    box = Outbox(tmp_path / "outbox.db")  # a restart
    assert box.depth() == 13
    box.ack(batch)
    rest = box.peek(100)
    assert [line for _, line in rest] == lines(13)[4:]
    assert box.stats().sent == 4


def test_size_bound_drops_oldest_counted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(tmp_path / "outbox.db", max_mb=0.2)
    with caplog.at_level(logging.ERROR):
        for k in range(20):
            box.enqueue(lines(500, start=k * 500))
    stats = box.stats()
    assert stats.dropped > 0
    assert stats.depth + stats.dropped == 10_000  # every point is either queued or counted as dropped
    assert box.used_bytes() <= 0.2e6 * 1.1
    assert box.peek(1)[0][1] == lines(10_000)[stats.dropped]  # the oldest went first
    assert "DROPPED" in caplog.text


def test_age_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", max_age_h=1)
    box.enqueue(lines(5))
    box.db.execute("UPDATE outbox SET enqueued_ns = ?", (time.time_ns() - int(2 * 3600e9),))
    box.enqueue(lines(2, start=5))
    assert box.stats().dropped == 5 and box.depth() == 2


def test_quarantine_moves_one_row(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    box.enqueue(lines(3))
    bad = box.peek(3)[1]
    box.quarantine(bad, "400: field type conflict")
    assert box.depth() == 2 and box.stats().quarantined == 1
    assert box.quarantined_lines() == [(bad[1], "400: field type conflict")]


def test_drain_lock_is_exclusive(tmp_path: Path) -> None:
    a, b = DrainLock(tmp_path / "outbox.db"), DrainLock(tmp_path / "outbox.db")
    assert a.acquire() is None
    assert b.acquire() == os.getpid()
    a.release()
    assert b.acquire() is None
    b.release()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    b = Backoff(base_s=0.5, cap_s=30)
    delays = [b.next_delay() for _ in range(12)]
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0
    assert all(15 <= d <= 30 for d in delays[7:])
    b.reset()
    assert b.next_delay() <= 0.5


def test_local_store_reads_merges_and_expires(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store.db", retention_days=1)
    points = [p for m in measurements(t0=time.time()) for p in points_from_measurement(m, "dc-1")]
    store.write(points)
    store.write(points)  # a replay overwrites, never duplicates
    assert store.count() == len(points)
    since, until = min(p.time_ns for p in points), max(p.time_ns for p in points) + 1
    for name in ("ping", "tcp", "snmp_sys", "snmp_if"):
        expected = sorted((p for p in points if p.measurement == name), key=lambda p: p.time_ns)
        got = list(store.read(name, since, until))
        assert [(p.tags, p.fields, p.time_ns) for p in got] == [(p.tags, p.fields, p.time_ns) for p in expected]
    one = next(p for p in points if p.measurement == "ping")
    assert [p.time_ns for p in store.read("ping", since, until, {"target": one.tags["target"]})] == [one.time_ns]
    # Same series and time, another field: merged like InfluxDB does.
    store.write([Point("ping", one.tags, {"jitter_ms": 99.5}, one.time_ns)])
    (merged,) = store.read("ping", one.time_ns, one.time_ns + 1, {"target": one.tags["target"]})
    assert merged.fields == {**one.fields, "jitter_ms": 99.5}
    assert store.prune(now_ns=until + int(2 * 86400e9)) == len(points)


def test_default_storage_is_the_local_store(tmp_path: Path) -> None:
    with open_storage(Config(state_dir=str(tmp_path))) as storage:
        now = time.time_ns()  # recent: older points fall out of the retention (pruned on write)
        pts = [Point("ping", {"target": "a"}, {"packets_received": 1, "status": "ok"}, now + i) for i in range(5)]
        assert storage.write(pts) == 5
        assert [p.time_ns - now for p in storage.source().read("ping", now, now + 100)] == [0, 1, 2, 3, 4]
        storage.write([Point("ping", {"target": "old"}, {"packets_received": 1}, 10)])
        assert storage.local is not None and storage.local.prune() == 1  # 1970: beyond local_retention_days
        assert storage.self_metrics() == {"outbox_depth": 0, "outbox_dropped": 0}
    assert (tmp_path / "store.db").exists()


def test_unwritable_state_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoragePathError) as exc:
        open_storage(Config(state_dir=str(blocker / "state")))
    assert "\n" not in str(exc.value) and "Not a directory" in str(exc.value) and exc.value.exit_code == 2


def test_cli_status_and_unwritable(tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "netprobe.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nstorage: {{sink: influxdb}}\n")
    with open_storage(Config(state_dir=str(tmp_path / "state"), storage={"sink": "influxdb"})) as storage:  # type: ignore[arg-type]
        storage.write([Point("ping", {"target": "a"}, {"packets_received": 1}, 1)])
    code, out, err = run_cli("-c", str(cfg), "outbox", "status")
    assert code == 0 and "1 points queued" in out and err == ""
    monkeypatch.setenv("NETPROBE_STATE_DIR", str(tmp_path / "netprobe.yaml" / "x"))
    code, out, err = run_cli("outbox", "status")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: local store") and "Traceback" not in err


def test_version_detection_and_influxql() -> None:
    assert is_pre_18("1.6.7~rc0") and is_pre_18("1.7.10")
    assert not any(is_pre_18(v) for v in ("1.8.10", "2.7.1", "v3.0.0", "3.1.0", "", "weird"))
    assert select_statement("ping", 1, 2, {"commune": "Kinh Bắc 'x'"}) == (
        "SELECT * FROM \"ping\" WHERE time >= 1 AND time < 2 AND \"commune\" = 'Kinh Bắc \\'x\\'' GROUP BY *"
    )
    assert lineproto.decode(lines(1)[0]).fields == {"packets_received": 0}


def test_flush_while_another_process_drains(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "state"
    cfg = tmp_path / "netprobe.yaml"
    cfg.write_text(f"state_dir: {state}\nstorage: {{sink: influxdb, influxdb: {{url: 'http://127.0.0.1:9'}}}}\n")
    with open_storage(Config(state_dir=str(state), storage={"sink": "influxdb"})) as storage:  # type: ignore[arg-type]
        storage.write([Point("ping", {"target": "a"}, {"packets_received": 1}, 1)])
    lock = DrainLock(state / "outbox.db")
    assert lock.acquire() is None
    try:
        code, _, err = run_cli("-c", str(cfg), "outbox", "flush")
    finally:
        lock.release()
    assert code == 1 and err.count("\n") == 1
    assert f"another netprobe process (pid {os.getpid()}) is draining the outbox right now; 1 points queued" in err
