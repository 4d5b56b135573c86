"""Issue 14 item 7: a damaged, truncated or deleted outbox never stops the agent and never loses points
silently: it is moved aside, a fresh one starts, and an ERROR says how many points were lost."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from netprobe.storage.outbox import Outbox
from tests.unit.hostile import TIME_LIMIT_S, WALL_LIMIT_S, netprobe


def lines(n: int) -> list[str]:
    return [f"ping,target=t{i} packets_received={i}i {1_700_000_000_000_000_000 + i}" for i in range(n)]


def queued(path: Path, n: int = 1000) -> Path:
    box = Outbox(path)
    box.enqueue(lines(n))
    box.close()
    return path


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_damaged_header_is_moved_aside_and_a_fresh_outbox_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = queued(tmp_path / "outbox.db")
    with open(path, "r+b") as f:  # the repro: "database disk image is malformed", run would not start
        f.seek(16)
        f.write(b"\xff" * 84)
    with caplog.at_level(logging.ERROR):
        box = Outbox(path)
    assert box.depth() == 0 and box.enqueue(lines(3)) == 3
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1
    (message,) = errors(caplog)
    assert "corrupt" in message and "1000 queued points" in message and str(aside[0]) in message


def test_garbage_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = queued(tmp_path / "outbox.db")
    path.write_bytes(os.urandom(8192))
    with caplog.at_level(logging.ERROR):
        Outbox(path).enqueue(lines(1))
    assert any("corrupt" in m for m in errors(caplog))


def test_truncated_mid_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = queued(tmp_path / "outbox.db", 20_000)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 3)
    with caplog.at_level(logging.ERROR):
        box = Outbox(path)
    assert box.enqueue(lines(1)) == 1
    assert any("20000 queued points" in m for m in errors(caplog)), errors(caplog)


def test_truncated_to_zero_is_not_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = queued(tmp_path / "outbox.db", 250)
    path.write_bytes(b"")
    with caplog.at_level(logging.ERROR):
        box = Outbox(path)
    assert box.depth() == 0
    assert any("truncated" in m and "250 queued points" in m for m in errors(caplog)), errors(caplog)


def test_deleted_outbox_is_noticed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = queued(tmp_path / "outbox.db", 42)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with caplog.at_level(logging.ERROR):
        Outbox(path)
    assert any("vanished" in m and "42 queued points" in m for m in errors(caplog)), errors(caplog)


def test_healthy_reopen_says_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = queued(tmp_path / "outbox.db", 10)
    with caplog.at_level(logging.WARNING):
        assert Outbox(path).depth() == 10
    assert not errors(caplog)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "netprobe.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path / 'state'}\nstorage: {{sink: influxdb, influxdb: {{url: 'http://127.0.0.1:9'}}}}\n"
    )
    return cfg


def test_outbox_status_json_on_a_corrupt_outbox(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "state").mkdir()
    queued(tmp_path / "state" / "outbox.db", 5)
    (tmp_path / "state" / "outbox.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    result = netprobe("--config", str(cfg), "outbox", "status", "--json", timeout=20)
    data = json.loads(result.out)  # always JSON, whatever happened
    assert data["depth"] == 0 and "Traceback" not in result.err
    assert "corrupt" in result.err and "5 queued points" in result.err
    assert result.cpu_s < TIME_LIMIT_S and result.seconds < WALL_LIMIT_S and result.rss_mb < 300


def test_outbox_status_json_when_the_outbox_cannot_be_opened(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "outbox.db").mkdir()  # a directory where the file should be
    result = netprobe("--config", str(cfg), "outbox", "status", "--json", timeout=20)
    data = json.loads(result.out)
    assert result.code != 0 and "error" in data and "Traceback" not in result.err


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_outbox_deleted_while_open_keeps_its_points(tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str) -> None:
    """`rm outbox.db*` (or a restored copy) under a running agent: SQLite would keep writing into the unlinked
    file, and every queued point would be gone at the next restart. The writer moves them to a new file."""
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    drainer = Outbox(path, for_draining=True)
    box.enqueue(lines(30))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if how == "replaced":
        Outbox(tmp_path / "other.db").close()
        (tmp_path / "other.db").rename(path)
    with caplog.at_level(logging.ERROR):
        box.enqueue(lines(5))
    assert any(how in m and "moved its 30 queued points" in m for m in errors(caplog)), errors(caplog)
    box.close()
    assert Outbox(path).depth() == 35  # what a restart sees: nothing lost
    assert len(drainer.peek(100)) == 35  # the drainer follows to the new file at its next round
