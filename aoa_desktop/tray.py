"""The tray icon and its menu: the only module that imports pystray.

pystray picks its backend at first import, and its X backend opens the display right then, so
the import happens inside `Tray.run()`, after `menu_backend()` has chosen a backend that has a
real menu. Everything the menu does is a call into `TrayActions` (implemented by shell.py), so
this file holds no application logic.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from PIL import Image, ImageDraw

from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

IconState = Literal["running", "paused", "error"]
ASSETS = Path(__file__).resolve().parent / "assets"
_COLOURS: Mapping[IconState, str] = {
    "running": "#2e9d5b",
    "paused": "#9a9a9a",
    "error": "#d23c3c",
}
MENU_BACKENDS = ("appindicator", "gtk")  # the Linux backends with a real menu


class TrayActions(Protocol):
    """What the menu shows and does; implemented by the app shell."""

    def base_url(self) -> str: ...
    def state(self) -> tuple[IconState, str]: ...  # (icon state, problem in plain words)
    def providers(self) -> Sequence[tuple[str, str]]: ...  # (name, label), every provider
    def active_provider(self) -> str: ...  # the default provider
    def enabled_providers(self) -> Sequence[str]: ...  # serving now, the default among them
    def is_enabled(self, name: str) -> bool: ...  # switched on (serving, or not configured yet)
    def can_toggle(self, name: str) -> bool: ...  # not the default, not set by AOA_PROVIDERS
    def toggle_provider(self, name: str) -> None: ...
    def cooling(self, name: str) -> str: ...  # "Gemini key ****abcd cooling until 14:03:12"
    def is_configured(self, name: str) -> bool: ...
    def choose_provider(self, name: str) -> None: ...
    def open_settings(self) -> None: ...
    def connect_tools(self) -> Sequence[tuple[str, str]]: ...  # (name, label), Connect a tool
    def open_connect(self, name: str) -> None: ...  # the settings page on that tool
    def open_log_folder(self) -> None: ...
    def autostart_enabled(self) -> bool: ...
    def set_autostart(self, on: bool) -> None: ...
    def is_paused(self) -> bool: ...
    def set_paused(self, paused: bool) -> None: ...
    def quit(self) -> None: ...


def menu_backend(
    platform: str = sys.platform, env: Mapping[str, str] | None = None
) -> tuple[str | None, str]:
    """The pystray backend to use, or (None, why there is no tray with a menu).

    Call only when a display exists: probing GTK connects to it.
    """
    env = os.environ if env is None else env
    if platform == "darwin":
        return "darwin", ""
    if platform.startswith("win"):
        return "win32", ""
    wanted = env.get("PYSTRAY_BACKEND", "").strip()
    if wanted and wanted not in MENU_BACKENDS:
        return None, _(
            "PYSTRAY_BACKEND={name} has no menu; use gtk or appindicator (needs PyGObject)"
        ).format(name=wanted)
    problem = _gtk_problem()
    if problem:
        return None, problem
    if wanted:
        return wanted, ""
    # AppIndicator (StatusNotifierItem) suits KDE, GNOME with the extension, Xfce...; it falls
    # back to a GtkStatusIcon itself. Plain Gtk.StatusIcon is the fallback when it is missing.
    return ("appindicator" if _has_appindicator() else "gtk"), ""


def _gtk_problem() -> str | None:
    try:
        import gi  # type: ignore[import-untyped,unused-ignore]

        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk  # type: ignore[import-untyped,unused-ignore]
    except (ImportError, ValueError) as exc:
        return _(
            "the tray menu needs GTK 3 through PyGObject ({error}); install it with "
            "`pip install 'aoa[gtk]'` and your system's gir1.2-gtk-3.0 package"
        ).format(error=exc)
    if not Gtk.init_check()[0]:
        return _("GTK could not open the display")
    return None


def _has_appindicator() -> bool:
    import gi  # type: ignore[import-untyped,unused-ignore]

    for namespace in ("AyatanaAppIndicator3", "AppIndicator3"):
        try:
            gi.require_version(namespace, "0.1")
            return True
        except (ValueError, ImportError):
            continue
    return False


def icon_image(state: IconState, size: int = 64) -> Image.Image:
    """The tray picture for `state`: the packaged PNG, else a drawn dot."""
    path = ASSETS / f"icon-{state}.png"
    try:
        with Image.open(path) as img:
            return img.convert("RGBA")
    except OSError:
        log.debug("no %s; drawing the icon", path)
    return draw_icon(state, size)


def draw_icon(state: IconState, size: int = 64) -> Image.Image:
    """A simple round icon in the state's colour (fallback when assets are missing)."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pad = size // 16
    d.ellipse((pad, pad, size - pad, size - pad), fill=_COLOURS[state])
    w = max(2, size // 10)
    c = size // 2
    if state == "paused":
        d.rectangle(
            (c - 3 * w // 2 - w // 2, c - size // 5, c - w // 2, c + size // 5), fill="white"
        )
        d.rectangle(
            (c + w // 2, c - size // 5, c + 3 * w // 2 + w // 2, c + size // 5), fill="white"
        )
    elif state == "error":
        d.rectangle((c - w // 2, c - size // 4, c + w // 2, c + size // 16), fill="white")
        d.ellipse((c - w // 2, c + size // 8, c + w // 2, c + size // 8 + w), fill="white")
    else:
        d.ellipse((c - size // 6, c - size // 6, c + size // 6, c + size // 6), fill="white")
    return img


class Tray:
    """A pystray Icon wired to `actions`. `run()` blocks the calling (main) thread."""

    def __init__(self, actions: TrayActions, backend: str) -> None:
        self.actions = actions
        self.backend = backend
        self._icon: Any = None
        self._state: IconState | None = None
        self._on_started: list[Callable[[], None]] = []
        self._refresh_lock = threading.Lock()

    def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Show the icon and handle its events until `stop()`.

        `on_started` runs on this thread once the loop runs (pystray resets SIGINT to the
        default on start, so the app re-installs its signal handlers there).
        """
        os.environ["PYSTRAY_BACKEND"] = self.backend  # read by pystray at import
        import pystray

        state, problem = self.actions.state()
        self._state = state
        icon_class = _keep_sigint(pystray.Icon) if self.backend in MENU_BACKENDS else pystray.Icon
        self._icon = icon_class(
            "aoa", icon_image(state), title=self._title(state, problem), menu=self._menu(pystray)
        )
        if on_started is not None:
            self._on_started.append(on_started)
        try:
            self._icon.run(setup=self._setup)
        except Exception as exc:
            # e.g. the GTK backend raising at exit when no notification daemon runs.
            log.debug("tray loop ended with %s: %s", type(exc).__name__, exc)

    def _setup(self, icon: Any) -> None:
        if self.backend in MENU_BACKENDS:
            from gi.repository import GLib  # type: ignore[import-untyped,unused-ignore]

            GLib.idle_add(self._started)  # on the GTK (main) thread
        else:
            self._started()

    def _started(self) -> bool:
        # Callbacks first (they re-install signal handlers), then show the icon: once the icon
        # is visible, the app is fully up.
        for callback in self._on_started:
            callback()
        if self._icon is not None:
            self._icon.visible = True
        log.info("tray icon shown (%s backend)", self.backend)
        return False  # one-shot idle callback

    def stop(self) -> None:
        if self._icon is not None:
            self._icon.stop()

    def refresh(self) -> None:
        """Redraw icon, tooltip and menu from `actions` (safe from any thread)."""
        icon = self._icon
        if icon is None:
            return
        with self._refresh_lock:  # the gateway thread and the GTK thread both refresh
            state, problem = self.actions.state()
            if state != self._state:
                log.info("tray state: %s%s", state, f" ({problem})" if problem else "")
                self._state = state
                icon.icon = icon_image(state)
            icon.title = self._title(state, problem)
            icon.update_menu()

    def notify(self, message: str, title: str = "aoa") -> None:
        """A desktop notification, where the platform has one (failures are only logged)."""
        icon = self._icon
        if icon is None or not getattr(icon, "HAS_NOTIFICATION", False):
            log.info("notification (not shown): %s", message)
            return
        try:
            icon.notify(message, title)
        except Exception as exc:
            log.info("notification failed (%s): %s", type(exc).__name__, message)

    # ------------------------------------------------------------------ the menu

    def _title(self, state: IconState, problem: str) -> str:
        text = "aoa " + self.actions.base_url()
        if state == "paused":
            text += " " + _("(paused)")
        if problem:
            text += "\n" + problem
        for name, _label in self.actions.providers():
            cooling = self.actions.cooling(name)
            if cooling:
                text += "\n" + cooling
        return text

    def _menu(self, pystray: Any) -> Any:
        a = self.actions
        Item, Menu = pystray.MenuItem, pystray.Menu

        def worded(name: str, label: str) -> str:
            if a.is_configured(name):
                return label
            return _("{label} (not configured)").format(label=label)

        def default_item(name: str, label: str) -> Any:
            return Item(
                lambda _item: worded(name, label),
                lambda _icon, _item: a.choose_provider(name),
                checked=lambda _item: a.active_provider() == name,
                radio=True,
            )

        def defaults() -> list[Any]:
            labels = dict(a.providers())
            return [default_item(n, labels.get(n, n)) for n in a.enabled_providers()]

        def enabled_item(name: str, label: str) -> Any:
            def text(_item: Any) -> str:
                if a.active_provider() == name:
                    return _("{label} (default)").format(label=label)
                return worded(name, label)

            return Item(
                text,
                lambda _icon, _item: a.toggle_provider(name),
                checked=lambda _item: a.is_enabled(name),
                enabled=lambda _item: a.can_toggle(name),
            )

        def cooling_item(name: str) -> Any:
            return Item(
                lambda _item: a.cooling(name) or "-",
                None,
                enabled=False,
                visible=lambda _item: bool(a.cooling(name)),
            )

        def connect_item(name: str, label: str) -> Any:
            return Item(label, lambda _icon, _item: a.open_connect(name))

        return Menu(
            Item(
                lambda _item: a.base_url(),
                lambda _icon, _item: self._copy_url(),
                default=True,
            ),
            Item(
                lambda _item: a.state()[1] or "-",
                None,
                enabled=False,
                visible=lambda _item: bool(a.state()[1]),
            ),
            # A key resting after a rate limit: one line per provider, shown while it rests.
            *(cooling_item(name) for name, _label in a.providers()),
            Menu.SEPARATOR,
            # Texts are callables, read at every update_menu(), so a language chosen in the
            # settings page shows without restarting the tray.
            Item(lambda _item: _("Default provider"), Menu(defaults)),
            Item(
                lambda _item: _("Enabled providers"),
                Menu(lambda: [enabled_item(n, lbl) for n, lbl in a.providers()]),
            ),
            Item(lambda _item: _("Settings…"), lambda _icon, _item: a.open_settings()),
            # Preview and confirmation happen on the page: a menu click never writes a file.
            Item(
                lambda _item: _("Connect a tool"),
                Menu(lambda: [connect_item(n, lbl) for n, lbl in a.connect_tools()]),
            ),
            Item(lambda _item: _("Open log folder"), lambda _icon, _item: a.open_log_folder()),
            Item(
                lambda _item: _("Start at login"),
                lambda _icon, _item: a.set_autostart(not a.autostart_enabled()),
                checked=lambda _item: a.autostart_enabled(),
            ),
            Item(
                lambda _item: _("Resume serving") if a.is_paused() else _("Pause serving"),
                lambda _icon, _item: a.set_paused(not a.is_paused()),
            ),
            Menu.SEPARATOR,
            Item(lambda _item: _("Quit"), lambda _icon, _item: a.quit()),
        )

    def _copy_url(self) -> None:
        url = self.actions.base_url()
        how = copy_to_clipboard(url, self.backend)
        if how:
            log.info("copied %s to the clipboard (%s)", url, how)
            self.notify(_("Copied {url}").format(url=url))
        else:
            self.notify(_("Could not copy to the clipboard; the address is {url}").format(url=url))


def _keep_sigint(icon_class: Any) -> Any:
    """pystray's GTK icon resets SIGINT to "kill" when its loop starts; keep the app's handler.

    GTK may dock the icon before any idle callback runs, so restoring it later (on_started)
    would leave a moment where Ctrl+C kills the process instead of quitting cleanly.
    """

    class Icon(icon_class):  # type: ignore[misc]
        def _initialize(self) -> None:
            handler = signal.getsignal(signal.SIGINT)
            super()._initialize()
            if callable(handler):
                signal.signal(signal.SIGINT, handler)

    return Icon


def copy_to_clipboard(text: str, backend: str, env: Mapping[str, str] | None = None) -> str:
    """Put `text` on the clipboard; returns the tool used, or "" if impossible."""
    env = os.environ if env is None else env
    commands: list[list[str]] = []
    if sys.platform == "darwin":
        commands.append(["pbcopy"])
    elif sys.platform.startswith("win"):
        commands.append(["clip"])
    else:
        if env.get("WAYLAND_DISPLAY"):
            commands.append(["wl-copy"])
        if env.get("DISPLAY"):
            commands += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    for cmd in commands:
        if shutil.which(cmd[0]) is None:
            continue
        try:
            # xclip/xsel fork a child that keeps serving the selection; don't wait on its pipes.
            subprocess.run(
                cmd,
                input=text.encode(),
                check=True,
                timeout=5,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return cmd[0]
        except (OSError, subprocess.SubprocessError) as exc:
            log.debug("%s failed: %s", cmd[0], exc)
    if backend in MENU_BACKENDS:
        return _gtk_copy(text)
    return ""


def _gtk_copy(text: str) -> str:
    """Own the CLIPBOARD selection through GTK (needs the GTK main thread, i.e. a menu action)."""
    try:
        import gi  # type: ignore[import-untyped,unused-ignore]

        gi.require_version("Gtk", "3.0")
        gi.require_version("Gdk", "3.0")
        from gi.repository import Gdk, Gtk  # type: ignore[import-untyped,unused-ignore]

        clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
        clipboard.set_text(text, -1)
        clipboard.store()  # hand it to a clipboard manager, if any, so it outlives us
    except Exception as exc:
        log.debug("GTK clipboard failed: %s", exc)
        return ""
    return "GTK"
