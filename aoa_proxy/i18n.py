"""User-visible text goes through `_()` (tray, settings page, CLI, start-up and config messages).

Standard gettext: catalogues live in `aoa_proxy/locale/<lang>/LC_MESSAGES/aoa.mo`, compiled from
the `.po` files by `scripts/compile_catalogues.py`. The language is AOA_LANG when set, else the
OS's (LC_ALL / LC_MESSAGES / LANG / LANGUAGE on Linux and macOS, the user's UI language on
Windows); the settings page overrides it with `set_language()`.

API error bodies sent to clients stay English and do not use this. Tables built at import time
mark their text with `N_()` and translate it where it is shown, so a later `set_language()`
still takes effect.
"""

from __future__ import annotations

import argparse
import gettext
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

DOMAIN: Final = "aoa"
LOCALE_DIR: Final = Path(__file__).with_name("locale")
DEFAULT_LANGUAGE: Final = "en"
# Languages with a catalogue, each named in its own language (endonyms are never translated).
LANGUAGES: Final = {"en": "English", "zh_CN": "简体中文"}

_translations: gettext.NullTranslations | None = None
_language = DEFAULT_LANGUAGE


def _(message: str) -> str:
    """The translation of `message` in the current language."""
    translations = _translations or _load_default()
    return translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The translation of `singular`/`plural` chosen for the count `n`."""
    translations = _translations or _load_default()
    return translations.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it yet; `_()` it where shown."""
    return message


# argparse's own words, which it looks up in a catalogue of its own that Python does not ship.
_ARGPARSE_WORDS: Final = (
    N_("usage: "),
    N_("options"),
    N_("positional arguments"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
)


class _TranslatingFormatter(argparse.HelpFormatter):
    """argparse's own words and every help text, translated when the help is shown."""

    def add_usage(
        self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None
    ) -> None:
        super().add_usage(usage, actions, groups, _("usage: ") if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        super().start_section(_(heading) if heading else heading)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return _(action.help) if action.help else action.help


class HelpFormatter(_TranslatingFormatter, argparse.RawDescriptionHelpFormatter):
    """Translated help that keeps the description and epilog as written (e.g. a table).

    Use as `formatter_class=HelpFormatter`, and build the parser after `set_language()`.
    """


class WrappingHelpFormatter(_TranslatingFormatter):
    """Translated help whose description and epilog are re-wrapped to the terminal."""


def normalize(tag: str) -> str | None:
    """The supported language a locale name or tag means ("zh_CN.UTF-8" -> "zh_CN"), or None.

    Only Simplified Chinese maps to zh_CN; Traditional (zh_TW, zh_HK, zh_Hant) has no catalogue
    and falls back to English rather than showing the other script.
    """
    tag = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_")
    if not tag:
        return None
    parts = tag.split("_")
    lang = parts[0].lower()
    if lang in ("c", "posix", "en"):
        return "en"
    if lang == "zh":
        rest = {p.lower() for p in parts[1:]}
        if rest & {"tw", "hk", "mo", "hant"}:
            return "en"
        return "zh_CN"
    return None


def detect_language(env: Mapping[str, str] | None = None) -> str:
    """The language to use: AOA_LANG if it names one we have, else the OS's, else English."""
    env = os.environ if env is None else env
    chosen = (env.get("AOA_LANG") or "").strip()
    if chosen and chosen.lower() != "auto":
        return normalize(chosen) or DEFAULT_LANGUAGE
    return os_language(env)


def os_language(env: Mapping[str, str] | None = None) -> str:
    """The OS user's language, as a supported language (English when unsupported or unknown)."""
    env = os.environ if env is None else env
    if sys.platform == "win32":
        return normalize(_windows_ui_language() or "") or DEFAULT_LANGUAGE
    # GNU gettext's order: the first of LC_ALL, LC_MESSAGES, LANG is the locale; LANGUAGE (a
    # colon-separated preference list) refines it, except that the C locale means untranslated.
    locale_name = next((env[k] for k in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(k)), "")
    if locale_name.split(".", 1)[0].upper() in ("C", "POSIX"):
        return DEFAULT_LANGUAGE
    for item in (env.get("LANGUAGE") or "").split(":"):
        lang = normalize(item)
        if lang:
            return lang
    if locale_name:
        return normalize(locale_name) or DEFAULT_LANGUAGE
    if sys.platform == "darwin":
        # Apps opened from Finder get no LANG; the user's choice is in the global defaults.
        return normalize(_mac_preferred_language() or "") or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def set_language(lang: str | None) -> str:
    """Translate into `lang` ("en", "zh_CN"; None or "auto" = detect) from now on; returns it."""
    global _translations, _language
    if not lang or lang.lower() == "auto":
        resolved = detect_language()
    else:
        resolved = normalize(lang) or DEFAULT_LANGUAGE
    if resolved == DEFAULT_LANGUAGE:
        translations = gettext.NullTranslations()
    else:
        try:
            translations = gettext.translation(DOMAIN, LOCALE_DIR, languages=[resolved])
        except OSError:
            # A build without compiled catalogues still works, in English.
            log.warning("no %s catalogue in %s; messages stay English", resolved, LOCALE_DIR)
            translations, resolved = gettext.NullTranslations(), DEFAULT_LANGUAGE
    _translations, _language = translations, resolved
    return resolved


def current_language() -> str:
    """The language `_()` translates into now."""
    if _translations is None:
        _load_default()
    return _language


def _load_default() -> gettext.NullTranslations:
    set_language(None)
    assert _translations is not None
    return _translations


def _windows_ui_language() -> str | None:
    """The Windows display language as a locale name ("zh_CN"), from GetUserDefaultUILanguage."""
    import ctypes

    try:
        langid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return None
    return windows_locale_name(int(langid))


def windows_locale_name(langid: int) -> str | None:
    """A Windows LANGID (0x0804) as a locale name ("zh_CN"), from Python's own table."""
    import locale

    return locale.windows_locale.get(langid)


def _mac_preferred_language() -> str | None:
    """The first of the macOS user's preferred languages ("zh-Hans-CN"), or None."""
    try:
        out = subprocess.run(
            ["defaults", "read", "-g", "AppleLanguages"],
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return first_apple_language(out)


def first_apple_language(plist: str) -> str | None:
    """The first entry of `defaults read -g AppleLanguages` output: ( "zh-Hans-CN", "en-US" )."""
    for token in plist.replace("(", " ").replace(")", " ").split(","):
        token = token.strip().strip('"')
        if token:
            return token
    return None
