"""SNMP against a real net-snmp snmpd on 127.0.0.1: v2c, v3 authPriv (ours and pysnmp's), a dead agent,
wrong credentials, and a hostile agent answering malformed BER."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from netprobe.engine.allowlist import AllowList
from netprobe.inventory.model import SnmpSettings, SnmpV2c, SnmpV3
from netprobe.probes.base import Measurement, ProbeKind, Status, Target
from netprobe.probes.snmp import ber
from netprobe.probes.snmp.probe import SnmpProbe
from netprobe.probes.snmp.snmpd import LocalSnmpd, free_udp_port
from netprobe.storage.schema import check_point

pytestmark = pytest.mark.lab
ALLOW = AllowList.build(None, {})
FAST = SnmpSettings(timeout_ms=500, retries=0)


@pytest.fixture(scope="module")
def agent() -> Iterator[LocalSnmpd]:
    with LocalSnmpd() as a:
        os.environ["NPP_TEST_COMMUNITY"] = a.community
        os.environ["NPP_TEST_AUTH"] = a.auth_key
        os.environ["NPP_TEST_PRIV"] = a.priv_key
        os.environ["NPP_TEST_BAD"] = "not-the-key"
        yield a


def v2c(port: int, community: str = "${NPP_TEST_COMMUNITY}") -> SnmpV2c:
    return SnmpV2c.model_validate({"version": "2c", "community": community, "port": port})


def v3(agent: LocalSnmpd, auth: str = "${NPP_TEST_AUTH}", user: str | None = None) -> SnmpV3:
    return SnmpV3.model_validate({
        "version": "3", "user": user or agent.v3_user, "auth_protocol": "SHA256", "auth_key": auth,
        "priv_protocol": "AES", "priv_key": "${NPP_TEST_PRIV}", "port": agent.port,
    })  # fmt: skip


def target(key: str, profile: SnmpV2c | SnmpV3, port: int | None = None, interfaces=("lo",)) -> Target:  # type: ignore[no-untyped-def]
    return Target(key, ProbeKind.SNMP, "127.0.0.1", {}, port=port, snmp=FAST, snmp_profile=profile,
                  interfaces=tuple(interfaces))  # fmt: skip


def run(probe: SnmpProbe, targets: list[Target], budget: float = 10) -> list[Measurement]:
    async def go() -> list[Measurement]:
        return await probe.run(targets, asyncio.get_running_loop().time() + budget)

    return asyncio.run(go())


def _assert_schema(m: Measurement) -> None:
    point = dict(m.fields) | {"status": m.status.value}  # the storage converter adds status
    assert not check_point("snmp_sys", {}, point), check_point("snmp_sys", {}, point)
    for row in m.rows:
        fields = {k: v for k, v in row.items() if k != "ifname"}
        assert not check_point("snmp_if", {"ifname": row["ifname"]}, fields)


@pytest.mark.parametrize("fast_v3", [True, False], ids=["own-usm", "pysnmp"])
def test_v2c_and_v3_poll_with_rates_on_the_second_poll(agent: LocalSnmpd, fast_v3: bool) -> None:
    probe = SnmpProbe(ALLOW, fast_v3=fast_v3)
    targets = [target("v2c", v2c(agent.port)), target("v3", v3(agent)), target("v3-idx", v3(agent), interfaces=(1,))]
    first = run(probe, targets)
    time.sleep(1.1)
    second = run(probe, targets)
    for m in first + second:
        assert m.status is Status.OK, m.error
        assert m.fields["sys_name"] == "np-lab-agent" and float(m.fields["uptime_s"]) > 0
        assert m.fields["rebooted"] is False and "status" not in m.fields
        (row,) = m.rows
        assert row["ifname"] in ("lo", 1, "1") and row["if_index"] == 1 and row["oper_status"] == 1
        _assert_schema(m)
    for m in second:
        assert m.rows[0]["counter_event"] == "" and m.rows[0]["in_bps"] >= 0 and "in_util_pct" in m.rows[0]


def test_dead_agent_costs_only_its_own_timeout(agent: LocalSnmpd) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers: a dead agent
    silent.bind(("127.0.0.1", 0))
    try:
        probe = SnmpProbe(ALLOW)
        run(probe, [target("warm", v2c(agent.port))])
        live = [target(f"live{i}", v2c(agent.port)) for i in range(200)]
        dead = target("dead", v2c(silent.getsockname()[1]), interfaces=(1,))
        started = time.perf_counter()
        ms = run(probe, [dead, *live])
        elapsed = time.perf_counter() - started
    finally:
        silent.close()
    assert ms[0].status is Status.TIMEOUT
    assert all(m.status is Status.OK for m in ms[1:])
    # nobody waited for the dead one (generous bounds: CI machines are shared and noisy)
    assert max(float(m.fields["response_ms"]) for m in ms[1:]) < 1000
    assert elapsed < 0.5 + 2.0  # the run takes about the dead agent's own timeout, not timeout × targets


def test_wrong_credentials(agent: LocalSnmpd) -> None:
    probe = SnmpProbe(ALLOW)
    ms = run(probe, [
        target("badcomm", v2c(agent.port, "${NPP_TEST_BAD}")),
        target("badkey", v3(agent, auth="${NPP_TEST_BAD}")),
        target("baduser", v3(agent, user="nobody")),
    ])  # fmt: skip
    assert ms[0].status is Status.TIMEOUT and "community" in (ms[0].error or "")  # v2c agents stay silent
    assert ms[1].status is Status.AUTH and "digest" in (ms[1].error or "")
    assert ms[2].status is Status.AUTH and "user" in (ms[2].error or "")


def _hostile_agent(sock: socket.socket, reply: bytes, stop: threading.Event) -> None:
    """Answers every request with the request-id copied and a malformed body."""
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(4096)
        except OSError:
            continue
        # request-id: SEQUENCE > version > community > PDU > first INTEGER
        _, s, e = ber.read_tlv(data, 0, len(data))
        _, _, ve = ber.read_tlv(data, s, e)
        _, _, ce = ber.read_tlv(data, ve, e)
        _, ps, pe = ber.read_tlv(data, ce, e)
        _, rs, re_ = ber.read_tlv(data, ps, pe)
        rid = ber.dec_int(data, rs, re_)
        pdu = ber.tlv(ber.RESPONSE, ber.enc_int(rid) + ber.enc_int(0) + ber.enc_int(0) + reply)
        sock.sendto(ber.tlv(0x30, ber.enc_int(1) + ber.tlv(4, b"np-public") + pdu), peer)


@pytest.mark.parametrize(
    "reply",
    [
        ber.tlv(0x30, ber.tlv(0x30, ber.enc_oid("1.3.6.1.2.1.1.3.0") + ber.tlv(ber.COUNTER64, b"\x01" * 12))),
        ber.tlv(0x30, ber.tlv(0x30, ber.enc_oid("1.3.6.1.2.1.1.3.0") + ber.tlv(ber.OCTET_STRING, b"x"))),
        ber.tlv(0x30, ber.tlv(0x30, ber.enc_oid("1.3.6.1.9.9") + ber.tlv(ber.TIMETICKS, b"\x01"))),
        b"\x30\x84\xff\xff\xff\xff",
    ],
    ids=["counter64-too-long", "wrong-type", "wrong-oid", "huge-length"],
)
def test_hostile_agent_is_bad_reply_not_a_crash(reply: bytes) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", free_udp_port()))
    stop = threading.Event()
    thread = threading.Thread(target=_hostile_agent, args=(sock, reply, stop), daemon=True)
    thread.start()
    os.environ["NPP_HOSTILE_COMMUNITY"] = "np-public"
    try:
        (m,) = run(SnmpProbe(ALLOW), [target("hostile", v2c(sock.getsockname()[1], "${NPP_HOSTILE_COMMUNITY}"),
                                             interfaces=(1,))])  # fmt: skip
    finally:
        stop.set()
        thread.join(2)
        sock.close()
    assert m.status is Status.BAD_REPLY, (m.status, m.error)


def test_ipv6_agent(agent: LocalSnmpd) -> None:
    targets = [
        Target(key, ProbeKind.SNMP, "::1", {}, snmp=FAST, snmp_profile=profile, interfaces=(1,))
        for key, profile in (("v6-v2c", v2c(agent.port)), ("v6-v3", v3(agent)))
    ]
    for m in run(SnmpProbe(ALLOW), targets):
        assert m.status is Status.OK, m.error
        assert m.rows[0]["if_index"] == 1


def test_missing_interfaces_are_named_not_empty_rows(agent: LocalSnmpd) -> None:
    (m,) = run(SnmpProbe(ALLOW), [target("missing", v2c(agent.port), interfaces=(1, 999, "no-such-if0"))])
    assert m.status is Status.OK
    assert [r["if_index"] for r in m.rows] == [1]
    assert "999" in (m.error or "") and "no-such-if0" in (m.error or "")
