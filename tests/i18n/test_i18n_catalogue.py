"""Every `_()` string in the source has a checked zh_CN translation, and nothing stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from scripts.compile_catalogues import compiled
from scripts.extract_messages import MessageId, extract
from tests.i18n.conftest import ROOT

PO = ROOT / "aoa_proxy" / "locale" / "zh_CN" / "LC_MESSAGES" / "aoa.po"
FIX = "run scripts/extract_messages.py, translate in aoa.po, run scripts/compile_catalogues.py"
# {name}, {name!r}, {seconds:g} and printf-style %s / %d must survive translation unchanged.
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%[sdrf]")


def _catalog(path: Path = PO) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def _key(message: Message) -> MessageId:
    return message.id if isinstance(message.id, str) else (message.id[0], message.id[1])


def test_source_has_translatable_strings():
    messages = extract().messages
    assert "usage: " in messages and "environment variables:" in messages


def test_no_computed_strings_are_passed_to_underscore():
    assert extract().problems == []


def test_every_source_string_has_a_zh_cn_translation():
    catalog = _catalog()
    missing = [
        msgid
        for msgid in extract().messages
        if (entry := catalog.get(msgid)) is None or not _translated(entry) or entry.fuzzy
    ]
    assert not missing, f"untranslated or fuzzy in {PO.name} ({FIX}): {missing}"


def test_catalogue_has_no_stale_or_fuzzy_entries():
    source = extract().messages
    catalog = _catalog()
    stale = [_key(m) for m in catalog if m.id and _key(m) not in source]
    fuzzy = [_key(m) for m in catalog if m.id and m.fuzzy]
    assert not stale, f"no longer in the source ({FIX}): {stale}"
    assert not fuzzy, f"fuzzy (unchecked) translations ({FIX}): {fuzzy}"
    assert not catalog.obsolete, f"obsolete entries: {list(catalog.obsolete)}"


def test_translations_keep_every_placeholder():
    broken = []
    for message in _catalog():
        if not message.id or not message.string:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        target = message.string if isinstance(message.string, str) else message.string[0]
        if sorted(_PLACEHOLDER.findall(source)) != sorted(_PLACEHOLDER.findall(target)):
            broken.append((source, target))
    assert not broken


def test_compiled_catalogue_matches_its_source():
    mo = PO.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run scripts/compile_catalogues.py"
    assert mo.read_bytes() == compiled(PO), f"{mo.name} is stale: run scripts/compile_catalogues.py"


@pytest.mark.parametrize("msgid", ["usage: ", "environment variables:", "{value} is not a number"])
def test_compiled_catalogue_is_read_by_gettext(msgid):
    import gettext

    translations = gettext.translation("aoa", ROOT / "aoa_proxy" / "locale", ["zh_CN"])
    entry = _catalog().get(msgid)
    assert entry is not None
    assert translations.gettext(msgid) == entry.string
