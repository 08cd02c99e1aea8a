"""The tray menu's content and the icons, with pystray's display-free dummy backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from PIL import Image

from aoa_desktop.tray import ASSETS, IconState, Tray, draw_icon, icon_image, menu_backend


class Actions:
    """A TrayActions with settable answers that records what the menu asked for."""

    def __init__(self) -> None:
        self.active = "azure"
        self.enabled = ["azure", "demo"]
        self.wanted = {"azure", "gemini", "demo"}  # gemini: on, but not configured
        self.configured = {"azure", "demo"}
        self.resting: dict[str, str] = {}
        self.paused = False
        self.autostart = False
        self.problem = ""
        self.calls: list[tuple[str, Any]] = []

    def base_url(self) -> str:
        return "http://127.0.0.1:8080/v1"

    def state(self) -> tuple[IconState, str]:
        if self.problem:
            return "error", self.problem
        return ("paused" if self.paused else "running"), ""

    def providers(self) -> Sequence[tuple[str, str]]:
        return [("azure", "Azure OpenAI"), ("gemini", "Gemini"), ("demo", "Demo (offline)")]

    def active_provider(self) -> str:
        return self.active

    def enabled_providers(self) -> Sequence[str]:
        return self.enabled

    def is_enabled(self, name: str) -> bool:
        return name in self.wanted

    def can_toggle(self, name: str) -> bool:
        return name != self.active

    def toggle_provider(self, name: str) -> None:
        self.calls.append(("toggle", name))

    def cooling(self, name: str) -> str:
        return self.resting.get(name, "")

    def is_configured(self, name: str) -> bool:
        return name in self.configured

    def choose_provider(self, name: str) -> None:
        self.calls.append(("choose", name))

    def open_settings(self) -> None:
        self.calls.append(("settings", None))

    def open_log_folder(self) -> None:
        self.calls.append(("logs", None))

    def connect_tools(self) -> Sequence[tuple[str, str]]:
        return [("codex", "Codex CLI"), ("python", "Python")]

    def open_connect(self, name: str) -> None:
        self.calls.append(("connect", name))

    def autostart_enabled(self) -> bool:
        return self.autostart

    def set_autostart(self, on: bool) -> None:
        self.calls.append(("autostart", on))

    def is_paused(self) -> bool:
        return self.paused

    def set_paused(self, paused: bool) -> None:
        self.calls.append(("paused", paused))

    def quit(self) -> None:
        self.calls.append(("quit", None))


@pytest.fixture
def pystray(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    import pystray as module

    return module


def _rows(menu: Any) -> list[Any]:
    return [item for item in menu.items if item.visible and item is not menu.SEPARATOR]


def test_menu_rows_and_the_default_providers_radio_items(pystray: Any) -> None:
    actions = Actions()
    menu = Tray(actions, "dummy")._menu(pystray)
    rows = _rows(menu)
    assert [r.text for r in rows] == [
        "http://127.0.0.1:8080/v1",
        "Default provider",
        "Enabled providers",
        "Settings…",
        "Connect a tool",
        "Open log folder",
        "Start at login",
        "Pause serving",
        "Quit",
    ]
    defaults = list(rows[1].submenu.items)  # the enabled ones only
    assert [p.text for p in defaults] == ["Azure OpenAI", "Demo (offline)"]
    assert [p.checked for p in defaults] == [True, False]
    assert all(p.radio for p in defaults)
    actions.active = "demo"
    assert [p.checked for p in rows[1].submenu.items] == [False, True]


def test_enabled_providers_are_check_items_and_the_default_is_locked(pystray: Any) -> None:
    actions = Actions()
    rows = _rows(Tray(actions, "dummy")._menu(pystray))
    items = list(rows[2].submenu.items)
    assert [i.text for i in items] == [
        "Azure OpenAI (default)",
        "Gemini (not configured)",
        "Demo (offline)",
    ]
    assert [i.checked for i in items] == [True, True, True]
    assert [i.radio for i in items] == [False, False, False]
    assert [i.enabled for i in items] == [False, True, True]  # the default stays on
    items[1](pystray.Icon("t"))
    assert actions.calls == [("toggle", "gemini")]


def test_a_cooling_key_shows_as_a_line_and_in_the_tooltip(pystray: Any) -> None:
    actions = Actions()
    tray = Tray(actions, "dummy")
    menu = tray._menu(pystray)
    assert len(_rows(menu)) == 9
    actions.resting["gemini"] = "Gemini key ****abcd cooling down until 14:03:12"
    rows = _rows(menu)
    assert rows[1].text == "Gemini key ****abcd cooling down until 14:03:12"
    assert not rows[1].enabled
    assert tray._title("running", "").endswith("\nGemini key ****abcd cooling down until 14:03:12")


def test_menu_items_call_the_actions(pystray: Any) -> None:
    actions = Actions()
    menu = Tray(actions, "dummy")._menu(pystray)
    rows = _rows(menu)
    icon = pystray.Icon("t")
    list(rows[1].submenu.items)[1](icon)
    list(rows[2].submenu.items)[2](icon)
    list(rows[4].submenu.items)[1](icon)
    for row in [*rows[3:4], *rows[5:]]:
        row(icon)
    assert actions.calls == [
        ("choose", "demo"),
        ("toggle", "demo"),
        ("connect", "python"),
        ("settings", None),
        ("logs", None),
        ("autostart", True),
        ("paused", True),
        ("quit", None),
    ]


def test_pause_row_and_error_row_follow_the_state(pystray: Any) -> None:
    actions = Actions()
    menu = Tray(actions, "dummy")._menu(pystray)
    actions.paused = True
    assert "Resume serving" in [r.text for r in _rows(menu)]
    actions.problem = "Port 8080 on 127.0.0.1 is already in use"
    rows = _rows(menu)
    assert rows[1].text == actions.problem and not rows[1].enabled


def test_packaged_icons_exist_for_every_state() -> None:
    for state in ("running", "paused", "error"):
        assert (ASSETS / f"icon-{state}.png").exists()
        assert icon_image(state).mode == "RGBA"


def test_drawn_fallback_icons_differ_by_state() -> None:
    images: list[Image.Image] = [draw_icon(s) for s in ("running", "paused", "error")]
    centres = {img.getpixel((10, 32)) for img in images}
    assert len(centres) == 3
    assert all(img.size == (64, 64) for img in images)


def test_linux_backends_without_a_menu_are_refused() -> None:
    backend, why = menu_backend("linux", {"PYSTRAY_BACKEND": "xorg"})
    assert backend is None and "has no menu" in why
    assert menu_backend("darwin", {}) == ("darwin", "")
    assert menu_backend("win32", {}) == ("win32", "")
