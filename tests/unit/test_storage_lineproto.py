"""Line protocol encoding: escaping that survives Vietnamese text, spaces, commas, quotes, backslashes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.storage import lineproto
from netprobe.storage.point import Point


def test_escaping_by_hand() -> None:
    p = Point(
        "ping",
        {"commune": "Phường Kinh Bắc", "site": "a,b=c", "empty": ""},
        {"status": 'say "hi" \\ now', "packets_received": 4, "percent_packet_loss": 20.0, "rebooted": True},
        1_700_000_000_000_000_123,
    )
    line = lineproto.encode(p)
    assert line == (
        r"ping,commune=Phường\ Kinh\ Bắc,site=a\,b\=c "
        r'status="say \"hi\" \\ now",packets_received=4i,percent_packet_loss=20.0,rebooted=true '
        "1700000000000000123"
    )
    assert lineproto.decode(line) == Point(p.measurement, {k: v for k, v in p.tags.items() if v}, p.fields, p.time_ns)


def test_unstorable_values() -> None:
    p = Point("ping", {"t": "x\\"}, {"a": math.nan, "b": math.inf, "c": "two\nlines"}, 1)
    assert lineproto.encode(p) == 'ping,t=x/ c="two lines" 1'  # a trailing backslash would eat the separator
    with pytest.raises(lineproto.EncodeError):
        lineproto.encode(Point("ping", {}, {"a": math.nan}, 1))


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\\"), min_size=1, max_size=30)
field_value = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40),
)
name = st.from_regex(r"[a-z_][a-z0-9_ ,=]{0,12}", fullmatch=True)


@given(
    measurement=name,
    tags=st.dictionaries(name, text, max_size=5),
    fields=st.dictionaries(name, field_value, min_size=1, max_size=6),
    time_ns=st.integers(min_value=0, max_value=2**62),
)
def test_round_trip(measurement: str, tags: dict[str, str], fields: dict[str, object], time_ns: int) -> None:
    point = Point(measurement, tags, fields, time_ns)  # type: ignore[arg-type]
    assert lineproto.decode(lineproto.encode(point)) == point
