"""SNMP credentials by reference only: `${ENV_VAR}` or `file:/path`. Never a plaintext secret in YAML."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from netprobe.errors import ConfigError

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_FILE_REF = re.compile(r"^file:(.+)$")


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives. `resolve()` reads it only when a probe needs it."""

    env: str | None = None
    file: str | None = None

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        if m := _ENV_REF.match(text):
            return cls(env=m.group(1))
        if m := _FILE_REF.match(text):
            return cls(file=m.group(1))
        raise ValueError(
            "plaintext secrets are refused; put it in an environment variable and write '${NETPROBE_SNMP_KEY}', "
            "or in a file readable only by netprobe (chmod 600) and write 'file:/etc/netprobe/snmp.key'"
        )

    def __str__(self) -> str:
        return f"${{{self.env}}}" if self.env else f"file:{self.file}"

    def resolve(self, where: str) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"{where}: environment variable {self.env} is not set; export it before running")
            return value
        assert self.file is not None
        try:
            return Path(self.file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read secret file {self.file}: {exc.strerror}") from None
