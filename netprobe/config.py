"""The config file (`netprobe.yaml`): where things are, what may be probed, where data goes.

The inventory says *what* the network is; the config says how this installation runs. Looked up from
`--config`, then `$NETPROBE_CONFIG`, then /etc/netprobe/netprobe.yaml; without one, built-in defaults
(loopback-only allow-list, local store under ~/.local/state/netprobe or /var/lib/netprobe for root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from netprobe import limits
from netprobe.engine.allowlist import AllowList
from netprobe.errors import ConfigError
from netprobe.inventory import yamlsrc
from netprobe.inventory.model import Strict

DEFAULT_PATHS = (Path("/etc/netprobe/netprobe.yaml"),)


class InfluxConfig(Strict):
    url: str = "http://127.0.0.1:8086"
    api: Literal["auto", "v1", "v2"] = "auto"
    # v2 API (InfluxDB 2.x/3.x, 1.8+): org/bucket, token from the environment
    org: str = "netprobe"
    bucket: str = "netprobe"
    token_env: str = "NETPROBE_INFLUX_TOKEN"
    # v1 API (InfluxDB <= 1.7): database, user/password from the environment
    database: str = "netprobe"
    username_env: str = "NETPROBE_INFLUX_USER"
    password_env: str = "NETPROBE_INFLUX_PASSWORD"
    retention_policy: str | None = None  # v1 `rp`; None: the database's default
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    gzip: bool = True  # compress write bodies (~5x fewer bytes over a provincial WAN)


class StorageConfig(Strict):
    # "local": the embedded SQLite store; "influxdb": the outbox drains into InfluxDB
    sink: Literal["local", "influxdb"] = "local"
    influxdb: InfluxConfig = InfluxConfig()
    local_retention_days: Annotated[float, Field(gt=0)] = 35.0
    outbox_max_mb: Annotated[float, Field(gt=0)] = 512.0
    outbox_max_age_h: Annotated[float, Field(gt=0)] = 24.0 * 7
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000  # points per write request
    flush_interval_s: Annotated[float, Field(gt=0)] = 1.0  # how often the agent drains the outbox
    write_concurrency: Annotated[int, Field(ge=1, le=8)] = 2  # batches in flight at once while draining


class Config(Strict):
    inventory: str | None = None
    allowed_networks: list[str] | None = None  # None: loopback only
    agent: str | None = None  # this agent's vantage-point name (inventory agents:)
    lang: Literal["vi", "en"] | None = None
    state_dir: str | None = None  # outbox, local store, verdict state
    max_packets_per_s: Annotated[float, Field(gt=0)] = 10_000.0  # global ICMP pacing cap
    storage: StorageConfig = StorageConfig()

    def allow_list(self) -> AllowList:
        return AllowList.build(self.allowed_networks)

    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        if env := os.environ.get("NETPROBE_STATE_DIR"):
            return Path(env)
        if os.geteuid() == 0:
            return Path("/var/lib/netprobe")
        return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "netprobe"


def load_config(path: str | None) -> Config:
    candidates = [Path(path)] if path else []
    if not path and (env := os.environ.get("NETPROBE_CONFIG")):
        candidates = [Path(env)]
    if not candidates:
        candidates = [p for p in DEFAULT_PATHS if p.exists()]
    if not candidates:
        return Config()
    file = candidates[0]
    try:
        raw = yamlsrc.load(limits.read_file(file, limits.CONFIG_MAX_BYTES, "config").decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config: {exc.strerror}; pass --config PATH") from None
    except limits.TooLarge as exc:
        raise ConfigError(f"{exc}; pass --config PATH to a netprobe config file") from None
    except yamlsrc.DuplicateKey as exc:
        raise ConfigError(f"{file}:{exc.mark.line}:{exc.mark.col}: {exc}") from None
    except Exception as exc:  # yaml errors of every kind
        raise ConfigError(f"{file}: not valid YAML: {exc}".replace("\n", " ")) from None
    try:
        config = Config.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        mark = yamlsrc.mark_at(raw, loc)
        pos = f":{mark.line}:{mark.col}" if mark else ""
        where = ".".join(str(p) for p in loc)
        raise ConfigError(f"{file}{pos}: {where}: {err['msg']}") from None
    config.allow_list()  # validate the networks now, not at the first probe
    return config
