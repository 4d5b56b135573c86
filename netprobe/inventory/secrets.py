"""SNMP credentials by reference only: `${ENV_VAR}` or `file:/path`. Never a plaintext secret in YAML."""

from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass

from netprobe.errors import ConfigError

log = logging.getLogger(__name__)

MAX_SECRET_BYTES = 4096  # a key or community is tens of bytes; /dev/zero must not be read to MemoryError

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

    def resolve(self, where: str, *, min_length: int = 0, what: str = "secret") -> str:
        """The secret's text; ConfigError when missing, unreadable or shorter than `min_length`."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"{where}: environment variable {self.env} is not set; export it before running")
        else:
            assert self.file is not None
            value = read_secret_file(self.file, where)
        if len(value) < min_length:
            raise ConfigError(
                f"{where}: {what} in {self} has {len(value)} characters; at least {min_length} are required"
            )
        return value


_warned: set[str] = set()


def read_secret_file(path: str, where: str) -> str:
    """A regular file of at most MAX_SECRET_BYTES of UTF-8. O_NONBLOCK: a FIFO must not block the event
    loop (it used to hang every probe); the type is checked on the opened descriptor, so no race."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{where}: secret file {path} is not a regular file; put the key in a plain file")
        if st.st_size > MAX_SECRET_BYTES:
            raise ConfigError(
                f"{where}: secret file {path} is {st.st_size} bytes (at most {MAX_SECRET_BYTES}); it holds one key"
            )
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise ConfigError(f"{where}: secret file {path} is larger than {MAX_SECRET_BYTES} bytes; it holds one key")
    if path not in _warned:  # once per file: resolve() runs every poll
        loose = st.st_mode & 0o077
        link = os.path.islink(path)
        if loose or link:
            _warned.add(path)
            log.warning(
                "%s: secret file %s %s; chmod 600 it, owned by the netprobe user",
                where,
                path,
                " and ".join(
                    x
                    for x in (
                        f"is readable by others (mode {stat.S_IMODE(st.st_mode):03o})" if loose else "",
                        f"is a symlink (to {os.path.realpath(path)})" if link else "",
                    )
                    if x
                ),
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # the config's fault, not the device's: never a bad_reply carrying a byte of the key
        raise ConfigError(
            f"{where}: secret file {path} is not UTF-8 text (bad byte at offset {exc.start}); write the key as text"
        ) from None
    return text.strip()
