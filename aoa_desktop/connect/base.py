"""What every tool module shares: the gateway's address and token as tools see them, and the
interface a tool with a config file implements.

A tool module holds translation only: text in, text out (`apply`, `revert`), no file access,
so each is unit-testable with plain strings. files.py owns reading, backups and writing.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Final

# Sent as the API key when aoa has no access token: aoa then takes any key, and most tools
# refuse to start without one.
PLACEHOLDER: Final = "no-token-needed"
TIERS: Final = ("opus", "sonnet", "haiku")


class ConnectError(Exception):
    """A tool's file cannot be changed (unreadable, not valid TOML/JSON/YAML...); nothing was
    written. The message names the file and the fix."""


def library(module: str) -> Any:
    """Import tomlkit / ruamel.yaml when a file is edited: they come with aoa[desktop], and a
    plain `pip install aoa` (the headless gateway) must still import this package."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from aoa_proxy.i18n import _

        raise ConnectError(
            _("Editing this file needs {module}: install aoa[desktop].").format(module=module)
        ) from exc


@dataclass(frozen=True)
class Context:
    """The gateway as other tools reach it. Never an upstream key: only the local address and
    aoa's own access token ("" when none is set)."""

    base_url: str  # http://127.0.0.1:8080, no /v1
    token: str = field(default="", repr=False)
    model: str = ""  # the name tools ask for by default
    models: tuple[str, ...] = ()  # names aoa routes: literal aliases, provider/model
    tiers: Mapping[str, str] = field(default_factory=dict)  # Claude Code's opus/sonnet/haiku
    home: Path = field(default_factory=Path.home)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def api_base(self) -> str:
        return self.base_url + "/v1"

    @property
    def key(self) -> str:
        """What a tool sends as its API key."""
        return self.token or PLACEHOLDER

    def masked(self) -> Context:
        """This context with the token shown as ****abcd (for previews on the page)."""
        if not self.token:
            return self
        return replace(self, token="****" + self.token[-4:])


@dataclass(frozen=True)
class Snippet:
    """Something to paste: a title, the language for highlighting, the text."""

    title: str
    language: str
    text: str


class Tool(ABC):
    """One tool: where it keeps its settings and how aoa's settings go into that file."""

    name: ClassVar[str]  # "codex"
    label: ClassVar[str]  # "Codex CLI"
    commands: ClassVar[tuple[str, ...]] = ()  # executables that show it is installed

    @abstractmethod
    def path(self, ctx: Context) -> Path:
        """The file this tool reads its settings from."""

    def installed(self, ctx: Context) -> bool:
        """The tool's command is on PATH, or its settings folder exists."""
        from shutil import which

        search = ctx.env.get("PATH", os.defpath)
        if any(which(c, path=search) for c in self.commands):
            return True
        return self.path(ctx).parent.is_dir()

    @abstractmethod
    def apply(self, text: str | None, ctx: Context) -> str:
        """The file's new text with aoa's settings merged in (`text` None: no file yet).

        Everything else in the file is kept; the same text comes back when it already holds
        exactly these settings, so connecting twice changes nothing.
        """

    @abstractmethod
    def revert(self, text: str, before: str | None) -> str | None:
        """`text` without aoa's settings: what `before` (the file before aoa first touched it,
        None if there was none) had in their place comes back. None: delete the file."""

    def snippets(self, ctx: Context) -> list[Snippet]:
        """What to paste instead of letting aoa edit the file (by default: nothing)."""
        return []
