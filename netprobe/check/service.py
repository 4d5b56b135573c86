"""`check` end to end, without the CLI: probe now → diagnose → add recent history → CheckResult."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from netprobe.check.diagnose import Observed, diagnose, judge
from netprobe.check.model import CheckResult, History, Msg, State
from netprobe.check.runner import CheckSettings, Progress, Vantage, VantageResult, run_check
from netprobe.engine.allowlist import AllowList
from netprobe.errors import NetprobeError
from netprobe.health.fresh import impaired_spans_of, judge_commune
from netprobe.health.observation import Observation, from_points
from netprobe.health.topology import Topology
from netprobe.inventory.loader import Inventory
from netprobe.probes.base import Measurement, Target
from netprobe.report.sla import burst_from_point, steps_between, timeline, unstable_hours
from netprobe.storage.point import Point, PointSource

NS = 1_000_000_000


def failing_line(inv: Inventory) -> Callable[[Target, Measurement], bool]:
    """Which line bursts deserve a traceroute: those the engine, judging this burst alone, finds not OK."""
    topology = Topology.from_inventory(inv)

    def failing(target: Target, m: Measurement) -> bool:
        line = inv.lines.get(target.tags.get("line", ""))
        if line is None:
            return False
        v = judge_commune(topology, line.commune.slug, {"": [m]}, m.time + 1.0).evaluation.nodes.get(line.id)
        return v is not None and v.state not in (State.OK, State.UNKNOWN)

    return failing


def check_commune(
    inv: Inventory,
    slug: str,
    vantages: Sequence[Vantage],
    allow: AllowList,
    settings: CheckSettings,
    *,
    progress: Progress | None = None,
    history: PointSource | None = None,
    history_window_s: float = 24 * 3600.0,
    history_source: str = "local",
) -> CheckResult:
    commune = inv.commune_by_slug(slug)
    started = time.time()
    t0 = time.monotonic()
    results = run_check(inv, slug, vantages, allow, settings, progress, failing_line(inv))
    _raise_if_all_failed(results)
    observed = Observed(
        {r.vantage.name: r.measurements for r in results if r.error is None},
        [t for r in results for t in r.traces],
    )
    now = time.time()
    stored = commune_history(inv, slug, history, now) if history is not None else []
    impaired = agents_impaired(inv, slug, history, now) if history is not None else {}
    items, findings = diagnose(inv, slug, observed, judge(inv, slug, observed, now, stored, impaired=impaired))
    notes = [
        Msg("check.note.agent_error", agent=r.vantage.name, error=str(r.error)) for r in results if r.error is not None
    ]
    result = CheckResult(
        commune=slug,
        commune_name=commune.name,
        started=started,
        duration_s=time.monotonic() - t0,
        agents=[r.vantage.name for r in results],
        items=items,
        findings=findings,
        traces=list(observed.traces),
        notes=notes,
    )
    if history is not None:
        result.history = recent_history(inv, slug, history, started, history_window_s, history_source)
        if not any(result.history.unstable.values()) and result.history.source == "none":
            result.notes.append(Msg("check.note.no_history"))
    return result


def _raise_if_all_failed(results: list[VantageResult]) -> None:
    if results and all(r.error is not None for r in results):
        err = results[0].error
        if isinstance(err, NetprobeError):
            raise err
        raise NetprobeError(f"{type(err).__name__}: {err}")


def commune_history(inv: Inventory, slug: str, source: PointSource, now: float) -> list[Observation]:
    """The commune's stored observations over the longest window its verdicts read (flaps, reboots)."""
    windows = [r.thresholds.long_window_s for r in inv.lines_of(slug)]
    long_s = max(windows + [d.thresholds.long_window_s for d in inv.devices_of(slug)], default=3600.0)
    start_ns, end_ns = int((now - long_s - 120.0) * NS), int(now * NS) + 1
    points: list[Point] = []
    for r in inv.lines_of(slug):
        points += source.read("ping", start_ns, end_ns, {"line": r.id})
    for d in inv.devices_of(slug):
        for measurement in ("ping", "snmp_sys", "snmp_if"):
            points += source.read(measurement, start_ns, end_ns, {"device": d.id})
    return from_points(points)


def agents_impaired(inv: Inventory, slug: str, source: PointSource, now: float) -> dict[str, list[tuple[float, float]]]:
    """When each vantage point's own stored verdict said its uplink was impaired, over the commune's long
    window (the agents' link_health rows, kind=agent)."""
    windows = [r.thresholds.long_window_s for r in inv.lines_of(slug)]
    long_s = max(windows + [d.thresholds.long_window_s for d in inv.devices_of(slug)], default=3600.0)
    start_ns, end_ns = int((now - long_s - 120.0) * NS), int(now * NS) + 1
    return impaired_spans_of(source.read("link_health", start_ns, end_ns, {"kind": "agent"}))


def recent_history(
    inv: Inventory, slug: str, source: PointSource, now: float, window_s: float, source_name: str
) -> History:
    """Per line of the commune: hours of the window that were unstable (same rule as the SLA report)."""
    start = now - window_s
    hours = steps_between(start, now, 3600.0)
    unstable: dict[str, int] = {}
    any_data = False
    for r in inv.lines_of(slug):
        points = source.read("ping", int(start * NS), int(now * NS), {"line": r.id, "kind": "ce"})
        bursts = [b for b in (burst_from_point(p) for p in points) if b is not None]
        any_data = any_data or bool(bursts)
        degraded = r.thresholds.loss_pct.degraded
        unstable[r.id] = unstable_hours(timeline(bursts), bursts, hours, degraded if degraded is not None else 2.0)
    return History(window_s, unstable, source_name if any_data else "none")
