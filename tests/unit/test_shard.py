from __future__ import annotations

import pytest

from netprobe.engine.shard import Shard, shard_of
from netprobe.errors import NetprobeError

KEYS = [f"ping/line/commune-{i}-l{j}/ce" for i in range(500) for j in range(4)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_disjoint_complete_and_balanced(n: int) -> None:
    parts = [Shard(i, n).select(KEYS, key=KEYS) for i in range(1, n + 1)]
    assert sorted(k for part in parts for k in part) == sorted(KEYS)  # complete, no duplicates
    expected = len(KEYS) / n
    assert all(abs(len(part) - expected) < 0.15 * expected + 10 for part in parts)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_growing_by_one_moves_only_the_new_shares(n: int) -> None:
    before = {k: shard_of(k, n) for k in KEYS}
    after = {k: shard_of(k, n + 1) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == n + 1 for k in moved)  # nothing moves between old shards
    assert abs(len(moved) / len(KEYS) - 1 / (n + 1)) < 0.05


def test_stable_across_calls() -> None:
    assert [shard_of(k, 3) for k in KEYS[:50]] == [shard_of(k, 3) for k in KEYS[:50]]


@pytest.mark.parametrize("text", ["0/3", "4/3", "x", "1/0", "2-3"])
def test_bad_shard_spec(text: str) -> None:
    with pytest.raises(NetprobeError, match="i/n"):
        Shard.parse(text)
