"""Live verdicts in the agent: only on what this agent probes; state carried across a restart."""

from __future__ import annotations

from pathlib import Path

from netprobe.engine.targets import build_targets
from netprobe.engine.verdicts import VerdictObserver
from netprobe.inventory import generate
from netprobe.inventory.loader import load_inventory
from netprobe.probes.base import Measurement, ProbeKind, Status
from netprobe.storage.point import Point

FIELDS = {"packets_transmitted": 5, "packets_received": 5, "percent_packet_loss": 0.0, "average_response_ms": 0.05}


def test_verdicts_cover_only_the_probed_part_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    generate.write(generate.generate(communes=4, lines=8, devices_per_commune=1, snmp=False), path)
    inv = load_inventory(path)
    every = [t for t in build_targets(inv) if t.kind is ProbeKind.PING]
    commune = every[0].tags["commune"]
    mine = [t for t in every if t.tags["commune"] == commune]  # e.g. an agent narrowed to one commune
    now = [1.9e9]
    observer = VerdictObserver(inv, mine, "dc1", evaluate_every_s=30.0, clock=lambda: now[0])
    points = []
    for _ in range(4):
        points += observer.observe([Measurement(t, now[0], Status.OK, dict(FIELDS)) for t in mine])
        now[0] += 30.0
    judged = {(p.tags["kind"], p.tags["target"]) for p in points}
    assert judged, "verdicts after one interval"
    assert all(p.tags.get("commune", commune) == commune for p in points)
    assert ("commune", commune) in judged and ("agent", "dc1") in judged
    assert all(p.tags.get("agent") in ("dc1", None) for p in points)
    # a new process restores the state and goes on judging from where it stopped
    restarted = VerdictObserver(inv, mine, "dc1", evaluate_every_s=30.0, clock=lambda: now[0])
    restarted.restore(observer.snapshot())
    again = restarted.observe([Measurement(t, now[0], Status.OK, dict(FIELDS)) for t in mine])
    assert {(p.tags["kind"], p.tags["target"]) for p in again} == judged
    before = {p.tags["target"]: p.fields["since_s"] for p in points if p.tags["kind"] == "line"}
    after = {p.tags["target"]: p.fields["since_s"] for p in again if p.tags["kind"] == "line"}
    assert after == {k: v for k, v in before.items() if k in after}  # the same states, since the same time


def test_a_burst_that_lost_packets_is_judged_at_once_and_only_changed_verdicts_are_written(tmp_path: Path) -> None:
    """Between full evaluations (every 30 s), trouble is judged when it arrives: a line's burst that lost
    everything is named at once instead of up to 30 s later; a clean batch waits for the next full one."""
    path = tmp_path / "inv.yaml"
    generate.write(generate.generate(communes=2, lines=2, devices_per_commune=1, snmp=False), path)
    inv = load_inventory(path)
    mine = [t for t in build_targets(inv) if t.kind is ProbeKind.PING]
    now = [1.9e9]
    observer = VerdictObserver(inv, mine, "dc1", evaluate_every_s=30.0, clock=lambda: now[0])
    full: list[Point] = []
    for _ in range(3):
        full = observer.observe([Measurement(t, now[0], Status.OK, dict(FIELDS)) for t in mine])
        now[0] += 30.0
    assert full and all(p.fields["state"] == "OK" for p in full)
    ce = next(t for t in mine if t.key.startswith("ping/line/") and t.key.endswith("/ce"))
    now[0] -= 25.0  # 5 s after the last full evaluation
    assert observer.observe([Measurement(t, now[0], Status.OK, dict(FIELDS)) for t in mine[:1]]) == []
    now[0] += 2.0
    dark = dict(FIELDS, packets_received=0, percent_packet_loss=100.0, average_response_ms=0.0)
    early = observer.observe([Measurement(ce, now[0], Status.OK, dark)])
    line = ce.key.split("/")[2]
    assert ("line", line) in {(p.tags["kind"], p.tags["target"]) for p in early}
    assert all(p.fields["state"] != "OK" for p in early) and len(early) < len(full)
