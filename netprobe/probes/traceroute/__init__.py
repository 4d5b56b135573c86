"""Traceroute (on demand): registers the `traceroute` kind."""

from netprobe.probes.base import ProbeKind
from netprobe.probes.registry import KindSpec, ProbeContext, register
from netprobe.probes.traceroute.probe import TracerouteProbe


def _make(ctx: ProbeContext) -> TracerouteProbe:
    return TracerouteProbe(ctx.allow)


register(KindSpec(ProbeKind.TRACEROUTE, _make, scheduled=False))
