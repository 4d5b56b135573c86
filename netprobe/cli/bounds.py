"""Bounded parsing of the durations and timestamps the CLI takes: a value a user (or a script) can type
must never reach the engine as inf/nan, overflow a datetime, or make a query walk a million days."""

from __future__ import annotations

import math
import re
from typing import Any

import click

from netprobe.errors import EXIT_USAGE, NetprobeError

UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_HISTORY_S = 90 * 86400  # no store keeps more raw history than this (local: 35 days by default)
# --at: from 2000 to 2100. Outside, a time is a typo (ms instead of s, a date pasted in the wrong place).
MIN_AT, MAX_AT = 946_684_800.0, 4_102_444_800.0


def parse_duration(
    text: str, option: str = "--since", *, max_s: float = MAX_HISTORY_S, exit_code: int = EXIT_USAGE
) -> float:
    """'90s', '30m', '1h', '2d', '1w' or plain seconds → seconds, within (0, max_s]."""
    match = re.fullmatch(r"\s*(\d{1,12}(?:\.\d{1,9})?)\s*(s|m|min|h|d|w)?\s*", text)
    seconds = float(match.group(1)) * UNITS[match.group(2) or ""] if match else math.nan
    if not (0 < seconds <= max_s):  # also false for nan
        raise NetprobeError(
            f"{option} {text!r}: use a positive duration up to {max_s / 86400:g}d, like 30m, 1h, 24h or 7d",
            exit_code=exit_code,
        )
    return seconds


class UnixTime(click.ParamType[float]):
    """A Unix time in seconds, finite and between 2000 and 2100."""

    name = "UNIX_S"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not (MIN_AT <= number <= MAX_AT):
            # NetprobeError, not self.fail(): one line ("error: ..."), not click's three-line usage block
            option = param.opts[0] if param is not None and param.opts else "time"
            raise NetprobeError(
                f"{option} {value!r}: give a Unix time in seconds between 2000 and 2100, e.g. 1767225600"
            )
        return number


class Finite(click.FloatRange):
    """click.FloatRange that also refuses nan and inf, which FloatRange lets through (nan compares false
    with both bounds; inf passes a range with no maximum), and always has a maximum."""

    def __init__(self, min: float, max: float) -> None:
        super().__init__(min=min, max=max)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
