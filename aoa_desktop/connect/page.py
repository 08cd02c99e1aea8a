"""What the settings page's Connect section gets and does, as plain JSON-ready dicts.

The page sees the access token only masked (****abcd) in statuses, previews and snippets; the
one exception is `snippet_text`, asked for by a Copy click, which hands over the text to paste
with the real token (the same token every client of this gateway holds).
"""

from __future__ import annotations

from typing import Any

from aoa_desktop.connect import GUIDES, TOOLS, Connections, Context, Snippet


def _snippets(items: list[Snippet]) -> list[dict[str, str]]:
    return [{"title": s.title, "language": s.language, "text": s.text} for s in items]


def overview(conns: Connections, ctx: Context) -> dict[str, Any]:
    """Every tool: label, status (file tools), snippets with the token masked."""
    shown = ctx.masked()
    tools = []
    for name, tool in TOOLS.items():
        tools.append(
            {
                "name": name,
                "label": tool.label,
                "file": True,
                **conns.status(name, ctx),
                "snippets": _snippets(tool.snippets(shown)),
            }
        )
    for name, guide in GUIDES.items():
        tools.append(
            {
                "name": name,
                "label": guide.label,
                "file": False,
                "snippets": _snippets(guide.snippets(shown)),
            }
        )
    return {"tools": tools, "token_set": bool(ctx.token)}


def snippet_text(ctx: Context, name: str, index: int) -> str | None:
    """One snippet with the real token, for the clipboard; None if there is no such snippet."""
    owner = TOOLS.get(name) or GUIDES.get(name)
    if owner is None:
        return None
    items = owner.snippets(ctx)
    return items[index].text if 0 <= index < len(items) else None
