"""netprobe.lab.netns (setns into a named namespace) and `lab down` after a crash."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netprobe.errors import NetprobeError
from netprobe.lab import netns

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="entering network namespaces needs root"),
]


@pytest.fixture
def scratch_ns() -> Iterator[str]:
    name = f"n{os.getpid() % 100000}-scratch"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "-n", name, "addr", "add", "198.18.255.1/32", "dev", "lo"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_inside_switches_this_thread_and_comes_back(scratch_ns: str) -> None:
    home = netns.current_inode()
    with netns.inside(scratch_ns):
        assert netns.current_inode() == netns.inode_of(scratch_ns) != home
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    assert netns.current_inode() == home
    with sock:  # the socket stays in the namespace it was created in
        sock.bind(("198.18.255.1", 0))  # an address only that namespace has


def test_enter_moves_a_process_before_it_opens_sockets(scratch_ns: str) -> None:
    script = (
        "import socket, sys\n"
        "from netprobe.lab import netns\n"
        f"netns.enter({scratch_ns!r})\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.bind(('198.18.255.1', 0))\n"
        "print(netns.current_inode())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30)
    assert int(out.stdout) == netns.inode_of(scratch_ns)


def test_missing_namespace_is_a_one_line_error() -> None:
    with pytest.raises(NetprobeError) as exc:
        netns.enter("no-such-netprobe-ns")
    assert "does not exist" in str(exc.value)
    with pytest.raises(NetprobeError):
        netns.enter("../etc")


LAB_CLI = [sys.executable, "-m", "netprobe", "lab"]


def lab_up(lab_id: str, scenario: Path, lifetime_s: int) -> dict[str, Any]:
    """`netprobe lab up --json` in a subprocess; its status."""
    up = subprocess.run(
        [*LAB_CLI, "up", "--id", lab_id, "-s", str(scenario), "--lifetime", str(lifetime_s), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    status: dict[str, Any] = json.loads(up.stdout)
    return status


def test_down_cleans_up_after_a_crash(tmp_path: Path) -> None:
    """The conductor killed -9 and the plan lost: `down` still removes namespaces and agents."""
    lab_id = f"c{os.getpid() % 100000}"
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text("name: tiny\ncommunes: [{name: Xã Kép, devices: [switch]}]\n", encoding="utf-8")
    try:
        st = lab_up(lab_id, scenario, lifetime_s=120)
        state = Path(st["state_dir"])
        os.kill(int((state / "conductor.pid").read_text()), signal.SIGKILL)
        (state / "plan.json").unlink()
        time.sleep(0.2)
        down = subprocess.run(
            [*LAB_CLI, "down", "--id", lab_id], capture_output=True, text=True, timeout=60, check=False
        )
        assert down.returncode == 0, down.stderr
        assert not state.exists()
        assert not [n for n in os.listdir("/run/netns") if n.startswith(f"{lab_id}-")]
        again = subprocess.run(
            [*LAB_CLI, "down", "--id", lab_id], capture_output=True, text=True, timeout=60, check=False
        )
        assert again.returncode == 0, again.stderr  # idempotent
    finally:
        subprocess.run([*LAB_CLI, "down", "--id", lab_id], capture_output=True, timeout=60, check=False)


def test_the_conductor_stops_by_itself_and_lifts_its_faults(tmp_path: Path) -> None:
    lab_id = f"d{os.getpid() % 100000}"
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        "name: short\ncommunes: [{name: Xã Kép, devices: []}]\n"
        "faults: [{target: kep-l1, fault: loss, start_s: 0, duration_s: 3600, loss_pct: 100}]\n",
        encoding="utf-8",
    )
    try:
        st = lab_up(lab_id, scenario, lifetime_s=2)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = subprocess.run(
                [*LAB_CLI, "status", "--id", lab_id, "--json"], capture_output=True, text=True, timeout=60, check=True
            )
            if not json.loads(status.stdout)["conductor_running"]:
                break
            time.sleep(0.3)
        truth = json.loads(Path(st["truth"]).read_text(encoding="utf-8"))
        (fault,) = truth["faults"]
        assert fault["start"] is not None and fault["end"] is not None and fault["end"] - truth["up_at"] < 6
        ce = "198.18.16.2"  # the only line: the loss was lifted with the conductor's end
        ping = subprocess.run(
            ["nsenter", f"--net=/run/netns/{st['dc_namespaces'][0]}", "fping", "-c", "3", "-p", "50", ce],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ping.returncode == 0, ping.stderr
    finally:
        subprocess.run([*LAB_CLI, "down", "--id", lab_id], capture_output=True, timeout=60, check=False)
