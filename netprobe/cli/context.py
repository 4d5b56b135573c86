"""What every command gets: the config, the inventory (loaded once, on demand) and the allow-list."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from netprobe.config import Config, load_config
from netprobe.engine.allowlist import AllowList
from netprobe.errors import ConfigError
from netprobe.inventory.loader import Inventory, load_inventory


@dataclass
class App:
    config_path: str | None
    inventory_arg: str | None
    verbose: int
    _config: Config | None = None
    _inventory: dict[str, Inventory] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def inventory_path(self, override: str | None = None) -> Path:
        chosen = override or self.inventory_arg or os.environ.get("NETPROBE_INVENTORY") or self.config.inventory
        if chosen is None and Path("/etc/netprobe/inventory").exists():
            chosen = "/etc/netprobe/inventory"
        if chosen is None:
            raise ConfigError(
                "no inventory given: pass --inventory PATH, set NETPROBE_INVENTORY, or set inventory: in the config"
            )
        return Path(chosen)

    def inventory(self, override: str | None = None) -> Inventory:
        path = str(self.inventory_path(override))
        if path not in self._inventory:
            self._inventory[path] = load_inventory(path)
        return self._inventory[path]

    def allow_list(self) -> AllowList:
        return self.config.allow_list()


pass_app = click.make_pass_decorator(App)
