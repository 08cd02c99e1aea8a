"""The real tray under Xvfb + trayer: the app runs as `python -m aoa_desktop` with pystray's GTK
backend, and the menu is driven from outside with xdotool, as a person would.

Menu order (keyboard): URL row, Default provider ▸ (the enabled providers), Enabled providers ▸
(Azure, Yi, Gemini, OpenAI-compatible, Demo), Settings…, Connect a tool ▸ (Codex CLI, Claude
Code, ...), Open log folder, Start at login, Pause serving, Quit. In a GTK menu the first Down
selects the first row; Up from nothing selects the last row (Quit); Right opens a submenu on its
first item that can be chosen (the default provider's row in "Enabled providers" cannot: the
default is always enabled).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.desktop_shell.conftest import (
    ROOT,
    App,
    Desktop,
    Launcher,
    Upstream,
    chat,
    health,
    open_page,
)
from tests.support import wait_for

pytestmark = pytest.mark.desktop

SCREENSHOT = ROOT / "docs" / "screenshots" / "tray-menu.png"
# The committed screenshot is rewritten only when asked (or missing), so test runs leave the
# working tree clean: AOA_UPDATE_SCREENSHOTS=1 make test
UPDATE_SCREENSHOT = bool(os.environ.get("AOA_UPDATE_SCREENSHOTS")) or not SCREENSHOT.exists()


class Tray:
    """Drives one app's tray icon."""

    def __init__(self, desktop: Desktop, app: App, healthy: bool = True) -> None:
        self.desktop = desktop
        self.app = app
        if healthy:
            app.wait_healthy()
        self.where = wait_for(
            "the tray icon docked in trayer", lambda: desktop.tray_icon(app.proc.pid), 30
        )

    def open_menu(self) -> None:
        self.close_menus()
        for attempt in range(3):
            # trayer may still be laying out its panel after an earlier icon left: re-read
            # where the icon is and click again if the first click found no menu.
            self.where = self.desktop.tray_icon(self.app.proc.pid) or self.where
            self.desktop.click(self.where, 3)
            try:
                wait_for("the tray menu", lambda: self.desktop.popup_menus() >= 1, 5)
                return
            except AssertionError:
                if attempt == 2:
                    raise

    def close_menus(self) -> None:
        if self.desktop.popup_menus():
            self.desktop.keys("Escape", "Escape")
            wait_for("the menus to close", lambda: self.desktop.popup_menus() == 0)

    def pick(self, downs: int) -> None:
        """Open the menu and activate the row `downs` steps from the top (1 = URL row)."""
        self.open_menu()
        self.desktop.keys(*(["Down"] * downs), "Return")

    def pick_provider(self, index: int, screenshot: Path | None = None) -> None:
        """Default provider ▸ item `index` (0 = the first enabled provider)."""
        self._pick_in(2, index, screenshot)

    def toggle_provider(self, downs: int) -> None:
        """Enabled providers ▸ the row `downs` steps below the first one that can be chosen."""
        self._pick_in(3, downs)

    def _pick_in(self, row: int, index: int, screenshot: Path | None = None) -> None:
        self.open_menu()
        self.desktop.keys(*(["Down"] * row), "Right")
        wait_for("the submenu", lambda: self.desktop.popup_menus() >= 2)
        if index:
            self.desktop.keys(*(["Down"] * index))
        if screenshot is not None:
            self.desktop.screenshot(screenshot)
        self.desktop.keys("Return")

    def quit(self) -> int:
        self.open_menu()
        self.desktop.keys("Up", "Return")
        return self.app.wait_exit()


@pytest.fixture
def start_tray(launcher: Launcher, desktop: Desktop) -> Callable[..., tuple[App, Tray]]:
    def start(
        env: dict[str, str] | None = None, port: int | None = None, healthy: bool = True
    ) -> tuple[App, Tray]:
        app = launcher.start(port=port, env={**desktop.env, **(env or {})})
        return app, Tray(desktop, app, healthy)

    return start


def _two_upstreams(
    upstreams: Callable[[str], Upstream],
) -> tuple[Upstream, Upstream, dict[str, str]]:
    azure, other = upstreams("azure"), upstreams("openai")
    env = {
        "AZURE_ENDPOINT": azure.url + "/",
        "AZURE_API_KEY": "azure-test-key-0001",
        "AZURE_MODEL": "gpt-4o",
        "OPENAI_ENDPOINT": other.url + "/v1",
        "OPENAI_API_KEY": "openai-test-key-0002",
    }
    return azure, other, env


def test_icon_docks_and_quit_from_the_menu_exits_0(
    start_tray: Callable[..., tuple[App, Tray]],
) -> None:
    app, tray = start_tray()
    wait_for("the log line", lambda: "tray icon shown (gtk backend)" in app.stderr)
    assert tray.quit() == 0
    assert "quit from the tray" in app.stderr
    assert health(app.port) is None


UNLISTED = "a-model-no-provider-lists"


def _chats(upstream: Upstream) -> list[str]:
    """The chat calls an upstream got (with several providers aoa also lists their models)."""
    return [p for m, p in upstream.received if m == "POST"]


def test_enabling_a_provider_and_making_it_the_default_moves_the_next_request(
    start_tray: Callable[..., tuple[App, Tray]], upstreams: Callable[[str], Upstream]
) -> None:
    azure, other, env = _two_upstreams(upstreams)
    # The published screenshot shows the default address when that port is free.
    port = 8080 if UPDATE_SCREENSHOT and _port_free(8080) else None
    app, tray = start_tray(env, port=port)
    assert (health(app.port) or {}).get("provider") == "azure"
    assert chat(app.port) == "from azure"
    # Enabled providers ▸ (Azure is the default: Right lands on Yi) Yi, Gemini, OpenAI.
    tray.toggle_provider(2)
    stored = app.home / ".config" / "aoa" / "settings.json"
    app.wait_for("OpenAI enabled", lambda: "openai" in _stored_enabled(stored))
    shot = app.home / "menu.png"
    tray.pick_provider(1, screenshot=shot)  # Default provider ▸ Azure, OpenAI-compatible
    wait_for("the switch", lambda: (health(app.port) or {}).get("provider") == "openai")
    # A model no provider lists goes to the default (Azure lists AZURE_MODEL, gpt-4o).
    assert chat(app.port, model=UNLISTED) == "from openai"
    assert _chats(other) == ["/v1/chat/completions"]
    assert len(_chats(azure)) == 1  # nothing more went to Azure
    _save_menu_screenshot(
        shot, tray.where, SCREENSHOT if UPDATE_SCREENSHOT else app.home / "crop.png"
    )
    assert tray.quit() == 0


def test_the_default_provider_menu_lists_only_the_enabled_providers(
    start_tray: Callable[..., tuple[App, Tray]], upstreams: Callable[[str], Upstream]
) -> None:
    azure, other, env = _two_upstreams(upstreams)
    app, tray = start_tray({**env, "AOA_PROVIDERS": "azure,openai"})
    assert (health(app.port) or {}).get("provider") == "azure"
    # Its second row is OpenAI-compatible, not Yi (the second of all providers).
    tray.pick_provider(1)
    wait_for("the switch", lambda: (health(app.port) or {}).get("provider") == "openai")
    assert chat(app.port, model=UNLISTED) == "from openai"
    assert _chats(other) == ["/v1/chat/completions"] and _chats(azure) == []
    assert tray.quit() == 0


def test_enabling_an_unconfigured_provider_opens_the_settings_page(
    start_tray: Callable[..., tuple[App, Tray]],
) -> None:
    app, tray = start_tray()
    tray.toggle_provider(2)  # Enabled providers ▸ Azure, Yi, Gemini (not configured)
    url = wait_for("the settings page to be opened", app.opened_urls)[-1]
    assert url.startswith(f"http://127.0.0.1:{app.port}/")
    assert open_page(url)[0] == 200
    assert (health(app.port) or {}).get("provider") == "demo"  # unchanged
    stored = app.home / ".config" / "aoa" / "settings.json"
    assert "gemini" in _stored_enabled(stored)  # on, waiting for its key (the page says so)
    assert tray.quit() == 0


def test_settings_item_opens_the_page(start_tray: Callable[..., tuple[App, Tray]]) -> None:
    app, tray = start_tray()
    tray.pick(4)
    url = wait_for("the settings page to be opened", app.opened_urls)[-1]
    status, content_type, _body = open_page(url)
    assert status == 200 and "text/html" in content_type
    assert tray.quit() == 0


def test_connect_a_tool_opens_the_page_on_that_tool(
    start_tray: Callable[..., tuple[App, Tray]],
) -> None:
    app, tray = start_tray()
    tray._pick_in(5, 1)  # Connect a tool ▸ the second tool (Claude Code)
    url = wait_for("the settings page to be opened", app.opened_urls)[-1]
    assert url.endswith("#connect=claude-code")
    status, _type, _body = open_page(url.split("#")[0])
    assert status == 200
    assert tray.quit() == 0


def test_start_at_login_writes_and_removes_the_autostart_file(
    start_tray: Callable[..., tuple[App, Tray]],
) -> None:
    app, tray = start_tray()
    desktop_file = app.home / ".config" / "autostart" / "aoa.desktop"
    tray.pick(7)
    text = wait_for(
        "the autostart file", lambda: desktop_file.read_text() if desktop_file.exists() else ""
    )
    assert f"Exec={sys.executable} -m aoa_desktop" in text
    tray.pick(7)
    wait_for("the autostart file to go", lambda: not desktop_file.exists())
    assert tray.quit() == 0


def test_pause_and_resume_serving(start_tray: Callable[..., tuple[App, Tray]]) -> None:
    app, tray = start_tray()
    tray.pick(8)
    wait_for("paused", lambda: (health(app.port) or {}).get("status") == "paused")
    with pytest.raises(Exception, match="paused"):
        chat(app.port)
    tray.pick(8)  # now "Resume serving"
    wait_for("resumed", lambda: (health(app.port) or {}).get("status") == "ok")
    assert chat(app.port) == "Echo: hi"
    assert tray.quit() == 0


def test_title_row_copies_the_base_url(
    start_tray: Callable[..., tuple[App, Tray]], desktop: Desktop
) -> None:
    app, tray = start_tray()
    tray.pick(1)
    expected = f"http://127.0.0.1:{app.port}/v1"
    assert wait_for("the clipboard", lambda: _clipboard(desktop) == expected)
    assert tray.quit() == 0


def test_sigterm_with_the_tray_up_exits_0(start_tray: Callable[..., tuple[App, Tray]]) -> None:
    app, _tray = start_tray()
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_sigint_with_the_tray_up_exits_0(start_tray: Callable[..., tuple[App, Tray]]) -> None:
    app, _tray = start_tray()
    app.signal(signal.SIGINT)
    assert app.wait_exit() == 0


def test_port_in_use_shows_the_error_icon_and_a_notification(
    start_tray: Callable[..., tuple[App, Tray]], desktop: Desktop
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        seen = len(desktop.notifications())
        # /health never answers on the taken port, so don't wait for it.
        app, tray = start_tray(port=port, healthy=False)
        note = wait_for(
            "a port-in-use notification",
            lambda: [n for n in desktop.notifications()[seen:] if "already in use" in n["body"]],
        )[0]
        assert f"Port {port}" in note["body"]
        assert app.wait_for("the error badge", lambda: _badge_is_red(desktop, app))
        assert tray.quit() == 0


def test_a_failing_upstream_turns_the_icon_to_error_and_notifies(
    start_tray: Callable[..., tuple[App, Tray]],
    upstreams: Callable[[str], Upstream],
    desktop: Desktop,
) -> None:
    azure, _other, env = _two_upstreams(upstreams)
    azure.status = 500
    app, tray = start_tray(env)
    seen = len(desktop.notifications())
    with pytest.raises(Exception):  # noqa: B017 - the SDK's error class for a 500 is incidental
        chat(app.port)
    note = wait_for(
        "an upstream-failure notification",
        lambda: [n for n in desktop.notifications()[seen:] if "failed" in n.get("body", "")],
    )[0]
    assert "Azure OpenAI" in note["body"] and "500" in note["body"]
    assert app.wait_for("the error badge", lambda: _badge_is_red(desktop, app))
    azure.status = 200
    assert chat(app.port) == "from azure"  # a good call clears the error
    assert app.wait_for("the badge to clear", lambda: not _badge_is_red(desktop, app))
    assert tray.quit() == 0


# --------------------------------------------------------------------------- helpers


def _stored_enabled(path: Path) -> str:
    """The stored "Enabled" switches (AOA_PROVIDERS), "" before any."""
    if not path.exists():
        return ""
    return str(json.loads(path.read_text()).get("enabled", ""))


def _badge_is_red(desktop: Desktop, app: App) -> bool:
    """The error icon carries a red badge in its lower right quarter."""
    where = desktop.tray_icon(app.proc.pid)  # trayer may have moved or resized it meanwhile
    assert where is not None, "the tray icon is gone"
    shot = app.home / "icon.png"
    desktop.screenshot(shot)
    x, y, w, h = where
    with Image.open(shot) as img:
        corner = img.convert("RGB").crop((x + w // 2, y + h // 2, x + w, y + h))
        raw = corner.tobytes()
    pixels = zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
    reds = sum(1 for r, g, b in pixels if r > 170 and g < 90 and b < 90)
    return reds >= (w * h) // 40


def _clipboard(desktop: Desktop) -> str:
    """The CLIPBOARD selection's text, read through GTK in a separate process."""
    code = (
        "import gi; gi.require_version('Gtk', '3.0'); gi.require_version('Gdk', '3.0');"
        "from gi.repository import Gtk, Gdk;"
        "t = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD).wait_for_text();"
        "print(t or '', end='')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"DISPLAY": desktop.display, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
    )
    return out.stdout


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _save_menu_screenshot(shot: Path, icon: tuple[int, int, int, int], out: Path) -> None:
    """Crop the top-right corner (tray + open menu) into `out` (docs/screenshots/...)."""
    with Image.open(shot) as img:
        x, _y, w, _h = icon
        right = min(img.width, x + w + 8)
        left = max(0, right - 560)
        out.parent.mkdir(parents=True, exist_ok=True)
        img.crop((left, 0, right, 260)).save(out, optimize=True)
