"""The province scenario at scale: 99 communes, 284 lines, up and down in < 60 s each, nothing left."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from netprobe.inventory.loader import load_inventory
from netprobe.lab import build

pytestmark = [
    pytest.mark.lab,
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces, snmpd on port 161)"),
]


def test_province_up_and_down_in_under_a_minute_each() -> None:
    lab_id = f"p{os.getpid() % 100000}"
    t0 = time.monotonic()
    try:
        st = build.up(lab_id, "province", lifetime_s=300)
        up_s = time.monotonic() - t0
        assert st["communes"] == 99 and st["lines"] == 284
        assert st["namespaces_present"] == len(st["namespaces"]) and st["snmp_agents_running"] == st["snmp_agents"]
        inv = load_inventory(st["inventory"])
        ces = [r.line.ce for r in inv.lines.values()][::14]
        dc = f"--net=/run/netns/{st['dc_namespaces'][1]}"
        ping = subprocess.run(
            ["nsenter", dc, "fping", "-c", "2", "-p", "20", "-t", "300", *ces],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        answered = ping.stderr.count("/0%")
        assert answered >= len(ces) - 3, ping.stderr  # a few sampled lines may carry the scenario's faults
    finally:
        t1 = time.monotonic()
        build.down(lab_id)
        down_s = time.monotonic() - t1
    print(f"province up_s={up_s:.1f} down_s={down_s:.1f}")
    assert up_s < 60 and down_s < 60
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"{lab_id}-")]
    assert build.pids_in(st["namespaces"]) == []
