"""Processes the lab started: is one alive, stop one (politely, then for sure)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

# Daemons started from this process (agents, the conductor). Kept so that a long-lived caller (tests,
# `running()`) can reap them when the lab goes down instead of leaving zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(argv: list[str], **kwargs: Any) -> int:
    """Start a daemon in its own session (a ^C on the caller does not reach it). Returns its pid."""
    proc = subprocess.Popen(argv, start_new_session=True, close_fds=True, **kwargs)
    _CHILDREN[proc.pid] = proc
    for pid, child in list(_CHILDREN.items()):  # reap what has ended meanwhile
        if child.poll() is not None:
            del _CHILDREN[pid]
    return proc.pid


def reap(pid: int) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def stop(pid: int, timeout_s: float = 3.0) -> None:
    """Stop a process the lab started (SIGCONT first: a hung agent is SIGSTOPped), then wait for it to go."""
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child = _CHILDREN.get(pid)
        if child is not None and child.poll() is not None:
            del _CHILDREN[pid]
            return
        if child is None and not alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reap(pid)
