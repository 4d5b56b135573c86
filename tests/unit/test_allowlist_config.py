from __future__ import annotations

from pathlib import Path

import pytest

from netprobe.config import load_config
from netprobe.engine.allowlist import AllowList
from netprobe.errors import ConfigError
from netprobe.inventory.secrets import SecretRef


def test_default_is_loopback_plus_env() -> None:
    allow = AllowList.build(None, env={})
    assert allow.allows("127.0.0.1") and allow.allows("::1")
    assert not allow.allows("198.18.0.1") and not allow.allows("10.0.0.1")
    lab = AllowList.build(None, env={"NETPROBE_ALLOWED_NETS": "198.18.0.0/15, "})
    assert lab.allows("198.19.255.254") and not lab.allows("198.20.0.1")


def test_config_replaces_default_and_v4_v6_do_not_mix() -> None:
    allow = AllowList.build(["198.18.0.0/15"], env={})
    assert not allow.allows("127.0.0.1")
    assert not allow.allows("::1")
    assert not allow.allows("not-an-ip")


def test_bad_network_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NETPROBE_ALLOWED_NETS: 'bogus' is not a network"):
        AllowList.build(None, env={"NETPROBE_ALLOWED_NETS": "bogus"})


def test_config_file_errors_point_at_line(tmp_path: Path) -> None:
    cfg = tmp_path / "netprobe.yaml"
    cfg.write_text("allowed_networks: [127.0.0.0/8]\nstorage:\n  sink: influx\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"netprobe.yaml:3:9: storage.sink"):
        load_config(str(cfg))
    cfg.write_text("allowed_networks: [127.0.0.0/33]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a network"):
        load_config(str(cfg))
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "missing.yaml"))


def test_secret_refs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NP_TEST_SECRET", "s3cret")
    assert SecretRef.parse("${NP_TEST_SECRET}").resolve("x") == "s3cret"
    key = tmp_path / "key"
    key.write_text("k3y\n", encoding="utf-8")
    assert SecretRef.parse(f"file:{key}").resolve("x") == "k3y"
    with pytest.raises(ValueError, match="plaintext"):
        SecretRef.parse("public")
    with pytest.raises(ConfigError, match="NP_UNSET_SECRET is not set"):
        SecretRef.parse("${NP_UNSET_SECRET}").resolve("snmp_profiles.x.community")
