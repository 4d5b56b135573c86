"""SNMPv3 USM: RFC 3414 key vectors, and that a reply is authenticated before it is believed."""

from __future__ import annotations

import time

import pytest

from netprobe.probes.snmp import ber, usm

ENGINE = bytes.fromhex("000000000000000000000002")  # RFC 3414 A.3


def test_rfc3414_md5_and_sha1_key_vectors() -> None:
    assert usm.password_to_key(b"maplesyrup", "md5").hex() == "9faf3283884e92834ebc9847d8edd963"
    assert usm.localize(b"maplesyrup", "md5", ENGINE).hex() == "526f5eed9fcce26f8964c2930787d82b"
    assert usm.localize(b"maplesyrup", "sha1", ENGINE).hex() == "6695febc9288e36282235fc7151f128497b38f3f"


def test_supported_only_without_key_extension() -> None:
    assert usm.supported("SHA256", "AES") and usm.supported("SHA512", "AES256") and usm.supported("SHA", "AES")
    assert not usm.supported("SHA", "AES256")  # 20-byte key, 32 needed: vendors disagree on extension
    assert not usm.supported("SHA256", "DES")


CREDS = usm.Credentials(b"npuser", "SHA256", b"auth-pass-1", "AES", b"priv-pass-1")


def _agent_reply(client: usm.V3Client, engine: usm._Engine) -> bytes:
    """What an agent sends back, built with the same (independently RFC-checked) primitives."""
    return client._request(CREDS, engine, 4242, ber.RESPONSE, ["1.3.6.1.2.1.1.3.0"])


def test_authentic_reply_is_decrypted_and_decoded() -> None:
    client = usm.V3Client()
    engine = usm._Engine(b"\x80\x00\x1f\x88\x04np-test", 3, 1000, time.monotonic())
    data = _agent_reply(client, engine)
    msg = usm._dec_message(data)
    assert msg.msg_id == 4242 and msg.flags & usm.FLAG_PRIV and msg.user == b"npuser"
    pdu = client._open(CREDS, engine, data, msg)
    assert pdu.tag == ber.RESPONSE and pdu.varbinds[0].oid == "1.3.6.1.2.1.1.3.0"


@pytest.mark.parametrize("offset", [-1, -5, -20, 40, 60])
def test_tampered_reply_fails_authentication(offset: int) -> None:
    client = usm.V3Client()
    engine = usm._Engine(b"\x80\x00\x1f\x88\x04np-test", 3, 1000, time.monotonic())
    data = bytearray(_agent_reply(client, engine))
    data[offset] ^= 0x01
    with pytest.raises((usm.UsmError, ber.BerError)):
        client._open(CREDS, engine, bytes(data), usm._dec_message(bytes(data)))


def test_wrong_key_fails_authentication() -> None:
    client = usm.V3Client()
    engine = usm._Engine(b"\x80\x00\x1f\x88\x04np-test", 3, 1000, time.monotonic())
    data = _agent_reply(client, engine)
    other = usm.Credentials(b"npuser", "SHA256", b"another-pass", "AES", b"priv-pass-1")
    with pytest.raises(usm.UsmError, match="HMAC"):
        client._open(other, engine, data, usm._dec_message(data))
