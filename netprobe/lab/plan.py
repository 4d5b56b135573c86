"""From a scenario to a concrete plan: every namespace, veth, address and route of the lab.

Addressing (all inside 198.18.0.0/15, RFC 2544 benchmarking space):
  198.18.0.0/24   DC uplinks, one /30 each: core .1+4i, DC .2+4i
  198.18.1.0/30   the DC service network: core .1, service host .2 (TCP 443, 8443)
  198.18.16.0/20… dedicated lines, one /30 each: PE (core end) .1+4k, CE (commune router end) .2+4k
  198.19.0.0/16   commune LANs, one /26 each: CE router .1, then the gear
Routing: the DC has 198.18.0.0/15 via the core and no default route. The core reaches each commune LAN
via its lines (line N has metric 100+N, so the backup takes over when the primary loses carrier). Every
namespace that routes ignores routes whose link is down (`ignore_routes_with_linkdown`), like a router.
The plan is pure data (JSON in the state dir), shared by `up`, `down`, the conductor and `status`.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netprobe.lab.scenario import CommuneSpec, Scenario, ScenarioError, commune_slug

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
DC_NET = ipaddress.ip_network("198.18.0.0/24")
SVC_NET = ipaddress.ip_network("198.18.1.0/30")
LINE_BASE = int(ipaddress.ip_address("198.18.16.0"))
LINE_LIMIT = int(ipaddress.ip_address("198.19.0.0"))
LAN_BASE = int(ipaddress.ip_address("198.19.0.0"))
LAN_SIZE = 64
SERVICE_PORTS = {"qlvb": 443, "dvc": 8443}
KIND_SUFFIX = {
    "router": "rt",
    "switch": "sw",
    "firewall": "fw",
    "video_endpoint": "vc",
    "access_point": "ap",
    "server": "srv",
}


def _ip(n: int) -> str:
    return str(ipaddress.ip_address(n))


@dataclass
class Link:
    """A veth pair. `a` is the provider/near end (taken down to cut the link), `b` the far end."""

    id: str
    ns_a: str
    if_a: str
    ns_b: str
    if_b: str
    addr_a: str | None = None  # with prefix length, e.g. 198.18.16.1/30
    addr_b: str | None = None
    alias: str | None = None
    kind: str = "lan"  # line, dc, svc, lan


@dataclass
class LinePlan:
    id: str
    commune: str
    index: int  # 1-based within the commune; 1 is the primary
    provider: str
    bandwidth_mbps: float
    circuit_id: str
    pe: str
    ce: str
    link: str  # Link id


@dataclass
class DevicePlan:
    id: str
    commune: str
    kind: str
    ns: str
    address: str
    snmp: bool
    interfaces: list[str]
    parent: str


@dataclass
class CommunePlan:
    slug: str
    name: str
    ce_ns: str
    lan: str
    lan_gateway: str
    lines: list[str]
    devices: list[str]


@dataclass
class Plan:
    lab_id: str
    scenario: str
    lifetime_s: float
    core_ns: str
    svc_ns: str
    svc_address: str
    dcs: dict[str, dict[str, str]]  # dc name → {ns, address, link}
    links: dict[str, Link] = field(default_factory=dict)
    lines: dict[str, LinePlan] = field(default_factory=dict)
    devices: dict[str, DevicePlan] = field(default_factory=dict)
    communes: dict[str, CommunePlan] = field(default_factory=dict)
    routes: dict[str, list[str]] = field(default_factory=dict)  # ns → `ip route` batch lines (replace)
    bridges: dict[str, dict[str, Any]] = field(default_factory=dict)  # ns → {name, ports, address}
    forwarding: list[str] = field(default_factory=list)  # namespaces that route
    scenario_source: str = ""  # the scenario file, or <shipped NAME>

    # ------------------------------------------------------------------ derived
    @property
    def namespaces(self) -> list[str]:
        seen: dict[str, None] = {}
        for dc in self.dcs.values():
            seen[dc["ns"]] = None
        seen[self.core_ns] = None
        seen[self.svc_ns] = None
        for c in self.communes.values():
            seen[c.ce_ns] = None
        for d in self.devices.values():
            seen[d.ns] = None
        return list(seen)

    @property
    def dc_namespaces(self) -> list[str]:
        return [dc["ns"] for dc in self.dcs.values()]

    def snmp_devices(self) -> list[DevicePlan]:
        return [d for d in self.devices.values() if d.snmp]

    def links_in(self, ns: str) -> list[tuple[str, Link]]:
        """(interface name, link) for every link end in namespace `ns`."""
        out = []
        for link in self.links.values():
            if link.ns_a == ns:
                out.append((link.if_a, link))
            if link.ns_b == ns:
                out.append((link.if_b, link))
        return out

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        raw: dict[str, Any] = json.loads(text)
        raw["links"] = {k: Link(**v) for k, v in raw["links"].items()}
        raw["lines"] = {k: LinePlan(**v) for k, v in raw["lines"].items()}
        raw["devices"] = {k: DevicePlan(**v) for k, v in raw["devices"].items()}
        raw["communes"] = {k: CommunePlan(**v) for k, v in raw["communes"].items()}
        return cls(**raw)

    @classmethod
    def load(cls, path: Path) -> Plan:
        return cls.from_json(path.read_text(encoding="utf-8"))


def build_plan(lab_id: str, scenario: Scenario) -> Plan:
    core = f"{lab_id}-core"
    svc = f"{lab_id}-svc"
    plan = Plan(
        lab_id=lab_id,
        scenario=scenario.name,
        lifetime_s=scenario.lifetime_s,
        core_ns=core,
        svc_ns=svc,
        svc_address=_ip(int(SVC_NET.network_address) + 2),
        dcs={},
    )
    plan.forwarding.append(core)
    routes: dict[str, list[str]] = {core: []}
    dc_base = int(DC_NET.network_address)
    for i in range(1, scenario.dcs + 1):
        name = f"dc{i}"
        ns = f"{lab_id}-{name}"
        core_ip, dc_ip = _ip(dc_base + 4 * (i - 1) + 1), _ip(dc_base + 4 * (i - 1) + 2)
        plan.links[name] = Link(name, core, name, ns, "up0", f"{core_ip}/30", f"{dc_ip}/30", f"uplink {name}", "dc")
        plan.dcs[name] = {"ns": ns, "address": dc_ip, "link": name}
        routes[ns] = [f"{LAB_NET} via {core_ip} dev up0"]
    svc_base = int(SVC_NET.network_address)
    plan.links["svc"] = Link(
        "svc",
        core,
        "svc0",
        svc,
        "eth0",
        f"{_ip(svc_base + 1)}/30",
        f"{_ip(svc_base + 2)}/30",
        "data centre services",
        "svc",
    )
    routes[svc] = [f"{LAB_NET} via {_ip(svc_base + 1)} dev eth0"]

    line_no = 0
    slugs: set[str] = set()
    for ci, spec in enumerate(scenario.all_communes()):
        slug = commune_slug(spec)
        if slug in slugs:
            raise ScenarioError(f"scenario {scenario.name}: two communes have the slug {slug!r}; give one a slug:")
        slugs.add(slug)
        line_no = _plan_commune(plan, routes, lab_id, ci, spec, slug, line_no)
    plan.routes = routes
    _check_targets(plan, scenario)
    return plan


def _plan_commune(
    plan: Plan, routes: dict[str, list[str]], lab_id: str, ci: int, spec: CommuneSpec, slug: str, line_no: int
) -> int:
    lan_base = LAN_BASE + LAN_SIZE * ci
    if lan_base + LAN_SIZE > int(LAB_NET.broadcast_address):
        raise ScenarioError(f"scenario {plan.scenario}: too many communes for the lab's address plan")
    lan = f"{_ip(lan_base)}/26"
    gateway = _ip(lan_base + 1)
    ce_ns = f"{lab_id}-{slug}-rt"
    plan.forwarding.append(ce_ns)
    ce_routes: list[str] = []
    line_ids: list[str] = []
    for li, lspec in enumerate(spec.line_specs(ci), start=1):
        base = LINE_BASE + 4 * line_no
        if base + 4 > LINE_LIMIT:
            raise ScenarioError(f"scenario {plan.scenario}: too many lines for the lab's address plan")
        pe, ce = _ip(base + 1), _ip(base + 2)
        line_id = f"{slug}-l{li}"
        core_if, ce_if = f"pe{line_no}", f"wan{li}"
        plan.links[line_id] = Link(
            line_id, plan.core_ns, core_if, ce_ns, ce_if, f"{pe}/30", f"{ce}/30", line_id, "line"
        )
        circuit = lspec.circuit_id or f"BN-{lspec.provider[:2].upper()}-{2025000 + line_no:07d}"
        plan.lines[line_id] = LinePlan(
            line_id, slug, li, lspec.provider, lspec.bandwidth_mbps, circuit, pe, ce, line_id
        )
        routes[plan.core_ns].append(f"{lan} via {ce} dev {core_if} metric {100 + li}")
        ce_routes.append(f"{LAB_NET} via {pe} dev {ce_if} metric {100 + li}")
        line_ids.append(line_id)
        line_no += 1
    routes[ce_ns] = ce_routes
    primary = line_ids[0]
    router_id = f"{slug}-rt"
    ce_ifaces = [f"wan{i}" for i in range(1, len(line_ids) + 1)] + ["lan0"]
    # managed at its LAN gateway address, as routers are (a loopback or LAN address, not one line's end):
    # reachable over whichever line carries the LAN, so a cut primary does not hide the router's SNMP
    plan.devices[router_id] = DevicePlan(router_id, slug, "router", ce_ns, gateway, True, ce_ifaces, primary)
    device_ids = [router_id]
    gear = sorted(spec.device_specs(), key=lambda d: d.kind != "switch")  # the switch first: the rest hang off it
    has_switch = bool(gear) and gear[0].kind == "switch"
    # The LAN: a bridge in the switch's namespace (CE lan0 → switch p0), or, without a switch, in the CE itself.
    bridge_ns = f"{lab_id}-{slug}-sw" if has_switch else ce_ns
    ports: list[str] = []
    bridge: dict[str, Any] = {"name": "br0" if has_switch else "lan0", "ports": ports, "address": None}
    if has_switch:
        plan.links[f"{slug}-lan"] = Link(f"{slug}-lan", ce_ns, "lan0", bridge_ns, "p0", f"{gateway}/26", None, "LAN")
        ports.append("p0")
    else:
        bridge["address"] = f"{gateway}/26"
    counts: dict[str, int] = {}
    for host, dspec in enumerate(gear, start=2):
        if host >= LAN_SIZE - 1:
            raise ScenarioError(f"scenario {plan.scenario}: commune {slug} has too many devices (max 61)")
        counts[dspec.kind] = counts.get(dspec.kind, 0) + 1
        n = counts[dspec.kind]
        dev_id = f"{slug}-{KIND_SUFFIX[dspec.kind]}{n if n > 1 else ''}"
        address = _ip(lan_base + host)
        if has_switch and host == 2:  # the switch: management address on its bridge
            bridge["address"] = f"{address}/26"
            routes[bridge_ns] = [f"{LAB_NET} via {gateway} dev br0"]
            plan.devices[dev_id] = DevicePlan(
                dev_id, slug, "switch", bridge_ns, address, dspec.snmp, ["br0", "p0"], router_id
            )
        else:
            ns = f"{lab_id}-{dev_id}"
            port = f"p{len(ports) + (0 if has_switch else 1)}"
            plan.links[dev_id] = Link(dev_id, bridge_ns, port, ns, "eth0", None, f"{address}/26", dev_id)
            ports.append(port)
            routes[ns] = [f"{LAB_NET} via {gateway} dev eth0"]
            parent = f"{slug}-sw" if has_switch else router_id
            if has_switch:
                plan.devices[parent].interfaces.append(port)
            plan.devices[dev_id] = DevicePlan(dev_id, slug, dspec.kind, ns, address, dspec.snmp, ["eth0"], parent)
        device_ids.append(dev_id)
    plan.bridges[bridge_ns] = bridge
    plan.communes[slug] = CommunePlan(slug, spec.name, ce_ns, lan, gateway, line_ids, device_ids)
    return line_no


def _check_targets(plan: Plan, scenario: Scenario) -> None:
    from netprobe.lab.scenario import DC_FAULTS, DEVICE_FAULTS, LINE_FAULTS

    for i, fault in enumerate(scenario.faults):
        t, kind = fault.target, fault.fault
        if t in plan.lines or t in plan.communes:
            ok = kind in LINE_FAULTS
        elif t in plan.devices:
            ok = kind in DEVICE_FAULTS
        elif t in plan.dcs:
            ok = kind in DC_FAULTS
        else:
            raise ScenarioError(
                f"scenario {scenario.name}: faults[{i}].target {t!r} is not a line, device, commune or dc of this lab"
            )
        if not ok:
            raise ScenarioError(f"scenario {scenario.name}: faults[{i}]: fault {kind!r} does not apply to {t!r}")
        if kind == "snmp_dead" and not plan.devices[t].snmp:
            raise ScenarioError(f"scenario {scenario.name}: faults[{i}]: device {t!r} has no SNMP agent")


def expand_target(plan: Plan, target: str) -> list[str]:
    """A commune slug stands for all its lines."""
    if target in plan.communes:
        return list(plan.communes[target].lines)
    return [target]
