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
