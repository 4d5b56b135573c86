"""The edges of the verdicts: adapters from Measurements and Points, link_health points, reasons in words."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from netprobe.health.engine import HealthEngine, load_state, save_state
from netprobe.health.observation import Source, from_measurement, from_point, observe
from netprobe.health.points import to_points
from netprobe.health.reasons import Code, Reason, duration, render, render_en
from netprobe.health.replay import replay
from netprobe.health.synthetic import pings, topology
from netprobe.health.topology import Topology
from netprobe.health.verdict import State
from netprobe.inventory.loader import load_inventory
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.storage.point import Point
from netprobe.storage.schema import SCHEMA, check_point
from tests.conftest import EXAMPLE

T0 = 1_699_999_200.0
LINE_TAGS = {"province": "bac-ninh", "commune": "kinh-bac", "line": "kb-1", "provider": "VNPT", "kind": "ce"}


def test_a_measurement_and_its_stored_point_give_the_same_observation() -> None:
    target = Target("ping/line/kb-1/ce", ProbeKind.PING, "198.18.0.2", LINE_TAGS)
    fields: dict[str, float | int | str | bool] = {
        "packets_transmitted": 10, "packets_received": 8, "percent_packet_loss": 20.0,
        "median_response_ms": 12.5, "jitter_ms": 1.5,
    }  # fmt: skip
    m = Measurement(target, T0, Status.OK, dict(fields))
    live = from_measurement(m, "dc-a")
    stored = from_point(Point("ping", {**LINE_TAGS, "agent": "dc-a"}, {**fields, "status": "ok"}, int(T0 * 1e9)))
    assert live == [stored]
    assert stored is not None and (stored.sent, stored.received, stored.rtt_ms, stored.agent) == (10, 8, 12.5, "dc-a")


def test_an_snmp_measurement_gives_the_system_and_each_interface() -> None:
    tags = {"province": "bac-ninh", "commune": "kinh-bac", "device": "kb-rt1", "kind": "device"}
    target = Target("snmp/device/kb-rt1", ProbeKind.SNMP, "198.18.0.9", tags)
    rows = [
        {"ifname": "Gi0/0", "oper_status": 1, "admin_status": 1, "last_change_s": 12.0, "in_errors_per_s": 0.5,
         "out_errors_per_s": 0.25},
        {"ifname": "", "oper_status": 1},  # no name: cannot be told apart, dropped (as storage drops it)
    ]  # fmt: skip
    m = Measurement(target, T0, Status.OK, {"uptime_s": 5000.0, "rebooted": False}, rows=rows)
    sys_obs, if_obs = from_measurement(m, "dc-a")
    assert sys_obs.source is Source.SNMP_SYS and sys_obs.uptime_s == 5000.0
    assert if_obs.source is Source.SNMP_IF and if_obs.ifname == "Gi0/0" and if_obs.errors_per_s == 0.75


def test_rows_that_say_nothing_about_a_line_or_device_are_skipped() -> None:
    assert observe("tcp", {"kind": "service", "target": "qlvb"}, {"status": "ok"}, T0) is None
    assert observe("ping", {"kind": "ce"}, {"status": "ok"}, T0) is None  # no line tag
    assert observe("ping", LINE_TAGS, {"status": "ok"}, T0) is None  # no packet counts


def test_link_health_points_conform_to_the_schema() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-rt1": ("kinh-bac", "kb-1")})
    obs = pings("kb-1", "ce", "dc-a", T0, T0 + 900, lost=lambda t: 3) + pings("kb-rt1", "device", "dc-a", T0, T0 + 900)
    evaluation = list(replay(HealthEngine(topo), obs, T0, T0 + 900, 30.0))[-1]
    points = to_points(evaluation, topo, agent="dc-a")
    assert {p.tags["kind"] for p in points} == {"line", "device", "commune", "agent"}
    for p in points:
        assert p.measurement == "link_health"
        assert check_point(p.measurement, p.tags, dict(p.fields)) == [], p
        assert set(p.fields) <= set(SCHEMA["link_health"].fields)
    line = next(p for p in points if p.tags["kind"] == "line")
    assert line.fields["state"] == "UNSTABLE" and line.fields["state_code"] == 2
    assert line.fields["reasons"] == "loss 30% over 5 min" and line.tags["provider"] == "VNPT"
    device = next(p for p in points if p.tags["kind"] == "device")
    assert device.tags["line"] == "kb-1" and device.tags["agent"] == "dc-a"
    assert line.time_ns == int((T0 + 900) * 1e9)


def test_state_codes_match_the_schema() -> None:
    assert [s.code for s in State] == [0, 1, 2, 3, 4, 5]
    assert [s.value for s in State] == ["OK", "DEGRADED", "UNSTABLE", "DOWN", "UNREACHABLE", "UNKNOWN"]


SAMPLES = {
    Code.LOSS: {"loss_pct": 18.0, "lost": 18, "sent": 100, "window_s": 300.0},
    Code.RTT: {"rtt_ms": 123.4, "window_s": 300.0},
    Code.RTT_PE: {"rtt_ms": 41.2, "pe_ms": 0.8, "excess_ms": 40.4},
    Code.RTT_BASELINE: {"rtt_ms": 35.0, "baseline_ms": 5.0, "ratio": 7.0},
    Code.JITTER: {"jitter_ms": 4.25, "window_s": 300.0},
    Code.FLAPS: {"flaps": 4, "window_s": 3600.0},
    Code.DOWN: {"probes": 2, "seconds": 60},
    Code.WENT_DOWN: {"times": 6, "window_s": 600.0},
    Code.PE_OK: {},
    Code.PE_DOWN: {},
    Code.IF_DOWN: {"ifname": "Gi0/1"},
    Code.IF_FLAPS: {"ifname": "Gi0/1", "changes": 1, "window_s": 3600.0},
    Code.IF_ERRORS: {"ifname": "port1", "errors_per_s": 2.5, "window_s": 300.0},
    Code.REBOOTS: {"reboots": 1, "window_s": 600.0},
    Code.SNMP_SILENT: {"seconds": 300},
    Code.PARENT_DOWN: {"parent": "kb-1"},
    Code.PARENT_UNSTABLE: {"parent": "kb-1"},
    Code.NO_DATA: {"seconds": 600},
    Code.AGENT_IMPAIRED: {"agent": "dc-a"},
    Code.HOLDING: {"state": "UNSTABLE", "seconds": 120.0},
    Code.COMMUNE_ISOLATED: {"commune": "que-vo", "lines": 3},
    Code.AGENT_UPLINK: {"agent": "dc-a", "failed": 40, "total": 41, "others": "dc-b", "communes": 12},
}


def test_every_reason_code_renders_in_english() -> None:
    samples = SAMPLES
    assert set(samples) == set(Code)
    texts = {code: render_en(Reason.of(code, **params)) for code, params in samples.items()}
    assert all(texts.values())
    assert render([Reason.of(Code.LOSS, **samples[Code.LOSS]), Reason.of(Code.FLAPS, **samples[Code.FLAPS])]) == (
        "loss 18% over 5 min; 4 flaps in 1 h"
    )
    assert texts[Code.IF_FLAPS] == "interface Gi0/1 changed state 1 time in 1 h"
    assert texts[Code.NO_DATA] == "no measurements for 10 min"
    assert texts[Code.RTT_PE] == "latency 41 ms, 40 ms above its provider edge (0.8 ms)"
    reason = Reason.of(Code.LOSS, **samples[Code.LOSS])
    assert Reason.from_json(reason.to_json()) == reason


def test_durations_read_naturally() -> None:
    assert [duration(s) for s in (30, 60, 90, 300, 3600, 5400, 86400)] == [
        "30 s", "1 min", "90 s", "5 min", "1 h", "1.5 h", "24 h",
    ]  # fmt: skip


def test_topology_from_the_example_inventory() -> None:
    inv = load_inventory(EXAMPLE)
    topo = Topology.from_inventory(inv)
    assert set(topo.nodes) == set(inv.lines) | set(inv.devices)
    position = {n: i for i, n in enumerate(topo.order)}
    for node in topo.nodes.values():
        if node.parent:
            assert position[node.parent] < position[node.id]
    sw = topo.nodes["kinh-bac-sw1"]
    assert (sw.line, sw.provider, sw.parent) == ("kinh-bac-vnpt-1", "VNPT", "kinh-bac-fw1")
    assert topo.agents == ("dc-bac-ninh", "dc-bac-giang")
    assert topo.nodes["kinh-bac-vnpt-1"].thresholds.rtt_ms.degraded == 60  # the province's defaults apply


def _small_run(engine: HealthEngine, end: float) -> list:  # type: ignore[type-arg]
    obs = pings("kb-1", "ce", "dc-a", T0, end, lost=lambda t: 3 if t >= T0 + 300 else 0)
    return list(replay(engine, obs, T0, end, 30.0))


def test_state_file_round_trip_and_bad_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",))
    engine = HealthEngine(topo)
    _small_run(engine, T0 + 600)
    path = tmp_path / "state" / "verdicts.json"
    save_state(engine, path)
    restored = load_state(topo, path)
    assert restored.to_json() == engine.to_json()
    packed = tmp_path / "verdicts.json.gz"
    save_state(engine, packed)
    assert packed.read_bytes()[:2] == b"\x1f\x8b" and load_state(topo, packed).to_json() == engine.to_json()
    assert load_state(topo, tmp_path / "missing.json").to_json()["machines"] == {}
    path.write_text("{not json")
    assert load_state(topo, path).last_time is None and "unreadable" in caplog.text
    path.write_text("[1, 2]")
    assert load_state(topo, path).last_time is None and "malformed" in caplog.text
    path.write_text(json.dumps({**engine.to_json(), "version": 999}))
    assert load_state(topo, path).last_time is None  # another format: start afresh, never misread


def test_restored_state_drops_what_left_the_inventory() -> None:
    topo = topology({"kinh-bac": ["kb-1", "kb-2"]}, agents=("dc-a",))
    engine = HealthEngine(topo)
    engine.ingest(pings("kb-2", "ce", "dc-a", T0, T0 + 300))
    _small_run(engine, T0 + 600)
    smaller = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",))
    restored = HealthEngine.from_json(smaller, json.loads(json.dumps(engine.to_json())))
    assert set(restored.machines) == {"kb-1"} and all(k[0] == "kb-1" for k in restored.ping)
    assert restored.evaluate(T0 + 630).nodes["kb-1"].state is State.UNSTABLE


def test_live_measurements_feed_the_engine() -> None:
    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",))
    target = Target("ping/line/kb-1/ce", ProbeKind.PING, "198.18.0.2", {**LINE_TAGS, "commune": "kinh-bac"})
    engine = HealthEngine(topo)
    for i in range(4):
        fields: dict[str, float | int | str | bool] = {"packets_transmitted": 5, "packets_received": 0}
        engine.ingest_measurements([Measurement(target, T0 + 30 * i, Status.TIMEOUT, fields)], "dc-a")
        last = engine.evaluate(T0 + 30 * i + 1)
    assert last.nodes["kb-1"].state is State.DOWN


def test_rich_table_shows_the_problems() -> None:
    from rich.console import Console

    from netprobe.cli.status_cmd import render_rich
    from netprobe.health.status import status_from_points

    topo = topology({"kinh-bac": ["kb-1"]}, agents=("dc-a",))
    points = [
        Point("ping", {**LINE_TAGS, "agent": "dc-a"},
              {"packets_transmitted": 10, "packets_received": 7, "median_response_ms": 9.0, "status": "ok"},
              int((T0 + 30 * i) * 1e9))
        for i in range(20)
    ]  # fmt: skip
    report = status_from_points(topo, points, T0 + 600, 600)
    console = Console(record=True, width=140, color_system=None)
    render_rich(report, console)
    text = console.export_text()
    assert "UNSTABLE" in text and "kb-1" in text and "loss 30% over 5 min" in text and "VNPT" in text
    assert "1 problem(s) now" in text


def test_hysteresis_thresholds_inherit_and_override_per_line(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        """
province: {slug: test, name: Test}
defaults:
  thresholds: {clear_s: 300, loss_pct: {degraded: 3}}
agents: [{name: dc-a}]
communes:
  - slug: kinh-bac
    name: Kinh Bắc
    sites:
      - id: ubnd
        lines:
          - {id: kb-fiber, provider: VNPT, ce: 198.18.0.2}
          - {id: kb-4g, provider: Viettel, ce: 198.18.0.6, media: 4g,
             thresholds: {rtt_ms: {degraded: 300, unstable: 600}, loss_pct: {unstable: 20}, min_state_s: 600,
                          down_probes: 3}}
""",
        encoding="utf-8",
    )
    topo = Topology.from_inventory(load_inventory(tmp_path))
    fiber, lte = topo.nodes["kb-fiber"].thresholds, topo.nodes["kb-4g"].thresholds
    assert (fiber.clear_s, fiber.loss_pct.degraded, fiber.loss_pct.unstable, fiber.down_probes) == (300, 3, 10, 2)
    assert (lte.clear_s, lte.loss_pct.degraded, lte.loss_pct.unstable, lte.min_state_s) == (300, 3, 20, 600)
    assert (lte.rtt_ms.degraded, lte.down_probes, lte.errors_per_s.degraded) == (300, 3, 1)


def test_reasons_render_through_a_translated_catalogue() -> None:
    from netprobe.health.reasons import display_params, translated

    vi = {
        "reason.loss": "mất {loss_pct} gói tin trong {window}",
        "reason.flaps": "chập chờn {flaps} lần trong {window}",
        "reason.no_data_yet": "chưa có số liệu đo",
        "unit.h": "giờ",
        "unit.min": "phút",
    }

    def translate(key: str, **params: object) -> str:  # what netprobe.i18n.Translator does
        return vi[key].format(**params) if key in vi else key

    catalogue = translated(translate)
    loss = Reason.of(Code.LOSS, loss_pct=18.0, lost=18, sent=100, window_s=300.0)
    flaps = Reason.of(Code.FLAPS, flaps=4, window_s=3600.0)
    assert render([loss, flaps], catalogue) == "mất 18% gói tin trong 5 phút; chập chờn 4 lần trong 1 giờ"
    assert catalogue(Reason.of(Code.NO_DATA, seconds=-1)) == "chưa có số liệu đo"
    assert catalogue(Reason.of(Code.REBOOTS, reboots=2, window_s=3600.0)) == "2 reboots in 1 h"  # English fallback
    boot = Reason.of(Code.REBOOTS, reboots=1, window_s=600.0, boot_at=1_700_000_000)
    assert display_params(boot)["boot_at"] == time.strftime("%H:%M", time.localtime(1_700_000_000))
    assert display_params(Reason.of(Code.RTT_BASELINE, rtt_ms=35.0, baseline_ms=5.0, ratio=7.0)) == {
        "rtt_ms": "35 ms", "baseline_ms": "5.0 ms", "ratio": "7.0",
    }  # fmt: skip


def test_the_proposed_vietnamese_entries_render_every_reason() -> None:
    import re

    import yaml

    from netprobe.health.reasons import translated

    doc = (EXAMPLE.parents[1] / "docs" / "verdicts.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(unit\.h:.*?)```", doc, re.S)
    assert block is not None
    vi = yaml.safe_load(block.group(1))

    def translate(key: str, **params: object) -> str:
        return str(vi[key]).format(**params) if key in vi else key

    catalogue = translated(translate)
    english = {code: render_en(Reason.of(code, **params)) for code, params in SAMPLES.items()}
    for code, params in SAMPLES.items():
        text = catalogue(Reason.of(code, **params))
        assert text and text != english[code], code  # every code has a Vietnamese text that formats
    assert catalogue(Reason.of(Code.LOSS, **SAMPLES[Code.LOSS])) == "mất 18% gói tin trong 5 phút"


def test_link_health_points_carry_the_communes_coordinates() -> None:
    inv = load_inventory(EXAMPLE)
    topo = Topology.from_inventory(inv)
    located = {c.slug: (c.coordinates.lat, c.coordinates.lon) for c in inv.communes if c.coordinates}
    assert located, "the example inventory has coordinates"
    evaluation = HealthEngine(topo).evaluate(T0)
    points = to_points(evaluation, topo, agent="dc-bac-ninh")
    for p in points:
        commune = p.tags.get("commune")
        if commune in located:
            assert (p.fields["lat"], p.fields["lon"]) == located[commune], p
            assert check_point(p.measurement, p.tags, dict(p.fields)) == []
        else:
            assert "lat" not in p.fields and "lon" not in p.fields
    assert {p.tags["kind"] for p in points if "lat" in p.fields} == {"line", "device", "commune"}


def test_absurd_numbers_in_stored_rows_are_not_measurements_and_never_crash_a_save(tmp_path: Path) -> None:
    # stored history is not only what our probes wrote: a row may carry anything a number can be
    tags = {"kind": "device", "device": "kb-sw1", "ifname": "Gi0/1"}
    hostile = {"oper_status": float("inf"), "admin_status": 10**400, "last_change_s": float("nan")}
    o = observe("snmp_if", tags, hostile, T0)
    assert o is not None and o.oper_status is None and o.admin_status is None
    topo = topology({"kinh-bac": ["kb-1"]}, {"kb-sw1": ("kinh-bac", "kb-1")}, agents=("dc-a",))
    engine = HealthEngine(topo)
    engine.ingest([o, *pings("kb-sw1", "device", "dc-a", T0, T0 + 300)])
    engine.evaluate(T0 + 300)
    save_state(engine, tmp_path / "s.json")
    assert load_state(topo, tmp_path / "s.json").to_json() == json.loads(json.dumps(engine.to_json()))
