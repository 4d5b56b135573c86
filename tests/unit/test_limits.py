"""Every whole read is capped (developers' guide: every file read a size cap): /dev/zero, a FIFO or a huge
file named where netprobe expects a config, a points export or its state gives one line, not MemoryError."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from netprobe import limits
from netprobe.engine.state import StateFile
from tests.conftest import EXAMPLE
from tests.unit.hostile import assert_one_line_error, netprobe


class Endless(io.RawIOBase):
    """A stream that never ends (a server that answers forever)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        buffer[:] = b"x" * len(buffer)
        return len(buffer)


def test_read_capped_stops_one_chunk_past_the_cap() -> None:
    with pytest.raises(limits.TooLarge, match="larger than 1 MB"):
        limits.read_capped(Endless(), limits.MB, "the answer")
    assert limits.read_capped(io.BytesIO(b"abc"), 3, "x") == b"abc"
    with pytest.raises(limits.TooLarge):
        limits.read_capped(io.BytesIO(b"abcd"), 3, "x")


def test_read_file_refuses_devices_fifos_and_big_files(tmp_path: Path) -> None:
    with pytest.raises(limits.TooLarge, match="not a regular file"):
        limits.read_file(Path("/dev/zero"), limits.MB, "config")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(limits.TooLarge, match="not a regular file"):  # and it did not block
        limits.read_file(fifo, limits.MB, "config")
    big = tmp_path / "big"
    with big.open("wb") as fh:
        fh.truncate(2 * limits.MB)  # sparse: 2 MB by its size, nothing on disk
    with pytest.raises(limits.TooLarge, match=r"2\.0 MB, larger than 1 MB"):
        limits.read_file(big, limits.MB, "config")
    (tmp_path / "ok").write_bytes(b"lang: vi\n")
    assert limits.read_file(tmp_path / "ok", limits.MB, "config") == b"lang: vi\n"


def test_config_dev_zero_is_one_line(tmp_path: Path) -> None:
    result = netprobe(
        "--config", "/dev/zero", "--inventory", str(EXAMPLE), "status", env={"NETPROBE_STATE_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "/dev/zero", "not a regular file")


def test_status_from_fifo_is_one_line_and_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "points.jsonl"
    os.mkfifo(fifo)
    result = netprobe(
        "--inventory", str(EXAMPLE), "status", "--from", str(fifo), env={"NETPROBE_STATE_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "not a regular file")


def test_oversized_state_file_is_ignored_not_loaded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.json"
    with path.open("wb") as fh:
        fh.truncate(limits.STATE_MAX_BYTES + 1)
    assert StateFile(path).load() == {}
    assert "larger than" in caplog.text
