"""Message catalogues: every user-facing sentence of `check`/`status`/reports, in Vietnamese and English.

Catalogues are YAML (netprobe/i18n/vi.yaml, en.yaml): key → text with `{named}` placeholders. A test keeps
both catalogues at the same keys and placeholders. Language: --lang, then config `lang`, then LC_ALL /
LC_MESSAGES / LANG (vi_* → vi), else English.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGS = ("vi", "en")
_DIR = Path(__file__).resolve().parent


def pick_lang(explicit: str | None = None, configured: str | None = None, env: Mapping[str, str] | None = None) -> str:
    if explicit in LANGS:
        return explicit
    if configured in LANGS:
        return configured
    environ = os.environ if env is None else env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var, "")
        if value:
            return "vi" if value.lower().startswith("vi") else "en"
    return "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    data: Any = yaml.safe_load((_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (data or {}).items()}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "en"

    def __call__(self, key: str, **params: object) -> str:
        text = catalogue(self.lang).get(key) or catalogue("en").get(key)
        if text is None:
            return key  # a missing key shows itself rather than crashing a technician's check
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
