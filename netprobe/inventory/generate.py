"""Synthetic inventories for benchmarks and the lab: any number of communes, lines and devices.

Addresses are taken in order from one network (default 127.0.0.0/8 for loopback benchmarks; the lab
uses 198.18.0.0/15), so a generated inventory is always inside the allow-list of tests and CI.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from netprobe.inventory.lookup import fold

# Names of Bắc Ninh's communes and wards after the 2025 merger (a sample; cycled with numbers beyond it).
COMMUNE_NAMES = [
    "Phường Kinh Bắc",
    "Phường Võ Cường",
    "Phường Vũ Ninh",
    "Phường Hạp Lĩnh",
    "Phường Nam Sơn",
    "Phường Từ Sơn",
    "Phường Tam Sơn",
    "Phường Đồng Nguyên",
    "Phường Phù Khê",
    "Phường Thuận Thành",
    "Phường Mão Điền",
    "Phường Trạm Lộ",
    "Phường Trí Quả",
    "Phường Song Liễu",
    "Phường Ninh Xá",
    "Phường Quế Võ",
    "Phường Phương Liễu",
    "Phường Nhân Hòa",
    "Phường Đào Viên",
    "Phường Bồng Lai",
    "Phường Chũ",
    "Phường Phượng Sơn",
    "Phường Bắc Giang",
    "Phường Đa Mai",
    "Phường Tiền Phong",
    "Phường Tân An",
    "Phường Yên Dũng",
    "Phường Tân Tiến",
    "Phường Cảnh Thụy",
    "Phường Việt Yên",
    "Phường Nếnh",
    "Phường Vân Hà",
    "Xã Gia Bình",
    "Xã Nhân Thắng",
    "Xã Đại Lai",
    "Xã Cao Đức",
    "Xã Đông Cứu",
    "Xã Lương Tài",
    "Xã Lâm Thao",
    "Xã Trung Chính",
    "Xã Trung Kênh",
    "Xã Tiên Du",
    "Xã Liên Bão",
    "Xã Tân Chi",
    "Xã Đại Đồng",
    "Xã Phật Tích",
    "Xã Yên Phong",
    "Xã Văn Môn",
    "Xã Tam Giang",
    "Xã Yên Trung",
    "Xã Tam Đa",
    "Xã Lục Nam",
    "Xã Đông Phú",
    "Xã Bắc Lũng",
    "Xã Bảo Đài",
    "Xã Lạng Giang",
    "Xã Mỹ Thái",
    "Xã Kép",
    "Xã Tân Dĩnh",
    "Xã Tiên Lục",
    "Xã Yên Thế",
    "Xã Bố Hạ",
    "Xã Đồng Kỳ",
    "Xã Xuân Lương",
    "Xã Tam Tiến",
    "Xã Tân Yên",
    "Xã Ngọc Thiện",
    "Xã Nhã Nam",
    "Xã Phúc Hòa",
    "Xã Quang Trung",
    "Xã Hiệp Hòa",
    "Xã Hợp Thịnh",
    "Xã Hoàng Vân",
    "Xã Xuân Cẩm",
    "Xã Lục Ngạn",
    "Xã Đèo Gia",
    "Xã Sơn Hải",
    "Xã Biển Động",
    "Xã Sơn Động",
    "Xã Tây Yên Tử",
    "Xã Dương Hưu",
    "Xã Yên Định",
    "Xã An Lạc",
    "Xã Vân Sơn",
]
PROVIDERS = {"VNPT": "18001091", "Viettel": "18008098", "FPT": "19006600"}
DEVICE_KINDS = ("switch", "firewall", "video_endpoint", "access_point", "router", "server")


def _addresses(network: str) -> Iterator[str]:
    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise ValueError(f"--network {network!r} is not a network; write it as CIDR, e.g. 127.0.0.0/8") from None
    used = 0
    for i, ip in enumerate(net.hosts()):
        if i == 0:
            continue  # leave the first host to the agent / gateway
        used += 1
        yield str(ip)
    # a ValueError with the reason, not a bare StopIteration (which printed "cannot generate: " and nothing)
    raise ValueError(
        f"--network {network} has only {used} usable addresses, too few for this inventory; "
        "give a bigger network (e.g. 127.0.0.0/8) or fewer --communes/--lines/--targets"
    )


def generate(
    *,
    communes: int = 99,
    lines: int = 284,
    devices_per_commune: int = 4,
    targets: int | None = None,
    network: str = "127.0.0.0/8",
    seed: int = 1,
    snmp: bool = True,
) -> dict[str, Any]:
    """One inventory as plain data (a single YAML file's worth)."""
    if communes < 1 or lines < 0 or devices_per_commune < 0:
        raise ValueError("communes must be ≥ 1, lines and devices ≥ 0")
    if targets is not None:
        # each line gives 2 ping targets (CE, PE); each device 1 ping (+1 SNMP when snmp)
        per_device = 2 if snmp else 1
        devices_per_commune = max(0, math.ceil((targets - 2 * lines) / (per_device * communes)))
    rnd = random.Random(seed)
    addr = _addresses(network)
    names = COMMUNE_NAMES
    out_communes: list[dict[str, Any]] = []
    providers = list(PROVIDERS)
    emitted = 0
    for c in range(communes):
        base = names[c % len(names)]
        name = base if c < len(names) else f"{base} {c // len(names) + 1}"
        slug = fold(name.removeprefix("Phường ").removeprefix("Xã "))
        if c >= len(names):
            slug = f"{slug}-{c // len(names) + 1}"
        n_lines = lines // communes + (1 if c < lines % communes else 0)
        line_items = []
        for li in range(n_lines):
            provider = providers[(c + li) % 2] if li < 2 else providers[2]
            line_items.append(
                {
                    "id": f"{slug}-l{li + 1}",
                    "provider": provider,
                    "circuit_id": f"BN-{provider[:2].upper()}-{c * 10 + li:05d}",
                    "bandwidth_mbps": rnd.choice([20, 50, 100]),
                    "ce": next(addr),
                    "pe": next(addr),
                    "role": "primary" if li == 0 else "backup",
                }
            )
        device_items = []
        for di in range(devices_per_commune):
            if targets is not None and emitted >= targets - 2 * lines:
                break
            device: dict[str, Any] = {
                "id": f"{slug}-d{di + 1}",
                "kind": DEVICE_KINDS[di % len(DEVICE_KINDS)],
                "address": next(addr),
                "parent": line_items[0]["id"] if line_items else None,
                "interfaces": [1, 2],
                "snmp": snmp,
            }
            if device["parent"] is None:
                del device["parent"]
            device_items.append(device)
            emitted += 2 if snmp else 1
        out_communes.append(
            {
                "slug": slug,
                "name": name,
                "kind": "ward" if name.startswith("Phường") else "commune",
                "coordinates": {
                    "lat": round(21.0 + rnd.random() * 0.45, 5),
                    "lon": round(105.9 + rnd.random() * 0.8, 5),
                },
                "contact": {"phone": f"0204{rnd.randrange(10**6, 10**7)}"},
                "sites": [{"id": "ubnd", "kind": "commune_office", "lines": line_items, "devices": device_items}],
            }
        )
    return {
        "province": {"slug": "synthetic", "name": "Tỉnh thử nghiệm"},
        "defaults": {"snmp_profile": "v2c"},
        "providers": {k: {"hotline": v} for k, v in PROVIDERS.items()},
        "snmp_profiles": {"v2c": {"version": "2c", "community": "${NETPROBE_SNMP_COMMUNITY}"}},
        "agents": [{"name": "dc1", "description": "Trung tâm dữ liệu 1"}],
        "communes": out_communes,
    }


def write(data: dict[str, Any], path: Path) -> None:
    """Write to `path`; its directory must exist (a typo in -o must not create a tree of directories)."""
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(
            data,
            fh,
            Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
            allow_unicode=True,
            sort_keys=False,
            width=120,
        )
