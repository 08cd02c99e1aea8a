"""Codex CLI: a model provider block in ~/.codex/config.toml ($CODEX_HOME), chosen by
`model_provider`. Parsed and written with tomlkit, so comments, order and unknown keys stay.

Config reference: https://developers.openai.com/codex/config-reference
The access token goes into `experimental_bearer_token` so `codex` works with no exported
variable; without a token aoa takes any key and Codex sends none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from aoa_desktop.connect.base import ConnectError, Context, Snippet, Tool, library
from aoa_proxy.i18n import _

PROVIDER: Final = "aoa"
_TOP: Final = ("model", "model_provider")


def _parse(text: str, path: str) -> Any:
    tomlkit = library("tomlkit")
    try:
        return tomlkit.parse(text)
    except library("tomlkit.exceptions").TOMLKitError as exc:
        raise ConnectError(
            _("{path} is not valid TOML ({error}); fix or move it, then connect again.").format(
                path=path, error=exc
            )
        ) from exc


def _block(ctx: Context) -> dict[str, Any]:
    block: dict[str, Any] = {
        "name": "aoa",
        "base_url": ctx.api_base,
        "wire_api": "responses",
    }
    if ctx.token:
        block["experimental_bearer_token"] = ctx.token
    return block


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


class Codex(Tool):
    name = "codex"
    label = "Codex CLI"
    commands = ("codex",)

    def path(self, ctx: Context) -> Path:
        home = ctx.env.get("CODEX_HOME", "").strip()
        return (Path(home) if home else ctx.home / ".codex") / "config.toml"

    def apply(self, text: str | None, ctx: Context) -> str:
        tomlkit = library("tomlkit")
        doc = _parse(text or "", str(self.path(ctx)))
        # Assign only what differs: tomlkit re-renders an assigned value, so an already
        # connected file comes back byte for byte.
        for key, value in (("model", ctx.model), ("model_provider", PROVIDER)):
            if value and _plain(doc.get(key)) != value:
                doc[key] = value
        # A table, or tomlkit's proxy when its sub-tables are spread through the file.
        providers = doc.get("model_providers")
        if providers is None:
            providers = tomlkit.table(is_super_table=True)
            doc.append("model_providers", providers)
        elif not isinstance(providers, dict):
            raise ConnectError(
                _("{path}: model_providers is not a table; fix it, then connect again.").format(
                    path=self.path(ctx)
                )
            )
        wanted = _block(ctx)
        current = providers.get(PROVIDER)
        if not isinstance(current, dict) or _plain(current) != wanted:
            table = tomlkit.table()
            for key, value in wanted.items():
                table[key] = value
            providers[PROVIDER] = table
        text_out: str = tomlkit.dumps(doc)
        return text_out

    def revert(self, text: str, before: str | None) -> str | None:
        doc = _parse(text, "config.toml")
        prev = _parse(before or "", "config.toml (backup)")
        # Put back model/model_provider only while they still point here: a later choice of
        # the person's own stays.
        if _plain(doc.get("model_provider")) == PROVIDER:
            for key in _TOP:
                if key in prev:
                    doc[key] = prev[key]
                elif key in doc:
                    del doc[key]
        providers = doc.get("model_providers")
        if isinstance(providers, dict):
            old = prev.get("model_providers")
            if isinstance(old, dict) and PROVIDER in old:
                providers[PROVIDER] = old[PROVIDER]
            elif PROVIDER in providers:
                del providers[PROVIDER]
            if not providers and "model_providers" not in prev:
                del doc["model_providers"]
        out: str = library("tomlkit").dumps(doc)
        return None if before is None and not out.strip() else out

    def snippets(self, ctx: Context) -> list[Snippet]:
        return [Snippet("~/.codex/config.toml", "toml", self.apply(None, ctx))]
