"""The real tray app (GTK menu) under Xvfb + trayer, in English and in Chinese, for docs/.

Starts `python -m aoa_desktop` with AOA_LANG, opens the tray menu and its provider submenu with
xdotool, takes a screenshot, and quits through the menu. The Chinese one goes to docs/screenshots
when missing or when AOA_UPDATE_SCREENSHOTS is set, so an ordinary run leaves the tree clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.i18n.conftest import ROOT, clean_env
from tests.support import free_port, wait_for
from tests.xserver import start_trayer, start_xvfb, stop

pytestmark = pytest.mark.desktop
SHOTS = ROOT / "docs" / "screenshots"
SLOW = 30.0  # seconds: Xvfb, trayer and GTK start slowly on a loaded machine
TOOLS = ("Xvfb", "trayer", "xdotool", "xdpyinfo", "import", "convert")
T = TypeVar("T")


@dataclass
class Screen:
    display: str
    panel: str  # trayer's window; it grows when an icon docks

    def run(self, *args: str) -> str:
        env = {**os.environ, "DISPLAY": self.display}
        return subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=30, check=False
        ).stdout

    def geometry(self, window: str) -> tuple[int, int, int, int]:
        values = dict(
            line.split("=", 1)
            for line in self.run("xdotool", "getwindowgeometry", "--shell", window).split()
        )
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])

    def menus(self) -> list[tuple[int, int, int, int]]:
        """Geometry of the app's visible popup menus (GTK names them after argv[0])."""
        found = []
        for window in self.run("xdotool", "search", "--onlyvisible", "--name", "__main__").split():
            x, y, w, h = self.geometry(window)
            if w > 60 and h > 60:
                found.append((x, y, w, h))
        return found

    def shot(self, path: Path) -> bytes:
        self.run("import", "-window", "root", str(path))
        return path.read_bytes() if path.exists() else b""


@pytest.fixture
def screen() -> Iterator[Screen]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/system-deps.sh)")
    try:
        import gi  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        pytest.skip("PyGObject is not installed: the tray has no menu to photograph")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        display = start_xvfb(procs)
        panel = start_trayer(procs, display)
        yield Screen(display, panel)
    finally:
        for proc in reversed(procs):
            stop(proc)


def _photograph_menu(screen: Screen, language: str, tmp_path: Path) -> Path:
    """Run the app in `language`, open menu + provider submenu, screenshot, quit via the menu."""
    port = free_port()
    home = tmp_path / f"home-{language}"
    runtime = tmp_path / f"run-{language}"
    runtime.mkdir(mode=0o700, parents=True)
    env = clean_env(
        DISPLAY=screen.display,
        PYSTRAY_BACKEND="gtk",
        AOA_LANG=language,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_RUNTIME_DIR=str(runtime),
    )
    log = (tmp_path / f"aoa-{language}.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "aoa_desktop", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_for("the gateway's /health", healthy, SLOW)

        def docked() -> tuple[int, int, int, int] | None:
            geometry = screen.geometry(screen.panel)
            return geometry if geometry[2] > 16 else None

        log_file = tmp_path / f"aoa-{language}.log"
        wait_for("the tray icon", lambda: b"tray icon shown" in log_file.read_bytes(), SLOW)
        wait_for("the icon to dock", docked, SLOW)

        def open_menu() -> None:
            # A click that lands while GTK is still settling the freshly docked icon is lost:
            # re-read where the icon is and click again until a menu shows.
            for _attempt in range(5):
                x, y, w, h = screen.geometry(screen.panel)
                screen.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "3")
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    if screen.menus():
                        return
                    time.sleep(0.05)
            pytest.fail("the tray menu did not open after 5 clicks")

        open_menu()
        # First item (the address), "Default provider", then "Enabled providers" and its
        # submenu (every provider: the default one's submenu may hold a single row).
        screen.run("xdotool", "key", "Down", "Down", "Down", "Right")
        wait_for("the providers submenu", lambda: len(screen.menus()) >= 2, SLOW)
        left = min(m[0] for m in screen.menus())
        bottom = max(m[1] + m[3] for m in screen.menus())

        # GTK paints after mapping: take shots until two in a row are identical.
        full = tmp_path / f"screen-{language}.png"
        previous = [b""]

        def settled() -> bool:
            data = screen.shot(full)
            same = data == previous[0]
            previous[0] = data
            return bool(data) and same

        wait_for("the menu to be painted", settled, SLOW)
        shot = tmp_path / f"tray-menu.{language}.png"
        left, top = max(left - 8, 0), 0
        width, height = 800 - left, min(bottom + 8, 600)
        screen.run(
            "convert", str(full), "-crop", f"{width}x{height}+{left}+{top}", "+repage", str(shot)
        )
        screen.run("xdotool", "key", "Escape", "Escape")
        wait_for("the menu to close", lambda: not screen.menus(), SLOW)

        open_menu()
        screen.run("xdotool", "key", "Up", "Return")  # Up from nothing selects the last item
        assert app.wait(30) == 0
        return shot
    finally:
        stop(app)
        log.close()


def _publish(shot: Path, name: str) -> None:
    target = SHOTS / name
    if os.environ.get("AOA_UPDATE_SCREENSHOTS") or not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_tray_menu_screenshots_in_both_languages(screen: Screen, tmp_path: Path) -> None:
    english = _photograph_menu(screen, "en", tmp_path)
    chinese = _photograph_menu(screen, "zh_CN", tmp_path)
    assert english.stat().st_size > 2_000 and chinese.stat().st_size > 2_000
    assert english.read_bytes() != chinese.read_bytes()
    # docs/screenshots/tray-menu.png (English) is tests/desktop_shell's to write.
    _publish(chinese, "tray-menu.zh-CN.png")
