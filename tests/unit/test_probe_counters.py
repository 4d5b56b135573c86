"""Counter32 wrap vs Counter64 reset vs reboot, on recorded values."""

from __future__ import annotations

import pytest

from netprobe.probes.snmp.counters import (
    EVENT_NONE,
    EVENT_RESET,
    EVENT_WRAP32,
    WRAP32,
    IfCounters,
    counter_delta,
    elapsed_s,
    interface_rates,
    rebooted,
)

T0 = 1_760_000_000.0  # wall clock of the first poll


def test_uptime_going_backwards_is_a_reboot() -> None:
    # recorded: a commune switch up 12 days, then 95 s after a power cut
    assert rebooted(103_680_000, T0, 9_500, T0 + 60)
    assert not rebooted(103_680_000, T0, 103_686_000, T0 + 60)


def test_uptime_wrap_after_497_days_is_not_a_reboot() -> None:
    before = WRAP32 - 3_000  # 30 s before sysUpTime wraps
    after = 3_000  # 60 s later: 30 s past the wrap
    assert not rebooted(before, T0, after, T0 + 60)
    assert elapsed_s(before, T0, after, T0 + 60) == pytest.approx(60.0)
    # near the wrap but the new value does not fit a wrap: the device really restarted
    assert rebooted(before, T0, 400_000, T0 + 60)


def test_counter32_wrap_gives_the_modular_difference() -> None:
    d = counter_delta(4_294_000_000, 1_000_000, 32, reboot=False)
    assert d.event == EVENT_WRAP32 and d.value == 1_000_000 + WRAP32 - 4_294_000_000


def test_counter32_wrap_larger_than_the_link_could_carry_gives_no_rate() -> None:
    # 10 Mbit/s for 60 s is 75 MB at most; a "wrap" of ~4 GB is really a reset we cannot see
    d = counter_delta(1_000, 500, 32, reboot=False, max_delta=10e6 / 8 * 60)
    assert d.event == EVENT_WRAP32 and d.value is None


def test_counter64_backwards_is_a_reset_not_a_wrap() -> None:
    d = counter_delta(98_765_432_100, 1_234, 64, reboot=False)
    assert d.event == EVENT_RESET and d.value is None


def test_reboot_resets_every_counter() -> None:
    assert counter_delta(100, 200, 64, reboot=True).value is None
    assert counter_delta(100, 200, 64, reboot=True).event == EVENT_RESET


def test_interface_rates_on_recorded_polls() -> None:
    # recorded from a 100 Mbit/s commune uplink, 60 s apart
    prev = IfCounters(8_123_456_789, 1_987_654_321, 64, in_errors=10, out_errors=0, in_discards=5, out_discards=2)
    cur = IfCounters(8_198_456_789, 1_990_654_321, 64, in_errors=70, out_errors=0, in_discards=5, out_discards=2)
    r = interface_rates(prev, cur, 60.0, reboot=False, speed_bps=100e6)
    assert r["in_bps"] == pytest.approx(75_000_000 * 8 / 60)  # 10 Mbit/s
    assert r["in_util_pct"] == pytest.approx(10.0)
    assert r["out_bps"] == pytest.approx(400_000.0)
    assert r["in_errors_per_s"] == pytest.approx(1.0)
    assert r["out_discards_per_s"] == 0.0
    assert r["counter_event"] == EVENT_NONE


def test_interface_rates_after_32_bit_wrap_and_after_reset() -> None:
    prev = IfCounters(4_294_900_000, 100, 32)
    cur = IfCounters(32_704, 200, 32)
    r = interface_rates(prev, cur, 10.0, reboot=False, speed_bps=100e6)
    assert r["counter_event"] == EVENT_WRAP32
    assert r["in_bps"] == pytest.approx((32_704 + WRAP32 - 4_294_900_000) * 8 / 10)
    r = interface_rates(IfCounters(500, 500, 64), IfCounters(100, 600, 64), 10.0, reboot=False, speed_bps=None)
    assert r["counter_event"] == EVENT_RESET and "in_bps" not in r and r["out_bps"] == pytest.approx(80.0)
    # the agent switched from ifHC (64) to 32-bit counters between polls: no rate, not a guess
    r = interface_rates(IfCounters(500, 500, 64), IfCounters(600, 600, 32), 10.0, reboot=False, speed_bps=None)
    assert "in_bps" not in r and r["counter_event"] == EVENT_RESET
