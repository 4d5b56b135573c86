"""YAML that remembers where every key and value was written, and refuses duplicate keys.

PyYAML's plain loaders forget positions and silently keep the last of two equal keys; a technician who
pasted a line twice must be told, with the line and column, so both are fixed here.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 5-10x faster


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


class MarkedDict(dict[Any, Any]):
    __slots__ = ("key_marks", "mark", "value_marks")

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}


class MarkedList(list[Any]):
    __slots__ = ("item_marks", "mark")

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.item_marks: list[Mark] = []


class DuplicateKey(Exception):
    def __init__(self, key: object, mark: Mark, first: Mark) -> None:
        super().__init__(f"duplicate key {key!r} (first written at line {first.line})")
        self.mark = mark


class TooLarge(Exception):
    """Aliases would expand the document past MAX_NODES (a 'billion laughs' file, or a runaway copy-paste)."""

    def __init__(self, nodes: int, mark: Mark) -> None:
        super().__init__(
            f"YAML aliases expand this to more than {MAX_NODES:,} values ({nodes:,} or more); "
            "refused: write the values out, or use far fewer nested aliases (*name)"
        )
        self.mark = mark


# A 2,000-target inventory is ~60,000 values; a 15 KB file of nested aliases expands to 10^9 and used to
# take validate (and a SIGHUP reload of the agent) to 1.8 GB with no output.
MAX_NODES = 1_000_000


def expanded_size(root: yaml.Node) -> int:
    """How many values `root` becomes once every alias is expanded; TooLarge past MAX_NODES.

    An alias is the same Node object as its anchor, so sizes are memoised per node: linear in the text."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            kids: list[yaml.Node] = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        else:
            kids = []
        if not children_done and any(id(k) not in sizes for k in kids):
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        size = 1 + sum(sizes.get(id(k), 0) for k in kids)
        if size > MAX_NODES:
            raise TooLarge(size, _mark(node))
        sizes[id(node)] = size
    return sizes[id(root)]


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Loader(_Base):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> MarkedDict:
        self.flatten_mapping(node)
        out = MarkedDict(_mark(node))
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value, not a list or mapping", key_node.start_mark
                ) from None
            if key in out:
                raise DuplicateKey(key, _mark(key_node), out.key_marks[key])
            out[key] = self.construct_object(value_node, deep=True)
            out.key_marks[key] = _mark(key_node)
            out.value_marks[key] = _mark(value_node)
        return out

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> MarkedList:
        out = MarkedList(_mark(node))
        for child in node.value:
            out.append(self.construct_object(child, deep=True))
            out.item_marks.append(_mark(child))
        return out


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    return loader.construct_mapping(node)


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    return loader.construct_sequence(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load(text: str) -> Any:
    """Parse one YAML document. Raises yaml.YAMLError (with problem_mark), DuplicateKey or TooLarge."""
    loader = _Loader(text)
    with gc_paused():
        return _compose_and_construct(loader, text)


def _compose_and_construct(loader: Any, text: str) -> Any:
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # before anything walks the expansion (the constructor, pydantic). Without an alias ("*name") the
        # node count is bounded by the text's length (≥ 2 characters a node): a capped file cannot blow up
        if "*" in text or len(text) > 2 * MAX_NODES:
            expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC paused while a big tree is built: it would rescan the growing tree again and again
    (a fifth of validate's time on a 1 MB file). Nothing built here makes cycles that must go at once;
    what there is, is collected when it is back on."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def mark_at(root: Any, path: tuple[int | str, ...], *, want_key: bool = False) -> Mark | None:
    """The position of `path` inside `root`, or of its deepest existing ancestor."""
    node: Any = root
    best: Mark | None = getattr(root, "mark", None)
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, MarkedDict) and step in node:
            best = node.key_marks[step] if (last and want_key) else node.value_marks[step]
            node = node[step]
        elif isinstance(node, MarkedList) and isinstance(step, int) and 0 <= step < len(node):
            best = node.item_marks[step]
            node = node[step]
        # steps that are not in the data (pydantic's union/tag names) are skipped
    return best
