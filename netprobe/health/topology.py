"""What the verdicts need from the inventory: lines and devices with parents, thresholds, vantage points,
in an order where every parent comes before its children (root cause is then one pass, with no race).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from netprobe.inventory.loader import Inventory, ResolvedDevice
from netprobe.inventory.model import Thresholds

NodeKind = Literal["line", "device"]


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    commune: str  # slug
    site: str = ""
    provider: str | None = None  # a device: the provider of the line it sits behind
    line: str | None = None  # a device: the line it sits behind; a line: itself
    parent: str | None = None  # the line or device it sits behind
    thresholds: Thresholds = field(default_factory=Thresholds)
    agents: tuple[str, ...] = ()  # vantage points expected to probe it (empty: any)
    ping_interval_s: float = 30.0
    snmp_interval_s: float = 60.0
    circuit_id: str | None = None
    has_pe: bool = True
    line_ports: dict[str, str] = field(default_factory=dict)  # a router: its ifName → the line landing there


@dataclass(frozen=True)
class Topology:
    province: str
    nodes: dict[str, Node]
    agents: tuple[str, ...] = ()
    commune_names: dict[str, str] = field(default_factory=dict)
    commune_coordinates: dict[str, tuple[float, float]] = field(default_factory=dict)  # slug -> (lat, lon)
    services: dict[str, tuple[str, float]] = field(default_factory=dict)  # data-centre service id -> (name, interval_s)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", _parents_first(self.nodes))

    order: tuple[str, ...] = field(init=False, default=())

    def lines_of(self, commune: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "line" and n.commune == commune]

    def communes(self) -> list[str]:
        return sorted({n.commune for n in self.nodes.values()})

    @classmethod
    def from_inventory(cls, inv: Inventory) -> Topology:
        nodes: dict[str, Node] = {}
        for r in inv.lines.values():
            nodes[r.id] = Node(
                r.id,
                "line",
                r.commune.slug,
                r.site.id,
                r.line.provider,
                r.id,
                None,
                r.thresholds,
                r.agents,
                r.probes.ping.interval_s,
                r.probes.snmp.interval_s,
                r.line.circuit_id,
                r.line.pe is not None,
            )
        ports: dict[str, dict[str, str]] = {}
        for r in inv.lines.values():
            if r.line.router_port is not None:
                ports.setdefault(r.line.router_port.device, {})[r.line.router_port.interface] = r.id
        for d in inv.devices.values():
            line = _line_above(inv, d)
            nodes[d.id] = Node(
                d.id,
                "device",
                d.commune.slug,
                d.site.id,
                inv.lines[line].line.provider if line else None,
                line,
                d.device.parent,
                d.thresholds,
                d.agents,
                d.probes.ping.interval_s if d.probes.ping.enabled else 0.0,
                d.probes.snmp.interval_s if d.snmp_profile is not None and d.probes.snmp.enabled else 0.0,
                line_ports=ports.get(d.id, {}),
            )
        coordinates = {c.slug: (c.coordinates.lat, c.coordinates.lon) for c in inv.communes if c.coordinates}
        services = {s.id: (s.name, s.interval_s) for s in inv.services}
        return cls(
            inv.province.slug,
            nodes,
            tuple(inv.agent_names()),
            {c.slug: c.name for c in inv.communes},
            coordinates,
            services,
        )


def _line_above(inv: Inventory, d: ResolvedDevice) -> str | None:
    seen: set[str] = set()
    node: str | None = d.device.parent
    while node is not None and node not in seen:
        seen.add(node)
        if node in inv.lines:
            return node
        parent = inv.devices.get(node)
        node = parent.device.parent if parent else None
    return None


def _parents_first(nodes: dict[str, Node]) -> tuple[str, ...]:
    """Depth-first by depth, ties by id: deterministic, and every parent before its children."""

    def depth(node_id: str) -> int:
        seen: set[str] = set()
        d, node = 0, nodes.get(node_id)
        while node is not None and node.parent is not None and node.parent in nodes and node.id not in seen:
            seen.add(node.id)
            d += 1
            node = nodes[node.parent]
        return d

    return tuple(sorted(nodes, key=lambda n: (depth(n), n)))
