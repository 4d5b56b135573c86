"""The conductor: one small process per lab that imposes scheduled faults and writes the ground truth.

Started by `netprobe lab up`, stopped by `down`; it also stops by itself after the scenario's lifetime
(lifting every active fault first). It runs the DC services (TCP listeners in the service namespace),
the delay lines and congestion loads, and takes `netprobe lab impair` requests from the state dir.

Ground truth (truth.json, rewritten atomically on every change):
  {"lab": ID, "scenario": NAME, "up_at": unix, "lifetime_s": S, "faults": [
     {"id": 1, "target": "kinh-bac-l1", "target_kind": "line", "lines": ["kinh-bac-l1"], "fault": "loss",
      "devices": [], "params": {"loss_pct": 20}, "source": "scenario", "planned_start": unix, "planned_end": unix,
      "start": unix or null, "end": unix or null, "transitions": [[down, up], ...] (flap only)}]}
`start`/`end` are when the fault was actually imposed and lifted (null: not yet).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from netprobe.lab import netns
from netprobe.lab.build import Paths
from netprobe.lab.faults import HANDLERS, Handler
from netprobe.lab.plan import SERVICE_PORTS, Plan, expand_target
from netprobe.lab.scenario import DC_FAULTS, DEVICE_FAULTS, LINE_FAULTS, Fault, Scenario

log = logging.getLogger("netprobe.lab.conductor")
FAULT = TypeAdapter(Fault)
TICK_S = 0.05


@dataclass
class Pending:
    at: float  # monotonic
    entry: dict[str, Any]


@dataclass
class Active:
    until: float  # monotonic
    entry: dict[str, Any]
    handlers: list[Handler]


def target_kind(plan: Plan, target: str) -> str:
    if target in plan.lines:
        return "line"
    if target in plan.communes:
        return "commune"
    if target in plan.devices:
        return "device"
    if target in plan.dcs:
        return "dc"
    return "unknown"


def affected(plan: Plan, target: str, fault: str) -> tuple[list[str], list[str]]:
    """(lines, devices) the fault takes out. A rebooting device takes the gear behind it along; a rebooting
    router takes its commune's lines too. Line faults list their lines; what sits behind them follows from
    the inventory's `parent` chain (a backup line may keep the LAN reachable)."""
    if target not in plan.devices:
        return [t for t in expand_target(plan, target) if t in plan.lines], []
    if fault != "reboot":
        return [], [target]
    behind = {target}
    grew = True
    while grew:
        more = {d.id for d in plan.devices.values() if d.parent in behind} - behind
        behind |= more
        grew = bool(more)
    device = plan.devices[target]
    lines = list(plan.communes[device.commune].lines) if device.kind == "router" else []
    return lines, [d for d in plan.communes[device.commune].devices if d in behind]


def check_fault(plan: Plan, fault: Any) -> str | None:
    """Why this fault cannot be imposed on this lab, or None."""
    kind = target_kind(plan, fault.target)
    allowed = {"line": LINE_FAULTS, "commune": LINE_FAULTS, "device": DEVICE_FAULTS, "dc": DC_FAULTS}.get(kind)
    if allowed is None:
        return f"{fault.target!r} is not a line, commune, device or dc of this lab"
    if fault.fault not in allowed:
        return f"fault {fault.fault!r} does not apply to {kind} {fault.target!r}"
    if kind == "device" and fault.fault == "snmp_dead" and not plan.devices[fault.target].snmp:
        return f"device {fault.target!r} has no SNMP agent"
    return None


class Conductor:
    def __init__(self, plan: Plan, paths: Paths, scenario: Scenario) -> None:
        self.plan, self.paths, self.scenario = plan, paths, scenario
        self.up_wall = time.time()
        self.up_mono = time.monotonic()
        self.deadline = self.up_mono + plan.lifetime_s
        self.pending: list[Pending] = []
        self.active: list[Active] = []
        self.faults: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        for fault in scenario.faults:
            self._schedule(fault, "scenario", self.up_mono + fault.start_s)

    # ------------------------------------------------------------------ truth
    def _schedule(self, fault: Any, source: str, at: float) -> dict[str, Any]:
        params = fault.model_dump(exclude={"target", "fault", "start_s", "duration_s"})
        lines, devices = affected(self.plan, fault.target, fault.fault)
        entry: dict[str, Any] = {
            "id": len(self.faults) + 1,
            "target": fault.target,
            "target_kind": target_kind(self.plan, fault.target),
            "lines": lines,
            "devices": devices,
            "fault": fault.fault,
            "params": params,
            "source": source,
            "planned_start": round(self.up_wall + (at - self.up_mono), 3),
            "planned_end": round(self.up_wall + (at - self.up_mono) + fault.duration_s, 3),
            "duration_s": fault.duration_s,
            "start": None,
            "end": None,
        }
        self.faults.append(entry)
        self.pending.append(Pending(at, entry))
        return entry

    def write_truth(self) -> None:
        data = {
            "lab": self.plan.lab_id,
            "scenario": self.plan.scenario,
            "scenario_source": self.plan.scenario_source,
            "up_at": round(self.up_wall, 3),
            "lifetime_s": self.plan.lifetime_s,
            "faults": self.faults,
        }
        tmp = self.paths.truth.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, self.paths.truth)

    # ------------------------------------------------------------------ faults
    def _impose(self, item: Pending, now: float) -> None:
        entry = item.entry
        kind = entry["fault"]
        if entry["target_kind"] == "device":
            groups = [[entry["target"]]]
        elif kind in ("latency", "congestion"):
            groups = [[line] for line in entry["lines"]]  # one delay line / load per line
        elif entry["target_kind"] == "dc":
            groups = [[entry["target"]]]
        else:
            groups = [entry["lines"]]
        handlers = [HANDLERS[kind](self.plan, self.paths, entry, g) for g in groups]
        started: list[Handler] = []
        try:
            for h in handlers:
                h.start()
                started.append(h)
        except Exception as exc:
            log.error("could not impose %s on %s: %s", kind, entry["target"], exc)
            for h in started:
                h.stop()
            entry["error"] = str(exc)
            return
        entry["start"] = round(time.time(), 3)
        self.active.append(Active(now + float(entry["duration_s"]), entry, handlers))
        log.info("imposed %s on %s %s", kind, entry["target"], entry["params"])

    def _lift(self, act: Active) -> None:
        for h in act.handlers:
            try:
                h.stop()
            except Exception as exc:
                log.error("could not lift %s on %s: %s", act.entry["fault"], act.entry["target"], exc)
                act.entry["error"] = str(exc)
        act.entry["end"] = round(time.time(), 3)
        log.info("lifted %s on %s", act.entry["fault"], act.entry["target"])

    def step(self) -> bool:
        """One pass of the schedule. Returns True when the truth changed."""
        now = time.monotonic()
        changed = False
        for item in sorted((p for p in self.pending if p.at <= now), key=lambda p: p.at):
            self.pending.remove(item)
            self._impose(item, now)
            changed = True
        for act in list(self.active):
            if now >= act.until:
                self.active.remove(act)
                self._lift(act)
                changed = True
            else:
                for h in act.handlers:
                    changed = h.tick(now) or changed
        return self._take_requests() or changed

    def _take_requests(self) -> bool:
        changed = False
        for req in sorted(self.paths.requests.glob("*.json")):
            result: dict[str, Any]
            try:
                fault = FAULT.validate_python(json.loads(req.read_text(encoding="utf-8")))
                problem = check_fault(self.plan, fault)
                if problem:
                    result = {"ok": False, "error": problem}
                else:
                    entry = self._schedule(fault, "impair", time.monotonic() + fault.start_s)
                    result = {"ok": True, "fault": entry["id"]}
                    changed = True
            except (ValueError, ValidationError) as exc:
                result = {"ok": False, "error": str(exc).splitlines()[0]}
            req.with_suffix(".result").write_text(json.dumps(result), encoding="utf-8")
            req.unlink()
        return changed

    def run(self) -> None:
        self.write_truth()
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            if not self.paths.root.exists():
                break  # the lab was removed under us
            try:
                if self.step():
                    self.write_truth()
            except Exception:  # keep conducting: one failed action must not leave the other faults unlifted
                log.exception("conductor step failed")
            self.stopping.wait(TICK_S)
        for act in list(self.active):
            self.active.remove(act)
            self._lift(act)
        if self.paths.root.exists():
            self.write_truth()


class Services:
    """The data centre's TCP services (document system 443, public-service portal 8443): accept, close."""

    def __init__(self, ns: str, address: str, ports: list[int]) -> None:
        self.sel = selectors.DefaultSelector()
        with netns.inside(ns):
            for port in ports:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, port))
                sock.listen(512)
                sock.setblocking(False)
                self.sel.register(sock, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._serve, name="services", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            for key, _ in self.sel.select(timeout=1.0):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netprobe.lab.conductor")
    parser.add_argument("--id", required=True)
    parser.add_argument("--state", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    paths = Paths(Path(args.state))
    plan = Plan.load(paths.plan)
    scenario = Scenario.model_validate_json(paths.scenario.read_text(encoding="utf-8"))
    conductor = Conductor(plan, paths, scenario)
    signal.signal(signal.SIGTERM, lambda *_: conductor.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: conductor.stopping.set())
    Services(plan.svc_ns, plan.svc_address, list(SERVICE_PORTS.values()))
    conductor.write_truth()
    paths.conductor_ready.write_text(f"{os.getpid()}\n", encoding="ascii")
    log.info("lab %s up: %d faults scheduled, lifetime %.0f s", plan.lab_id, len(scenario.faults), plan.lifetime_s)
    conductor.run()
    log.info("conductor done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
