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

    async def bulk(self, oid: str) -> list[tuple[str, Tagged]]:
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
        async def bulk(self, oid: str) -> list[tuple[str, Tagged]]:
            return [(f"{IF_NAME}.1", (ber.OCTET_STRING, b"loop"))]  # always the same row: would never end

    with pytest.raises(BadReply):
        asyncio.run(_walk_names(Backwards([]), IF_NAME))
