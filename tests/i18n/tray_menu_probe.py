"""Prints the tray menu's texts as JSON: in the language given, then after switching to English.

Run as `python -m tests.i18n.tray_menu_probe zh_CN` by test_i18n_tray_menu.py, in its own process
because pystray binds its backend (here the dummy one: no display needed) at first import.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from aoa_desktop.fields import FIELDS
from aoa_desktop.tray import IconState, Tray
from aoa_proxy.i18n import set_language


class _Actions:
    """A TrayActions with fixed answers: demo active, nothing else configured, serving."""

    def base_url(self) -> str:
        return "http://127.0.0.1:8080/v1"

    def state(self) -> tuple[IconState, str]:
        return "running", ""

    def providers(self) -> Sequence[tuple[str, str]]:
        return FIELDS.providers()

    def active_provider(self) -> str:
        return "demo"

    def enabled_providers(self) -> Sequence[str]:
        return ["demo"]

    def is_enabled(self, name: str) -> bool:
        return name == "demo"

    def can_toggle(self, name: str) -> bool:
        return name != "demo"

    def toggle_provider(self, name: str) -> None: ...
    def cooling(self, name: str) -> str:
        return ""

    def is_configured(self, name: str) -> bool:
        return name == "demo"

    def choose_provider(self, name: str) -> None: ...
    def open_settings(self) -> None: ...
    def connect_tools(self) -> Sequence[tuple[str, str]]:
        return [("codex", "Codex CLI")]

    def open_connect(self, name: str) -> None: ...
    def open_log_folder(self) -> None: ...
    def autostart_enabled(self) -> bool:
        return False

    def set_autostart(self, on: bool) -> None: ...
    def is_paused(self) -> bool:
        return False

    def set_paused(self, paused: bool) -> None: ...
    def quit(self) -> None: ...


def _texts(menu: Any) -> list[str]:
    return [item.text for item in menu.items if item.visible and item.text != "- - - -"]


def main(language: str) -> None:
    os.environ["PYSTRAY_BACKEND"] = "dummy"
    import pystray

    set_language(language)
    menu = Tray(_Actions(), "dummy")._menu(pystray)
    default_menu, enabled_menu = [item.submenu for item in menu.items if item.submenu][:2]
    out = {
        "menu": _texts(menu),
        "defaults": _texts(default_menu),
        "providers": _texts(enabled_menu),
    }
    set_language("en")  # what choosing English in the settings page does; same menu object
    out["menu_after_switch"] = _texts(menu)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
