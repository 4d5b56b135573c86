"""The allow-list: the only networks netprobe may ever send a probe to.

A typo in an inventory must not ping a stranger's network, and tests/CI must only touch loopback and the
lab range. The list comes from the config (`allowed_networks`, default: loopback only) plus the
comma-separated env `NETPROBE_ALLOWED_NETS`. It is checked when targets are built from the inventory
(so a refused target is reported with the inventory line) and again right before a packet is sent.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netprobe.errors import ConfigError, TargetRefused

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ENV_VAR = "NETPROBE_ALLOWED_NETS"
LOOPBACK: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
LAB_RANGE = "198.18.0.0/15"  # RFC 2544 benchmarking range: lab namespaces only


def parse_networks(items: Iterable[str], source: str) -> tuple[IPNetwork, ...]:
    nets: list[IPNetwork] = []
    for raw in items:
        text = raw.strip()
        if not text:
            continue
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(
                f"{source}: {text!r} is not a network; write it as CIDR, e.g. 198.18.0.0/15 or 127.0.0.1/32"
            ) from None
    return tuple(nets)


@dataclass(frozen=True)
class AllowList:
    networks: tuple[IPNetwork, ...]

    @classmethod
    def build(cls, configured: Sequence[str] | None, env: dict[str, str] | None = None) -> AllowList:
        """Config list (or loopback when the config says nothing) plus NETPROBE_ALLOWED_NETS."""
        environ = os.environ if env is None else env
        base = parse_networks(configured if configured is not None else LOOPBACK, "config allowed_networks")
        extra = parse_networks(environ.get(ENV_VAR, "").split(","), ENV_VAR)
        return cls(tuple(dict.fromkeys(base + extra)))  # keep order, drop repeats

    def allows(self, address: str | IPAddress) -> bool:
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)

    def check(self, address: str, what: str) -> None:
        """Raise TargetRefused unless `address` is inside the list."""
        if not self.allows(address):
            raise TargetRefused(self.refusal(address, what))

    def refusal(self, address: str, what: str) -> str:
        return (
            f"{what}: {address} is outside the allow-list ({self.describe()}); it will not be probed. "
            f"Add its network to allowed_networks in the config or to {ENV_VAR} if it is yours to probe"
        )

    def describe(self) -> str:
        return ", ".join(str(n) for n in self.networks) or "empty"
