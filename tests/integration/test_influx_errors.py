"""What the user sees when something is wrong: one line, an exit code, no traceback — and nothing that was
already queued is lost. Real servers, real full disk (a tiny tmpfs), real read-only file system."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from netprobe.config import Config
from netprobe.storage.errors import OutboxFull
from netprobe.storage.facade import open_storage
from netprobe.storage.point import Point
from tests.integration.conftest import influx_config
from tests.integration.servers import InfluxD, VictoriaMetrics, free_port

pytestmark = pytest.mark.influx
Cli = Callable[..., tuple[int, str, str]]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")


def queue(cfg_dict: dict[str, object], n: int, t0: int | None = None) -> None:
    t0 = t0 if t0 is not None else time.time_ns() - 10**10
    with open_storage(Config.model_validate(cfg_dict)) as storage:
        storage.write(Point("ping", {"target": f"t{i % 5}"}, {"packets_received": i}, t0 + i) for i in range(n))


def write_config(tmp_path: Path, cfg: dict[str, object]) -> str:
    path = tmp_path / "netprobe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def depth(cfg: str, run_cli: Cli) -> int:
    _, out, _ = run_cli("-c", cfg, "outbox", "status", "--json")
    return int(json.loads(out)["depth"])


def test_wrong_url_then_right_url(influxd: InfluxD, tmp_path: Path, run_cli: Cli) -> None:
    influxd.create_database("errs")
    closed = f"http://127.0.0.1:{free_port()}"
    cfg_dict = influx_config(tmp_path / "state", closed, database="errs")
    queue(cfg_dict, 100)
    cfg = write_config(tmp_path, cfg_dict)
    code, out, err = run_cli("-c", cfg, "outbox", "flush", "--timeout", "1")
    assert code == 1
    assert f"cannot reach InfluxDB at {closed} (connection refused)" in one_line(err)
    assert "100 points still queued (nothing lost)" in err
    code, out, err = run_cli("-c", cfg, "outbox", "status")
    assert code == 1 and "100 points queued" in out and "last error" in out  # needs attention
    # Not an InfluxDB path: a 404 without "database not found".
    cfg = write_config(tmp_path, influx_config(tmp_path / "state", influxd.url + "/nope", database="errs", api="v1"))
    code, _, err = run_cli("-c", cfg, "outbox", "flush", "--timeout", "1")
    assert code == 2 and "404 from" in one_line(err) and "an InfluxDB" in err
    # Fixed: every queued point arrives.
    cfg = write_config(tmp_path, influx_config(tmp_path / "state", influxd.url, database="errs"))
    code, out, err = run_cli("-c", cfg, "outbox", "flush")
    assert (code, err) == (0, "") and out.startswith("flushed 100 points")
    assert influxd.count("errs", "ping", "packets_received") == 100


def test_missing_database(influxd: InfluxD, tmp_path: Path, run_cli: Cli) -> None:
    cfg_dict = influx_config(tmp_path / "state", influxd.url, database="khong-co")
    queue(cfg_dict, 10)
    cfg = write_config(tmp_path, cfg_dict)
    code, _, err = run_cli("-c", cfg, "outbox", "flush", "--timeout", "5")
    assert code == 2
    assert "database 'khong-co' does not exist on" in one_line(err) and "CREATE DATABASE" in err
    assert depth(cfg, run_cli) == 10
    influxd.create_database("khong-co")
    assert run_cli("-c", cfg, "outbox", "flush")[0] == 0
    assert influxd.count("khong-co", "ping", "packets_received") == 10


@pytest.fixture(scope="module")
def influxd_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxD]:
    with InfluxD.start(tmp_path_factory.mktemp("influxd-auth"), auth=True) as server:
        yield server


def test_wrong_password_v1(
    influxd_auth: InfluxD, tmp_path: Path, run_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    influxd_auth.create_database("auth")
    cfg_dict = influx_config(tmp_path / "state", influxd_auth.url, database="auth")
    queue(cfg_dict, 20)
    cfg = write_config(tmp_path, cfg_dict)
    monkeypatch.setenv("NETPROBE_INFLUX_USER", "admin")
    monkeypatch.setenv("NETPROBE_INFLUX_PASSWORD", "wrong")
    code, _, err = run_cli("-c", cfg, "outbox", "flush", "--timeout", "5")
    assert code == 2
    assert f"401 from {influxd_auth.url}/write: check NETPROBE_INFLUX_USER/NETPROBE_INFLUX_PASSWORD" in one_line(err)
    monkeypatch.setenv("NETPROBE_INFLUX_PASSWORD", influxd_auth.admin[1])
    assert run_cli("-c", cfg, "outbox", "flush")[0] == 0
    assert influxd_auth.count("auth", "ping", "packets_received") == 20
    with open_storage(Config.model_validate(cfg_dict)) as storage:  # InfluxQL reads with the same credentials
        assert len(list(storage.source().read("ping", 0, time.time_ns()))) == 20


def test_bad_token_v2(tmp_path: Path, run_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with VictoriaMetrics.start(tmp_path / "vm", ["-httpAuth.username=netprobe", "-httpAuth.password=s3cret"]) as vm:
        cfg_dict = influx_config(tmp_path / "state", vm.url, api="v2")
        queue(cfg_dict, 30, t0=int(time.time() * 1000 - 60_000) * 1_000_000)
        cfg = write_config(tmp_path, cfg_dict)
        monkeypatch.setenv("NETPROBE_INFLUX_TOKEN", "not-the-token")
        code, _, err = run_cli("-c", cfg, "outbox", "flush", "--timeout", "5")
        assert code == 2 and f"401 from {vm.url}/api/v2/write: check NETPROBE_INFLUX_TOKEN" in one_line(err)
        assert depth(cfg, run_cli) == 30


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "netprobe-test-tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@root_only
def test_outbox_disk_full_keeps_what_was_queued(
    influxd: InfluxD, tiny_tmpfs: Path, tmp_path: Path, run_cli: Cli
) -> None:
    influxd.create_database("full")
    cfg_dict = influx_config(tiny_tmpfs / "state", influxd.url, database="full")
    storage = open_storage(Config.model_validate(cfg_dict))
    t0 = time.time_ns() - 10**10
    queued = 0
    with pytest.raises(OutboxFull) as exc:
        for k in range(1000):
            batch = [
                Point("ping", {"target": f"t{i % 9}"}, {"packets_received": i}, t0 + i)
                for i in range(k * 500, (k + 1) * 500)
            ]
            storage.write(batch)
            queued += len(batch)
    message = str(exc.value)
    assert "\n" not in message and "disk full" in message and "already queued are kept" in message
    assert queued > 1000 and storage.self_metrics()["outbox_depth"] == queued  # the failed batch left no trace
    storage.close()
    cfg = write_config(tmp_path, cfg_dict)
    code, _, err = run_cli("-c", cfg, "outbox", "flush")
    assert (code, err) == (0, ""), err
    assert influxd.count("full", "ping", "packets_received") == queued


@root_only
def test_read_only_state_dir(tmp_path: Path, run_cli: Cli) -> None:
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "netprobe-test-ro", str(mnt)], check=True)
    try:
        cfg = write_config(tmp_path, influx_config(mnt / "state", "http://127.0.0.1:9"))
        code, _, err = run_cli("-c", cfg, "outbox", "status")
        assert code == 2 and "Read-only file system" in one_line(err) and "NETPROBE_STATE_DIR" in err
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
