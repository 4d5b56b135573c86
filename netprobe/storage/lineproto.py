"""InfluxDB line protocol: encoding points (with escaping that survives Vietnamese text, spaces, commas,
quotes) and parsing them back (the embedded store keeps the same lines the outbox would send).

Rules (InfluxDB docs, "Line protocol"): measurement escapes `,` and space; tag keys/values and field keys
escape `,` `=` and space; string field values are double-quoted with `"` and `\\` escaped. Line protocol
cannot carry a newline, an empty tag value, or a NaN/Inf float: newlines become spaces, empty tags and
non-finite floats are left out (a point left with no field is refused by `encode`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from netprobe.storage.point import FieldValue, Point

# InfluxDB 1.x reads a backslash in a tag literally, so "x\\" before a separator cannot be written at all:
# backslashes in names and tag values become "/" (tags are ids and slugs; none should carry one).
_MEAS = str.maketrans({",": "\\,", " ": "\\ ", "\n": " ", "\r": " ", "\\": "/"})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": " ", "\r": " ", "\\": "/"})
_STR = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": " ", "\r": " "})


class EncodeError(ValueError):
    """A point line protocol cannot carry (no fields left)."""


_SPECIAL_KEY = frozenset(",= \n\r\\")
_escaped: dict[str, str] = {}  # tag keys/values and field keys repeat across points: escape each once


def _escape_key(text: str) -> str:
    """Escape a tag key/value or field key (cached: a province has a bounded set of them)."""
    cached = _escaped.get(text)
    if cached is None:
        cached = text.translate(_KEY) if not _SPECIAL_KEY.isdisjoint(text) else text
        if len(_escaped) < 200_000:
            _escaped[text] = cached
    return cached


def encode_field(value: FieldValue) -> str | None:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return '"' + str(value).translate(_STR) + '"'


def encode(point: Point) -> str:
    """One line of line protocol, nanosecond precision, tags sorted (InfluxDB's preferred order)."""
    tags = point.tags
    head = point.measurement.translate(_MEAS)
    if tags:
        head += "".join(f",{_escape_key(k)}={_escape_key(tags[k])}" for k in sorted(tags) if tags[k] != "")
    fields = []
    for key, value in point.fields.items():
        encoded = encode_field(value)
        if encoded is not None:
            fields.append(f"{_escape_key(key)}={encoded}")
    if not fields:
        raise EncodeError(f"{point.measurement} at {point.time_ns}: no field line protocol can carry")
    return f"{head} {','.join(fields)} {point.time_ns}"


# --- parsing (for the embedded store and for tests) -------------------------------------------------------


def _split_unescaped(text: str, sep: str, *, quotes: bool = False) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    i, in_quotes = 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if quotes and c == '"':
            in_quotes = not in_quotes
        if c == sep and not in_quotes:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    out.append("".join(buf))
    return out


def _partition(item: str) -> tuple[str, str]:
    """Split `key=value` at the first unescaped "=" (keys may hold an escaped one)."""
    i = 0
    while i < len(item):
        if item[i] == "\\":
            i += 2
            continue
        if item[i] == "=":
            return item[:i], item[i + 1 :]
        i += 1
    raise ValueError(f"no '=' in {item[:80]!r}")


def _unescape(text: str, escapable: str = ",= ") -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in escapable:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _parse_field(raw: str) -> FieldValue:
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return _unescape(raw[1:-1], '"\\')
    if raw in ("true", "t", "T", "True", "TRUE"):
        return True
    if raw in ("false", "f", "F", "False", "FALSE"):
        return False
    if raw.endswith("i"):
        return int(raw[:-1])
    return float(raw)


def decode(line: str) -> Point:
    """Parse one line written by `encode` back into a Point (raises ValueError on anything else)."""
    key, *rest = _split_unescaped(line.rstrip("\n"), " ")  # the series key holds no quoted text
    sections = _split_unescaped(" ".join(rest), " ", quotes=True)
    if len(sections) != 2:
        raise ValueError(f"not a line protocol line with a timestamp: {line[:80]!r}")
    field_text, stamp = sections
    head = _split_unescaped(key, ",")
    tags: dict[str, str] = {}
    for item in head[1:]:
        k, v = _partition(item)
        tags[_unescape(k)] = _unescape(v)
    fields: dict[str, FieldValue] = {}
    for item in _split_unescaped(field_text, ",", quotes=True):
        k, v = _partition(item)
        fields[_unescape(k)] = _parse_field(v)
    return Point(_unescape(head[0]), tags, fields, int(stamp))


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    return measurement + "".join(f",{k}={tags[k]}" for k in sorted(tags))
