"""Size caps for everything netprobe reads whole: a file a user names, a state file, an HTTP answer.

A path can name /dev/zero, a FIFO or a 40 GB log; a server can answer forever. Each read stops one byte past
its cap, so the caller can say "too large" in one line instead of dying of MemoryError.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from netprobe.errors import NetprobeError

MB = 1 << 20
CONFIG_MAX_BYTES = 1 * MB  # a config is a few KB; same cap as one inventory file
STATE_MAX_BYTES = 512 * MB  # a province's verdict state is ~10 MB (docs/agent.md)
POINTS_FILE_MAX_BYTES = 256 * MB  # `status --from`: ~1 M points, held in memory to judge them
HTTP_ANSWER_MAX_BYTES = 256 * MB  # one InfluxDB query answer; narrow --since for more


class TooLarge(NetprobeError):
    """What was read is over its cap."""


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def read_capped(stream: _Readable, max_bytes: int, what: str) -> bytes:
    """All of `stream`, or TooLarge once it passes `max_bytes`; reads in chunks, at most max_bytes + 1."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(MB, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{what} is larger than {max_bytes / MB:g} MB")


def read_file(path: Path, max_bytes: int, what: str) -> bytes:
    """A regular file of at most `max_bytes` (OSError as usual when it cannot be opened). O_NONBLOCK: a FIFO
    named by mistake must not hang the command; it is refused as not a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TooLarge(f"{what} {path} is not a regular file")
        if st.st_size > max_bytes:
            raise TooLarge(f"{what} {path} is {st.st_size / MB:.1f} MB, larger than {max_bytes / MB:g} MB")
        return read_capped(fh, max_bytes, f"{what} {path}")
