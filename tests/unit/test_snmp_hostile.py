"""Issue 14, SNMP: hostile encodings and replies end as one error for one device, never a hang, a poisoned
cache or a poll settled by a forged packet (items 1's enc_oid, 4 and 12's OID cache)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netprobe.probes.snmp import ber


# -- item 1: a negative sub-identifier looped forever in _base128 -------------------------------------------
@pytest.mark.parametrize(
    "oid",
    ["1.3.6.1.2.1.2.2.1.10.-1", "1.3.-6", "1.3.6.4294967296", "1", "1.40", "3.1", "1.3.x", "1." + "1." * 200 + "1"],
)
def test_enc_oid_refuses_what_is_not_an_oid(oid: str) -> None:
    with pytest.raises(ValueError, match="not an OID"):
        ber.enc_oid(oid)


def test_negative_arc_fails_fast_in_a_child() -> None:
    """In a child with a deadline: on the old code this loops forever and grows memory."""
    code = "from netprobe.probes.snmp import ber\ntry:\n    ber._base128(-1)\nexcept ValueError as e:\n    print(e)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=5)
    assert "negative" in done.stdout, done.stderr


def test_enc_oid_round_trips_the_extremes() -> None:
    for oid in ("1.3.6.1.2.1.2.2.1.10.2147483647", "2.999.4294967295", "0.0"):
        start, stop = ber.expect(ber.enc_oid(oid), 0, len(ber.enc_oid(oid)), ber.OID)
        assert ber.dec_oid(ber.enc_oid(oid), start, stop) == oid
