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


# Shown at most: a 5 MB broken file once gave 425,000 problems, 53 MB of output and 979 MB of memory.
MAX_SHOWN = 100


class InventoryError(NetprobeError):
    """All the problems of one load (the first MAX_SHOWN of them, and how many more), not just the first."""

    def __init__(self, problems: list[Problem], not_shown: int = 0) -> None:
        unique = sorted(set(problems))
        self.problems = unique[:MAX_SHOWN]
        self.not_shown = not_shown + len(unique) - len(self.problems)
        count = len(self.problems) + self.not_shown
        lines = [str(p) for p in self.problems]
        if self.not_shown:
            lines.append(f"... and {self.not_shown:,} more problems not shown (fix the first ones and validate again)")
        lines.append(f"inventory invalid: {count:,} problem{'s' if count != 1 else ''}; fix the lines above")
        super().__init__("\n".join(lines))
