"""How each fault is imposed on the lab, and lifted. Each mechanism acts where a real fault would.

- loss: an nftables `numgen random` drop in the *far side* namespace's prerouting, for packets arriving
  over that line (the commune router's input for a line, the core's for a DC uplink). Round-trip loss of
  a ping through the line is therefore exactly the imposed probability; replies are not dropped twice.
- down: the provider end of the veth is set administratively down, so the commune router sees NO-CARRIER
  (IF-MIB ifOperStatus down, ifAdminStatus up: a cut, not a shutdown). Routes via it are restored on up.
- flap: down/up every `period_s`.
- latency/jitter: the kernel here has no sch_netem, so the line's traffic is diverted through a pair of
  TUN devices (one in the core, one in the commune router) joined by a userspace delay line in the
  conductor. See LatencyLine for what it can and cannot emulate.
- congestion: htb + a packet FIFO on the provider end (the line's usable rate) plus a real background UDP
  load above that rate, so the queue fills: pings see queueing delay up to `queue_ms` and tail drops.
- snmp_dead: the agent is stopped with SIGSTOP (it hangs: requests time out, the device still pings).
- reboot: the device's interfaces go down and its agent is killed; after `duration_s` the interfaces come
  back and a new agent starts, so sysUpTime starts again from 0.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import deque
from typing import Any

from netprobe.lab import netns, snmpd
from netprobe.lab.build import LabError, Paths, ip_batch, nft_table, run_in
from netprobe.lab.plan import LAB_NET, Link, Plan

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


class Handler:
    """One imposed fault: start() imposes it, tick() advances it (flapping), stop() lifts it."""

    def __init__(self, plan: Plan, paths: Paths, entry: dict[str, Any], link_ids: list[str]) -> None:
        self.link_ids = link_ids  # line ids or DC names this handler acts on
        self.plan = plan
        self.paths = paths
        self.entry = entry
        self.params: dict[str, Any] = entry["params"]

    def start(self) -> None: ...

    def tick(self, now: float) -> bool:
        """Advance a fault that changes while active; True when something changed (the truth is rewritten)."""
        return False

    def stop(self) -> None: ...

    # helpers
    def links(self) -> list[Link]:
        return [
            self.plan.links[self.plan.lines[t].link] if t in self.plan.lines else self.plan.links[t]
            for t in self.link_ids
        ]


def far_side(link: Link) -> tuple[str, str]:
    """(namespace, interface) where traffic *arrives* over this link from the provider side."""
    return (link.ns_b, link.if_b) if link.kind == "line" else (link.ns_a, link.if_a)


def set_link(plan: Plan, link: Link, up: bool) -> None:
    ip_batch([f"link set {link.if_a} {'up' if up else 'down'}"], link.ns_a)
    if up:
        restore_routes(plan, link.ns_a)
        restore_routes(plan, link.ns_b)


def restore_routes(plan: Plan, ns: str) -> None:
    routes = plan.routes.get(ns, [])
    if routes:
        ip_batch((f"route replace {r}" for r in routes), ns, force=True)  # a route via a link still down fails


class Loss(Handler):
    def start(self) -> None:
        threshold = round(float(self.params["loss_pct"]) * 100)  # out of 10,000: 0.01 % resolution
        for link in self.links():
            ns, ifname = far_side(link)
            match = f"numgen random mod 10000 < {threshold} " if threshold < 10000 else ""
            run_in(ns, ["nft", f"add rule inet {nft_table(self.plan)} link_{ifname} {match}counter drop"])

    def stop(self) -> None:
        for link in self.links():
            ns, ifname = far_side(link)
            run_in(ns, ["nft", f"flush chain inet {nft_table(self.plan)} link_{ifname}"], check=False)


class Down(Handler):
    def start(self) -> None:
        for link in self.links():
            set_link(self.plan, link, False)

    def stop(self) -> None:
        for link in self.links():
            set_link(self.plan, link, True)


class Flap(Handler):
    def start(self) -> None:
        self.period = float(self.params.get("period_s", 10.0))
        self.is_down = False
        self.next_at = time.monotonic()
        self.entry["transitions"] = []
        self.tick(self.next_at)  # the first cut is part of imposing the fault

    def tick(self, now: float) -> bool:
        if now < self.next_at:
            return False
        self.is_down = not self.is_down
        for link in self.links():
            set_link(self.plan, link, not self.is_down)
        if self.is_down:
            self.entry["transitions"].append([round(time.time(), 3), None])
        else:
            self.entry["transitions"][-1][1] = round(time.time(), 3)
        self.next_at += self.period
        return True

    def stop(self) -> None:
        if self.is_down:
            for link in self.links():
                set_link(self.plan, link, True)
            self.entry["transitions"][-1][1] = round(time.time(), 3)
            self.is_down = False


def open_tun(ns: str, name: str) -> int:
    """Create TUN device `name` in namespace `ns`; it lives as long as the returned fd stays open."""
    with netns.inside(ns):
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError:
            os.close(fd)
            raise
    os.set_blocking(fd, False)
    return fd


class LatencyLine(Handler):
    """A userspace delay line over TUN, replacing the line's forwarding path while active.

    Can emulate: a fixed added delay (half each way), per-packet jitter drawn uniformly from
    [0, jitter_ms/2] each way, optional random loss toward the commune, in FIFO order (no reordering,
    like a real serial queue: a packet never overtakes the one before it). Timing resolution is the
    conductor's scheduling, ~0.1–1 ms on an idle machine; worse under CPU contention.
    Cannot emulate: reordering, duplication, corruption, rate limits (combine with congestion instead),
    or correlated/burst loss. Only the line's own traffic (to its CE address and, for the primary line,
    the commune LAN) takes the delay line; it bypasses the nftables loss chain of that line.
    """

    def start(self) -> None:
        (link,) = self.links()
        line = self.plan.lines[link.id]
        commune = self.plan.communes[line.commune]
        self.link, self.ce_ns = link, link.ns_b
        self.tun_name = f"t{link.if_a}"
        self.table = 100 + line.index
        self.primary = line.index == 1
        self.fd_core = open_tun(link.ns_a, self.tun_name)
        self.fd_ce = open_tun(link.ns_b, self.tun_name)
        core_cmds = [f"link set {self.tun_name} up", f"route replace {line.ce}/32 dev {self.tun_name} metric 1"]
        if self.primary:
            core_cmds.append(f"route replace {commune.lan} dev {self.tun_name} metric 1")
        ip_batch(core_cmds, link.ns_a)
        ce_cmds = [
            f"link set {self.tun_name} up",
            f"route replace {LAB_NET} dev {self.tun_name} table {self.table}",
            f"rule add from {line.ce} lookup {self.table} pref {1000 + line.index}",
        ]
        if self.primary:  # the LAN's traffic and the router's own (it is managed at its LAN gateway address)
            ce_cmds.append(f"rule add iif lan0 lookup {self.table} pref {1100 + line.index}")
            ce_cmds.append(f"rule add from {commune.lan_gateway} lookup {self.table} pref {1200 + line.index}")
        ip_batch(ce_cmds, link.ns_b)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"latency-{link.id}", daemon=True)
        self.thread.start()

    def _delay(self) -> float:
        base = float(self.params["latency_ms"]) / 2000.0
        return base + random.uniform(0, float(self.params.get("jitter_ms", 0.0)) / 2000.0)

    def _run(self) -> None:
        loss = float(self.params.get("loss_pct", 0.0)) / 100.0
        queues: dict[int, deque[tuple[float, bytes]]] = {self.fd_ce: deque(), self.fd_core: deque()}
        peer = {self.fd_core: self.fd_ce, self.fd_ce: self.fd_core}
        last_release = {self.fd_ce: 0.0, self.fd_core: 0.0}
        while not self.stop_event.is_set():
            now = time.monotonic()
            due = [q[0][0] for q in queues.values() if q]
            timeout = max(0.0, min(due) - now) if due else 0.1
            readable, _, _ = select.select([self.fd_core, self.fd_ce], [], [], min(timeout, 0.1))
            now = time.monotonic()
            for fd in readable:
                while True:
                    try:
                        pkt = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        return
                    out = peer[fd]
                    if fd == self.fd_core and loss and random.random() < loss:
                        continue
                    release = max(now + self._delay(), last_release[out])
                    last_release[out] = release
                    queues[out].append((release, pkt))
            now = time.monotonic()
            for out, queue in queues.items():
                while queue and queue[0][0] <= now:
                    _, pkt = queue.popleft()
                    with contextlib.suppress(OSError):
                        os.write(out, pkt)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=2)
        line = self.plan.lines[self.link.id]
        ip_batch(
            [
                f"rule del from {line.ce} lookup {self.table} pref {1000 + line.index}",
                f"rule del iif lan0 lookup {self.table} pref {1100 + line.index}",
                f"rule del from {self.plan.communes[line.commune].lan_gateway} lookup {self.table} "
                f"pref {1200 + line.index}",
                f"route flush table {self.table}",
            ],
            self.ce_ns,
            force=True,
        )
        for fd in (self.fd_core, self.fd_ce):
            os.close(fd)  # the TUN devices and their routes disappear with the fds
        restore_routes(self.plan, self.link.ns_a)


class Congestion(Handler):
    """A shaper at the provider end of the line + a real UDP load above its rate: a full queue, honestly."""

    def start(self) -> None:
        (link,) = self.links()
        line = self.plan.lines[link.id]
        self.link = link
        rate = float(self.params.get("rate_mbit", 2.0))
        queue_ms = float(self.params.get("queue_ms", 100.0))
        # htb shapes to the rate; a packet-count FIFO below it holds `queue_ms` of full-size frames and
        # tail-drops beyond, like a provider's per-circuit queue: pings wait in it and are dropped with it.
        limit = max(2, round(rate * 1e6 / 8 * queue_ms / 1000 / 1228))
        burst = max(3000, int(rate * 1e6 / 8 / 100))
        batch = "\n".join(
            [
                f"qdisc replace dev {link.if_a} root handle 1: htb default 1",
                f"class add dev {link.if_a} parent 1: classid 1:1 htb rate {rate}mbit ceil {rate}mbit burst {burst}",
                f"qdisc add dev {link.if_a} parent 1:1 handle 10: pfifo limit {limit}",
            ]
        )
        subprocess.run(["tc", "-n", link.ns_a, "-batch", "-"], input=batch, text=True, check=True, capture_output=True)
        self.load_bps = rate * 1e6 * float(self.params.get("load_pct", 130.0)) / 100.0
        self.dest = (line.ce, 9)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._load, name=f"load-{link.id}", daemon=True)
        self.thread.start()

    def _load(self) -> None:
        with netns.inside(self.link.ns_a):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        payload = b"\0" * 1200
        bits = (len(payload) + 28) * 8
        sent_bits = 0.0
        t0 = time.monotonic()
        with sock:
            while not self.stop_event.wait(0.005):
                due = self.load_bps * (time.monotonic() - t0)
                while sent_bits < due:
                    with contextlib.suppress(OSError):  # queue full or link down: the load is best effort
                        sock.sendto(payload, self.dest)
                    sent_bits += bits

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=2)
        subprocess.run(
            ["tc", "-n", self.link.ns_a, "qdisc", "del", "dev", self.link.if_a, "root"],
            check=False,
            capture_output=True,
        )


class SnmpDead(Handler):
    def start(self) -> None:
        files = snmpd.agent_files(self.paths.root, self.entry["target"])
        self.pid = snmpd.read_pid(files)
        if not self.pid or not snmpd.alive(self.pid):
            raise LabError(f"the agent of {self.entry['target']} is not running (see {files.log})")
        os.kill(self.pid, signal.SIGSTOP)

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)


class Reboot(Handler):
    def start(self) -> None:
        device = self.plan.devices[self.entry["target"]]
        self.device = device
        self.files = snmpd.agent_files(self.paths.root, device.id)
        pid = snmpd.read_pid(self.files)
        if device.snmp and pid:
            snmpd.stop(pid)
        self.ifaces = [i for i, _ in self.plan.links_in(device.ns)]
        bridge = self.plan.bridges.get(device.ns)
        if bridge:
            self.ifaces.append(bridge["name"])
        ip_batch((f"link set {i} down" for i in self.ifaces), device.ns, force=True)

    def stop(self) -> None:
        ip_batch((f"link set {i} up" for i in self.ifaces), self.device.ns, force=True)
        restore_routes(self.plan, self.device.ns)
        if self.device.snmp:
            snmpd.start(self.files, self.device.ns)
            deadline = time.monotonic() + 10
            while not snmpd.is_ready(self.files) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not snmpd.is_ready(self.files):
                raise LabError(f"snmpd of {self.device.id} did not come back after the reboot; see {self.files.log}")


HANDLERS: dict[str, type[Handler]] = {
    "loss": Loss,
    "down": Down,
    "flap": Flap,
    "latency": LatencyLine,
    "congestion": Congestion,
    "snmp_dead": SnmpDead,
    "reboot": Reboot,
}
