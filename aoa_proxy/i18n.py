"""User-visible text goes through `_()` (tray, settings page, CLI, start-up and config messages).

API error bodies sent to clients stay English and do not use this. (Stub: catalogues land with
the localisation issue; until then `_` returns its argument.)
"""

from __future__ import annotations


def _(message: str) -> str:
    """The translation of `message` in the current language."""
    return message
