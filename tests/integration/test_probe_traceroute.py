"""Traceroute through a lab router: loss on the provider's hop vs loss only at the commune end."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from netprobe.probes.testbed import CORE_ADDRESS, Testbed
from netprobe.probes.traceroute.probe import loss_starts_at

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and raw sockets need root")]
DEST = "198.19.128.1"


def _trace(core_loss: float, far_loss: float) -> list[dict[str, Any]]:
    with Testbed("tr").up_routed(core_loss_pct=core_loss, far_loss_pct=far_loss) as tb:
        run = tb.run(tb.prober, [sys.executable, "-m", "netprobe", "probe", "trace", "--json", "--max-hops", "4",
                                 "--probes", "30", "--timeout-s", "1", DEST])  # fmt: skip
    assert run.returncode == 0, run.stderr
    (result,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert result["status"] == "ok" and result["fields"]["reached"] is True
    rows: list[dict[str, Any]] = result["rows"]
    assert [r["address"] for r in rows] == [CORE_ADDRESS, DEST]
    return rows


def test_loss_only_at_the_commune_end() -> None:
    rows = _trace(core_loss=0, far_loss=40)
    assert rows[0]["percent_packet_loss"] == 0.0 and rows[1]["percent_packet_loss"] > 0
    assert loss_starts_at(rows) == 2


def test_loss_from_the_provider_hop_on() -> None:
    rows = _trace(core_loss=40, far_loss=0)
    assert rows[0]["percent_packet_loss"] > 0 and rows[1]["percent_packet_loss"] > 0
    assert loss_starts_at(rows) == 1
