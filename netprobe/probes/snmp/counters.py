"""Counters between two polls: rates, Counter32 wraps, Counter64 resets and reboots, told apart.

Pure functions over recorded values (unit tested). The rules:
- sysUpTime (TimeTicks, 1/100 s, 32 bits: wraps after 497 days) going backwards is a REBOOT unless the
  wall clock says the old value plus the elapsed time crossed 2³² ticks (then it is a wrap: no reboot).
- after a reboot every interface counter restarted: no rate this poll (`counter_event="reset"`).
- a Counter32 that went backwards wrapped once (`wrap32`): the rate is computed modulo 2³² when the
  result fits the interface speed; if it does not (several wraps, or a reset we cannot tell from one),
  no rate is given — a wrong figure is worse than a gap.
- a Counter64 that went backwards did not wrap (2⁶⁴ octets is 46 years at 100 Gbit/s): the counter was
  reset (interface re-created, agent restart, counter discontinuity): `reset`, no rate.
The elapsed time is the agent's own (sysUpTime difference), because it is the clock the counters were
read against; the local wall clock is used only when sysUpTime cannot be trusted (reboot/wrap).
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP32 = 1 << 32
TICKS_PER_S = 100.0
EVENT_NONE, EVENT_WRAP32, EVENT_RESET = "", "wrap32", "reset"


def rebooted(prev_ticks: int, prev_wall: float, ticks: int, wall: float) -> bool:
    """Did the agent restart between two polls? (sysUpTime backwards and not a 497-day wrap)"""
    if ticks >= prev_ticks:
        return False
    elapsed_ticks = max(0.0, (wall - prev_wall) * TICKS_PER_S)
    expected = prev_ticks + elapsed_ticks
    if expected < WRAP32:
        return True  # the old value plus the elapsed time does not reach 2^32: it cannot be a wrap
    # a wrap lands near expected - 2^32; allow 10% + 10 s of clock disagreement
    tolerance = 0.1 * elapsed_ticks + 10 * TICKS_PER_S
    return abs((expected - WRAP32) - ticks) > tolerance


def elapsed_s(prev_ticks: int, prev_wall: float, ticks: int, wall: float) -> float:
    """Seconds between two polls on the agent's clock (wall clock after a wrap or reboot)."""
    if ticks > prev_ticks:
        return (ticks - prev_ticks) / TICKS_PER_S
    if ticks < prev_ticks and not rebooted(prev_ticks, prev_wall, ticks, wall):
        return (ticks + WRAP32 - prev_ticks) / TICKS_PER_S
    return max(0.0, wall - prev_wall)


@dataclass(frozen=True, slots=True)
class Delta:
    value: int | None  # None: no trustworthy difference this poll
    event: str  # EVENT_NONE, EVENT_WRAP32 or EVENT_RESET


def counter_delta(prev: int, cur: int, bits: int, *, reboot: bool, max_delta: float | None = None) -> Delta:
    """Difference of one counter between polls. `max_delta` bounds a plausible wrap (speed × time)."""
    if reboot:
        return Delta(None, EVENT_RESET)
    if cur >= prev:
        return Delta(cur - prev, EVENT_NONE)
    if bits == 32:
        wrapped = cur + WRAP32 - prev
        if max_delta is not None and wrapped > max_delta:
            return Delta(None, EVENT_WRAP32)
        return Delta(wrapped, EVENT_WRAP32)
    return Delta(None, EVENT_RESET)


def worst(events: list[str]) -> str:
    """One counter_event per interface row: reset beats wrap32 beats nothing."""
    if EVENT_RESET in events:
        return EVENT_RESET
    if EVENT_WRAP32 in events:
        return EVENT_WRAP32
    return EVENT_NONE


@dataclass(slots=True)
class IfCounters:
    """The raw counters of one interface at one poll; `octet_bits` is 64 for ifHC*, 32 for the fallback."""

    in_octets: int
    out_octets: int
    octet_bits: int
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None


def interface_rates(
    prev: IfCounters, cur: IfCounters, seconds: float, *, reboot: bool, speed_bps: float | None
) -> dict[str, float | str]:
    """Schema snmp_if rate fields (bps, utilisation %, errors/discards per s) and counter_event."""
    out: dict[str, float | str] = {}
    events: list[str] = []
    if seconds <= 0:
        return {"counter_event": EVENT_RESET if reboot else EVENT_NONE}
    bits = cur.octet_bits if cur.octet_bits == prev.octet_bits else 0
    max_octets = speed_bps / 8 * seconds * 1.05 if speed_bps else None
    for name, p, c in (("in", prev.in_octets, cur.in_octets), ("out", prev.out_octets, cur.out_octets)):
        d = counter_delta(p, c, bits, reboot=reboot or bits == 0, max_delta=max_octets)
        events.append(d.event)
        if d.value is not None:
            bps = d.value * 8 / seconds
            out[f"{name}_bps"] = bps
            if speed_bps:
                out[f"{name}_util_pct"] = 100.0 * bps / speed_bps
    for name, p32, c32 in (
        ("in_errors_per_s", prev.in_errors, cur.in_errors),
        ("out_errors_per_s", prev.out_errors, cur.out_errors),
        ("in_discards_per_s", prev.in_discards, cur.in_discards),
        ("out_discards_per_s", prev.out_discards, cur.out_discards),
    ):
        if p32 is None or c32 is None:
            continue
        d = counter_delta(p32, c32, 32, reboot=reboot)
        events.append(d.event)
        if d.value is not None:
            out[name] = d.value / seconds
    out["counter_event"] = worst(events)
    return out
