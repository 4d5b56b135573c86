"""The agent's own health: one `netprobe_agent` point and one log line per cycle and probe kind.

A stuck or overloaded agent shows in Grafana as: no `netprobe_agent` points (dead or hung), `lag_s`
growing or `late_cycles` > 0 (cannot keep up), `outbox_depth` growing (the database is not taking
points), `outbox_dropped` > 0 (points were lost by policy), `rss_mb` climbing (a leak). A sending agent also writes
`netprobe_notify` per channel: `queue_depth` growing or `failing` = 1 means people are not being told.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable, Mapping

from netprobe.engine.scheduler import ONCE, CycleReport
from netprobe.notify.queue import ChannelStatus
from netprobe.storage.point import Point

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    """Resident set size now (from /proc; the peak from getrusage where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def agent_point(
    report: CycleReport, *, agent: str, province: str, outbox: Mapping[str, int], rss: float, now: float | None = None
) -> Point:
    """The `netprobe_agent` point for one closed cycle (schema: storage.schema SCHEMA['netprobe_agent'])."""
    tags = {"agent": agent, "probe": str(report.kind)}
    if province:
        tags["province"] = province
    fields: dict[str, float | int | str | bool] = {
        "cycle_s": round(report.cycle_s, 3),
        "lag_s": round(report.lag_max_s, 3),
        "targets": report.measurements,
        "probes_per_s": round(report.probes_per_s, 2),
        "outbox_depth": int(outbox.get("outbox_depth", 0)),
        "outbox_dropped": int(outbox.get("outbox_dropped", 0)),
        "errors": report.errors,
        "rss_mb": round(rss, 1),
        "late_cycles": report.late + report.skipped,
    }
    when = time.time() if now is None else now
    return Point("netprobe_agent", tags, fields, int(when * 1e9))


def notify_points(
    channels: Iterable[ChannelStatus], *, agent: str, province: str, now: float | None = None
) -> list[Point]:
    """One `netprobe_notify` point per channel: queue depth and failures (Grafana's agent-health panel)."""
    when = int((time.time() if now is None else now) * 1e9)
    out = []
    for c in channels:
        tags = {"agent": agent, "channel": c.channel}
        if province:
            tags["province"] = province
        fields: dict[str, float | int | str | bool] = {
            "queue_depth": c.depth,
            "sent": c.sent,
            "failed": c.failed,
            "failures": c.failures,
            "failing": int(c.failing),
            "oldest_s": round(c.oldest_s or 0.0, 1),
        }
        out.append(Point("netprobe_notify", tags, fields, when))
    return out


def cycle_line(report: CycleReport, *, outbox: Mapping[str, int], rss: float) -> str:
    """One line a person reads: key=value fields, most important first."""
    cycle = "once" if report.cycle == ONCE else f"every={report.interval_s:g}s"
    parts = [
        f"cycle {report.kind!s}",
        cycle,
        f"targets={report.measurements}",
        f"ok={report.ok}",
        f"errors={report.errors}",
        f"late={report.late}",
        f"skipped={report.skipped}",
        f"cycle_s={report.cycle_s:.1f}",
        f"lag_p99_s={report.lag_p99_s:.3f}",
        f"lag_max_s={report.lag_max_s:.3f}",
        f"probes_per_s={report.probes_per_s:.1f}",
        f"outbox_depth={outbox.get('outbox_depth', 0)}",
        f"outbox_dropped={outbox.get('outbox_dropped', 0)}",
        f"rss_mb={rss:.1f}",
    ]
    if report.partial:
        parts.append("partial=1")
    return " ".join(parts)
