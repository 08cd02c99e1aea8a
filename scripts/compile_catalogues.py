"""Compile each aoa_proxy/locale/*/LC_MESSAGES/aoa.po into the .mo that gettext loads.

    .venv/bin/python scripts/compile_catalogues.py          # (re)write the .mo files
    .venv/bin/python scripts/compile_catalogues.py --check  # exit 1 if one is missing or stale

Run by `make catalogues` (and so `make run`) and by build/pyinstaller.spec before it collects
the catalogues. Fuzzy entries are left out, as msgfmt does: an unchecked translation shows
English. Output is deterministic, so an unchanged .po leaves its .mo byte-identical.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "aoa_proxy" / "locale"


def compiled(po_path: Path) -> bytes:
    """The .mo bytes for one .po file."""
    with po_path.open("rb") as f:
        catalog = read_po(f, abort_invalid=True)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_all(check: bool = False) -> list[Path]:
    """Write (or with `check`, only compare) every .mo; returns those that were out of date."""
    stale = []
    for po_path in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        data = compiled(po_path)
        if mo_path.exists() and mo_path.read_bytes() == data:
            continue
        stale.append(mo_path)
        if not check:
            mo_path.write_bytes(data)
    return stale


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = compile_all(check=check)
    for path in stale:
        verb = "is out of date (run scripts/compile_catalogues.py)" if check else "written"
        print(f"{path.relative_to(ROOT)}: {verb}", file=sys.stderr if check else sys.stdout)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
