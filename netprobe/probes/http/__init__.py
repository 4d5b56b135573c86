"""HTTP(S) probe of the province's web services: registers the `http` kind, its targets and its command.

Everything the kind needs lives in this folder; the registry finds it by importing the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netprobe.probes.base import Role, Target
from netprobe.probes.http.probe import KIND, HttpProbe, HttpSettings, url_port
from netprobe.probes.registry import KindSpec, ProbeContext, TargetScope, register

if TYPE_CHECKING:
    import click

    from netprobe.inventory.loader import Inventory

__all__ = ["KIND", "HttpProbe", "HttpSettings"]


def _make(ctx: ProbeContext) -> HttpProbe:
    return HttpProbe(ctx.allow, min(ctx.concurrency, 64))  # a few web services, not thousands


def service_targets(inv: Inventory, scope: TargetScope) -> list[Target]:
    """One target per inventory service with `url:`; like the TCP service targets, every agent probes
    them (from each data centre) and they belong to no commune."""
    if scope.communes is not None:
        return []
    out = []
    for s in inv.services:
        if s.url is None:
            continue
        tags = {"province": inv.province.slug, "kind": Role.SERVICE.value, "target": s.id}
        settings = HttpSettings(s.url, s.expect, interval_s=s.interval_s)
        where = str(inv.service_where.get(s.id, ""))
        out.append(Target(f"http/service/{s.id}", KIND, s.address, tags, where, port=url_port(s.url), params=settings))
    return out


def _command() -> click.Command:
    from netprobe.probes.http.command import http

    return http


register(KindSpec(KIND, _make, targets=service_targets, command=_command))
