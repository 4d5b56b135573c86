"""Inventory problems, each with the file, line and column where it was written."""

from __future__ import annotations

from dataclasses import dataclass

from netprobe.errors import NetprobeError


@dataclass(frozen=True, order=True)
class Where:
    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


@dataclass(frozen=True, order=True)
class Problem:
    where: Where
    path: str  # e.g. communes[0].sites[0].lines[2].ce
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message}" if self.path else f"{self.where}: {self.message}"


class InventoryError(NetprobeError):
    """All the problems of one load, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        count = len(self.problems)
        lines = [str(p) for p in self.problems]
        lines.append(f"inventory invalid: {count} problem{'s' if count != 1 else ''}; fix the lines above")
        super().__init__("\n".join(lines))
