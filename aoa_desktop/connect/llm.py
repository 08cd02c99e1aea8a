"""Simon Willison's `llm`: models in extra-openai-models.yaml in llm's folder.

Format: https://llm.datasette.io/en/stable/other-models.html#openai-compatible-models
With `api_base` set llm needs no key of its own; the access token travels as a header.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from aoa_desktop.connect import yamlfile
from aoa_desktop.connect.base import ConnectError, Context, Snippet, Tool
from aoa_proxy.i18n import _

FILE = "extra-openai-models.yaml"


def _ours(model_id: Any) -> bool:
    return isinstance(model_id, str) and (model_id == "aoa" or model_id.startswith("aoa/"))


def _entries(ctx: Context) -> list[dict[str, Any]]:
    """`aoa` for the default model, `aoa/<name>` for each other name aoa routes."""
    names = [ctx.model, *(m for m in ctx.models if m != ctx.model)]
    entries = []
    for i, name in enumerate(n for n in names if n):
        entry: dict[str, Any] = {
            "model_id": "aoa" if i == 0 else f"aoa/{name}",
            "model_name": name,
            "api_base": ctx.api_base,
        }
        if ctx.token:
            entry["headers"] = {"Authorization": f"Bearer {ctx.token}"}
        entries.append(entry)
    return entries


def _items(data: Any, path: str) -> list[Any]:
    if not isinstance(data, list):
        raise ConnectError(_("{path} should hold a list of models.").format(path=path))
    return data


class Llm(Tool):
    name = "llm"
    label = "llm"
    commands = ("llm",)

    def path(self, ctx: Context) -> Path:
        custom = ctx.env.get("LLM_USER_PATH", "").strip()
        if custom:
            return Path(custom) / FILE
        if sys.platform == "darwin":
            base = ctx.home / "Library" / "Application Support"
        elif sys.platform.startswith("win"):
            base = Path(ctx.env.get("APPDATA") or ctx.home / "AppData" / "Roaming")
        else:
            base = Path(ctx.env.get("XDG_CONFIG_HOME") or ctx.home / ".config")
        return base / "io.datasette.llm" / FILE  # click.get_app_dir("io.datasette.llm")

    def apply(self, text: str | None, ctx: Context) -> str:
        data = yamlfile.load(text, str(self.path(ctx)))
        items = yamlfile.new_seq() if data is None else _items(data, str(self.path(ctx)))
        changed = yamlfile.merge(items, _entries(ctx), "model_id", _ours)
        if text is not None and not changed:
            return text
        return yamlfile.dump(items)

    def revert(self, text: str, before: str | None) -> str | None:
        data = yamlfile.load(text, FILE)
        if data is None:
            return None if before is None else text
        items = _items(data, FILE)
        yamlfile.unmerge(items, yamlfile.load(before, FILE), "model_id", _ours)
        if before is None and not items:
            return None
        return yamlfile.dump(items)

    def snippets(self, ctx: Context) -> list[Snippet]:
        return [
            Snippet(FILE, "yaml", yamlfile.dump(_entries(ctx))),
            Snippet(_("then"), "bash", 'llm -m aoa "Say hello"\n'),
        ]
