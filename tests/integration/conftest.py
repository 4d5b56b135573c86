"""Fixtures: real database servers on loopback (see servers.py), shared by every concern's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.servers import INFLUXD, VICTORIA, InfluxD, VictoriaMetrics, have


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxD]:
    """A fresh influxd 1.x (Debian's 1.6.7) on a free loopback port, for this test module."""
    if not have(INFLUXD):
        pytest.skip(f"{INFLUXD} not installed (scripts/setup.sh installs Debian's influxdb)")
    with InfluxD.start(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A fresh victoria-metrics (accepts InfluxDB's /api/v2/write) on a free loopback port."""
    if not have(VICTORIA):
        pytest.skip(f"{VICTORIA} not installed (scripts/setup.sh installs Debian's victoria-metrics)")
    with VictoriaMetrics.start(tmp_path_factory.mktemp("victoria")) as server:
        yield server


def influx_config(state: Path, url: str, *, batch_size: int = 5000, **influx: object) -> dict[str, object]:
    """A config dict (for Config.model_validate or a YAML file) draining to `url`."""
    return {
        "state_dir": str(state),
        "storage": {"sink": "influxdb", "batch_size": batch_size, "influxdb": {"url": url, **influx}},
    }
