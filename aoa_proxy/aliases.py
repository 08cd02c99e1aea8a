"""Model alias lists: "gpt-4:my-deploy, gpt-3.5-turbo:gpt-35" -> {"gpt-4": "my-deploy", ...}."""

from __future__ import annotations

from aoa_proxy.i18n import _


def parse_aliases(text: str) -> dict[str, str]:
    """Parse an alias list; raise ValueError naming the first malformed piece.

    Same syntax as the original (comma-separated `requested:upstream` pairs) but spaces around
    names are ignored and a malformed piece is an error instead of being skipped silently.
    """
    aliases: dict[str, str] = {}
    for piece in text.split(","):
        if not piece.strip():
            continue
        parts = [p.strip() for p in piece.split(":")]
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(
                _("{value} is not of the form requested:upstream").format(value=repr(piece.strip()))
            )
        aliases[parts[0]] = parts[1]
    return aliases


def format_aliases(aliases: dict[str, str]) -> str:
    """The inverse of parse_aliases, for showing and storing."""
    return ",".join(f"{k}:{v}" for k, v in aliases.items())
