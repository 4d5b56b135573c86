"""Every point the storage layer emits conforms to the schema (storage.schema is the contract)."""

from __future__ import annotations

from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.storage.schema import SCHEMA, check_point, points_from_measurement
from tests.unit.storage_samples import measurements


def test_every_point_from_every_example_target_conforms() -> None:
    ms = measurements()
    points = [p for m in ms for p in points_from_measurement(m, "dc-bac-ninh")]
    problems = [f"{p.measurement} {p.tags}: {x}" for p in points for x in check_point(p.measurement, p.tags, p.fields)]
    assert problems == []
    kinds = {p.measurement for p in points}
    assert kinds == {"ping", "tcp", "snmp_sys", "snmp_if"}
    # Every schema field of these measurements was exercised at least once.
    for name in kinds:
        seen = {f for p in points if p.measurement == name for f in p.fields}
        assert seen == set(SCHEMA[name].fields), name


def test_tags_status_port_and_interfaces() -> None:
    ms = measurements()
    tcp = next(m for m in ms if m.target.kind is ProbeKind.TCP)
    (point,) = points_from_measurement(tcp, "dc-1")
    assert point.tags["agent"] == "dc-1"
    assert point.tags["port"] == str(tcp.target.port)
    assert point.fields["status"] == tcp.status.value
    assert point.time_ns == round(tcp.time * 1e9)
    snmp = next(m for m in ms if m.target.kind is ProbeKind.SNMP and m.target.interfaces)
    sys_point, *if_points = points_from_measurement(snmp, "dc-1")
    assert sys_point.measurement == "snmp_sys"
    assert [p.tags["ifname"] for p in if_points] == [str(i) for i in snmp.target.interfaces]
    assert all("status" not in p.fields and p.time_ns == sys_point.time_ns for p in if_points)


def test_failure_is_still_a_point_and_traceroute_is_not() -> None:
    target = Target("ping/x", ProbeKind.PING, "127.0.0.1", {"target": "x", "commune": ""})
    (p,) = points_from_measurement(Measurement(target, 1.5, Status.TIMEOUT, {}), "a")
    assert p.fields == {"status": "timeout"} and "commune" not in p.tags  # empty tags cannot be stored
    # A ping probe must report its counters even when nothing came back: the schema requires them.
    assert sorted(check_point(p.measurement, p.tags, p.fields)) == sorted(
        f"ping: missing field {f!r}" for f in ("packets_transmitted", "packets_received", "percent_packet_loss")
    )
    tr = Target("tr/x", ProbeKind.TRACEROUTE, "127.0.0.1", {})
    assert points_from_measurement(Measurement(tr, 1.0, Status.OK), "a") == []
