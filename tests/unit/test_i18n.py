from __future__ import annotations

from netprobe.i18n import LANGS, Translator, catalogue, pick_lang, placeholders


def test_catalogues_have_same_keys_and_placeholders() -> None:
    en, vi = catalogue("en"), catalogue("vi")
    assert set(en) == set(vi), set(en) ^ set(vi)
    for key in en:
        assert placeholders(en[key]) == placeholders(vi[key]), key
        assert vi[key].strip(), key


def test_pick_lang_order() -> None:
    assert pick_lang("en", "vi", {"LANG": "vi_VN.UTF-8"}) == "en"
    assert pick_lang(None, "vi", {"LANG": "en_US.UTF-8"}) == "vi"
    assert pick_lang(None, None, {"LANG": "vi_VN.UTF-8"}) == "vi"
    assert pick_lang(None, None, {"LC_ALL": "C.UTF-8", "LANG": "vi_VN"}) == "en"
    assert pick_lang(None, None, {}) == "en"
    assert set(LANGS) == {"vi", "en"}


def test_translate_and_fallbacks() -> None:
    assert Translator("vi")("part.line") == "đường truyền số liệu chuyên dùng"
    assert Translator("en")("state.UNSTABLE") == "unstable"
    assert Translator("xx")("state.DOWN") == "down"
    assert Translator("vi")("no.such.key") == "no.such.key"
