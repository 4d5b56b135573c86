"""The scenario file: which communes, lines and gear the lab builds, and which faults it imposes when.

Format (YAML, documented in docs/lab.md; unknown keys are errors):

    name: demo
    dcs: 2                        # data-centre namespaces (vantage points), 1 or 2
    lifetime_s: 14400             # the conductor stops by itself after this (faults are bounded too)
    communes:
      - name: Phường Kinh Bắc     # slug derived from the name unless given
        lines: [{provider: VNPT, bandwidth_mbps: 100}, {provider: Viettel}]   # or a count: `lines: 2`
        devices: [switch, firewall, {kind: video_endpoint, snmp: false}]
    generate: {communes: 99, lines: 284, devices: [switch, video_endpoint]}  # optional, appended
    faults:
      - {target: kinh-bac-l1, fault: loss, start_s: 0, duration_s: 600, loss_pct: 20}

Line ids are `<slug>-l<N>`; device ids `<slug>-rt` (the CE router, always present), `-sw`, `-fw`, `-vc`,
`-ap`, `-srv` (a second one of a kind gets `2`). A fault target is a line id, a device id, a commune slug
(every line of that commune) or a data-centre name (`dc1`, `dc2`: its uplink to the provider core).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netprobe.errors import NetprobeError
from netprobe.inventory.generate import COMMUNE_NAMES
from netprobe.inventory.lookup import fold

SHIPPED = ("demo", "province", "faults-in-run", "peers", "mixed-timings")


class ScenarioError(NetprobeError):
    """The scenario file is wrong or missing."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` is a valid YAML float, and `start_s: .inf` would park a fault forever
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Provider = Literal["VNPT", "Viettel", "FPT"]
DeviceKindName = Literal["switch", "firewall", "video_endpoint", "access_point", "server"]


class LineSpec(_Strict):
    provider: Provider = "VNPT"
    bandwidth_mbps: Annotated[float, Field(gt=0)] = 100.0
    circuit_id: str | None = None


class DeviceSpec(_Strict):
    kind: DeviceKindName
    snmp: bool = True


class CommuneSpec(_Strict):
    name: str
    slug: str | None = None
    lines: list[LineSpec] | Annotated[int, Field(ge=1, le=8)] = 1
    devices: list[DeviceKindName | DeviceSpec] = ["switch"]

    def line_specs(self, index: int) -> list[LineSpec]:
        if isinstance(self.lines, int):
            providers: list[Provider] = ["VNPT", "Viettel", "FPT"]
            return [LineSpec(provider=providers[(index + i) % 2 if i < 2 else 2]) for i in range(self.lines)]
        return list(self.lines)

    def device_specs(self) -> list[DeviceSpec]:
        return [d if isinstance(d, DeviceSpec) else DeviceSpec(kind=d) for d in self.devices]


class GenerateSpec(_Strict):
    communes: Annotated[int, Field(ge=1, le=1000)]
    lines: Annotated[int, Field(ge=1, le=3000)]
    devices: list[DeviceKindName | DeviceSpec] = ["switch", DeviceSpec(kind="video_endpoint", snmp=False)]


class _FaultBase(_Strict):
    target: str
    start_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 0.0
    duration_s: Annotated[float, Field(gt=0, le=7 * 86400)]


class LossFault(_FaultBase):
    fault: Literal["loss"]
    loss_pct: Annotated[float, Field(gt=0, le=100)]


class DownFault(_FaultBase):
    fault: Literal["down"]


class FlapFault(_FaultBase):
    fault: Literal["flap"]
    period_s: Annotated[float, Field(ge=1, le=86400)] = 10.0  # down for period_s, then up for period_s, ...


class LatencyFault(_FaultBase):
    fault: Literal["latency"]
    latency_ms: Annotated[float, Field(ge=0, le=5000)]  # added to the round trip
    jitter_ms: Annotated[float, Field(ge=0, le=5000)] = 0.0  # each direction adds U(0, jitter/2) more
    loss_pct: Annotated[float, Field(ge=0, le=100)] = 0.0


class CongestionFault(_FaultBase):
    fault: Literal["congestion"]
    rate_mbit: Annotated[float, Field(gt=0, le=1000)] = 2.0  # the line's usable rate while congested
    load_pct: Annotated[float, Field(gt=0, le=400)] = 130.0  # background load, % of rate_mbit
    queue_ms: Annotated[float, Field(gt=0, le=2000)] = 100.0  # queue depth at rate_mbit: worst queueing delay


class SnmpDeadFault(_FaultBase):
    fault: Literal["snmp_dead"]


class RebootFault(_FaultBase):
    fault: Literal["reboot"]  # duration_s: how long the device is gone before its agent is back


Fault = Annotated[
    LossFault | DownFault | FlapFault | LatencyFault | CongestionFault | SnmpDeadFault | RebootFault,
    Field(discriminator="fault"),
]
LINE_FAULTS = {"loss", "down", "flap", "latency", "congestion"}
DEVICE_FAULTS = {"snmp_dead", "reboot"}
DC_FAULTS = {"loss", "down", "flap"}


class Scenario(_Strict):
    name: str
    description: str | None = None
    dcs: Annotated[int, Field(ge=1, le=2)] = 1
    lifetime_s: Annotated[float, Field(gt=0, le=7 * 86400)] = 4 * 3600.0
    communes: list[CommuneSpec] = []
    generate: GenerateSpec | None = None
    faults: list[Fault] = []

    def all_communes(self) -> list[CommuneSpec]:
        out = list(self.communes)
        if self.generate is not None:
            taken = {c.name for c in out}
            names = [n for n in COMMUNE_NAMES if n not in taken]
            g = self.generate
            for i in range(g.communes):
                base = names[i % len(names)]
                name = base if i < len(names) else f"{base} {i // len(names) + 1}"
                n_lines = g.lines // g.communes + (1 if i < g.lines % g.communes else 0)
                out.append(CommuneSpec(name=name, lines=max(1, n_lines), devices=list(g.devices)))
        return out


def commune_slug(spec: CommuneSpec) -> str:
    if spec.slug:
        return spec.slug
    return fold(spec.name.removeprefix("Phường ").removeprefix("Xã "))


def load_scenario(name_or_path: str) -> tuple[Scenario, str]:
    """A shipped scenario by name (`demo`, `province`) or a YAML file. Returns (scenario, source)."""
    path = Path(name_or_path)
    if name_or_path in SHIPPED and not path.exists():
        text = resources.files("netprobe.lab").joinpath("scenarios", f"{name_or_path}.yaml").read_text("utf-8")
        source = f"<shipped {name_or_path}>"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(
                f"cannot read scenario {name_or_path!r}: {exc.strerror}; "
                f"give a YAML file or one of {', '.join(SHIPPED)}"
            ) from None
        source = str(path)
    return parse_scenario(text, source), source


def parse_scenario(text: str, source: str) -> Scenario:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping with name:, communes:, faults:")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{source}: {where}: {first['msg']}{more}") from None
