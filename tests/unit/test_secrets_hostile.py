"""Issue 14 item 8: `file:` secrets are regular files of bounded size and UTF-8 text; loose permissions and
symlinks are warned about; anything else is a config error for that device, never a hang or a bad_reply."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netprobe.errors import ConfigError
from netprobe.inventory import secrets
from netprobe.inventory.secrets import MAX_SECRET_BYTES, SecretRef


def key_file(tmp_path: Path, data: bytes = b"auth-pass-1\n", mode: int = 0o600) -> Path:
    path = tmp_path / "snmp.key"
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    secrets._warned.clear()


def test_plain_key_file_reads_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert SecretRef(file=str(key_file(tmp_path))).resolve("inv.yaml:3:5") == "auth-pass-1"
    assert not caplog.records


def test_fifo_does_not_block(tmp_path: Path) -> None:
    """In a child with a deadline: the old read_text() blocked forever on a FIFO (and the event loop with it)."""
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    code = (
        "from netprobe.inventory.secrets import SecretRef\n"
        "from netprobe.errors import ConfigError\n"
        f"try:\n    SecretRef(file={str(fifo)!r}).resolve('x')\nexcept ConfigError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=5)
    assert "not a regular file" in done.stdout, done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused(device: str) -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        SecretRef(file=device).resolve("inv.yaml:3:5")


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a regular file|Is a directory"):
        SecretRef(file=str(tmp_path)).resolve("x")


def test_size_is_capped(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at most"):
        SecretRef(file=str(key_file(tmp_path, b"k" * (MAX_SECRET_BYTES + 1)))).resolve("x")


def test_non_utf8_is_a_config_error_without_the_key(tmp_path: Path) -> None:
    path = key_file(tmp_path, b"secret-\xff\xfe-part")
    with pytest.raises(ConfigError) as exc:
        SecretRef(file=str(path)).resolve("inv.yaml:3:5")
    message = str(exc.value)
    assert "not UTF-8" in message and "inv.yaml:3:5" in message
    assert "secret" not in message.replace("secret file", "") and "\\xff" not in message


def test_loose_permissions_are_warned_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ref = SecretRef(file=str(key_file(tmp_path, mode=0o644)))
    with caplog.at_level(logging.WARNING):
        ref.resolve("x")
        ref.resolve("x")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "readable by others" in warned[0] and "644" in warned[0]


def test_symlinked_key_is_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = tmp_path / "link.key"
    link.symlink_to(key_file(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert SecretRef(file=str(link)).resolve("x") == "auth-pass-1"
    assert any("symlink" in r.getMessage() for r in caplog.records)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read secret file"):
        SecretRef(file=str(tmp_path / "nope")).resolve("x")


# -- item 12: SNMPv3 passphrases under 8 characters (RFC 3414) ------------------------------------------------
def test_min_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_SHORT_KEY", "1234567")
    with pytest.raises(ConfigError, match="7 characters; at least 8"):
        SecretRef(env="HS_SHORT_KEY").resolve("x", min_length=8, what="SNMPv3 auth passphrase")
    monkeypatch.setenv("HS_SHORT_KEY", "12345678")
    assert SecretRef(env="HS_SHORT_KEY").resolve("x", min_length=8) == "12345678"
