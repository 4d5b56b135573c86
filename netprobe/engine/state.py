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
from pathlib import Path
from typing import Any, Protocol

from netprobe.inventory.loader import Inventory
from netprobe.probes.base import Measurement
from netprobe.storage.point import Point

log = logging.getLogger("netprobe.state")

FORMAT = 1


class StatefulObserver(Protocol):
    """Something that watches every measurement, may add points (e.g. verdicts) and keeps state."""

    state_name: str  # its key in the state file

    def observe(self, measurements: list[Measurement]) -> list[Point]: ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        ...

    def restore(self, blob: dict[str, Any]) -> None: ...

    def reload(self, inventory: Inventory) -> None:
        """The inventory changed (SIGHUP): keep what still applies."""
        ...


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
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
                json.dump({"format": FORMAT, "state": state}, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
