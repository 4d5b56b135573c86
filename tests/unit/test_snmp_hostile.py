"""Issue 14, SNMP: hostile encodings and replies end as one error for one device, never a hang, a poisoned
cache or a poll settled by a forged packet (items 1's enc_oid, 4 and 12's OID cache)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest

from netprobe.probes.snmp import ber, usm


# -- item 1: a negative sub-identifier looped forever in _base128 -------------------------------------------
@pytest.mark.parametrize(
    "oid",
    ["1.3.6.4294967296", "1", "1.40", "3.1", "1.3.x", "1." + "1." * 200 + "1"],  # negative arcs: in a child below
)
def test_enc_oid_refuses_what_is_not_an_oid(oid: str) -> None:
    with pytest.raises(ValueError, match="not an OID"):
        ber.enc_oid(oid)


NEGATIVE_ARC_CHILD = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # the old loop grew ~250 MB/s: die, not swap
from netprobe.probes.snmp import ber
for call in (lambda: ber._base128(-1), lambda: ber.enc_oid("1.3.6.1.2.1.2.2.1.10.-1"), lambda: ber.enc_oid("1.3.-6")):
    try:
        call()
    except ValueError as e:
        print(e)
"""


def test_negative_arc_fails_fast_in_a_child() -> None:
    """In a child with a deadline and a memory cap: on the old code this loops forever and grows memory."""
    done = subprocess.run([sys.executable, "-c", NEGATIVE_ARC_CHILD], capture_output=True, text=True, timeout=5)
    out = done.stdout.splitlines()
    assert len(out) == 3 and "negative" in out[0] and all("not an OID" in x for x in out[1:]), done.stderr


def test_enc_oid_round_trips_the_extremes() -> None:
    for oid in ("1.3.6.1.2.1.2.2.1.10.2147483647", "2.999.4294967295", "0.0"):
        start, stop = ber.expect(ber.enc_oid(oid), 0, len(ber.enc_oid(oid)), ber.OID)
        assert ber.dec_oid(ber.enc_oid(oid), start, stop) == oid


# -- item 4: a hostile SNMPv3 agent (or a spoofer) on loopback ----------------------------------------------
CREDS = usm.Credentials(b"npuser", "SHA256", b"auth-pass-1", "AES", b"priv-pass-1")
ENGINE_ID = b"\x80\x00\x1f\x88\x04np-hostile"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def _report(msg_id: int, engine_id: bytes, boots: int, engine_time: int) -> bytes:
    """An unauthenticated discovery report (usmStatsUnknownEngineIDs), as an agent sends it."""
    usm_params = ber.tlv(
        ber.SEQUENCE,
        ber.tlv(4, engine_id) + ber.enc_int(boots) + ber.enc_int(engine_time) + ber.tlv(4, b"") * 3,
    )
    varbind = ber.tlv(ber.SEQUENCE, ber.enc_oid(usm.USM_STATS + "4.0") + ber.enc_int(1, ber.COUNTER32))
    pdu = ber.tlv(ber.REPORT, ber.enc_int(msg_id) + ber.enc_int(0) + ber.enc_int(0) + ber.tlv(ber.SEQUENCE, varbind))
    scoped = ber.tlv(ber.SEQUENCE, ber.tlv(4, engine_id) + ber.tlv(4, b"") + pdu)
    return usm.V3Client._envelope(msg_id, 0, usm_params, scoped)


class FakeAgent(asyncio.DatagramProtocol):
    """A USM agent on 127.0.0.1 whose discovery answer and reply behaviour each test scripts."""

    def __init__(self) -> None:
        self.boots = 3
        self.forge_first = False  # send a reply with a wrong HMAC before the real one
        self.discoveries = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.engine = usm._Engine(ENGINE_ID, 3, 1000, time.monotonic())
        self.signer = usm.V3Client()  # only its pure message builders are used

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        msg = usm._dec_message(data)
        if not msg.flags & usm.FLAG_AUTH:
            self.discoveries += 1
            self.transport.sendto(_report(msg.msg_id, ENGINE_ID, self.boots, 1000), addr)
            return
        reply = self.signer._request(CREDS, self.engine, msg.msg_id, ber.RESPONSE, [SYS_UPTIME])
        if self.forge_first:
            forged = bytearray(reply)
            forged[-1] ^= 0x01  # same msgID, flags and user: only the HMAC can tell it apart
            self.transport.sendto(bytes(forged), addr)
            asyncio.get_running_loop().call_later(0.05, self.transport.sendto, reply, addr)
        else:
            self.transport.sendto(reply, addr)


async def _with_agent(scenario: Any) -> Any:
    loop = asyncio.get_running_loop()
    transport, agent = await loop.create_datagram_endpoint(FakeAgent, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    client = usm.V3Client()
    try:
        return await asyncio.wait_for(scenario(client, agent, port), 10)
    finally:
        client.close()
        transport.close()


async def _get(client: usm.V3Client, port: int) -> ber.Pdu:
    return await client.request("127.0.0.1", port, CREDS, [SYS_UPTIME], 0.3, 0, ber.GET_REQUEST)


@pytest.mark.parametrize("boots", [-1, 2**31, 2**32, -(2**31)])
def test_out_of_range_engine_boots_is_never_cached(boots: int) -> None:
    async def scenario(client: usm.V3Client, agent: FakeAgent, port: int) -> None:
        agent.boots = boots
        with pytest.raises(usm.SnmpTimeout):  # the hostile report is a decode error: nothing to settle
            await _get(client, port)
        assert ("127.0.0.1", port) not in client._engines
        agent.boots = 3  # the device recovers (or the spoofer stops): the very next poll works
        pdu = await _get(client, port)
        assert pdu.tag == ber.RESPONSE and pdu.varbinds[0].oid == SYS_UPTIME

    asyncio.run(_with_agent(scenario))


def test_out_of_range_boots_is_a_decode_error() -> None:
    with pytest.raises(ber.BerError, match="out of range"):
        usm._dec_message(_report(7, ENGINE_ID, -1, 5))
    with pytest.raises(ber.BerError, match="out of range"):
        usm._dec_message(_report(7, ENGINE_ID, 1, 2**32))


def test_a_failing_cached_engine_is_forgotten() -> None:
    """An engine already cached with values a request cannot be built from (as the old decoder let in)."""

    async def scenario(client: usm.V3Client, agent: FakeAgent, port: int) -> None:
        peer = ("127.0.0.1", port)
        client._engines[peer] = usm._Engine(ENGINE_ID, 2**40, 1000, time.monotonic())
        with pytest.raises(OverflowError):
            await _get(client, port)
        assert peer not in client._engines  # forgotten: not one failure per poll until a restart
        pdu = await _get(client, port)
        assert pdu.tag == ber.RESPONSE and agent.discoveries == 1

    asyncio.run(_with_agent(scenario))


def test_forged_datagram_does_not_settle_the_request() -> None:
    async def scenario(client: usm.V3Client, agent: FakeAgent, port: int) -> None:
        agent.forge_first = True
        pdu = await _get(client, port)  # the forged copy arrives first and is dropped; the real one wins
        assert pdu.tag == ber.RESPONSE and pdu.varbinds[0].oid == SYS_UPTIME

    asyncio.run(_with_agent(scenario))


def test_only_forged_replies_still_say_hmac() -> None:
    """A wrong auth key (every reply fails HMAC) is still told as such, not as a plain timeout."""

    async def scenario(client: usm.V3Client, agent: FakeAgent, port: int) -> None:
        wrong = usm.Credentials(b"npuser", "SHA256", b"another-pass", "AES", b"priv-pass-1")
        with pytest.raises(usm.UsmError, match="HMAC"):
            await client.request("127.0.0.1", port, wrong, [SYS_UPTIME], 0.3, 0, ber.GET_REQUEST)

    asyncio.run(_with_agent(scenario))


# -- item 12: the OID decode cache and tooBig --------------------------------------------------------------
def test_unique_long_oids_are_not_cached() -> None:
    """Decoding happens before a reply is matched to a request: a spoofer's unique long OIDs must not stay."""
    ber._dec_oid_cached.cache_clear()
    for i in range(2000):
        body = ber.enc_oid("1.3.6.1.4.1." + ".".join(str(i + k) for k in range(100)))[2:]
        assert ber.dec_oid(body, 0, len(body)).endswith(str(i + 99))
    assert ber._dec_oid_cached.cache_info().currsize == 0
    short = ber.enc_oid("1.3.6.1.2.1.31.1.1.1.6.12")
    start, stop = ber.expect(short, 0, len(short), ber.OID)
    ber.dec_oid(short, start, stop)
    ber.dec_oid(short, start, stop)
    assert ber._dec_oid_cached.cache_info().hits >= 1
    assert ber._dec_oid_cached.cache_info().maxsize * ber.CACHED_OID_BYTES < 1 << 20


def test_toobig_has_a_message() -> None:
    from netprobe.probes.snmp.common import TooBig, raise_error_status

    with pytest.raises(TooBig) as exc:
        raise_error_status(1, 0)
    assert "tooBig" in str(exc.value)
