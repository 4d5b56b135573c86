"""GET chunking: an agent that answers tooBig gets smaller requests, never a crash or a loop."""

from __future__ import annotations

import asyncio

import pytest

from netprobe.probes.snmp import ber
from netprobe.probes.snmp.common import BadReply, Tagged, TooBig
from netprobe.probes.snmp.probe import MAX_PER_GET, _get_all


class SmallAgent:
    """Answers at most `limit` varbinds per GET (like an agent with a small max message size)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.requests: list[int] = []

    async def get(self, oids: list[str]) -> list[Tagged]:
        self.requests.append(len(oids))
        if len(oids) > self.limit:
            raise TooBig()
        return [(ber.INTEGER, int(o.rsplit(".", 1)[1])) for o in oids]

    async def next(self, oid: str) -> tuple[str, Tagged]:
        raise NotImplementedError


def test_chunks_shrink_on_too_big_and_keep_order() -> None:
    oids = [f"1.3.6.1.2.1.2.2.1.8.{i}" for i in range(100)]
    agent = SmallAgent(limit=10)
    values = asyncio.run(_get_all(agent, oids))
    assert [v for _, v in values] == list(range(100))
    assert max(agent.requests) == MAX_PER_GET and all(n <= 10 for n in agent.requests[-5:])


def test_too_big_for_one_varbind_is_a_bad_reply() -> None:
    with pytest.raises(BadReply):
        asyncio.run(_get_all(SmallAgent(limit=0), ["1.3.6.1.2.1.1.3.0"]))


IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"


class PagedAgent:
    """Answers GETBULK from a fixed table, `page` rows at a time, like an agent walking ifName."""

    def __init__(self, rows: list[tuple[str, Tagged]], page: int = 3) -> None:
        self.rows, self.page, self.requests = rows, page, 0

    async def bulk(self, oid: str, repetitions: int = ber.BULK_REPETITIONS) -> list[tuple[str, Tagged]]:
        self.requests += 1
        after = [r for r in self.rows if _key(r[0]) > _key(oid)]
        return after[: self.page] or [("1.3.6.1.2.1.99", (ber.END_OF_MIB_VIEW, None))]


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.split("."))


def test_bulk_walk_stops_at_the_end_of_the_column() -> None:
    from netprobe.probes.snmp.probe import _walk_names

    names = [(f"{IF_NAME}.{i}", (ber.OCTET_STRING, f"Gi0/{i}".encode())) for i in (1, 2, 3, 5, 8, 13, 21)]
    after = [("1.3.6.1.2.1.31.1.1.1.2.1", (ber.OCTET_STRING, b"next column"))]
    agent = PagedAgent(names + after)
    assert asyncio.run(_walk_names(agent, IF_NAME)) == {i: f"Gi0/{i}" for i in (1, 2, 3, 5, 8, 13, 21)}
    assert agent.requests == 3  # 7 rows, 3 per page, the third page crosses into the next column


def test_a_walk_that_goes_backwards_is_a_bad_reply() -> None:
    from netprobe.probes.snmp.probe import _walk_names

    class Backwards(PagedAgent):
        async def bulk(self, oid: str, repetitions: int = ber.BULK_REPETITIONS) -> list[tuple[str, Tagged]]:
            return [(f"{IF_NAME}.1", (ber.OCTET_STRING, b"loop"))]  # always the same row: would never end

    with pytest.raises(BadReply):
        asyncio.run(_walk_names(Backwards([]), IF_NAME))


def _encoded(name: str, tag: int, body: bytes) -> bytes:
    return ber.tlv(ber.SEQUENCE, ber.enc_oid(name) + ber.tlv(tag, body))


@pytest.mark.parametrize(
    ("column", "tag", "body"),
    [
        (IF_NAME, ber.OCTET_STRING, b"Gi0/1"),
        ("1.3.6.1.2.1.2.2.1.2", ber.OCTET_STRING, b"Intel Corporation 82574L Gigabit Network Connection"),
        ("1.3.6.1.2.1.31.1.1.1.6", ber.COUNTER64, (2**63).to_bytes(9, "big")),
        ("1.3.6.1.2.1.2.2.1.10", ber.COUNTER32, (7).to_bytes(1, "big")),
    ],
)
def test_a_walk_sizes_its_next_getbulk_to_fill_one_datagram(column: str, tag: int, body: bytes) -> None:
    rows = [(f"{column}.{i}", tag, body) for i in range(1000, 1025)]  # 4-digit ifIndex: 2-byte arcs
    for name, _t, _b in rows:  # the size estimate is the real BER size
        assert ber.varbind_bytes(name, tag, body) == len(_encoded(name, tag, body))
    reps = ber.bulk_repetitions(rows)
    answer = sum(len(_encoded(f"{column}.{1025 + i}", tag, body)) for i in range(reps))
    assert ber.BULK_ANSWER_BYTES - 80 <= answer <= ber.BULK_ANSWER_BYTES  # full, and below one 1472-byte payload
    assert ber.bulk_repetitions([]) == ber.BULK_REPETITIONS


def test_a_long_walk_takes_fewer_requests_than_at_25_rows_each() -> None:
    from netprobe.probes.snmp.probe import _walk_names

    class Honouring(PagedAgent):
        async def bulk(self, oid: str, repetitions: int = ber.BULK_REPETITIONS) -> list[tuple[str, Tagged]]:
            self.page = repetitions  # a real agent answers max-repetitions rows (while they fit)
            return await super().bulk(oid, repetitions)

    names = [(f"{IF_NAME}.{i}", (ber.OCTET_STRING, f"Gi0/{i}".encode())) for i in range(1, 301)]
    agent = Honouring(names)
    assert len(asyncio.run(_walk_names(agent, IF_NAME))) == 300
    assert agent.requests <= 8 < -(-301 // ber.BULK_REPETITIONS)  # 25, then ~48 a request; 13 at 25 each
