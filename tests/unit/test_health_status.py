"""`netprobe status` over stored points of the example province (constructed, in the schema's names)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from netprobe.cli.status_cmd import parse_duration, render_plain
from netprobe.engine.targets import build_targets
from netprobe.errors import NetprobeError
from netprobe.health.reasons import Code, Reason
from netprobe.health.status import StatusReport, problems_of, status_from_points, status_from_source
from netprobe.health.synthetic import topology
from netprobe.health.topology import Topology
from netprobe.health.verdict import Evaluation, State, Verdict
from netprobe.inventory.loader import Inventory, load_inventory
from netprobe.probes.base import ProbeKind
from netprobe.storage.point import Point
from tests.conftest import EXAMPLE

NOW = 1_699_999_200.0 + 7200
SINCE = 1800.0
AGENTS = ("dc-bac-ninh", "dc-bac-giang")


def _dead(inv: Inventory, key: str, t: float) -> bool:
    """The story: que-vo cut off 20 min ago; kinh-bac's VNPT line and all gear behind it dead 10 min ago."""
    if "que-vo" in key:
        return t >= NOW - 1200
    kinh_bac_gear = any(f"/{d}" in key for d in ("kinh-bac-rt1", "kinh-bac-fw1", "kinh-bac-sw", "kinh-bac-vc1"))
    return ("kinh-bac-vnpt-1/" in key or kinh_bac_gear or "kinh-bac-ap1" in key) and t >= NOW - 600


def _lost(key: str, t: float) -> int:
    if "tien-du-viettel-2/" in key:
        return 3  # 30% loss all along: UNSTABLE
    if "luc-nam-vnpt-1/" in key and NOW - 1500 <= t < NOW - 1200:
        return 4  # lossy for 5 min, 20 min ago: recovered
    return 0


def province_points(inv: Inventory, start: float, end: float) -> Iterator[Point]:
    targets = [t for t in build_targets(inv, kinds=(ProbeKind.PING,))]
    for a_i, agent in enumerate(AGENTS):
        for t_i, target in enumerate(targets):
            t = start + (a_i * 11 + t_i * 3) % 30
            while t < end:
                lost = 10 if _dead(inv, target.key, t) else _lost(target.key, t)
                fields: dict[str, float | int | str | bool] = {
                    "packets_transmitted": 10,
                    "packets_received": 10 - lost,
                    "percent_packet_loss": 10.0 * lost,
                    "status": "ok" if lost < 10 else "timeout",
                }
                if lost < 10:
                    fields.update(median_response_ms=8.0, jitter_ms=0.7)
                yield Point("ping", {**target.tags, "agent": agent}, fields, int(t * 1e9))
                t += 30


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(EXAMPLE)


@pytest.fixture(scope="module")
def points(inv: Inventory) -> list[Point]:
    # healthy before the window: 10 minutes of it are enough history (status would read a full hour)
    return list(province_points(inv, NOW - SINCE - 600, NOW + 1))


@pytest.fixture(scope="module")
def report(inv: Inventory, points: list[Point]) -> StatusReport:
    return status_from_points(Topology.from_inventory(inv), points, NOW, SINCE)


def test_status_ranks_causes_worst_first_and_folds_consequences(report: StatusReport) -> None:
    rows = [(p.kind, p.subject, p.state, p.recovered) for p in report.problems]
    assert rows == [
        ("commune", "que-vo", State.DOWN, False),
        ("line", "kinh-bac-vnpt-1", State.DOWN, False),
        ("line", "tien-du-viettel-2", State.UNSTABLE, False),
        ("line", "luc-nam-vnpt-1", State.OK, True),
    ]
    que_vo, kinh_bac, tien_du, luc_nam = report.problems
    assert que_vo.evidence == "commune que-vo isolated: all 2 lines down; 6 devices behind it unreachable"
    assert que_vo.commune_name == "Thị xã Quế Võ" or que_vo.commune_name.endswith("Quế Võ")
    assert kinh_bac.provider == "VNPT" and kinh_bac.behind == 6
    assert kinh_bac.evidence.startswith("no reply to")
    assert kinh_bac.since == pytest.approx(NOW - 600 + 60, abs=60)
    assert tien_du.evidence == "loss 30% over 5 min" and tien_du.provider == "Viettel"
    assert luc_nam.evidence.startswith("was UNSTABLE from") and "loss" in luc_nam.evidence
    assert report.counts["DOWN"] == 3 and report.counts["UNSTABLE"] == 1 and report.counts["OK"] == 24


def test_status_reads_through_a_point_source(inv: Inventory, points: list[Point], report: StatusReport) -> None:
    class ListSource:
        """The PointSource protocol over a list (what the embedded store and InfluxDB readers implement)."""

        def __init__(self, stored: list[Point]) -> None:
            self.stored = stored
            self.asked: list[tuple[str, int, int]] = []

        def read(
            self, measurement: str, since_ns: int, until_ns: int, tags: Mapping[str, str] | None = None
        ) -> Iterator[Point]:
            self.asked.append((measurement, since_ns, until_ns))
            for p in self.stored:
                wanted = all(p.tags.get(k) == v for k, v in (tags or {}).items())
                if p.measurement == measurement and since_ns <= p.time_ns < until_ns and wanted:
                    yield p

    source = ListSource(points)
    topo = Topology.from_inventory(inv)
    via_source = status_from_source(topo, source, NOW, SINCE)
    assert [m for m, *_ in source.asked] == ["ping", "snmp_sys", "snmp_if", "tcp", "http"]
    assert source.asked[0][1] == int((NOW - SINCE - 3600) * 1e9)  # the window plus the long window
    assert via_source == report


def test_status_cli_json_and_plain(run_cli, inv: Inventory, points: list[Point], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dump = tmp_path / "points.jsonl"
    with dump.open("w") as f:
        for p in points:
            f.write(
                json.dumps({"measurement": p.measurement, "tags": p.tags, "fields": p.fields, "time_ns": p.time_ns})
            )
            f.write("\n")
    code, out, err = run_cli(
        "-i", str(EXAMPLE), "status", "--since", "30m", "--from", str(dump), "--at", str(NOW), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert [p["subject"] for p in data["problems"]] == [
        "que-vo",
        "kinh-bac-vnpt-1",
        "tien-du-viettel-2",
        "luc-nam-vnpt-1",
    ]
    assert data["problems"][1]["state_code"] == 3 and data["lines_by_state"]["DOWN"] == 3


def test_plain_rendering(report: StatusReport) -> None:
    lines = render_plain(report).splitlines()
    assert lines[0].split()[:5] == ["STATE", "COMMUNE", "WHAT", "PROVIDER", "SINCE"]
    assert lines[1].startswith("DOWN") and "que-vo isolated" in lines[1]
    assert "RECOVERED" in lines[4] and "luc-nam-vnpt-1" in lines[4]
    assert "tien-du-viettel-2" in lines[3] and "≤ " in lines[3]  # lossy since before the window began
    assert "≤ " not in lines[2]  # kinh-bac's line died within the window
    assert lines[-1].startswith("3 problem(s) now, 1 recovered")


def test_status_cli_errors_are_one_line(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"measurement": "ping"}\n')
    code, _, err = run_cli("-i", str(EXAMPLE), "status", "--from", str(bad))
    assert code == 2 and err.startswith("error: ") and f"{bad}:1: not a point" in err and len(err.splitlines()) == 1
    code, _, err = run_cli("-i", str(EXAMPLE), "status", "--since", "soon", "--from", str(bad))
    assert code == 2 and "--since 'soon'" in err
    monkeypatch.setenv("NETPROBE_STATE_DIR", str(tmp_path / "no-agent-ran-here"))
    monkeypatch.delenv("NETPROBE_CONFIG", raising=False)
    code, _, err = run_cli("-i", str(EXAMPLE), "status")
    assert code == 2 and "no history at" in err and "--from" in err and len(err.splitlines()) == 1


def test_durations() -> None:
    assert [parse_duration(x) for x in ("90s", "30m", "1h", "2d", "45")] == [90, 1800, 3600, 172800, 45]
    with pytest.raises(NetprobeError):
        parse_duration("0h")


def test_nothing_measured_is_unknown_not_fine(inv: Inventory) -> None:
    empty = status_from_points(Topology.from_inventory(inv), [], NOW, 60)
    assert empty.counts["UNKNOWN"] == len(inv.lines)
    kinds = [(p.kind, p.state) for p in empty.problems]
    assert kinds == [("agent", State.UNKNOWN)] * 2 + [("commune", State.UNKNOWN)] * len(inv.communes)
    assert empty.problems[2].evidence.startswith("no measurements yet (")


def test_the_summary_says_a_short_window_in_minutes_not_a_fraction_of_an_hour() -> None:
    from netprobe.cli.status_cmd import _summary
    from netprobe.health.status import StatusReport

    text = _summary(StatusReport(time=0.0, since_s=240.0, problems=[], counts={"OK": 3}))
    assert "recovered in the last 4 min;" in text and "0.0666667" not in text


def service_points(inv: Inventory) -> Iterator[Point]:
    """dvc's port refused from both DCs for the last 10 min; qlvb's page fine but its certificate expires in
    5 days; hntt-mcu refused 25 to 20 min ago from one DC only (the other connected); then fine."""
    for agent in AGENTS:
        for t in range(int(NOW - SINCE - 600), int(NOW), 60):
            for s in inv.services:
                tags = {"province": inv.province.slug, "kind": "service", "target": s.id, "agent": agent}
                refused = (s.id == "dvc" and t >= NOW - 600) or (
                    s.id == "hntt-mcu" and agent == AGENTS[0] and NOW - 1500 <= t < NOW - 1200
                )
                yield Point("tcp", {**tags, "port": str(s.port)}, {"status": "refused" if refused else "ok"}, t * 10**9)
                if s.id == "qlvb":
                    fields = {"status": "ok", "total_ms": 180.0, "cert_days_left": 5.0, "http_status": 200}
                    yield Point("http", tags, fields, t * 10**9 + 1)


def test_status_lists_data_centre_services_with_the_vantage_points(inv: Inventory, points: list[Point]) -> None:
    """The services every commune depends on are in status, judged by health.service's one rule: a port
    no DC can connect to is DOWN; a page that works but whose certificate expires soon is DEGRADED; a port
    one DC could not reach while the other could was never DOWN."""
    report = status_from_points(Topology.from_inventory(inv), [*points, *service_points(inv)], NOW, SINCE)
    rows = [(p.kind, p.subject, p.state, p.recovered) for p in report.problems]
    assert rows[:2] == [("service", "dvc", State.DOWN, False), ("service", "qlvb", State.DEGRADED, False)]
    assert ("service", "hntt-mcu") not in [(k, s) for k, s, *_ in rows]
    dvc, qlvb = report.problems[:2]
    assert dvc.since == pytest.approx(NOW - 600, abs=60)
    assert "port not accepting" in dvc.evidence and "refused" in dvc.evidence
    assert "TLS certificate expires in 5 days" in qlvb.evidence
    plain = render_plain(report)
    assert "service dvc" in plain and "Cổng dịch vụ công" in plain


def test_a_service_that_came_back_is_recovered(inv: Inventory, points: list[Point]) -> None:
    late = NOW + 900  # dvc refused until NOW, fine for the 15 min after
    more = [
        Point("tcp", {"province": inv.province.slug, "kind": "service", "target": "dvc", "agent": a, "port": "443"},
              {"status": "ok"}, int(t) * 10**9)
        for a in AGENTS for t in range(int(NOW), int(late), 60)
    ]  # fmt: skip
    report = status_from_points(Topology.from_inventory(inv), [*points, *service_points(inv), *more], late, SINCE)
    dvc = [p for p in report.problems if p.subject == "dvc"]
    assert len(dvc) == 1 and dvc[0].recovered and dvc[0].evidence.startswith("Cổng dịch vụ công")
    assert "was DOWN from" in dvc[0].evidence
def test_gear_sharing_its_lines_loss_is_told_in_the_lines_row_not_its_own() -> None:
    """A lossy line and the switch behind it showing the same loss: one row (the line's, "1 device behind
    it affected"); the router's own reboot keeps its row; a dead camera behind the line keeps its row."""
    topo = topology(
        {"vo-cuong": ["vc-1"]},
        {"vc-rt": ("vo-cuong", "vc-1"), "vc-sw": ("vo-cuong", "vc-rt"), "vc-cam": ("vo-cuong", "vc-sw")},
    )
    loss = Reason.of(Code.LOSS, loss_pct=18.0, lost=18, sent=100, window_s=300.0)
    reboot = Reason.of(Code.REBOOTS, reboots=1, window_s=600.0, boot_at=int(NOW - 100))
    down = Reason.of(Code.DOWN, probes=3, seconds=90)
    nodes = {
        "vc-1": Verdict("vc-1", "line", State.UNSTABLE, 30.0, NOW - 600, (loss,)),
        "vc-rt": Verdict("vc-rt", "device", State.DEGRADED, 70.0, NOW - 100, (reboot, loss)),
        "vc-sw": Verdict("vc-sw", "device", State.UNSTABLE, 30.0, NOW - 600, (loss,)),
        "vc-cam": Verdict("vc-cam", "device", State.DOWN, 0.0, NOW - 90, (down,)),
    }
    rows = {p.subject: p for p in problems_of(topo, Evaluation(NOW, nodes))}
    assert set(rows) == {"vc-1", "vc-rt", "vc-cam"}
    assert rows["vc-1"].evidence.endswith("; 1 device behind it affected")


def test_a_flag_the_engine_withdrew_is_not_listed_as_recovered() -> None:
    topo = topology({"tam-son": ["ts-1"]}, {"ts-rt": ("tam-son", "ts-1")})
    port = Reason.of(Code.IF_DOWN, ifname="lan0")
    ok = {
        "ts-1": Verdict("ts-1", "line", State.OK, 100.0, NOW - 900),
        "ts-rt": Verdict("ts-rt", "device", State.OK, 100.0, NOW - 900),
    }
    flagged = dict(ok, **{"ts-rt": Verdict("ts-rt", "device", State.DEGRADED, 70.0, NOW - 300, (port,))})
    window = [Evaluation(NOW - 300, flagged), Evaluation(NOW, ok)]
    assert [p.subject for p in problems_of(topo, window[-1], window)] == ["ts-rt"]  # recovered
    assert problems_of(topo, window[-1], window, withdrawn={"ts-rt": [[NOW - 300, NOW - 200]]}) == []
