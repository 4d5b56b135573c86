"""`netprobe run` as a real subprocess against loopback targets, with the embedded local store.

- SIGTERM mid-cycle loses no point: every ping run seen on the wire (a raw socket in the test counts the
  echo requests) has its point in the store after the agent stopped;
- SIGHUP with a broken inventory keeps the running one and logs each error; a valid one is taken;
- `run --once --shard i/n` splits targets disjoint, complete and stable, and n → n+1 moves only what
  the new shard takes.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netprobe.inventory import generate
from netprobe.storage.local import LocalStore

REPO = Path(__file__).resolve().parents[2]
NETPROBE = [sys.executable, "-m", "netprobe"]


def write_inventory(path: Path, data: dict[str, Any]) -> None:
    generate.write(data, path)


def inventory(
    network: str, *, lines: int = 0, devices: int = 0, tcp_ports: list[int] | None = None, probes: dict[str, Any]
) -> dict[str, Any]:
    data = generate.generate(communes=2, lines=lines, devices_per_commune=devices, network=network, snmp=False)
    data["defaults"]["probes"] = probes
    for commune in data["communes"]:
        for device in commune["sites"][0]["devices"]:
            device["tcp_ports"] = tcp_ports or []
    return data


def env_for(state: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NETPROBE_STATE_DIR=str(state), PYTHONPATH=str(REPO), **extra)
    env.pop("NETPROBE_CONFIG", None)
    return env


def stored(state: Path, measurement: str) -> list[Any]:
    store = LocalStore(state / "store.db")
    try:
        return list(store.read(measurement, 0, 2**62))
    finally:
        store.close()


class Agent:
    """A `netprobe run` subprocess whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([*NETPROBE, *args], env=env, stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, after: int = 0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.lines[after:]:
                if predicate(line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no matching log line in {timeout} s; log:\n" + "\n".join(self.lines[-40:]))

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


# ---- SIGTERM ---------------------------------------------------------------------------------------
class EchoSniffer:
    """Counts ICMP echo requests to `addresses` on loopback (a raw socket sees them arrive on lo)."""

    def __init__(self, addresses: set[str]) -> None:
        self.addresses = addresses
        self.sent: dict[str, list[float]] = defaultdict(list)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            data = self.sock.recv(4096)
            ihl = (data[0] & 0x0F) * 4
            dst = socket.inet_ntoa(data[16:20])
            if data[ihl] == 8 and dst in self.addresses:  # echo request to one of ours
                self.sent[dst].append(time.time())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def packets(self) -> dict[str, int]:
        return {addr: len(times) for addr, times in self.sent.items()}


@pytest.mark.root
def test_sigterm_mid_cycle_loses_no_point(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: raw ICMP sockets for the agent and the sniffer (CI runs as root)")
    # 30 lines → 60 ping targets, 4 packets 250 ms apart every 2 s: most of the time runs are in flight
    probes = {"ping": {"interval_s": 2, "count": 4, "spacing_ms": 250, "timeout_ms": 400}}
    data = inventory("127.213.0.0/16", lines=30, probes=probes)
    inv = tmp_path / "inv.yaml"
    write_inventory(inv, data)
    addr_of = {
        f"{line['id']}/{role}": line[role]
        for commune in data["communes"]
        for line in commune["sites"][0]["lines"]
        for role in ("ce", "pe")
    }
    sniffer = EchoSniffer(set(addr_of.values()))
    state = tmp_path / "state"
    agent = Agent(["-i", str(inv), "run", "--agent", "dc1"], env_for(state))
    try:
        agent.wait_for(lambda s: "cycle ping" in s and "partial" not in s, 15)
        time.sleep(0.9)  # mid-cycle: slots keep starting runs every 0.2 s
        signalled = time.time()
        code = agent.stop()
    finally:
        sniffer.close()
        if agent.proc.poll() is None:
            agent.proc.kill()
    assert code == 0, "\n".join(agent.lines)
    assert any("SIGTERM: stopping" in s for s in agent.lines)
    after = [t for times in sniffer.sent.values() for t in times if t > signalled + 0.05]
    assert after, "no run was in flight at SIGTERM: the test did not test anything"
    points = stored(state, "ping")
    per_target: dict[str, int] = defaultdict(int)
    for p in points:
        assert p.tags["agent"] == "dc1"
        per_target[addr_of[p.tags["target"]]] += 1
    # every run sends exactly `count` echo requests (runs in flight at SIGTERM finish, none is cut), so
    # the wire says how many runs each target had: each must have exactly one stored point
    runs_on_wire = {addr: n / 4 for addr, n in sniffer.packets().items()}
    assert sum(runs_on_wire.values()) > 60
    assert {a: float(n) for a, n in per_target.items()} == runs_on_wire
    agent_points = stored(state, "netprobe_agent")
    assert agent_points and all(p.tags["probe"] == "ping" for p in agent_points)


# ---- SIGHUP ----------------------------------------------------------------------------------------
@pytest.fixture
def listeners() -> Iterator[list[str]]:
    """TCP listeners on 127.214.0.2..9:7 (the inventory's device addresses), so connects succeed."""
    socks = []
    for i in range(2, 10):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((f"127.214.0.{i}", 7))
        s.listen(128)
        socks.append(s)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                conn, _ = s.accept()
                conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield [s.getsockname()[0] for s in socks]
    stop.set()
    thread.join(2)
    for s in socks:
        s.close()


def test_sighup_with_a_broken_inventory_keeps_the_running_one(tmp_path: Path, listeners: list[str]) -> None:
    probes = {"ping": {"enabled": False}, "tcp": {"interval_s": 1, "timeout_ms": 300}}
    good = inventory("127.214.0.0/24", devices=2, tcp_ports=[7], probes=probes)  # 2 communes × 2 devices
    inv = tmp_path / "inv.yaml"
    write_inventory(inv, good)
    agent = Agent(["-i", str(inv), "run"], env_for(tmp_path / "state"))
    try:
        agent.wait_for(lambda s: "cycle tcp" in s and "targets=4 ok=4" in s, 15)
        # an unknown key and a bad address: both reported with file:line:col, nothing changes
        broken = inv.read_text(encoding="utf-8").replace("kind: switch", "kind: switch\n      colour: red", 1)
        broken = broken.replace("address: 127.214.0.3", "address: 127.214.0.300", 1)
        inv.write_text(broken, encoding="utf-8")
        mark = len(agent.lines)
        agent.proc.send_signal(signal.SIGHUP)
        agent.wait_for(lambda s: "keeping the running inventory" in s, 15, after=mark)
        rejected = [s for s in agent.lines[mark:] if "reload rejected" in s]
        assert any(f"{inv}:" in s and "colour" in s for s in rejected), rejected
        assert any("127.214.0.300" in s for s in rejected), rejected
        mark = len(agent.lines)
        agent.wait_for(lambda s: "cycle tcp" in s and "targets=4 ok=4" in s, 10, after=mark)  # still probing
        # a valid inventory with more devices is taken
        write_inventory(inv, inventory("127.214.0.0/24", devices=4, tcp_ports=[7], probes=probes))
        mark = len(agent.lines)
        agent.proc.send_signal(signal.SIGHUP)
        agent.wait_for(lambda s: "reloaded: targets=8 tcp=8" in s, 15, after=mark)
        agent.wait_for(lambda s: "cycle tcp" in s and "targets=8 ok=8" in s, 10, after=mark)
    finally:
        code = agent.stop()
    assert code == 0, "\n".join(agent.lines[-30:])


# ---- --shard ---------------------------------------------------------------------------------------
def shard_targets(tmp_path: Path, inv: Path, shard: str, run: int = 1) -> set[str]:
    state = tmp_path / f"state-{shard.replace('/', 'of')}-{run}"
    done = subprocess.run(
        [*NETPROBE, "-i", str(inv), "run", "--once", "--shard", shard],
        env=env_for(state),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {p.tags["target"] + ":" + p.tags["port"] for p in stored(state, "tcp")}


def test_run_once_shards_are_disjoint_complete_and_stable(tmp_path: Path) -> None:
    # 40 devices × 3 ports on loopback, nothing listening: each connect is refused at once, still a point
    probes = {"ping": {"enabled": False}, "tcp": {"interval_s": 60, "timeout_ms": 500}}
    inv = tmp_path / "inv.yaml"
    write_inventory(inv, inventory("127.215.0.0/24", devices=20, tcp_ports=[1, 2, 3], probes=probes))
    three = [shard_targets(tmp_path, inv, f"{i}/3") for i in (1, 2, 3)]
    everything = set().union(*three)
    assert len(everything) == 120 and sum(len(s) for s in three) == 120  # complete and disjoint
    assert all(25 <= len(s) <= 55 for s in three), [len(s) for s in three]
    assert shard_targets(tmp_path, inv, "2/3", run=2) == three[1]  # stable: same split on every run
    four = [shard_targets(tmp_path, inv, f"{i}/4") for i in (1, 2, 3, 4)]
    assert set().union(*four) == everything and sum(len(s) for s in four) == 120
    # growing 3 → 4 agents: a target either stays on its shard or moves to the new one
    for old, new in zip(three, four[:3], strict=True):
        assert new <= old
    moved = sum(len(old - new) for old, new in zip(three, four[:3], strict=True))
    assert moved == len(four[3]) and 15 <= moved <= 50  # about 1/4


# ---- verdict state across restarts ------------------------------------------------------------------
@pytest.mark.root
def test_verdict_state_survives_a_restart(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: raw ICMP sockets (CI runs as root)")
    probes = {"ping": {"interval_s": 1, "count": 2, "spacing_ms": 50, "timeout_ms": 300}}
    inv = tmp_path / "inv.yaml"
    write_inventory(inv, inventory("127.217.0.0/24", lines=4, probes=probes))
    state = tmp_path / "state"
    once = [*NETPROBE, "-i", str(inv), "run", "--once", "--agent", "dc1"]
    first = subprocess.run(once, env=env_for(state), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert (state / "agent-state.json").exists()
    assert stored(state, "link_health") == []  # one observation is not a verdict yet
    time.sleep(1.2)  # one ping interval later, a new process continues from the saved state
    second = subprocess.run(once, env=env_for(state), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "restored verdicts state" in second.stderr
    verdicts = stored(state, "link_health")
    lines = {p.tags["target"] for p in verdicts if p.tags.get("kind") == "line"}
    assert len(lines) == 4 and all(p.tags.get("agent") in ("dc1", None) for p in verdicts)


# ---- into a real InfluxDB ---------------------------------------------------------------------------
@pytest.mark.influx
def test_run_once_writes_every_point_into_influxdb(tmp_path: Path, influxd: Any) -> None:
    import yaml

    from tests.integration.conftest import influx_config

    probes = {"ping": {"enabled": False}, "tcp": {"interval_s": 60, "timeout_ms": 500}}
    inv = tmp_path / "inv.yaml"
    write_inventory(inv, inventory("127.218.0.0/24", devices=5, tcp_ports=[1, 2], probes=probes))
    influxd.create_database("agent_once")
    config = influx_config(tmp_path / "state", influxd.url, api="v1", database="agent_once")
    (tmp_path / "netprobe.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run(
        [*NETPROBE, "-c", str(tmp_path / "netprobe.yaml"), "-i", str(inv), "run", "--once", "--agent", "dc1"],
        env=env_for(tmp_path / "state"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert influxd.count("agent_once", "tcp", "status") == 20  # 10 devices × 2 ports, refused: still points
    assert influxd.count("agent_once", "netprobe_agent", "targets") == 1
