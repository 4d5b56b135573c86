"""Enter a named network namespace (`ip netns` style, /run/netns/NAME) from Python, without re-exec.

setns(2) with CLONE_NEWNET changes the network namespace of the *calling thread* only. Sockets keep the
namespace they were created in; threads inherit the namespace of the thread that starts them; child
processes inherit the namespace of the thread that forks them.

So `enter(name)` must be called before any thread or socket that should live in the namespace is
created — in practice first thing in `main()` of `netprobe check`/`run` inside a lab DC namespace.
Sockets opened earlier (e.g. an asyncio loop's self-pipe is fine, a UDP socket is not) stay outside.

`inside(name)` enters for a `with` block and returns to the original namespace afterwards; the lab
uses it to create sockets/TUN devices in lab namespaces from one process. It affects the current
thread only, so other threads are not disturbed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netprobe.errors import NetprobeError, PrivilegeError

NETNS_RUN_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class NetnsError(NetprobeError):
    """A network namespace is missing or cannot be entered."""


def path_of(name: str) -> Path:
    if not name or "/" in name or name in (".", ".."):
        raise NetnsError(f"{name!r} is not a network namespace name; see `ip netns list`")
    return NETNS_RUN_DIR / name


def _setns_fd(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == 1:  # EPERM
            raise PrivilegeError(f"cannot enter network namespace {what}: needs root (CAP_SYS_ADMIN); rerun as root")
        raise NetnsError(f"cannot enter network namespace {what}: {os.strerror(err)}")


def enter(name: str) -> None:
    """Move the current thread (and what it creates from now on) into network namespace `name`."""
    path = path_of(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsError(
            f"network namespace {name!r} does not exist ({path}); is the lab up? see `ip netns list`"
        ) from None
    except PermissionError:
        raise PrivilegeError(f"cannot open {path}: needs root; rerun as root") from None
    try:
        _setns_fd(fd, repr(name))
    finally:
        os.close(fd)


def current_inode() -> int:
    """The inode of the current thread's network namespace (identifies it)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def inode_of(name: str) -> int:
    return os.stat(path_of(name)).st_ino


@contextmanager
def inside(name: str) -> Iterator[None]:
    """Run a block in namespace `name` (current thread only), then come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter(name)
        try:
            yield
        finally:
            _setns_fd(home, "(original)")
    finally:
        os.close(home)
