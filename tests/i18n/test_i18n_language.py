"""Which language `_()` speaks: AOA_LANG, then the OS locale, then English."""

from __future__ import annotations

import pytest

from aoa_proxy.config import load_settings
from aoa_proxy.errors import ConfigError
from aoa_proxy.i18n import (
    LANGUAGES,
    N_,
    _,
    current_language,
    detect_language,
    first_apple_language,
    ngettext,
    normalize,
    os_language,
    set_language,
    windows_locale_name,
)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("zh_CN.UTF-8", "zh_CN"),
        ("zh_CN.GB18030", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh_SG", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("zh_TW.UTF-8", "en"),
        ("zh-Hant-HK", "en"),
        ("en_US.UTF-8", "en"),
        ("C", "en"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("fr_FR.UTF-8", None),
        ("", None),
    ],
)
def test_normalize_maps_locale_names_to_supported_languages(tag, expected):
    assert normalize(tag) == expected


def test_lang_picks_chinese():
    assert os_language({"LANG": "zh_CN.UTF-8"}) == "zh_CN"


def test_lc_all_wins_over_lang():
    assert os_language({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert os_language({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}) == "zh_CN"


def test_lc_messages_wins_over_lang():
    assert os_language({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}) == "zh_CN"


def test_language_list_refines_the_locale_as_gnu_gettext_does():
    assert os_language({"LANG": "en_US.UTF-8", "LANGUAGE": "fr:zh_CN:en"}) == "zh_CN"


def test_c_locale_ignores_the_language_list():
    assert os_language({"LANG": "C", "LANGUAGE": "zh_CN"}) == "en"


def test_unsupported_or_missing_locale_is_english():
    assert os_language({"LANG": "de_DE.UTF-8"}) == "en"
    assert os_language({}) == "en"


def test_aoa_lang_overrides_the_os_locale():
    assert detect_language({"AOA_LANG": "zh_CN", "LANG": "C"}) == "zh_CN"
    assert detect_language({"AOA_LANG": "en", "LANG": "zh_CN.UTF-8"}) == "en"


def test_aoa_lang_auto_means_the_os_locale():
    assert detect_language({"AOA_LANG": "auto", "LANG": "zh_CN.UTF-8"}) == "zh_CN"


def test_set_language_switches_translations_at_once():
    assert set_language("zh_CN") == "zh_CN"
    assert current_language() == "zh_CN"
    assert _("Quit") == "退出"
    assert set_language("en") == "en"
    assert _("Quit") == "Quit"


def test_marked_table_text_is_translated_where_shown():
    help_text = N_("port to listen on")
    set_language("zh_CN")
    assert help_text == "port to listen on"
    assert _(help_text) == "监听端口"


def test_unknown_message_is_returned_unchanged():
    set_language("zh_CN")
    assert _("a sentence nobody translated") == "a sentence nobody translated"


def test_ngettext_follows_the_count_in_english_and_has_one_form_in_chinese():
    set_language("en")
    assert ngettext("{n} model", "{n} models", 1) == "{n} model"
    assert ngettext("{n} model", "{n} models", 2) == "{n} models"


def test_every_language_offered_has_a_catalogue_or_is_the_source():
    assert set(LANGUAGES) == {"en", "zh_CN"}
    for lang in LANGUAGES:
        assert set_language(lang) == lang


def test_config_error_is_chinese_after_set_language():
    set_language("zh_CN")
    with pytest.raises(ConfigError) as exc:
        load_settings({"AOA_PORT": "abc"})
    assert exc.value.lines == ["AOA_PORT: 'abc' 不是整数"]


def test_unknown_aoa_lang_is_a_config_error():
    set_language("en")
    with pytest.raises(ConfigError) as exc:
        load_settings({"AOA_LANG": "klingon"})
    assert exc.value.lines == ["AOA_LANG: 'klingon' is not one of en, zh_CN"]


def test_aoa_lang_is_normalised_in_settings():
    assert load_settings({"AOA_LANG": "zh_CN.UTF-8"}).lang == "zh_CN"
    assert load_settings({"AOA_LANG": "auto"}).lang == ""


@pytest.mark.parametrize(
    ("langid", "expected"),
    [(0x0804, "zh_CN"), (0x1004, "zh_CN"), (0x0404, "en"), (0x0C04, "en"), (0x0409, "en")],
)
def test_windows_ui_language_ids_map_to_supported_languages(langid, expected):
    # GetUserDefaultUILanguage's LANGID, through the table the Windows code path uses.
    assert normalize(windows_locale_name(langid) or "") == expected


def test_macos_preferred_language_list_is_read():
    out = '(\n    "zh-Hans-CN",\n    "en-US"\n)\n'
    assert first_apple_language(out) == "zh-Hans-CN"
    assert normalize(first_apple_language(out) or "") == "zh_CN"
    assert first_apple_language("(\n)\n") is None
