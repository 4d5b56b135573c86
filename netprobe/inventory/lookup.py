"""Find a commune the way a person types it: slug or name, with or without diacritics."""

from __future__ import annotations

import difflib
import re
import unicodedata

from netprobe.errors import NetprobeError
from netprobe.inventory.loader import Inventory
from netprobe.inventory.model import Commune

# Administrative prefixes people may or may not type ("Phường Kinh Bắc" == "Kinh Bắc").
_PREFIXES = ("xa-", "phuong-", "thi-tran-", "dac-khu-")


def fold(text: str) -> str:
    """'Phường Kinh Bắc' → 'phuong-kinh-bac'. đ/Đ are letters of their own, not d + a mark."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _keys(commune: Commune) -> set[str]:
    keys = {commune.slug, fold(commune.name)}
    for key in list(keys):
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                keys.add(key.removeprefix(prefix))
    return keys


class UnknownCommune(NetprobeError):
    def __init__(self, query: str, suggestions: list[Commune]) -> None:
        self.query = query
        self.suggestions = suggestions
        hint = ", ".join(f"{c.slug} ({c.name})" for c in suggestions)
        super().__init__(
            f"unknown commune {query!r}"
            + (f"; did you mean: {hint}?" if hint else "")
            + " — `netprobe inventory show` lists them all"
        )


def find_commune(inventory: Inventory, query: str) -> Commune:
    wanted = fold(query)
    for commune in inventory.communes:
        if wanted in _keys(commune):
            return commune
    raise UnknownCommune(query, suggest(inventory, query))


def suggest(inventory: Inventory, query: str, n: int = 3) -> list[Commune]:
    wanted = fold(query)
    by_key: dict[str, Commune] = {}
    for commune in inventory.communes:
        for key in _keys(commune):
            by_key.setdefault(key, commune)
    out: list[Commune] = []
    for key in difflib.get_close_matches(wanted, list(by_key), n=n * 3, cutoff=0.6):
        if by_key[key] not in out:
            out.append(by_key[key])
    return out[:n]
