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


def test_a_reboot_says_when_in_both_languages_and_check_shows_up_since() -> None:
    from netprobe.check.diagnose import reason_msg
    from netprobe.health.reasons import Code, Reason, clock, translated

    boot = 1_700_000_000
    one = Reason.of(Code.REBOOTS, reboots=1, window_s=600.0, boot_at=boot)
    two = Reason.of(Code.REBOOTS, reboots=2, window_s=600.0, boot_at=boot)
    vi, en = Translator("vi"), Translator("en")
    assert translated(vi)(one) == f"khởi động lại lúc {clock(boot)}"
    assert translated(vi)(two) == f"khởi động lại lúc {clock(boot)} (2 lần trong 10 phút)"
    assert translated(en)(one) == f"rebooted at {clock(boot)}"
    msg = reason_msg(two)
    assert vi(msg.key, **msg.params) == f"khởi động lại lúc {clock(boot)} (2 lần trong 10 phút)"
    assert en(msg.key, **msg.params) == f"rebooted at {clock(boot)} (2 reboots in 10 min)"
    assert vi("check.snmp.up_since", at="08:12") == "· chạy từ 08:12"
