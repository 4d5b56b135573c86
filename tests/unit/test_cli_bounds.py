"""Issue 14 items 11 and 12 (CLI): durations, timestamps and paths typed on the command line are bounded and
every refusal is one line with a reason, exit 2 (check: Nagios UNKNOWN, 3), in under 5 s and 300 MB."""

from __future__ import annotations

from pathlib import Path

import pytest

from netprobe.cli.bounds import MAX_HISTORY_S, parse_duration
from netprobe.errors import NetprobeError
from netprobe.storage.sinks import Endpoint, SinkError, redact_url
from tests.conftest import EXAMPLE
from tests.unit.hostile import assert_one_line_error, netprobe


# -- item 11 ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("at", ["nan", "inf", "-inf", "1e300", "-1", "0", "1767225600000", "soon"])
def test_status_at_out_of_range_is_one_line(tmp_path: Path, at: str) -> None:
    result = netprobe("--inventory", str(EXAMPLE), "status", "--at", at, env={"NETPROBE_STATE_DIR": str(tmp_path)})
    assert_one_line_error(result, "--at", "between 2000 and 2100")


@pytest.mark.parametrize("since", ["99999999999999999999d", "1000000d", "91d", "nan", "inf", "0", "-5m", "1e9"])
def test_status_since_out_of_range_is_one_line(tmp_path: Path, since: str) -> None:
    result = netprobe(
        "--inventory", str(EXAMPLE), "status", "--since", since, env={"NETPROBE_STATE_DIR": str(tmp_path)}
    )
    assert_one_line_error(result, "--since", "up to 90d")


def test_check_since_huge_is_unknown_fast_and_small(tmp_path: Path) -> None:
    """Was 3.3 GB (`check --since 1000000d`). Exit 3: check speaks Nagios, where 2 would mean CRITICAL."""
    result = netprobe(
        "--inventory", str(EXAMPLE), "check", "kinh-bac", "--since", "1000000d", "--no-trace",
        env={"NETPROBE_STATE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert_one_line_error(result, "--since", code=3)


def test_parse_duration_accepts_the_ordinary() -> None:
    assert parse_duration("90s") == 90 and parse_duration("1.5h") == 5400 and parse_duration("2w") == 14 * 86400
    assert parse_duration("90d") == MAX_HISTORY_S
    with pytest.raises(NetprobeError):
        parse_duration("1" * 400)


def test_status_at_valid_still_works(tmp_path: Path) -> None:
    points = tmp_path / "points.jsonl"
    points.write_text("")
    result = netprobe(
        "--inventory", str(EXAMPLE), "status", "--at", "1767225600", "--json", "--from", str(points),
        env={"NETPROBE_STATE_DIR": str(tmp_path)},
    )  # fmt: skip
    assert "Traceback" not in result.err and result.out.startswith("{"), result.err


# -- item 12 (CLI messages) -----------------------------------------------------------------------------------
def test_generate_does_not_create_directories(tmp_path: Path) -> None:
    out = tmp_path / "typo" / "dir" / "x.yaml"
    result = netprobe("inventory", "generate", "--communes", "1", "-o", str(out))
    assert_one_line_error(result, "does not exist")
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("network", ["10.0.0.1/32", "192.0.2.0/30"])
def test_generate_too_small_network_says_why(tmp_path: Path, network: str) -> None:
    result = netprobe("inventory", "generate", "--network", network, "-o", str(tmp_path / "x.yaml"))
    assert_one_line_error(result, "usable addresses", network)


def test_generate_bad_network_says_why(tmp_path: Path) -> None:
    result = netprobe("inventory", "generate", "--network", "not-a-net", "-o", str(tmp_path / "x.yaml"))
    assert_one_line_error(result, "not a network")


@pytest.mark.parametrize(
    "url",
    ["http://admin:s3cr3t@127.0.0.1:8086", "https://admin:s3cr3t@db.example:8086/influx", "ftp://admin:s3cr3t@x"],
)
def test_influx_url_credentials_never_in_messages(url: str) -> None:
    assert "s3cr3t" not in redact_url(url) and "admin" not in redact_url(url)
    try:
        endpoint = Endpoint.parse(url)
    except SinkError as exc:
        assert "s3cr3t" not in str(exc)
    else:
        assert "s3cr3t" not in endpoint.url and endpoint.host in endpoint.url


def test_influx_url_credentials_not_in_cli_error(tmp_path: Path) -> None:
    cfg = tmp_path / "netprobe.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path}\nstorage: {{sink: influxdb, influxdb: {{url: 'http://admin:s3cr3t@127.0.0.1:9'}}}}\n"
    )
    result = netprobe("--config", str(cfg), "outbox", "flush", timeout=30)
    assert "s3cr3t" not in result.err + result.out and "Traceback" not in result.err
    assert result.code != 0


# click.FloatRange lets nan through every bounded range and inf through a range with no maximum
@pytest.mark.parametrize(
    "args",
    [
        ("probe", "ping", "--timeout-ms", "nan", "127.0.0.1"),
        ("probe", "ping", "--spacing-ms", "inf", "127.0.0.1"),
        ("probe", "ping", "--rate", "-inf", "127.0.0.1"),
        ("lab", "impair", "x-l1", "--for", "nan", "--loss", "5"),
        ("lab", "impair", "x-l1", "--for", "5", "--in", "inf", "--loss", "5"),
        ("lab", "impair", "x-l1", "--for", "5", "--flap", "inf"),
        ("run", "--stop-timeout", "inf"),
    ],
)
def test_nan_and_inf_options_are_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = netprobe("--inventory", str(EXAMPLE), *args, env={"NETPROBE_STATE_DIR": str(tmp_path)})
    assert_one_line_error(result, "Invalid value for", code=2)
