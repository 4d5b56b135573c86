"""Throw-away network namespaces for probe tests and benchmarks (root only), never the host's network.

A `Testbed` is two namespaces joined by a veth: the *prober* (198.18.0.1, no default route) and the
*far side* (198.18.0.2) that answers for every address of 198.19.0.0/16 through a local route, so
thousands of lab targets cost one route, not thousands of addresses. Loss is made where a real line
loses packets — an nftables `numgen random` drop on the far side's input — never on the prober's output
(there sendto() fails with EPERM, which a naive pinger reports as 0% loss). Names start with `npp-` and a
random id so parallel runs never collide; `close()` deletes everything it created.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from netprobe.errors import PrivilegeError

PROBER_ADDRESS = "198.18.0.1"
FAR_ADDRESS = "198.18.0.2"
CORE_ADDRESS, CORE_FAR_ADDRESS, FAR_ROUTED_ADDRESS = "198.18.0.2", "198.18.1.1", "198.18.1.2"  # up_routed()
FAR_RANGE = "198.19.0.0/16"  # answered by the far side (local route)
LOSSY_RANGE = "198.19.0.0/17"  # behind the drop rule, when one is installed
HEALTHY_RANGE = "198.19.128.0/17"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def lab_address(index: int, lossy: bool) -> str:
    """The index-th target address (0..32767) in the lossy or healthy half of FAR_RANGE."""
    base = 0 if lossy else 128
    return f"198.19.{base + index // 254}.{index % 254 + 1}"


class Testbed:
    __test__ = False  # not a pytest test class

    def __init__(self, tag: str = "t") -> None:
        if os.geteuid() != 0:
            raise PrivilegeError("network namespaces need root: run the tests/benchmark as root (CI does)")
        uid = os.urandom(3).hex()
        self.prober = f"npp-{tag}-{uid}-a"
        self.far = f"npp-{tag}-{uid}-b"
        self._created: list[str] = []

    def up(self, loss_pct: float = 0.0, ping_group_open: bool = False) -> Testbed:
        try:
            for ns in (self.prober, self.far):
                _ip("netns", "add", ns)
                self._created.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.prober, "link", "add", "npp-va", "type", "veth", "peer", "name", "npp-vb", "netns", self.far)
            _ip("-n", self.prober, "addr", "add", f"{PROBER_ADDRESS}/24", "dev", "npp-va")
            _ip("-n", self.far, "addr", "add", f"{FAR_ADDRESS}/24", "dev", "npp-vb")
            _ip("-n", self.prober, "link", "set", "npp-va", "up")
            _ip("-n", self.far, "link", "set", "npp-vb", "up")
            _ip("-n", self.prober, "route", "add", FAR_RANGE, "via", FAR_ADDRESS)
            _ip("-n", self.far, "route", "add", "local", FAR_RANGE, "dev", "lo")
            # thousands of targets answered at once: ICMP rate limits off on the far side (a lab, not a host)
            self.run(self.far, ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_msgs_per_sec=1000000"])
            if ping_group_open:
                self.run(self.prober, ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
            if loss_pct > 0:
                self.drop(loss_pct)
        except Exception:
            self.close()
            raise
        return self

    def up_routed(self, core_loss_pct: float = 0.0, far_loss_pct: float = 0.0) -> Testbed:
        """prober — core (the provider's router) — far (the commune end): a path traceroute can walk.

        Loss on the core's ingress (`core_loss_pct`) hits every probe from hop 1 on — "the provider's
        network"; loss on the far side's input (`far_loss_pct`) only the last hop — "the commune side".
        """
        self.core = self.prober[:-1] + "c"
        try:
            for ns in (self.prober, self.core, self.far):
                _ip("netns", "add", ns)
                self._created.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip(
                "-n", self.prober, "link", "add", "npp-va", "type", "veth", "peer", "name", "npp-vb", "netns", self.core
            )
            _ip("-n", self.core, "link", "add", "npp-vc", "type", "veth", "peer", "name", "npp-vd", "netns", self.far)
            for ns, dev, address in (
                (self.prober, "npp-va", f"{PROBER_ADDRESS}/24"),
                (self.core, "npp-vb", f"{CORE_ADDRESS}/24"),
                (self.core, "npp-vc", f"{CORE_FAR_ADDRESS}/24"),
                (self.far, "npp-vd", f"{FAR_ROUTED_ADDRESS}/24"),
            ):
                _ip("-n", ns, "addr", "add", address, "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", self.prober, "route", "add", FAR_RANGE, "via", CORE_ADDRESS)
            _ip("-n", self.core, "route", "add", FAR_RANGE, "via", FAR_ROUTED_ADDRESS)
            _ip("-n", self.far, "route", "add", "local", FAR_RANGE, "dev", "lo")
            _ip("-n", self.far, "route", "add", "198.18.0.0/24", "via", CORE_FAR_ADDRESS)
            self.run(self.core, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            for ns in (self.core, self.far):
                self.run(ns, ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_msgs_per_sec=1000000"])
            if core_loss_pct > 0:
                per_mille = round(core_loss_pct * 10)
                rules = (
                    "table ip npp_core {\n chain pre {\n  type filter hook prerouting priority 0; policy accept;\n"
                    f'  iifname "npp-vb" icmp type echo-request numgen random mod 1000 < {per_mille} drop\n'
                    " }\n}\n"
                )
                self.run(self.core, ["nft", "-f", "-"], input_text=rules)
            if far_loss_pct > 0:
                self.drop(far_loss_pct, FAR_RANGE)
        except Exception:
            self.close()
            raise
        return self

    def drop(self, loss_pct: float, addresses: str = LOSSY_RANGE) -> None:
        """Randomly drop `loss_pct` % of echo requests to `addresses`, on the far side's input."""
        per_mille = round(loss_pct * 10)
        rules = (
            "table ip npp_loss {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
            f"  ip daddr {addresses} icmp type echo-request numgen random mod 1000 < {per_mille} drop\n"
            " }\n}\n"
        )
        self.run(self.far, ["nft", "-f", "-"], input_text=rules)

    def drop_every(self, nth: int, addresses: list[str]) -> None:
        """Drop exactly every `nth` echo request to each address: one `numgen inc` counter per address, in
        its own chain reached through a verdict map (O(1) per packet even for 10,000 addresses). A loss with
        no sampling noise, so two pingers must report the same figure to the packet."""
        chains = "".join(f" chain t{i} {{\n  numgen inc mod {nth} == 0 drop\n }}\n" for i in range(len(addresses)))
        elements = ", ".join(f"{a} : jump t{i}" for i, a in enumerate(addresses))
        text = (
            "table ip npp_every {\n"
            + chains
            + " chain input {\n  type filter hook input priority 0; policy accept;\n"
            + f"  icmp type echo-request ip daddr vmap {{ {elements} }}\n }}\n}}\n"
        )
        result = self.run(self.far, ["nft", "-f", "-"], input_text=text)
        if result.returncode != 0:
            raise RuntimeError(f"nft: {result.stderr.strip()[:500]}")

    def blackhole_tcp(self, port: int) -> None:
        """Silently drop TCP SYNs to `port` on the far side: a connect there times out."""
        rules = (
            "table inet npp_tcp {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
            f"  tcp dport {port} drop\n }}\n}}\n"
        )
        self.run(self.far, ["nft", "-f", "-"], input_text=rules)

    def run(
        self, ns: str, argv: Sequence[str], input_text: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        for ns in reversed(self._created):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=10, check=False)
        self._created.clear()

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
