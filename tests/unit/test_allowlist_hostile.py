"""Issue 14, allow-list: an IPv6 spelling of an IPv4 host is judged as that host (item 2), and a typo in an
entry never widens it silently (item 3). Plus the spellings that held, so they keep holding."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from netprobe.engine.allowlist import AllowList, embedded_ipv4, parse_networks
from netprobe.errors import ConfigError
from tests.unit.hostile import assert_one_line_error, netprobe

EVERY_V6 = AllowList.build(["127.0.0.0/8", "::/0"], env={})


# -- item 2: IPv4 hosts in IPv6 clothing --------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.1.2.3",
        "::ffff:192.0.2.1",
        "::FFFF:c000:0201",
        "::ffff:0:0",
        "2002:c000:0201::1",  # 6to4 of 192.0.2.1
        "64:ff9b::192.0.2.1",  # NAT64 of 192.0.2.1
    ],
)
def test_mapped_addresses_are_judged_as_ipv4(address: str) -> None:
    assert not EVERY_V6.allows(address)
    with pytest.raises(Exception, match="outside the allow-list"):
        EVERY_V6.check(address, "test")


def test_mapped_loopback_is_loopback() -> None:
    assert EVERY_V6.allows("::ffff:127.0.0.1")
    assert not AllowList.build(["::/0"], env={}).allows("::ffff:127.0.0.1")
    assert EVERY_V6.allows("2001:db8::1")  # a real IPv6 address still goes by the IPv6 entry


def test_embedded_ipv4() -> None:
    import ipaddress

    assert embedded_ipv4(ipaddress.IPv6Address("::ffff:10.1.2.3")) == ipaddress.IPv4Address("10.1.2.3")
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) is None


def test_inventory_target_at_a_mapped_address_is_refused() -> None:
    """Targets are judged when built (validate --check-allowed, run) with the same allows(): never probed.
    (No probe is started here: on a regressed allow-list it would send to 192.0.2.1.)"""
    from netprobe.engine.targets import refused_targets

    class T:
        where, key, address = "inv.yaml:3:5", "kb-1/ping", "::ffff:192.0.2.1"

    assert refused_targets([T()], EVERY_V6)  # type: ignore[list-item]


# -- item 3: typos that widened an entry --------------------------------------------------------------------
@pytest.mark.parametrize("entry", ["10.200.0.1/0", "127.0.0.1/8", "198.18.0.1/15", "::1/64", "2001:db8::1/0"])
def test_host_bits_are_refused_naming_the_entry(entry: str) -> None:
    with pytest.raises(ConfigError) as exc:
        AllowList.build(None, env={"NETPROBE_ALLOWED_NETS": f"127.0.0.0/8,{entry}"})
    message = str(exc.value)
    assert "NETPROBE_ALLOWED_NETS" in message and repr(entry) in message and "host bits" in message
    assert "\n" not in message


def test_config_entry_with_host_bits_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config allowed_networks: '10\.200\.0\.1/0' has host bits"):
        AllowList.build(["10.200.0.1/0"], env={})


@pytest.mark.parametrize("entry", ["0.0.0.0/0", "10.0.0.0/7", "::/0", "2000::/3"])
def test_very_short_prefix_is_warned(entry: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="netprobe.engine.allowlist"):
        parse_networks([entry], "NETPROBE_ALLOWED_NETS")
    assert any(entry in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_ordinary_entries_are_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="netprobe.engine.allowlist"):
        nets = parse_networks(["127.0.0.0/8", "198.18.0.0/15", "127.0.0.1", "::1/128", "10.0.0.0/8"], "x")
    assert len(nets) == 5 and not caplog.records


def test_host_bits_repro_on_the_cli_is_one_line_exit_2(tmp_path: Path) -> None:
    result = netprobe(
        "probe", "ping", "127.0.0.1", "--count", "1", env={"NETPROBE_ALLOWED_NETS": "10.200.0.1/0"}, timeout=20
    )
    assert_one_line_error(result, "10.200.0.1/0", "host bits")


# -- what held: spellings that must never escape the loopback-only list --------------------------------------
LOOPBACK_ONLY = AllowList.build(None, env={})


@pytest.mark.parametrize(
    "spelling",
    [
        "10.1.2.3",
        "0x0a.1.2.3",
        "012.1.2.3",
        "167838211",
        "10.1.515",
        "::ffff:10.1.2.3",
        "::10.1.2.3",
        "[::1]",
        "127.0.0.1 ",
        "127.0.0.1\x00",
        "fe80::1%lo",
        "0.0.0.0",
        "::",
        "1.2.3.4/32",
        "",
        "localhost",
    ],
)
def test_odd_spellings_never_pass_loopback_only(spelling: str) -> None:
    assert not LOOPBACK_ONLY.allows(spelling)
