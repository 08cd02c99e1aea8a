"""Continue (VS Code / JetBrains): models in ~/.continue/config.yaml.

Format: https://docs.continue.dev/reference (provider `openai` with `apiBase`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aoa_desktop.connect import yamlfile
from aoa_desktop.connect.base import ConnectError, Context, Snippet, Tool
from aoa_proxy.i18n import _

NEW_FILE = {"name": "Local config", "version": "1.0.0", "schema": "v1"}


def _ours(name: Any) -> bool:
    return isinstance(name, str) and name.startswith("aoa ")


def _entries(ctx: Context) -> list[dict[str, Any]]:
    names = [ctx.model, *(m for m in ctx.models if m != ctx.model)]
    return [
        {
            "name": f"aoa {name}",
            "provider": "openai",
            "model": name,
            "apiBase": ctx.api_base,
            "apiKey": ctx.key,
            "roles": ["chat", "edit", "apply"],
        }
        for name in names
        if name
    ]


class Continue(Tool):
    name = "continue"
    label = "Continue"

    def path(self, ctx: Context) -> Path:
        folder = ctx.env.get("CONTINUE_GLOBAL_DIR", "").strip()
        return (Path(folder) if folder else ctx.home / ".continue") / "config.yaml"

    def _doc(self, text: str | None, path: str) -> Any:
        data = yamlfile.load(text, path)
        if data is None:
            return yamlfile.new_map(NEW_FILE)
        if not isinstance(data, dict):
            raise ConnectError(_("{path} should hold a YAML mapping.").format(path=path))
        return data

    def apply(self, text: str | None, ctx: Context) -> str:
        doc = self._doc(text, str(self.path(ctx)))
        models = doc.get("models")
        if not isinstance(models, list):
            models = doc["models"] = yamlfile.new_seq()
        changed = yamlfile.merge(models, _entries(ctx), "name", _ours)
        if text is not None and not changed:
            return text
        return yamlfile.dump(doc)

    def revert(self, text: str, before: str | None) -> str | None:
        doc = self._doc(text, "config.yaml")
        prev = yamlfile.load(before, "config.yaml")
        models = doc.get("models")
        if isinstance(models, list):
            old = prev.get("models") if isinstance(prev, dict) else None
            yamlfile.unmerge(models, old, "name", _ours)
            if not models and not (isinstance(prev, dict) and "models" in prev):
                del doc["models"]
        if before is None and dict(doc) == NEW_FILE:
            return None
        return yamlfile.dump(doc)

    def snippets(self, ctx: Context) -> list[Snippet]:
        return [
            Snippet("~/.continue/config.yaml", "yaml", yamlfile.dump({"models": _entries(ctx)}))
        ]
