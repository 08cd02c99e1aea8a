"""Connect a tool: point other programs on this computer at aoa.

Tools with a config file (Codex CLI, Claude Code, llm, Continue) get aoa's settings merged in,
after a preview and a backup, and can be disconnected again (files.py). The others get snippets
to paste (guides.py). Every tool gets the local address and aoa's access token only: never an
upstream key.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aoa_desktop.connect.base import TIERS, ConnectError, Context, Snippet, Tool
from aoa_desktop.connect.claude_code import ClaudeCode
from aoa_desktop.connect.codex import Codex
from aoa_desktop.connect.continue_dev import Continue
from aoa_desktop.connect.files import Connections
from aoa_desktop.connect.guides import CherryStudio, Curl, Guide, JavaScript, OpenWebUI, Python
from aoa_desktop.connect.llm import Llm
from aoa_proxy.config import Settings

TOOLS: Final[Mapping[str, Tool]] = {t.name: t for t in (Codex(), ClaudeCode(), Llm(), Continue())}
GUIDES: Final[Mapping[str, Guide]] = {
    g.name: g for g in (OpenWebUI(), CherryStudio(), Python(), JavaScript(), Curl())
}
FALLBACK_MODEL: Final = "gpt-4o"
# Claude Code's own names for its tiers, to see whether a wildcard alias already covers them.
_CLAUDE_NAMES: Final = {
    "opus": "claude-opus-4-8",
    "sonnet": "claude-sonnet-4-6",
    "haiku": "claude-haiku-4-5-20251001",
}

__all__ = [
    "GUIDES",
    "TOOLS",
    "ConnectError",
    "Connections",
    "Context",
    "Snippet",
    "context_for",
    "label",
]


def label(name: str) -> str:
    tool = TOOLS.get(name) or GUIDES.get(name)
    return tool.label if tool is not None else name


def _models(settings: Settings) -> tuple[str, ...]:
    """The names aoa routes, for tools to list: each enabled provider's literal aliases, then
    `provider/model` for each with a model set (wildcard aliases name no model)."""
    names: list[str] = []
    for provider in settings.enabled:
        ps = settings.providers.get(provider)
        if ps is None:
            continue
        names += [a for a in ps.aliases if not any(c in a for c in "*?[")]
    for provider in settings.enabled:
        ps = settings.providers.get(provider)
        if ps is not None and ps.model:
            names.append(f"{provider}/{ps.model}")
    return tuple(dict.fromkeys(names))


def _tiers(settings: Settings, default: str) -> dict[str, str]:
    """Claude Code's opus/sonnet/haiku, mapped to the person's aliases: a literal alias naming
    the tier; nothing when a wildcard alias already catches Claude's own name; else the
    default model."""
    aliases = [a for p in settings.enabled for a in (settings.providers.get(p) or _NO).aliases]
    tiers: dict[str, str] = {}
    for tier in TIERS:
        literal = [a for a in aliases if tier in a.lower() and not any(c in a for c in "*?[")]
        if literal:
            tiers[tier] = literal[0]
        elif any(fnmatch.fnmatchcase(_CLAUDE_NAMES[tier], a) for a in aliases):
            continue
        elif default:
            tiers[tier] = default
    return tiers


class _NoAliases:
    aliases: Mapping[str, str] = {}


_NO: Final = _NoAliases()


def context_for(
    settings: Settings,
    address: tuple[str, int] | None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Context:
    """What tools get from these settings: loopback address, access token, model names."""
    import os

    host, port = address or (settings.host, settings.port)
    name = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    name = f"[{name}]" if ":" in name else name
    models = _models(settings)
    # A tool needs some model name; with none configured anywhere, the one aoa's docs use
    # (the preview shows it, and the person can change it in the tool).
    model = settings.active.model or (models[0] if models else FALLBACK_MODEL)
    return Context(
        base_url=f"http://{name}:{port}",
        token=settings.access_token,
        model=model,
        models=models,
        tiers=_tiers(settings, model),
        home=home or Path.home(),
        env=dict(os.environ if env is None else env),
    )
