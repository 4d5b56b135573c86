"""Turn the inventory into probe targets, enforcing the allow-list with the inventory's file:line:col.

The built-in kinds' targets (ping, tcp, snmp) are built here; a kind registered from its own folder
brings its own target builder (netprobe.probes.registry.KindSpec.targets), called from here too.
"""

from __future__ import annotations

from collections.abc import Iterable

from netprobe.engine.allowlist import AllowList
from netprobe.errors import TargetRefused
from netprobe.inventory.loader import Inventory, ResolvedDevice, ResolvedLine
from netprobe.probes import registry
from netprobe.probes.base import ProbeKind, Role, Target

BUILT_IN = (ProbeKind.PING, ProbeKind.TCP, ProbeKind.SNMP)


def line_tags(inv: Inventory, r: ResolvedLine, role: Role) -> dict[str, str]:
    return {
        "province": inv.province.slug,
        "commune": r.commune.slug,
        "site": r.site.id,
        "line": r.line.id,
        "provider": r.line.provider,
        "kind": role.value,
        "target": f"{r.line.id}/{role.value}",
    }


def device_tags(inv: Inventory, r: ResolvedDevice) -> dict[str, str]:
    tags = {
        "province": inv.province.slug,
        "commune": r.commune.slug,
        "site": r.site.id,
        "device": r.device.id,
        "kind": Role.DEVICE.value,
        "target": r.device.id,
    }
    line = _line_above(inv, r.device.id)
    if line is not None:
        tags["line"] = line.line.id
        tags["provider"] = line.line.provider
    return tags


def _line_above(inv: Inventory, device_id: str) -> ResolvedLine | None:
    """The dedicated line a device ultimately sits behind (following device parents)."""
    seen: set[str] = set()
    node: str | None = device_id
    while node is not None and node not in seen:
        seen.add(node)
        if node in inv.lines:
            return inv.lines[node]
        device = inv.devices.get(node)
        node = device.device.parent if device else None
    return None


def build_targets(
    inv: Inventory,
    *,
    agent: str | None = None,
    communes: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
) -> list[Target]:
    """All targets `agent` probes (every target when agent is None), optionally for some communes only.

    `kinds` None: every scheduled kind (the built-in ones and every registered kind with a target builder).
    """
    specs = registry.kinds()
    wanted = set(kinds) if kinds is not None else {k for k, s in specs.items() if s.scheduled}
    only = set(communes) if communes is not None else None
    out: list[Target] = []
    for r in inv.lines.values():
        if (only is not None and r.commune.slug not in only) or (agent and r.agents and agent not in r.agents):
            continue
        if ProbeKind.PING in wanted and r.probes.ping.enabled:
            for role, address in ((Role.CE, r.line.ce), (Role.PE, r.line.pe)):
                if address is not None:
                    out.append(
                        Target(
                            f"ping/line/{r.line.id}/{role.value}",
                            ProbeKind.PING,
                            address,
                            line_tags(inv, r, role),
                            str(r.where),
                            ping=r.probes.ping,
                        )
                    )
    for d in inv.devices.values():
        if (only is not None and d.commune.slug not in only) or (agent and d.agents and agent not in d.agents):
            continue
        tags = device_tags(inv, d)
        where = str(d.where)
        address = d.device.address
        if ProbeKind.PING in wanted and d.probes.ping.enabled:
            out.append(Target(f"ping/device/{d.device.id}", ProbeKind.PING, address, tags, where, ping=d.probes.ping))
        if ProbeKind.SNMP in wanted and d.snmp_profile is not None and d.probes.snmp.enabled:
            out.append(
                Target(
                    f"snmp/device/{d.device.id}",
                    ProbeKind.SNMP,
                    address,
                    tags,
                    where,
                    port=d.snmp_profile.port,
                    snmp=d.probes.snmp,
                    snmp_profile=d.snmp_profile,
                    interfaces=tuple(d.device.interfaces),
                )
            )
        if ProbeKind.TCP in wanted and d.probes.tcp.enabled:
            for port in d.device.tcp_ports:
                out.append(
                    Target(
                        f"tcp/device/{d.device.id}/{port}",
                        ProbeKind.TCP,
                        address,
                        tags,
                        where,
                        port=port,
                        tcp=d.probes.tcp,
                    )
                )
    if ProbeKind.TCP in wanted and only is None:
        for s in inv.services:
            tags = {"province": inv.province.slug, "kind": Role.SERVICE.value, "target": s.id}
            out.append(
                Target(
                    f"tcp/service/{s.id}",
                    ProbeKind.TCP,
                    s.address,
                    tags,
                    str(inv.service_where.get(s.id, "")),
                    port=s.port,
                )
            )
    scope = registry.TargetScope(agent, frozenset(only) if only is not None else None)
    for kind in sorted(wanted - set(BUILT_IN)):
        build = specs[kind].targets if kind in specs else None
        if build is not None:
            out += build(inv, scope)
    return out


def refused_targets(targets: Iterable[Target], allow: AllowList) -> list[str]:
    """One line per target outside the allow-list: `file:line:col: key: address`."""
    return [f"{t.where}: {t.key}: {t.address}" for t in targets if not allow.allows(t.address)]


def enforce_allow_list(targets: list[Target], allow: AllowList) -> list[Target]:
    """Refuse the whole run if any target is outside: a typo must not probe a stranger."""
    refused = refused_targets(targets, allow)
    if refused:
        shown = refused[:5] + ([f"(and {len(refused) - 5} more)"] if len(refused) > 5 else [])
        raise TargetRefused(
            f"{len(refused)} target{'s' if len(refused) != 1 else ''} outside the allow-list ({allow.describe()}) "
            "will not be probed; add their networks to allowed_networks in the config, or to NETPROBE_ALLOWED_NETS, "
            "if they are yours to probe:\n  " + "\n  ".join(shown)
        )
    return targets


def count_targets(inv: Inventory) -> int:
    return len(build_targets(inv))
