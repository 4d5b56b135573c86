"""The time-series schema, in one place. Every emitted point is checked against it (tests do).

Tags are bounded (no per-packet or free-text tags). Ping fields reuse Telegraf's `inputs.ping` names so
existing Telegraf ping dashboards keep working; units are in the field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netprobe.storage.point import FieldValue, Point

if TYPE_CHECKING:
    from netprobe.probes.base import Measurement

# Tags any target-level point may carry (from the inventory; see engine.targets).
TARGET_TAGS = frozenset({"agent", "province", "commune", "site", "line", "device", "target", "provider", "kind"})

FieldType = type[float] | type[int] | type[str] | type[bool]


@dataclass(frozen=True)
class MeasurementSchema:
    name: str
    tags: frozenset[str]
    fields: dict[str, FieldType]
    doc: str
    required_fields: frozenset[str] = field(default_factory=frozenset)


SCHEMA: dict[str, MeasurementSchema] = {
    s.name: s
    for s in (
        MeasurementSchema(
            "ping",
            TARGET_TAGS,
            {
                "packets_transmitted": int,
                "packets_received": int,
                "percent_packet_loss": float,
                "minimum_response_ms": float,
                "average_response_ms": float,
                "maximum_response_ms": float,
                "standard_deviation_ms": float,
                "median_response_ms": float,
                "p95_response_ms": float,
                "jitter_ms": float,  # mean |RTT_i - RTT_(i-1)| over consecutive replies
                "result_code": int,  # Telegraf: 0 ok, 1 no such host, 2 ping error
                "status": str,  # probes.base.Status
            },
            "One ping burst (count packets) to one target.",
            frozenset({"packets_transmitted", "packets_received", "percent_packet_loss", "status"}),
        ),
        MeasurementSchema(
            "tcp",
            TARGET_TAGS | {"port"},
            {"connect_ms": float, "result_code": int, "status": str},
            "One TCP connect to a service port: ok, refused or timeout.",
            frozenset({"status"}),
        ),
        MeasurementSchema(
            "http",
            TARGET_TAGS,
            {
                "dns_ms": float,  # only when the URL names a host (not an IP)
                "connect_ms": float,
                "tls_ms": float,  # https only
                "ttfb_ms": float,  # request written → first byte of the answer
                "total_ms": float,  # first phase's start → last byte of the body
                "http_status": int,
                "body_bytes": int,
                "expect_found": bool,  # only when the service names `expect:`
                "cert_days_left": float,  # https: days until the certificate's notAfter (negative: expired)
                "status": str,
            },
            "One HTTP(S) GET of a web service (netprobe.probes.http): every phase timed.",
            frozenset({"status"}),
        ),
        MeasurementSchema(
            "snmp_sys",
            TARGET_TAGS,
            {
                "uptime_s": float,
                "rebooted": bool,  # sysUpTime went backwards since the last poll
                "sys_name": str,
                "sys_descr": str,
                "response_ms": float,
                "status": str,
            },
            "System group of one SNMP poll.",
            frozenset({"status"}),
        ),
        MeasurementSchema(
            "snmp_if",
            TARGET_TAGS | {"ifname"},
            {
                "if_index": int,
                "oper_status": int,  # IF-MIB: 1 up, 2 down, ...
                "admin_status": int,
                "last_change_s": float,
                "speed_mbps": float,
                "in_octets": int,
                "out_octets": int,
                "in_bps": float,
                "out_bps": float,
                "in_util_pct": float,
                "out_util_pct": float,
                "in_errors_per_s": float,
                "out_errors_per_s": float,
                "in_discards_per_s": float,
                "out_discards_per_s": float,
                "counter_event": str,  # "", "wrap32", "reset" — why a rate was not computed
            },
            "One watched interface of one SNMP poll.",
        ),
        MeasurementSchema(
            "link_health",
            TARGET_TAGS,
            {
                "state": str,  # OK DEGRADED UNSTABLE DOWN UNREACHABLE UNKNOWN
                "state_code": int,  # 0 OK, 1 DEGRADED, 2 UNSTABLE, 3 DOWN, 4 UNREACHABLE, 5 UNKNOWN
                "score": float,  # 0 (dead) .. 100 (healthy)
                "reasons": str,
                "since_s": int,  # unix seconds the state began
                "loss_pct": float,
                "rtt_ms": float,
                "jitter_ms": float,
                "flaps": int,
                "lat": float,  # the commune's inventory coordinates, for Grafana's geomap (no join in InfluxQL)
                "lon": float,
            },
            "The verdict for one line or device.",
            frozenset({"state", "state_code", "score"}),
        ),
        MeasurementSchema(
            "netprobe_agent",
            frozenset({"agent", "probe", "province"}),
            {
                "cycle_s": float,
                "lag_s": float,
                "targets": int,
                "probes_per_s": float,
                "outbox_depth": int,
                "outbox_dropped": int,
                "errors": int,
                "rss_mb": float,
                "late_cycles": int,
            },
            "The agent's own health, per probe kind.",
        ),
        MeasurementSchema(
            "netprobe_notify",
            frozenset({"agent", "province", "channel"}),
            {
                "queue_depth": int,  # undelivered messages of the channel
                "sent": int,  # delivered since the queue was made
                "failed": int,  # messages given up (permanent refusal or too old)
                "failures": int,  # failed attempts since the queue was made (a counter)
                "failing": int,  # 1 while the channel's last attempt failed
                "oldest_s": float,  # age of the oldest undelivered message
            },
            "The agent's notification queue, per channel (issue 17).",
            frozenset({"queue_depth", "failing"}),
        ),
    )
}


def check_point(measurement: str, tags: dict[str, str], fields: dict[str, object]) -> list[str]:
    """Problems with one point against the schema; empty when it conforms."""
    schema = SCHEMA.get(measurement)
    if schema is None:
        return [f"unknown measurement {measurement!r}"]
    problems = [f"{measurement}: tag {t!r} not in schema" for t in tags if t not in schema.tags]
    for name, value in fields.items():
        expected = schema.fields.get(name)
        if expected is None:
            problems.append(f"{measurement}: field {name!r} not in schema")
        elif expected is float and not (isinstance(value, int | float) and not isinstance(value, bool)):
            problems.append(f"{measurement}: field {name!r} should be float, got {type(value).__name__}")
        elif expected is not float and type(value) is not expected:
            problems.append(f"{measurement}: field {name!r} should be {expected.__name__}, got {type(value).__name__}")
    problems += [f"{measurement}: missing field {f!r}" for f in schema.required_fields if f not in fields]
    return problems


# Which measurement a probe kind's Measurement becomes (SNMP also yields one snmp_if point per row).
_MEASUREMENT_OF_KIND = {"ping": "ping", "tcp": "tcp", "snmp": "snmp_sys", "http": "http"}


def points_from_measurement(m: Measurement, agent: str) -> list[Point]:
    """The points one probe Measurement is stored as; every one conforms to SCHEMA (tests check all).

    Tags come from the target (inventory) plus `agent` (and `port` for TCP); fields from the probe plus
    `status` (the probe's Status). An SNMP measurement's `rows` become one `snmp_if` point each, tagged
    with the interface name. Empty tag values are left out: line protocol cannot carry them.
    """
    name = _MEASUREMENT_OF_KIND.get(str(m.target.kind))
    if name is None:  # e.g. traceroute: not a time series (yet)
        return []
    time_ns = round(m.time * 1e9)
    tags = {k: str(v) for k, v in m.target.tags.items() if k in TARGET_TAGS and v not in (None, "")}
    if agent:
        tags["agent"] = agent
    if name == "tcp" and m.target.port is not None:
        tags["port"] = str(m.target.port)
    fields: dict[str, FieldValue] = {k: v for k, v in m.fields.items() if v is not None}
    fields["status"] = m.status.value
    points = [Point(name, tags, fields, time_ns)]
    for row in m.rows if name == "snmp_sys" else ():
        ifname = row.get("ifname")
        if ifname in (None, ""):
            continue
        row_fields = {k: v for k, v in row.items() if k != "ifname" and v is not None}
        if row_fields:
            points.append(Point("snmp_if", {**tags, "ifname": str(ifname)}, row_fields, time_ns))
    return points
