"""Claude Code: the `env` block of ~/.claude/settings.json ($CLAUDE_CONFIG_DIR).

Settings reference: https://docs.anthropic.com/en/docs/claude-code/settings and, for gateways,
https://docs.anthropic.com/en/docs/claude-code/llm-gateway. ANTHROPIC_AUTH_TOKEN travels as
`Authorization: Bearer`, which aoa takes; ANTHROPIC_API_KEY would win over it (and send a real
Anthropic key to aoa), so it is set aside while connected and comes back on disconnect.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Final

from aoa_desktop.connect.base import TIERS, ConnectError, Context, Snippet, Tool
from aoa_proxy.i18n import _

BASE_URL: Final = "ANTHROPIC_BASE_URL"
TOKEN: Final = "ANTHROPIC_AUTH_TOKEN"
API_KEY: Final = "ANTHROPIC_API_KEY"
TIER_VARS: Final = {tier: f"ANTHROPIC_DEFAULT_{tier.upper()}_MODEL" for tier in TIERS}
TOUCHED: Final = (BASE_URL, TOKEN, API_KEY, *TIER_VARS.values())


def _load(text: str | None, path: str) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConnectError(
            _("{path} is not valid JSON ({error}); fix or move it, then connect again.").format(
                path=path, error=exc
            )
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("env", {}), dict):
        raise ConnectError(
            _("{path} does not hold the settings object Claude Code expects.").format(path=path)
        )
    return data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def wanted_env(ctx: Context) -> dict[str, str]:
    """The variables Claude Code gets: the address without /v1, the token, the tiers."""
    env = {BASE_URL: ctx.base_url, TOKEN: ctx.key}
    for tier, var in TIER_VARS.items():
        if ctx.tiers.get(tier):
            env[var] = ctx.tiers[tier]
    return env


class ClaudeCode(Tool):
    name = "claude-code"
    label = "Claude Code"
    commands = ("claude",)

    def path(self, ctx: Context) -> Path:
        folder = ctx.env.get("CLAUDE_CONFIG_DIR", "").strip()
        return (Path(folder) if folder else ctx.home / ".claude") / "settings.json"

    def apply(self, text: str | None, ctx: Context) -> str:
        data = _load(text, str(self.path(ctx)))
        env = dict(data.get("env") or {})
        wanted = wanted_env(ctx)
        mine = {k: v for k, v in env.items() if k in TOUCHED}
        if text is not None and mine == wanted:
            return text  # already connected: not even re-indented
        for var in TOUCHED:
            env.pop(var, None)
        env.update(wanted)
        data["env"] = env
        return _dump(data)

    def revert(self, text: str, before: str | None) -> str | None:
        data = _load(text, "settings.json")
        prev = _load(before, "settings.json (backup)")
        env = dict(data.get("env") or {})
        old = prev.get("env") or {}
        for var in TOUCHED:
            env.pop(var, None)
            if var in old:
                env[var] = old[var]
        if env or "env" in prev:
            data["env"] = env
        else:
            data.pop("env", None)
        if before is None and not data:
            return None
        return _dump(data)

    def snippets(self, ctx: Context) -> list[Snippet]:
        exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in wanted_env(ctx).items())
        return [
            Snippet("~/.claude/settings.json", "json", _dump({"env": wanted_env(ctx)})),
            Snippet(_("or in the shell"), "bash", exports + "\nclaude\n"),
        ]
