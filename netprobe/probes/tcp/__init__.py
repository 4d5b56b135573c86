"""TCP connect: registers the `tcp` kind."""

from netprobe.probes.base import ProbeKind
from netprobe.probes.registry import KindSpec, ProbeContext, register
from netprobe.probes.tcp.probe import TcpProbe


def _make(ctx: ProbeContext) -> TcpProbe:
    return TcpProbe(ctx.allow, ctx.concurrency)


register(KindSpec(ProbeKind.TCP, _make))
