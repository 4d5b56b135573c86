"""State that must outlive the process (the verdict engine's hysteresis, flap counts, "since" times).

Saved as one JSON file in the state directory, atomically (write a temp file, fsync, rename), so a
crash mid-save leaves the previous state, never half a file. An unreadable or foreign file is logged and
ignored: the agent starts with fresh state rather than not at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from netprobe import limits
from netprobe.inventory.loader import Inventory
from netprobe.probes.base import Measurement, Target
from netprobe.storage.point import Point

log = logging.getLogger("netprobe.state")

FORMAT = 1
CHUNK = 2000  # list items / dict entries per json.dumps call


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _lazy(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | dict | list | tuple)


def write_chunked(fh: TextIO, value: Any) -> None:
    """json.dump, in pieces: the C encoder holds the GIL for a whole call, and one call over tens of MB
    (the verdict state of thousands of targets) would stall the probing event loop for seconds. Big
    lists and dicts are encoded CHUNK items at a time, so other threads run between the pieces; a lazy
    iterable is written item by item as it is produced."""
    if isinstance(value, dict) and len(value) > CHUNK:
        items = list(value.items())
        fh.write("{")
        for i in range(0, len(items), CHUNK):
            fh.write(("," if i else "") + _dumps(dict(items[i : i + CHUNK]))[1:-1])
        fh.write("}")
    elif isinstance(value, dict) and any(isinstance(v, dict | list) or _lazy(v) for v in value.values()):
        fh.write("{")
        for i, (key, item) in enumerate(value.items()):
            fh.write(("," if i else "") + _dumps(str(key)) + ":")
            write_chunked(fh, item)
        fh.write("}")
    elif _lazy(value):
        # a lazy list (health.engine.Streamed): items are made one at a time and dropped once written
        fh.write("[")
        for i, item in enumerate(value):
            fh.write("," if i else "")
            write_chunked(fh, item)
        fh.write("]")
    elif isinstance(value, list) and len(value) > CHUNK:
        fh.write("[")
        for i in range(0, len(value), CHUNK):
            fh.write(("," if i else "") + _dumps(value[i : i + CHUNK])[1:-1])
        fh.write("]")
    else:
        fh.write(_dumps(value))


class StatefulObserver(Protocol):
    """Something that watches every measurement, may add points (e.g. verdicts) and keeps state."""

    state_name: str  # its key in the state file

    def observe(self, measurements: list[Measurement]) -> list[Point]: ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        ...

    def restore(self, blob: dict[str, Any]) -> None: ...

    def reload(self, inventory: Inventory, targets: Sequence[Target]) -> None:
        """The inventory changed (SIGHUP): keep what still applies."""
        ...


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(limits.read_file(self.path, limits.STATE_MAX_BYTES, "state file"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, limits.TooLarge) as exc:
            log.warning("ignoring unreadable state file %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("state"), dict):
            log.warning("ignoring state file %s: not a netprobe state file of format %d", self.path, FORMAT)
            return {}
        state: dict[str, Any] = data["state"]
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                write_chunked(fh, {"format": FORMAT, "state": state})
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
