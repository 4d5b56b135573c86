"""SNMP v2c/v3 polls: registers the `snmp` kind."""

from netprobe.probes.base import ProbeKind
from netprobe.probes.registry import KindSpec, ProbeContext, register
from netprobe.probes.snmp.probe import SnmpProbe


def _make(ctx: ProbeContext) -> SnmpProbe:
    return SnmpProbe(ctx.allow, ctx.concurrency)


register(KindSpec(ProbeKind.SNMP, _make))
