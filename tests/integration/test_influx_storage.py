"""End to end on real servers: outbox → influxd 1.6.7 (/write) read back with InfluxQL, exact counts;
outbox → victoria-metrics through influxdb-client (/api/v2/write) read back through its export API."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from netprobe.config import Config
from netprobe.storage.facade import open_storage
from netprobe.storage.point import FieldValue, Point
from netprobe.storage.schema import check_point, points_from_measurement
from netprobe.storage.sinks import V2Sink, detect_api
from tests.integration.conftest import influx_config
from tests.integration.servers import InfluxD, VictoriaMetrics
from tests.unit.storage_samples import measurements

pytestmark = pytest.mark.influx


def probing_run(cycles: int, t0: float) -> list[Point]:
    """What `cycles` rounds over every example target become (all kinds; Vietnamese text; every field)."""
    return [
        p
        for c in range(cycles)
        for m in measurements(t0=t0 + c * 30, seed=c)
        for p in points_from_measurement(m, "dc-bac-ninh")
    ]


def one_line(fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
    """Line protocol cannot carry a newline: the encoder writes a space (e.g. a multi-line sysDescr)."""
    return {k: v.replace("\n", " ") if isinstance(v, str) else v for k, v in fields.items()}


def test_points_read_back_with_influxql_exact(influxd: InfluxD, tmp_path: Path) -> None:
    influxd.create_database("e2e")
    cfg = Config.model_validate(influx_config(tmp_path, influxd.url, database="e2e", batch_size=700))
    points = probing_run(cycles=4, t0=time.time() - 600)
    assert all(check_point(p.measurement, p.tags, p.fields) == [] for p in points)
    with open_storage(cfg) as storage:
        storage.write(points)
        assert storage.self_metrics()["outbox_depth"] == len(points)
        result = storage.flush(timeout_s=60)
        assert result.error is None and result.remaining == 0 and result.sent == len(points)
        assert "v1 API" in storage.describe_sink()  # detected from /ping's X-Influxdb-Version
        since, until = min(p.time_ns for p in points), max(p.time_ns for p in points) + 1
        for name, probe_field in (("ping", "packets_received"), ("tcp", "status"), ("snmp_sys", "status")):
            expected = [p for p in points if p.measurement == name]
            assert influxd.count("e2e", name, probe_field) == len(expected), name
        assert influxd.count("e2e", "snmp_if", "if_index") == sum(p.measurement == "snmp_if" for p in points)
        # Through the PointSource: the very same points, oldest first, types as in the schema.
        source = storage.source()
        for name in ("ping", "tcp", "snmp_sys", "snmp_if"):
            want = sorted(
                (p.time_ns, sorted(p.tags.items()), one_line(p.fields)) for p in points if p.measurement == name
            )
            got = [(p.time_ns, sorted(p.tags.items()), p.fields) for p in source.read(name, since, until)]
            assert [g[0] for g in got] == sorted(g[0] for g in got)
            assert sorted(got) == want, name
        one = next(p for p in points if p.measurement == "tcp")
        got_one = list(source.read("tcp", since, until, {"target": one.tags["target"], "port": one.tags["port"]}))
        assert one.time_ns in [p.time_ns for p in got_one]
        # A replay (as after a crash between write and ack) overwrites: still the exact count.
        storage.write(points[:500])
        storage.flush(timeout_s=30)
        assert influxd.count("e2e", "ping", "packets_received") == sum(p.measurement == "ping" for p in points)


def test_malformed_point_quarantined_not_the_batch(influxd: InfluxD, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    influxd.create_database("quarantine")
    cfg = Config.model_validate(influx_config(tmp_path, influxd.url, database="quarantine", batch_size=300))
    t0 = time.time_ns() - 10**9
    good = [Point("ping", {"target": f"t{i % 10}"}, {"packets_received": i}, t0 + i) for i in range(1000)]
    # The server decides what is malformed: a string where the field is already an integer …
    conflict = Point("ping", {"target": "t3"}, {"packets_received": "nhiều"}, t0 + 5000)
    with open_storage(cfg) as storage:
        storage.write(good[:10])
        storage.flush(timeout_s=10)  # fixes the field's type as integer
        storage.write([*good[10:600], conflict, *good[600:]])
        assert storage.outbox is not None
        storage.outbox.enqueue(["ping,target=t1 packets_received= 123"])  # … and a line it cannot parse
        result = storage.flush(timeout_s=30)
        assert result.error is None and result.remaining == 0
        assert result.quarantined == 2 and result.sent == 990
        status = storage.status()
        assert status.outbox is not None and status.outbox.quarantined == 2 and status.needs_attention
        assert {line for line, _ in storage.outbox.quarantined_lines()} == {
            "ping,target=t1 packets_received= 123",
            f'ping,target=t3 packets_received="nhiều" {t0 + 5000}',
        }
    assert influxd.count("quarantine", "ping", "packets_received") == 1000
    cfg_file = tmp_path / "netprobe.yaml"
    cfg_file.write_text(json.dumps(influx_config(tmp_path, influxd.url, database="quarantine")))
    code, out, err = run_cli("-c", str(cfg_file), "outbox", "status", "--quarantined")
    assert code == 1 and err == "" and "2 points the database refused" in out
    assert "quarantined: ping,target=t1 packets_received= 123" in out and "because: 400 from" in out


def test_api_detection(influxd: InfluxD, victoria: VictoriaMetrics) -> None:
    assert detect_api(Config.model_validate(influx_config(Path("/"), influxd.url)).storage.influxdb) == "v1"
    assert detect_api(Config.model_validate(influx_config(Path("/"), victoria.url)).storage.influxdb) == "v2"


def test_influxdb_client_v2_write_into_victoria_metrics(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    cfg = Config.model_validate(influx_config(tmp_path, victoria.url, batch_size=400))
    t0 = int(time.time() * 1000) - 60_000
    points = [
        Point(
            "ping",
            {"target": f"line-{i % 40}", "commune": "Phường Kinh Bắc"},
            {"packets_received": i % 6, "average_response_ms": 1.5, "status": "ok"},
            (t0 + i) * 1_000_000,
        )
        for i in range(3000)
    ]  # ms-distinct times: VictoriaMetrics stores milliseconds
    with open_storage(cfg) as storage:
        storage.write(points)
        result = storage.flush(timeout_s=30)
        assert result.error is None and result.sent == 3000
        sink = storage.sink()
        assert isinstance(getattr(sink, "inner", None), V2Sink)  # the influxdb-client path, detected
    assert victoria.count_samples('{__name__="ping_packets_received"}', 3000) == 3000
    series = list(victoria.export('{__name__="ping_average_response_ms",target="line-7"}'))
    assert len(series) == 1 and series[0]["metric"]["commune"] == "Phường Kinh Bắc"
    assert len(series[0]["values"]) == 75 and set(series[0]["values"]) == {1.5}


def test_points_beyond_retention_are_counted_not_retried(influxd: InfluxD, tmp_path: Path) -> None:
    influxd.query("", 'CREATE DATABASE "rp1h" WITH DURATION 1h')
    cfg = Config.model_validate(influx_config(tmp_path, influxd.url, database="rp1h", batch_size=100))
    now = time.time_ns()
    fresh = [Point("ping", {"target": "a"}, {"packets_received": i}, now - i * 10**6) for i in range(150)]
    stale = [Point("ping", {"target": "a"}, {"packets_received": i}, now - 3 * 3600 * 10**9 - i) for i in range(50)]
    with open_storage(cfg) as storage:
        storage.write([*fresh[:75], *stale, *fresh[75:]])
        result = storage.flush(timeout_s=20)
        assert result.error is None and result.remaining == 0 and result.quarantined == 0 and result.sent == 150
        status = storage.status()
        assert status.outbox is not None and status.outbox.beyond_retention == 50
    assert influxd.count("rp1h", "ping", "packets_received") == 150


def test_escaping_survives_influxd_exactly(influxd: InfluxD, tmp_path: Path) -> None:
    """Random text full of what line protocol must escape, written to influxd and read back unchanged."""
    rng = random.Random(7)
    alphabet = [*"aăâđêôơưyÝỹỸẫẬ ,=\"'\\\t{}[]#@xã Đông Cứu—phường😀", " ", ",", "=", '"', "\\"]

    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n)).strip() or "x"

    influxd.create_database("escaping")
    cfg = Config.model_validate(influx_config(tmp_path, influxd.url, database="escaping", api="v1"))
    t0 = time.time_ns() - 10**10
    points = [
        Point(
            "link_health",
            {"commune": text(12), "site": text(6), "target": f"t{i}"},
            {"state": "OK", "state_code": 0, "score": 99.5, "reasons": text(30)},
            t0 + i,
        )
        for i in range(300)
    ]
    with open_storage(cfg) as storage:
        storage.write(points)
        assert storage.flush(timeout_s=20).sent == 300
        got = list(storage.source().read("link_health", t0, t0 + 300))
    # What line protocol cannot carry is documented: a backslash in a tag becomes "/".
    expected = [({k: v.replace("\\", "/") for k, v in p.tags.items()}, p.fields, p.time_ns) for p in points]
    assert [(p.tags, p.fields, p.time_ns) for p in got] == expected
