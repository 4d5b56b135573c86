"""`--shard i/n`: split targets across agents so that adding one agent moves only its share.

Rendezvous (highest-random-weight) hashing: a target goes to the shard with the highest hash of
(target key, shard). Growing n to n+1 moves only the ~1/(n+1) of targets the new shard wins; nothing
moves between old shards. Keys are stable strings (Target.key), so the split survives restarts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from netprobe.errors import NetprobeError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as people count: 1/3, 2/3, 3/3
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
            raise NetprobeError(f"--shard {text!r}: write it as i/n with 1 ≤ i ≤ n, e.g. --shard 2/3")
        return cls(int(m.group(1)), int(m.group(2)))

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def select(self, items: Iterable[T], key: Sequence[str] | None = None) -> list[T]:
        """Items whose key (item.key, or the parallel `key` sequence) belongs to this shard."""
        items = list(items)
        keys = key if key is not None else [getattr(item, "key") for item in items]  # noqa: B009
        return [item for item, k in zip(items, keys, strict=True) if self.owns(k)]


def _weight(key: str, shard: int) -> int:
    digest = hashlib.blake2b(f"{shard}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(key: str, count: int) -> int:
    """The 1-based shard that owns `key` among `count` shards."""
    return max(range(1, count + 1), key=lambda s: _weight(key, s))
