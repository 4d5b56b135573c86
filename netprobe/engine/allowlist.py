"""The allow-list: the only networks netprobe may ever send a probe to.

A typo in an inventory must not ping a stranger's network, and tests/CI must only touch loopback and the
lab range. The list comes from the config (`allowed_networks`, default: loopback only) plus the
comma-separated env `NETPROBE_ALLOWED_NETS`. It is checked when targets are built from the inventory
(so a refused target is reported with the inventory line) and again right before a packet is sent.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netprobe.errors import ConfigError, TargetRefused

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger(__name__)

ENV_VAR = "NETPROBE_ALLOWED_NETS"
# Prefixes this short cover a large part of the internet: allowed (a lab may want ::/0 on purpose) but said.
SHORT_PREFIX = {4: 8, 6: 32}
LOOPBACK: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
LAB_RANGE = "198.18.0.0/15"  # RFC 2544 benchmarking range: lab namespaces only


def parse_networks(items: Iterable[str], source: str) -> tuple[IPNetwork, ...]:
    nets: list[IPNetwork] = []
    for raw in items:
        text = raw.strip()
        if not text:
            continue
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ConfigError(
                f"{source}: {text!r} is not a network; write it as CIDR, e.g. 198.18.0.0/15 or 127.0.0.1/32"
            ) from None
        if net.network_address != ipaddress.ip_interface(text).ip:
            # strict=False would turn a typo like 10.200.0.1/0 into "everything": say which entry, refuse it
            raise ConfigError(
                f"{source}: {text!r} has host bits set (it would allow {net}); write {net} if you mean that "
                f"network, or {ipaddress.ip_interface(text).ip}/{net.max_prefixlen} for the one host"
            )
        if net.prefixlen < SHORT_PREFIX[net.version]:
            log.warning(
                "%s: %s allows %s addresses; make sure that is meant (a lab or loopback needs far fewer)",
                source,
                net,
                f"{net.num_addresses:.3g}",
            )
        nets.append(net)
    return tuple(nets)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 address really reaches (::ffff:a.b.c.d, 6to4, NAT64), if any.

    The kernel sends ::ffff:10.1.2.3 to the IPv4 host 10.1.2.3: an IPv6 entry such as ::/0 must not let
    it through, so such an address is judged as the IPv4 address it is."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


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
        if isinstance(ip, ipaddress.IPv6Address):
            ip = embedded_ipv4(ip) or ip
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
