"""Storage errors: one line each, saying what is wrong, where, and how to fix it."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from netprobe.errors import EXIT_FAILURE, EXIT_USAGE, NetprobeError


class StorageError(NetprobeError):
    """The outbox, the local store or the database cannot do what was asked. Nothing queued is lost."""

    exit_code = EXIT_FAILURE


class StoragePathError(StorageError):
    """A storage file cannot be created or written (permissions, read-only file system, not a dir)."""

    exit_code = EXIT_USAGE


class OutboxFull(StorageError):
    """The disk under the outbox is full: new points cannot be queued (queued ones are kept)."""


def _free_mb(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path.parent).free / 1e6:.1f} MB free"
    except OSError:
        return "free space unknown"


def sqlite_error(exc: sqlite3.Error, path: Path, what: str) -> StorageError:
    """Turn an SQLite failure on `path` into a one-line error with a fix."""
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if code == sqlite3.SQLITE_FULL or "disk is full" in text or ("disk I/O" in text and _disk_full(path)):
        return OutboxFull(
            f"{what} {path}: disk full ({_free_mb(path)}): free space there, move state_dir, "
            "or lower storage.outbox_max_mb; points already queued are kept"
        )
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM) or any(
        s in text for s in ("readonly", "unable to open", "read-only")
    ):
        return StoragePathError(
            f"{what} {path}: cannot write there ({text}): fix its permissions or set state_dir / NETPROBE_STATE_DIR"
        )
    return StorageError(f"{what} {path}: SQLite error: {text}")


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 1_000_000
    except OSError:
        return False


def prepare_dir(directory: Path, what: str) -> None:
    """Create `directory` (0700) or say in one line why it cannot be used."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = directory / f".netprobe-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        if exc.errno == errno.ENOSPC:
            raise OutboxFull(f"{what} {directory}: disk full: free space there or move state_dir") from None
        raise StoragePathError(
            f"{what} {directory}: cannot write there ({reason}): fix its permissions or set state_dir / "
            "NETPROBE_STATE_DIR"
        ) from None
