"""Rendering queries as Grafana does, and the line protocol the interim filler writes."""

from __future__ import annotations

import pytest

from netprobe.grafana.influx import line_protocol
from netprobe.grafana.influxql import Context, UnknownVariable, aliased, render, render_rule
from netprobe.storage.point import Point

VARS = {"commune": {"name": "commune"}, "province": {"name": "province", "allValue": ".*"}, "line": {"name": "line"}}


def ctx(**variables: str | list[str]) -> Context:
    return Context(1_000_000, 1_000_000 + 3 * 3_600_000, variables, {"line": ["a-1", "b.2"]})


def test_time_filter_and_interval_are_absolute_milliseconds() -> None:
    text = render("SELECT x FROM m WHERE $timeFilter GROUP BY time($__interval)", ctx())
    assert text == "SELECT x FROM m WHERE time >= 1000000ms and time <= 11800000ms GROUP BY time(30s)"


def test_variables_are_regex_escaped_and_multi_values_grouped() -> None:
    q = '"commune" =~ /^$commune$/ AND "line" =~ /^${line}$/ AND "province" =~ /^$province$/'
    assert render(q, ctx(commune="kinh.bac", line=["x-1", "y(2)"], province="$__all"), VARS) == (
        '"commune" =~ /^kinh\\.bac$/ AND "line" =~ /^(x-1|y\\(2\\))$/ AND "province" =~ /^.*$/'
    )
    # All without an allValue: every option, escaped
    assert render('"line" =~ /^$line$/', ctx(line="$__all"), VARS) == '"line" =~ /^(a-1|b\\.2)$/'


def test_unknown_variable_is_an_error() -> None:
    with pytest.raises(UnknownVariable):
        render('"x" =~ /^$nope$/', ctx())


def test_alert_queries_must_not_contain_dollar() -> None:
    assert render_rule("SELECT 1 FROM m WHERE time > now() - 5m AND time <= now()", 42) == (
        "SELECT 1 FROM m WHERE time > 42ms - 5m AND time <= 42ms"
    )
    with pytest.raises(ValueError, match="must not contain"):
        render_rule("SELECT 1 FROM m WHERE $timeFilter", 42)


def test_alias_patterns() -> None:
    assert (
        aliased("$tag_device $tag_ifname $col", "snmp_if", {"device": "rt1", "ifname": "Gi0/0"}, "in") == "rt1 Gi0/0 in"
    )
    assert aliased("", "ping", {"line": "a"}, "mean") == "ping.mean {line: a}"


def test_line_protocol_escapes_and_types() -> None:
    p = Point(
        "link_health",
        {"commune": "kinh bac", "line": "a,b", "device": ""},
        {"reasons": 'loss "18%"', "state_code": 2, "score": 35.0, "ok": True},
        7,
    )
    assert line_protocol(p) == (
        'link_health,commune=kinh\\ bac,line=a\\,b reasons="loss \\"18%\\"",state_code=2i,score=35.0,ok=true 7'
    )
