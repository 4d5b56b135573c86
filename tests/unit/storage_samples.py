"""Realistic probe Measurements for every target of the example inventory (storage tests' input)."""

from __future__ import annotations

import random

from netprobe.engine.targets import build_targets
from netprobe.inventory.loader import load_inventory
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.storage.point import FieldValue
from netprobe.storage.schema import SCHEMA
from tests.conftest import EXAMPLE


def value_for(kind: type, rng: random.Random, name: str) -> FieldValue:
    if kind is bool:
        return rng.random() < 0.5
    if kind is int:
        return rng.randrange(0, 2**40) if "octets" in name else rng.randrange(0, 100)
    if kind is float:
        return round(rng.uniform(0, 250), 3)
    return rng.choice(["", 'Phường Kinh Bắc, "UBND" — đường truyền số liệu', "Cisco IOS 15.2\nline two", "wrap32"])


def full_fields(measurement: str, rng: random.Random) -> dict[str, FieldValue]:
    """Every field the schema has for `measurement`, with a value of its type (status left to the converter)."""
    return {name: value_for(t, rng, name) for name, t in SCHEMA[measurement].fields.items() if name != "status"}


def measurements(t0: float = 1_700_000_000.0, seed: int = 5) -> list[Measurement]:
    rng = random.Random(seed)
    out = []
    for i, target in enumerate(build_targets(load_inventory(EXAMPLE))):
        out.append(measurement_for(target, t0 + i * 0.001, rng))
    return out


def measurement_for(target: Target, when: float, rng: random.Random) -> Measurement:
    status = rng.choice(list(Status))
    if target.kind is ProbeKind.PING:
        return Measurement(target, when, status, full_fields("ping", rng))
    if target.kind is ProbeKind.TCP:
        return Measurement(target, when, status, full_fields("tcp", rng))
    rows = [{"ifname": str(name), **full_fields("snmp_if", rng)} for name in target.interfaces]
    return Measurement(target, when, status, full_fields("snmp_sys", rng), rows=rows)
