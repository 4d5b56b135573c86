"""The lab, for real: `lab up --scenario demo`, then independent tools (fping, net-snmp, pysnmp) run from
the data-centre namespace confirm every imposed fault against the ground truth the lab recorded."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netprobe.inventory.loader import load_inventory

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces, snmpd on port 161)"),
]

NETPROBE = [sys.executable, "-m", "netprobe"]
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"


def netprobe(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*NETPROBE, *args], capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


class Lab:
    def __init__(self, lab_id: str, status: dict[str, Any]) -> None:
        self.id = lab_id
        self.status = status
        self.state = Path(status["state_dir"])
        self.dc = status["dc_namespaces"][0]
        self.inventory = load_inventory(status["inventory"])
        self.community = (self.state / "snmp-community").read_text().strip()
        self.auth = (self.state / "snmp-auth.key").read_text().strip()
        self.priv = (self.state / "snmp-priv.key").read_text().strip()

    def run(self, *cmd: str, ns: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.state / "cli-snmp")}
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{ns or self.dc}", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def ce(self, line: str) -> str:
        return self.inventory.lines[line].line.ce

    def addr(self, device: str) -> str:
        return self.inventory.devices[device].device.address

    def fping(
        self, *hosts: str, count: int, period_ms: int = 10, timeout_ms: int = 1000
    ) -> dict[str, dict[str, float]]:
        out = self.run(
            "fping", "-q", "-i", "1", "-c", str(count), "-p", str(period_ms), "-t", str(timeout_ms), *hosts
        ).stderr
        stats: dict[str, dict[str, float]] = {}
        for m in re.finditer(
            r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/\d+%(?:, min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+))?", out, re.M
        ):
            sent, got = int(m.group(2)), int(m.group(3))
            stats[m.group(1)] = {
                "sent": sent,
                "loss": 100.0 * (sent - got) / sent,
                **(
                    {"min": float(m.group(4)), "avg": float(m.group(5)), "max": float(m.group(6))} if m.group(4) else {}
                ),
            }
        assert set(stats) == set(hosts), out
        return stats

    def snmpget(
        self, host: str, *oids: str, v3: bool = False, timeout: int = 1, retries: int = 0
    ) -> subprocess.CompletedProcess[str]:
        auth = (
            ["-v3", "-l", "authPriv", "-u", "netprobe", "-a", "SHA-256", "-A", self.auth, "-x", "AES", "-X", self.priv]
            if v3
            else ["-v2c", "-c", self.community]
        )
        return self.run("snmpget", *auth, "-t", str(timeout), "-r", str(retries), "-On", host, *oids)

    def snmpwalk(self, host: str, oid: str) -> str:
        out = self.run("snmpwalk", "-v2c", "-c", self.community, "-On", host, oid)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def truth(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.state / "truth.json").read_text(encoding="utf-8"))
        return data

    def fault(self, target: str, kind: str) -> dict[str, Any]:
        matches = [f for f in self.truth()["faults"] if f["target"] == target and f["fault"] == kind]
        assert matches, f"no {kind} on {target} in the truth"
        return matches[-1]


def uptime_ticks(result: subprocess.CompletedProcess[str]) -> int:
    m = re.search(r"Timeticks: \((\d+)\)", result.stdout)
    assert m, result.stdout + result.stderr
    return int(m.group(1))


def lab_leftovers(lab_id: str) -> list[str]:
    left = [n for n in os.listdir("/run/netns") if n.startswith(f"{lab_id}-")] if os.path.isdir("/run/netns") else []
    if os.path.exists(f"/run/netprobe-lab/{lab_id}"):
        left.append(f"/run/netprobe-lab/{lab_id}")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"/run/netprobe-lab/{lab_id}/" in cmd or f"--id {lab_id} " in cmd + " ":
                left.append(f"process {pid}: {cmd[:80]}")
    return left


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab_id = f"t{os.getpid() % 100000}"
    try:
        t0 = time.monotonic()
        up = netprobe("lab", "up", "--id", lab_id, "--scenario", "demo", "--lifetime", "600", "--json", check=False)
        assert up.returncode == 0, up.stderr
        assert time.monotonic() - t0 < 30
        yield Lab(lab_id, json.loads(up.stdout))
    finally:
        netprobe("lab", "down", "--id", lab_id, check=False)
        assert lab_leftovers(lab_id) == []


# ---------------------------------------------------------------------------------------------------
# Shape: status, inventory, isolation
# ---------------------------------------------------------------------------------------------------
def test_status_json_and_inventory(lab: Lab) -> None:
    st = json.loads(netprobe("lab", "status", "--id", lab.id, "--json").stdout)
    assert {"inventory", "truth", "dc_namespaces", "namespaces"} <= set(st)
    assert st["dc_namespaces"] == [f"{lab.id}-dc1", f"{lab.id}-dc2"]
    assert st["namespaces_present"] == len(st["namespaces"]) and st["conductor_running"]
    assert st["snmp_agents_running"] == st["snmp_agents"] > 0
    inv = lab.inventory
    assert [a.netns for a in inv.agents] == st["dc_namespaces"]
    assert len(inv.communes) == 8 and {s.port for s in inv.services} == {443, 8443}
    text = netprobe("lab", "status", "--id", lab.id).stdout
    assert "#1 loss on vo-cuong-l1 (loss_pct=20)" in text and "snmp_dead on dong-nguyen-rt" in text


def test_data_centres_have_no_default_route(lab: Lab) -> None:
    for ns in lab.status["dc_namespaces"]:
        routes = subprocess.run(["ip", "-n", ns, "route"], capture_output=True, text=True, check=True).stdout
        assert routes.strip() and "default" not in routes


def test_nothing_in_the_lab_is_reachable_from_the_root_namespace(lab: Lab) -> None:
    # Proven from the wiring, without sending a packet: every veth end in a lab namespace has its peer in
    # another lab namespace, so no interface of the root namespace leads into the lab.
    for ns in lab.status["namespaces"]:
        links = subprocess.run(
            ["ip", "-n", ns, "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        for link in links:
            m = re.search(r"link-netns (\S+)", link)
            assert m and m.group(1).startswith(f"{lab.id}-"), f"{ns}: {link}"
    root = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert f"link-netns {lab.id}-" not in root


def test_dc_services_accept_tcp(lab: Lab) -> None:
    from netprobe.lab import netns

    for service in lab.inventory.services:
        with netns.inside(lab.dc):
            sock = socket.create_connection((service.address, service.port), timeout=2)
        sock.close()


# ---------------------------------------------------------------------------------------------------
# Faults, confirmed with independent tools
# ---------------------------------------------------------------------------------------------------
def test_healthy_lossy_and_dead(lab: Lab) -> None:
    healthy = [lab.ce("kinh-bac-l1"), lab.ce("kinh-bac-l2"), lab.addr("kinh-bac-sw"), lab.addr("kinh-bac-vc")]
    lossy = [lab.ce("vo-cuong-l1"), lab.addr("vo-cuong-sw")]
    dead = [lab.ce("hap-linh-l1"), lab.addr("hap-linh-sw"), lab.addr("hap-linh-fw")]
    stats = lab.fping(*healthy, *lossy, *dead, count=500, period_ms=4, timeout_ms=500)
    imposed = lab.fault("vo-cuong-l1", "loss")
    assert imposed["start"] is not None and imposed["params"]["loss_pct"] == 20
    for host in healthy:
        assert stats[host]["loss"] == 0, (host, stats[host])
    for host in lossy:  # 500 packets: σ ≈ 1.8 points; ±8 is 4.5σ (±6, 3.4σ, failed once in CI: 26.2)
        assert abs(stats[host]["loss"] - 20) <= 8, (host, stats[host])
    for host in dead:
        assert stats[host]["loss"] == 100, (host, stats[host])
    assert lab.fault("hap-linh", "down")["lines"] == ["hap-linh-l1"]


def test_line_cut_fails_over_to_the_backup_and_snmp_sees_it(lab: Lab) -> None:
    l1, l2, lan = lab.ce("kinh-bac-l1"), lab.ce("kinh-bac-l2"), lab.addr("kinh-bac-sw")
    out = netprobe("lab", "impair", "--id", lab.id, "kinh-bac-l1", "--down", "--for", "5")
    assert "fault #" in out.stdout
    time.sleep(0.5)
    during = lab.fping(l1, l2, lan, count=20, period_ms=20, timeout_ms=300)
    assert during[l1]["loss"] == 100 and during[l2]["loss"] == 0 and during[lan]["loss"] == 0
    states: list[str] = []
    for _ in range(10):  # net-snmp caches ifTable for a few seconds, like real agents
        oper = lab.snmpget(l2, f"{IF_OPER}.2", f"{IF_OPER}.3", v3=True)  # ifIndex 2 = wan1, 3 = wan2
        assert oper.returncode == 0, oper.stderr
        states = re.findall(r"INTEGER: (\d)", oper.stdout)
        if states == ["2", "1"]:
            break
        time.sleep(0.4)
    assert states == ["2", "1"]  # wan1 down (no carrier), wan2 up: asked over the backup line
    entry = lab.fault("kinh-bac-l1", "down")
    deadline = time.time() + 10
    while entry["end"] is None and time.time() < deadline:
        time.sleep(0.2)
        entry = lab.fault("kinh-bac-l1", "down")
    assert entry["end"] is not None and 4.5 <= entry["end"] - entry["start"] <= 6.5
    after = lab.fping(l1, lan, count=10, period_ms=20, timeout_ms=300)
    assert after[l1]["loss"] == 0 and after[lan]["loss"] == 0


def test_flapping_follows_the_recorded_transitions(lab: Lab) -> None:
    target = lab.ce("dong-nguyen-l2")
    netprobe("lab", "impair", "--id", lab.id, "dong-nguyen-l2", "--flap", "2", "--for", "8")
    samples: list[tuple[float, bool]] = []
    t_end = time.time() + 9
    while time.time() < t_end:
        t = time.time()
        ok = lab.run("fping", "-c", "1", "-t", "250", target).returncode == 0  # 250 ms < the 0.3 s margin
        samples.append((t, ok))
        time.sleep(0.1)
    entry = lab.fault("dong-nguyen-l2", "flap")
    downs = entry["transitions"]
    assert len(downs) >= 2 and all(up is not None for _, up in downs)
    margin = 0.3
    checked = 0
    for t, ok in samples:
        in_down = any(d + margin <= t <= u - margin for d, u in downs)
        in_up = entry["start"] <= t <= entry["end"] and not any(d - margin <= t <= u + margin for d, u in downs)
        if in_down:
            assert not ok, f"reply at {t} while the truth says the line was down"
            checked += 1
        elif in_up:
            assert ok, f"no reply at {t} while the truth says the line was up"
            checked += 1
    assert checked >= 20


def test_latency_and_jitter(lab: Lab) -> None:
    host = lab.ce("tu-son-l1")
    params = lab.fault("tu-son-l1", "latency")["params"]
    assert params["latency_ms"] == 80 and params["jitter_ms"] == 30
    stats = lab.fping(host, lab.addr("tu-son-sw"), count=60, period_ms=20, timeout_ms=1000)
    for s in stats.values():
        assert s["loss"] == 0
        assert s["min"] >= 79 and s["max"] <= 80 + 30 + 40, s  # +40 ms: the delay line is a process on a busy CPU
        assert s["max"] - s["min"] >= 10, s  # the jitter is there


def test_congestion_queues_and_drops_and_snmp_counts_the_load(lab: Lab) -> None:
    host = lab.ce("nam-son-l1")
    stats = lab.fping(host, count=150, period_ms=20, timeout_ms=1000)[host]
    assert stats["avg"] >= 30, stats  # waiting in a full 100 ms queue
    assert 3 <= stats["loss"] <= 75, stats  # tail drops at 130 % load (burstier when the CPU is busy)
    ce_ns = f"{lab.id}-nam-son-rt"

    def kernel_rx_bytes() -> int:
        out = subprocess.run(
            ["ip", "-n", ce_ns, "-j", "-s", "link", "show", "wan1"], capture_output=True, text=True, check=True
        ).stdout
        return int(json.loads(out)[0]["stats64"]["rx"]["bytes"])

    t0, k0 = time.monotonic(), kernel_rx_bytes()
    time.sleep(3)
    mbit = (kernel_rx_bytes() - k0) * 8 / (time.monotonic() - t0) / 1e6
    assert 1.5 <= mbit <= 2.6, mbit  # the line runs full at its shaped 2 Mbit/s
    # The agent's IF-MIB counter is the kernel's (net-snmp caches ifTable a few seconds, so it may lag).
    # The agent is behind the congested line too: each request and reply crosses a queue dropping up to
    # ~60 %, so allow several bounded rounds of retries (5 rounds x 5 tries) before calling it lost.
    octets = None
    for _ in range(5):
        result = lab.snmpget(host, f"{IF_HC_IN}.2", retries=4)
        octets = re.search(r"Counter64: (\d+)", result.stdout)
        if octets:
            break
    assert octets, result.stdout + result.stderr
    lag = kernel_rx_bytes() - int(octets.group(1))
    assert 0 <= lag <= 2e6 / 8 * 15, lag  # at most ~15 s of traffic behind, never ahead


def test_snmp_dead_agent_but_the_line_is_fine(lab: Lab) -> None:
    host = lab.addr("dong-nguyen-rt")
    assert lab.snmpget(host, SYS_UPTIME).returncode != 0
    assert lab.snmpget(lab.addr("dong-nguyen-sw"), SYS_UPTIME).returncode == 0
    assert lab.fping(lab.ce("dong-nguyen-l1"), count=20, period_ms=10)[lab.ce("dong-nguyen-l1")]["loss"] == 0


def test_snmp_v2c_v3_and_real_interfaces(lab: Lab) -> None:
    v3 = lab.snmpget(lab.addr("kinh-bac-rt"), SYS_UPTIME, "1.3.6.1.2.1.1.5.0", v3=True)
    assert v3.returncode == 0 and '"kinh-bac-rt"' in v3.stdout, v3.stderr
    walk = lab.snmpwalk(lab.addr("kinh-bac-sw"), IF_DESCR)
    names = re.findall(r'STRING: "([^"]+)"', walk)
    assert sorted(names) == sorted(["lo", *lab.inventory.devices["kinh-bac-sw"].device.interfaces])
    # pysnmp 7 (what netprobe uses) speaks the same v3 authPriv SHA-256/AES-128 to the agent, from inside the DC.
    script = f"""
import asyncio
from netprobe.lab import netns
netns.enter({lab.dc!r})
from pysnmp.hlapi.v3arch.asyncio import *
async def main():
    user = UsmUserData("netprobe", {lab.auth!r}, {lab.priv!r}, authProtocol=usmHMAC192SHA256AuthProtocol,
                       privProtocol=usmAesCfb128Protocol)
    target = await UdpTransportTarget.create(({lab.addr("kinh-bac-rt")!r}, 161), timeout=2, retries=0)
    err, status, _, binds = await get_cmd(SnmpEngine(), user, target, ContextData(),
                                          ObjectType(ObjectIdentity("{SYS_UPTIME}")), lookupMib=False)
    print("ok" if not err and not status else f"error {{err}} {{status}}", int(binds[0][1]) if binds else -1)
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.startswith("ok "), out.stdout + out.stderr


def test_device_reboot_resets_sysuptime(lab: Lab) -> None:
    host = lab.addr("kinh-bac-fw")
    time.sleep(1.5)  # let the agent's uptime exceed a reboot's few seconds
    engine = "1.3.6.1.6.3.10.2.1.1.0", "1.3.6.1.6.3.10.2.1.2.0"  # snmpEngineID, snmpEngineBoots
    first = lab.snmpget(host, SYS_UPTIME, *engine)
    before = uptime_ticks(first)
    netprobe("lab", "impair", "--id", lab.id, "kinh-bac-fw", "--reboot", "--for", "3")
    time.sleep(0.5)
    assert lab.fping(host, count=5, period_ms=100, timeout_ms=200)[host]["loss"] == 100
    assert lab.snmpget(host, SYS_UPTIME).returncode != 0
    entry = lab.fault("kinh-bac-fw", "reboot")
    deadline = time.time() + 10
    while entry["end"] is None and time.time() < deadline:
        time.sleep(0.2)
        entry = lab.fault("kinh-bac-fw", "reboot")
    assert entry["devices"] == ["kinh-bac-fw"] and 2.5 <= entry["end"] - entry["start"] <= 5
    again = lab.snmpget(host, SYS_UPTIME, *engine, v3=True)  # the v3 user survives the reboot too
    after = uptime_ticks(again)
    assert after < before and after < 500, (before, after)  # ticks are 1/100 s

    def engine_of(result: subprocess.CompletedProcess[str]) -> tuple[str, int]:
        engine_id = re.search(r"10\.2\.1\.1\.0 = Hex-STRING: ([0-9A-F ]+)", result.stdout)
        boots = re.search(r"10\.2\.1\.2\.0 = INTEGER: (\d+)", result.stdout)
        assert engine_id and boots, result.stdout
        return engine_id.group(1).strip(), int(boots.group(1))

    (id_before, boots_before), (id_after, boots_after) = engine_of(first), engine_of(again)
    assert id_after == id_before and boots_after == boots_before + 1  # a real reboot, as a v3 client sees it


def test_a_second_lab_with_its_own_scenario_runs_alongside(lab: Lab, tmp_path: Path) -> None:
    other = f"u{os.getpid() % 100000}"
    scenario = tmp_path / "mine.yaml"
    scenario.write_text(
        "name: mine\ncommunes:\n  - {name: Phường Kinh Bắc, lines: 1, devices: [firewall]}\n"
        "faults:\n  - {target: kinh-bac-l1, fault: loss, start_s: 0, duration_s: 600, loss_pct: 50}\n",
        encoding="utf-8",
    )
    try:
        st = json.loads(netprobe("lab", "up", "--id", other, "--scenario", str(scenario), "--json").stdout)
        assert not set(st["namespaces"]) & set(lab.status["namespaces"])
        second = Lab(other, st)
        # Same addresses in both labs, different namespaces: each lab sees its own faults only.
        addr = second.ce("kinh-bac-l1")
        assert addr == lab.ce("kinh-bac-l1")
        mine = second.fping(addr, count=300, period_ms=4, timeout_ms=300)[addr]["loss"]
        theirs = lab.fping(addr, count=100, period_ms=4, timeout_ms=300)[addr]["loss"]
        assert abs(mine - 50) <= 10 and theirs == 0
        exec_out = netprobe("lab", "exec", "--id", other, "--", "ip", "route")
        assert "default" not in exec_out.stdout and "via 198.18.0.1" in exec_out.stdout
    finally:
        netprobe("lab", "down", "--id", other, check=False)
    assert lab_leftovers(other) == []
    assert json.loads(netprobe("lab", "status", "--id", lab.id, "--json").stdout)["namespaces_present"] == len(
        lab.status["namespaces"]
    )
