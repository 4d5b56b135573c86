"""ICMP echo (ping): registers the `ping` kind."""

from netprobe.probes.base import ProbeKind
from netprobe.probes.icmp.probe import IcmpProbe, check_privilege
from netprobe.probes.icmp.sockets import IcmpMode
from netprobe.probes.registry import KindSpec, ProbeContext, register


def _make(ctx: ProbeContext) -> IcmpProbe:
    return IcmpProbe(ctx.allow, ctx.max_packets_per_s, IcmpMode(ctx.icmp_mode))


register(KindSpec(ProbeKind.PING, _make, preflight=check_privilege))
