"""Collect every translatable string from the source into aoa.pot and merge it into each .po.

Translatable strings are the literal arguments of `_("...")`, `N_("...")` and
`ngettext("...", "...", n)` in aoa_proxy/ and aoa_desktop/ (found by walking the AST), plus the
`data-i18n` texts of the settings page (see STATIC_PAGES). Run after changing user-visible text:

    .venv/bin/python scripts/extract_messages.py      # then translate the new entries in the .po,
    .venv/bin/python scripts/compile_catalogues.py    # and compile

Babel marks changed strings "fuzzy" with the old translation as a hint; the i18n tests fail until
a translator checks them and removes the flag.
"""

from __future__ import annotations

import ast
import html
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("aoa_proxy", "aoa_desktop")
LOCALE_DIR = ROOT / "aoa_proxy" / "locale"
POT = LOCALE_DIR / "aoa.pot"
DOMAIN = "aoa"
# Fixed so that re-running the extraction without source changes leaves the files unchanged.
POT_DATE = datetime(2026, 11, 27, tzinfo=timezone.utc)
# Static settings-page files: elements carrying data-i18n="..." are translated by the page
# with the catalogue the server hands it, so their keys belong in the catalogue too.
STATIC_PAGES = ("aoa_desktop/static",)
_DATA_I18N = re.compile(r"""data-i18n(?:-[a-z]+)?\s*=\s*"([^"]+)\"""")

MessageId = str | tuple[str, str]


@dataclass
class Extracted:
    """Messages (msgid or (singular, plural)) with where they occur, and misuse of `_()`."""

    messages: dict[MessageId, list[tuple[str, int]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, msgid: MessageId, path: str, line: int) -> None:
        self.messages.setdefault(msgid, []).append((path, line))
        self.messages[msgid].sort()


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _computed_text(node: ast.expr) -> bool:
    """True for text built before translation: f-strings, "..." % x, "..." + x, .format()."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _literal(node.left) is not None or isinstance(node.left, ast.JoinedStr)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format"
    return False


def _walk_python(path: Path, rel: str, out: Extracted) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        name = node.func.id
        if name in ("_", "N_") and len(node.args) == 1:
            arg = node.args[0]
            text = _literal(arg)
            if text is not None:
                out.add(text, rel, node.lineno)
            elif _computed_text(arg):
                # _(f"..."), _("..." % x) or _("...".format()) can never match an entry.
                out.problems.append(
                    f"{rel}:{node.lineno}: {name}() of a computed string; "
                    'use _("... {name} ...").format(name=...)'
                )
        elif name == "ngettext" and len(node.args) == 3:
            singular, plural = _literal(node.args[0]), _literal(node.args[1])
            if singular is not None and plural is not None:
                out.add((singular, plural), rel, node.lineno)
            else:
                out.problems.append(f"{rel}:{node.lineno}: ngettext() of computed strings")


def extract(root: Path = ROOT) -> Extracted:
    """Every translatable string under `root`'s source directories."""
    out = Extracted()
    for source in SOURCES:
        for path in sorted((root / source).rglob("*.py")):
            _walk_python(path, path.relative_to(root).as_posix(), out)
    for static in STATIC_PAGES:
        for path in sorted((root / static).rglob("*")):
            if path.suffix not in (".html", ".js"):
                continue
            rel = path.relative_to(root).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for match in _DATA_I18N.finditer(line):
                    out.add(_unescape_html(match.group(1)), rel, number)
    return out


def _unescape_html(text: str) -> str:
    return html.unescape(text)


def template() -> Catalog:
    """The extracted messages as a Babel catalogue template."""
    catalog = Catalog(
        project="aoa",
        domain=DOMAIN,
        creation_date=POT_DATE,
        revision_date=POT_DATE,
        msgid_bugs_address="",
        copyright_holder="aoa contributors",
        charset="utf-8",
        fuzzy=False,
    )
    # In source order (file, line), so the .po reads like the code a translator can look up.
    for msgid, locations in sorted(extract().messages.items(), key=lambda kv: min(kv[1])):
        flags = ("python-brace-format",) if "{" in _first(msgid) else ()
        catalog.add(msgid, locations=locations, flags=flags)
    return catalog


def _first(msgid: MessageId) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def main() -> int:
    extracted = extract()
    for problem in extracted.problems:
        print(problem, file=sys.stderr)
    pot = template()
    POT.parent.mkdir(parents=True, exist_ok=True)
    with POT.open("wb") as f:
        write_po(f, pot, width=100, sort_output=False, include_previous=False)
    for po_path in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po_path.open("rb") as f:
            catalog = read_po(f)
        catalog.update(pot, update_header_comment=False)
        # Obsolete entries already served as fuzzy-matching hints; keeping them is clutter.
        with po_path.open("wb") as f:
            write_po(f, catalog, width=100, ignore_obsolete=True, include_previous=False)
        untranslated = sum(1 for m in catalog if m.id and not m.string)
        fuzzy = sum(1 for m in catalog if m.id and m.fuzzy)
        print(f"{po_path.relative_to(ROOT)}: {untranslated} untranslated, {fuzzy} fuzzy")
    print(f"{POT.relative_to(ROOT)}: {len(pot)} messages")
    return 1 if extracted.problems else 0


if __name__ == "__main__":
    sys.exit(main())
