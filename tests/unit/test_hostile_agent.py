"""Issue 14, end to end: random valid-looking inventories (loopback only) either fail validation with a
located one-line error, or run one `run --once` cycle without error; and one target's hostile input (a FIFO
key, /dev/zero, a non-UTF-8 key, a short v3 passphrase, a poisoning SNMP agent) never stops the others."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.hostile import netprobe

LOOPBACK = st.builds(lambda b, c, d: f"127.{b}.{c}.{d}", st.integers(0, 3), st.integers(0, 255), st.integers(1, 254))
NUMBER = st.one_of(
    st.integers(1, 600),  # mostly ordinary values, so that many examples validate and really run
    st.integers(1, 600),
    st.integers(-5, 100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.5, 1e11, 1e300, -1]),
)
INTERFACE = st.one_of(st.integers(-(2**40), 2**40), st.text(min_size=0, max_size=8), st.sampled_from([1, 2, "lo"]))


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, Any]:
    def maybe(key: str, value: st.SearchStrategy[Any]) -> dict[str, Any]:
        return {key: draw(value)} if draw(st.booleans()) else {}

    # timeouts are kept short (< 0.3 s, no retries) so a cycle of a valid inventory ends within the deadline
    probes = {
        "ping": {**maybe("interval_s", NUMBER), **maybe("count", st.integers(-1, 3)), "timeout_ms": 200},
        "tcp": {**maybe("interval_s", NUMBER), "timeout_ms": draw(st.sampled_from([100, 250]))},
        "snmp": {**maybe("interval_s", NUMBER), "timeout_ms": 150, "retries": 0},
    }
    thresholds = {
        **maybe("window_s", NUMBER),
        **maybe("long_window_s", NUMBER),
        **maybe("min_state_s", NUMBER),
        **maybe("clear_s", NUMBER),
        **maybe("down_probes", st.integers(-1, 200)),
        **maybe("rtt_ms", st.fixed_dictionaries({"degraded": NUMBER})),
    }
    devices = [
        {
            "id": f"d{i}",
            "kind": draw(st.sampled_from(["switch", "router", "server"])),
            "address": draw(LOOPBACK),
            **maybe("interfaces", st.lists(INTERFACE, max_size=3)),
            **maybe("tcp_ports", st.lists(st.integers(-1, 70_000), max_size=2)),
            "snmp": draw(st.booleans()),
            **({"snmp_profile": "lab"}),
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    lines = [
        {"id": f"l{i}", "provider": "VNPT", "ce": draw(LOOPBACK), **maybe("pe", LOOPBACK)}
        for i in range(draw(st.integers(1, 2)))
    ]
    return {
        "province": {"slug": "test", "name": "Tỉnh thử"},
        "snmp_profiles": {"lab": {"version": "2c", "community": "${NETPROBE_SNMP_COMMUNITY}", "port": 1}},
        "defaults": {"probes": probes, "thresholds": thresholds},
        "communes": [
            {
                "slug": "kinh-bac",
                "name": "Phường Kinh Bắc",
                "sites": [{"id": "ubnd", "lines": lines, "devices": devices}],
            }
        ],
    }


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=inventories())
def test_random_inventory_fails_validation_or_runs_one_cycle(tmp_path_factory: Any, data: dict[str, Any]) -> None:
    work = tmp_path_factory.mktemp("hs-fuzz")
    path = work / "inv.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = netprobe(
        "--inventory", str(path), "run", "--once",
        env={"NETPROBE_STATE_DIR": str(work / "state"), "NETPROBE_SNMP_COMMUNITY": "public"},
        timeout=25,
    )  # fmt: skip
    text = result.err + result.out
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    event("refused by validation" if result.code == 2 else "ran one cycle")
    if result.code == 2:  # refused: every problem located in the file
        problems = [x for x in result.err.splitlines() if x.startswith(("error: ", str(path)))]
        assert problems and all(f"{path}:" in x for x in problems), result.err[-3000:]
    else:
        assert result.code == 0, (result.code, text[-3000:])


# -- one hostile target never stops the others ------------------------------------------------------------
def test_agent_keeps_probing_every_other_target(tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    bad_utf8 = tmp_path / "bad.key"
    bad_utf8.write_bytes(b"pub\xfflic")
    bad_utf8.chmod(0o600)
    listener = socket.create_server(("127.0.0.1", 0))  # a TCP service that answers
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                listener.accept()[0].close()
            except OSError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    v3 = {"version": "3", "user": "u", "auth_protocol": "SHA256", "priv_protocol": "AES"}
    profiles = {
        "fifo": {"version": "2c", "community": f"file:{fifo}"},
        "zero": {"version": "2c", "community": "file:/dev/zero"},
        "badutf": {"version": "2c", "community": f"file:{bad_utf8}"},
        "short": {**v3, "auth_key": "${HS_SHORT}", "priv_key": "${HS_SHORT}"},
    }
    hostile = [
        {"id": f"h-{name}", "kind": "switch", "address": f"127.0.3.{i + 1}", "snmp_profile": name}
        for i, name in enumerate(profiles)
    ]
    healthy = {"id": "ok-srv", "kind": "server", "address": "127.0.0.1", "snmp": False, "tcp_ports": [port]}
    data = {
        "province": {"slug": "test", "name": "T"},
        "snmp_profiles": profiles,
        "defaults": {"probes": {"ping": {"count": 2, "spacing_ms": 10}, "snmp": {"timeout_ms": 200, "retries": 0}}},
        "communes": [
            {
                "slug": "kinh-bac",
                "name": "Phường Kinh Bắc",
                "sites": [
                    {
                        "id": "ubnd",
                        "lines": [{"id": "kb-1", "provider": "VNPT", "ce": "127.0.2.1"}],
                        "devices": [*hostile, healthy],
                    }
                ],
            }
        ],
    }
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        result = netprobe(
            "--inventory", str(inv), "run", "--once",
            env={"NETPROBE_STATE_DIR": str(tmp_path / "state"), "HS_SHORT": "1234567"},
            timeout=30,
        )  # fmt: skip
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err[-3000:]
    assert result.seconds < 15, result.seconds
    db = sqlite3.connect(tmp_path / "state" / "store.db")
    try:
        rows = db.execute("SELECT measurement, series, fields FROM points").fetchall()
    finally:
        db.close()
    by_target: dict[tuple[str, str], dict[str, Any]] = {}
    for measurement, series, fields in rows:
        tags = json.loads(series)
        by_target[(measurement, tags.get("device") or tags.get("line") or "")] = {**tags, **json.loads(fields)}
    # every healthy target was probed and answered
    assert by_target[("ping", "kb-1")]["packets_received"] == 2, by_target
    assert by_target[("ping", "ok-srv")]["packets_received"] == 2, by_target
    assert by_target[("tcp", "ok-srv")]["status"] == "ok", by_target
    # every hostile one was pinged too, and its SNMP poll ended as that device's own error
    for device in hostile:
        assert by_target[("ping", device["id"])]["packets_received"] == 2, device
        assert by_target[("snmp_sys", device["id"])]["status"] == "error", (device, sorted(by_target))
