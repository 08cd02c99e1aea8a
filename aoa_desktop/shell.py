"""`aoa` / `python -m aoa_desktop`: the tray app, or the same gateway headless.

Wiring, in order: logging -> single-instance lock (a second launch opens the running one's
settings page and exits) -> signal handlers (before anything listens, so an early SIGTERM still
ends cleanly with status 0) -> keyring, stored settings, Runtime -> GatewayThread -> the tray on
the main thread (macOS needs it there), or a plain wait when there is no display or no tray
backend with a menu. Quit, SIGTERM and SIGINT all end through `Shell.request_quit()`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import webbrowser
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from aoa_desktop.instance import (
    InstanceLock,
    InstanceServer,
    ask_running,
    instance_dir,
    printable,
    safe_settings_url,
)
from aoa_desktop.private import FILE_MODE, PrivateRotatingFileHandler, private_dir, tighten
from aoa_desktop.settings_session import SessionBook
from aoa_proxy import __version__
from aoa_proxy.i18n import WrappingHelpFormatter, _

# The heavy modules (aiohttp, keyring, PIL) load in _run(), so --help/--version and a second
# launch that only hands over to the running instance start fast.
if TYPE_CHECKING:
    from aoa_desktop.controller import Controller
    from aoa_desktop.gateway import GatewayStatus, GatewayThread
    from aoa_desktop.tray import IconState, Tray
    from aoa_proxy.config import Settings
    from aoa_proxy.runtime import RequestRecord, Runtime

log = logging.getLogger("aoa")

GRACE_SECONDS = 5.0  # how long in-flight requests may take to finish when quitting
_STREAM_ERRORS = frozenset({"stream cut", "stream ended early", "stream stalled"})
# Answers after which a key may have started to cool down (a refused or rate-limited key).
_COOLING_STATUSES = frozenset({400, 401, 402, 403, 429})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoa",
        formatter_class=WrappingHelpFormatter,
        description=_(
            "The aoa tray app: a local OpenAI-compatible endpoint for Azure OpenAI, Yi, Gemini "
            "and other hosts, controlled from the system tray. Settings are edited on a local "
            "page opened from the tray; environment variables (see aoa-proxy --help) override them."
        ),
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help=_("run the gateway without a tray icon (also the default when there is no display)"),
    )
    parser.add_argument(
        "--port", type=int, help=_("port to listen on for this run (like AOA_PORT)")
    )
    parser.add_argument("--version", action="version", version=f"aoa {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tray app (or the headless gateway); the exit status."""
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            print(_("aoa: --port must be between 1 and 65535"), file=sys.stderr)
            return 2
        env["AOA_PORT"] = str(args.port)
    log_dir = log_folder()
    setup_logging(log_dir, env.get("AOA_LOG_LEVEL", "INFO"))
    try:
        directory = instance_dir()
    except OSError as exc:  # no writable private folder at all: say so, no traceback
        print(_("aoa: cannot start: {reason}").format(reason=exc), file=sys.stderr)
        return 1
    lock = InstanceLock(directory)
    if not lock.acquire():
        return show_running_instance(directory)
    try:
        return _run(args.headless, env, directory, log_dir)
    finally:
        lock.release()


def log_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir("aoa", appauthor=False))


def setup_logging(log_dir: Path, level: str = "INFO") -> None:
    """Log to stderr and to aoa.log in the user's log folder (keys are never logged)."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        # Only this user may read the log (0700 folder, 0600 files, older ones tightened too).
        private_dir(log_dir)
        for old in log_dir.glob("aoa.log*"):
            tighten(old, FILE_MODE)
        handlers.append(
            PrivateRotatingFileHandler(
                log_dir / "aoa.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        )
    except OSError as exc:
        problem = _("aoa: cannot write the log file in {path}: {error}")
        print(problem.format(path=log_dir, error=exc), file=sys.stderr)
    for handler in handlers:
        handler.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(
        level.upper() if level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def show_running_instance(directory: Path) -> int:
    """A second launch: ask the running aoa for its settings page and open it.

    The answer is checked like any input: only a loopback /settings address is opened, and its
    text is printed without control characters (no terminal escapes).
    """
    reply = ask_running(directory)
    if reply is None:
        print(
            _("aoa: another aoa is running but did not answer; quit it from its tray menu"),
            file=sys.stderr,
        )
        return 1
    message = printable(reply.get("message"))
    if message:
        print(f"aoa: {message}", file=sys.stderr)
    raw_url = reply.get("url")
    if not raw_url:
        return 0
    url = safe_settings_url(raw_url)
    if url is None:
        problem = _(
            "aoa: the running aoa answered with an address that is not its settings page; "
            "not opening it"
        )
        print(problem, file=sys.stderr)
        return 1
    print(_("aoa is already running; opening its settings page"), file=sys.stderr)
    if not webbrowser.open(url):
        # No browser here (e.g. an ssh session): this user may see the address; its entry code
        # works once and only for a minute.
        print(_("Open this address in a browser: {url}").format(url=url), file=sys.stderr)
    return 0


def has_display(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """False on Linux/BSD without an X or Wayland display; macOS and Windows always have one."""
    if platform == "darwin" or platform.startswith("win"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _run(headless: bool, env: dict[str, str], directory: Path, log_dir: Path) -> int:
    from aoa_desktop.controller import Controller
    from aoa_desktop.gateway import GatewayThread
    from aoa_desktop.keys import KeyStore
    from aoa_desktop.signin import MicrosoftSignIn
    from aoa_desktop.store import default_config_dir
    from aoa_proxy.runtime import Runtime

    shell = Shell(log_dir)
    shell.install_signal_handlers()
    keys = KeyStore()
    controller = Controller(default_config_dir(), env, keys)
    settings = controller.settings
    signin = controller.signin = MicrosoftSignIn(keys)
    runtime = Runtime(settings, signin=signin.credential)
    signin.on_change.append(runtime.forget_tokens)
    _keep_usage(runtime, settings)
    controller.attach(runtime)
    sessions = SessionBook()  # one for the whole run: the page outlives a rebind
    gateway = GatewayThread(
        lambda app: _add_settings_page(app, controller, sessions), GRACE_SECONDS
    )
    shell.wire(controller, runtime, gateway, sessions)
    server = InstanceServer(directory, shell.show_info)
    server.start()
    try:
        status = gateway.start(settings, runtime)
        log.info("aoa %s, provider %s", __version__, runtime.provider.name)
        if controller.load_problem:
            log.warning("%s", controller.load_problem)
        if not keys.available and keys.problem:
            log.warning("%s", keys.problem)
        backend, why_not = (None, "") if headless else _tray_backend(env)
        if backend is None:
            _print_headless_line(headless, env, why_not, status)
            shell.wait()
        else:
            shell.run_tray(backend)
            if not shell.stopping:  # the tray ended by itself: keep serving, as headless
                print(_("aoa: the tray icon closed; still serving headless"), file=sys.stderr)
                shell.wait()
    finally:
        log.info("stopping (in-flight requests get up to %g s)", GRACE_SECONDS)
        gateway.stop(GRACE_SECONDS)
        server.stop()
    log.info("stopped")
    return 0


def _keep_usage(runtime: Runtime, settings: Settings) -> None:
    """The usage history, always on for the desktop: AOA_USAGE_DB or the data folder."""
    from aoa_desktop.usage_web import default_usage_path
    from aoa_proxy.app import keep_usage

    path = Path(settings.usage_db).expanduser() if settings.usage_db else default_usage_path()
    try:
        private_dir(path.parent)
    except OSError as exc:  # the history is a nicety: serve anyway (its writer says so too)
        log.warning("usage history: cannot create %s: %s", path.parent, exc)
    keep_usage(runtime, path, settings.usage_retention_days)


def _tray_backend(env: Mapping[str, str]) -> tuple[str | None, str]:
    if not has_display(env):
        return None, ""
    from aoa_desktop.tray import menu_backend

    try:
        return menu_backend(env=env)
    except Exception as exc:  # probing GTK must never stop the gateway from serving
        return None, f"{type(exc).__name__}: {exc}"


def _print_headless_line(
    asked: bool, env: Mapping[str, str], why_not: str, status: GatewayStatus
) -> None:
    from aoa_proxy.config import is_loopback_host

    if status.state != "running":
        where = status.error
    elif is_loopback_host(status.bound_host):
        where = _("serving on {url}").format(url=status.base_url)
    else:  # say where it really listens: the base URL always names this computer
        where = _("serving on {url}, listening on {address}").format(
            url=status.base_url, address=status.bind_address
        )
    if asked:
        reason = _("headless mode")
    elif not has_display(env):
        reason = _("no display found")
    else:
        reason = _("no tray icon: {why}").format(why=why_not)
    line = _("aoa: {reason}; running the gateway headless, {where}").format(
        reason=reason, where=where
    )
    hint = _("run `aoa` again to open the settings page")
    print(f"{line} ({hint})", file=sys.stderr, flush=True)


def _add_settings_page(app: Any, controller: Controller, sessions: SessionBook) -> None:
    from aoa_desktop.settings_web import add_settings_routes

    add_settings_routes(app, controller, sessions)


class Shell:
    """The app's state and the tray's actions (aoa_desktop.tray.TrayActions)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.stopping = False
        self._stop = threading.Event()
        self._tray: Tray | None = None
        self._controller: Controller | None = None
        self._runtime: Runtime | None = None
        self._gateway: GatewayThread | None = None
        self._sessions: SessionBook | None = None
        self._upstream_problem = ""
        self._notified = ""
        self._cooling_lock = threading.Lock()
        self._cooling_timer: threading.Timer | None = None
        self._cooling_seen: tuple[tuple[str, str, int], ...] = ()

    # ------------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT end the app cleanly (status 0); a no-op off the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGINT", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None:
                signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.request_quit()

    def wire(
        self,
        controller: Controller,
        runtime: Runtime,
        gateway: GatewayThread,
        sessions: SessionBook,
    ) -> None:
        self._controller, self._runtime, self._gateway = controller, runtime, gateway
        self._sessions = sessions
        controller.on_change.append(self._settings_changed)
        runtime.listeners.append(self._request_done)
        gateway.on_status.append(self._status_changed)

    def request_quit(self) -> None:
        self.stopping = True
        self._stop.set()
        with self._cooling_lock:
            if self._cooling_timer is not None:
                self._cooling_timer.cancel()
        if self._tray is not None:
            self._tray.stop()

    def wait(self) -> None:
        """Block until Quit or a signal (polling, so signal handlers run promptly everywhere)."""
        while not self._stop.wait(0.5):
            pass

    def run_tray(self, backend: str) -> None:
        from aoa_desktop.tray import Tray

        tray = Tray(self, backend)
        self._tray = tray

        def started() -> None:
            self.install_signal_handlers()  # pystray reset SIGINT when its loop started
            if self.stopping:  # a signal arrived while the tray was starting
                tray.stop()
            if self._controller is not None and self._controller.load_problem:
                tray.notify(self._controller.load_problem)
            state, problem = self.state()
            if state == "error":
                self._notify_once(problem)

        try:
            tray.run(on_started=started)
        finally:
            self._tray = None

    # ------------------------------------------------------------------ events

    def _settings_changed(self, settings: Settings) -> None:
        gateway = self._gateway
        if gateway is None:
            return
        status = gateway.status
        if (settings.host, settings.port) != (status.host, status.port):
            # Called from the settings page on the gateway's own loop: rebinding waits for that
            # loop, so do it from another thread.
            threading.Thread(
                target=gateway.restart, args=(settings,), name="aoa-rebind", daemon=True
            ).start()
        self.refresh()

    def _status_changed(self, status: GatewayStatus) -> None:
        controller = self._controller
        if controller is not None:
            from aoa_desktop.controller import exposure_warning

            controller.gateway_problem = status.error or None
            # The port check before a save must not count this very listener as "in use".
            controller.address = (status.bound_host, status.page_port) if status.reachable else None
            warning = exposure_warning(controller.settings) if status.state == "running" else None
            if warning:
                log.warning("%s", warning)
        self.refresh()
        if status.error:
            self._notify_once(status.error)

    def _request_done(self, rec: RequestRecord) -> None:
        if rec.moved or rec.status in _COOLING_STATUSES:
            self._watch_cooling()
        failed = bool(rec.provider) and (rec.status >= 500 or rec.error in _STREAM_ERRORS)
        before = self._upstream_problem
        if failed:
            controller = self._controller
            label = controller.fields.label(rec.provider) if controller else rec.provider
            reason = f"HTTP {rec.status}" if rec.status else _("no answer")
            if rec.error:
                reason += f" ({rec.error})"
            self._upstream_problem = _("The last call to {label} failed: {reason}").format(
                label=label, reason=reason
            )
        elif rec.provider and rec.status < 400:
            self._upstream_problem = ""
        if self._upstream_problem != before:
            self.refresh()
            if self._upstream_problem:
                self._notify_once(self._upstream_problem)

    def _watch_cooling(self) -> None:
        """Redraw the tray when a key starts or stops cooling down; check again when the
        soonest cool-down ends (the menu names the time, so it is right in between)."""
        runtime = self._runtime
        if runtime is None:
            return
        now = time.time()
        cooling = [
            (name, s.key, round(now + s.cooling), s.cooling)
            for name, pool in runtime.key_status().items()
            for s in pool
            if s.cooling > 0
        ]
        seen = tuple(sorted(c[:3] for c in cooling))
        with self._cooling_lock:
            if self._cooling_timer is not None:
                self._cooling_timer.cancel()
                self._cooling_timer = None
            if cooling and not self.stopping:
                rest = min(c[3] for c in cooling) + 0.2
                timer = threading.Timer(rest, self._watch_cooling)
                timer.daemon = True
                timer.start()
                self._cooling_timer = timer
            changed, self._cooling_seen = seen != self._cooling_seen, seen
        if changed:
            self.refresh()

    def _notify_once(self, message: str) -> None:
        if message and message != self._notified and self._tray is not None:
            self._notified = message
            self._tray.notify(message)

    def refresh(self) -> None:
        if self._tray is not None:
            self._tray.refresh()

    def show_info(self) -> dict[str, Any]:
        """What a second launch gets: a fresh settings-page URL (or why there is none)."""
        url = self.settings_url()
        if url is None:
            return {"url": None, "message": self.state()[1] or _("the gateway is not running")}
        status = self._gateway.status if self._gateway else None
        message = status.error if status is not None and status.error else None
        return {"url": url, "message": message}

    def settings_url(self) -> str | None:
        """A settings-page address with a new one-time entry code (None if nothing listens)."""
        from aoa_desktop.settings_web import settings_url

        if self._gateway is None or self._sessions is None or not self._gateway.status.reachable:
            return None
        status = self._gateway.status
        return settings_url(status.page_host, status.page_port, self._sessions.mint_code())

    # ------------------------------------------------------------------ TrayActions

    def base_url(self) -> str:
        from aoa_desktop.gateway import GatewayStatus

        if self._gateway is not None and self._gateway.status.port:
            return self._gateway.status.base_url
        if self._controller is not None:
            s = self._controller.settings
            return GatewayStatus("stopped", s.host, s.port).base_url
        return ""

    def state(self) -> tuple[IconState, str]:
        status = self._gateway.status if self._gateway is not None else None
        if status is not None and status.state == "failed":
            return "error", status.error
        if self._runtime is not None and self._runtime.paused:
            return "paused", ""
        if self._upstream_problem:
            return "error", self._upstream_problem
        return "running", ""

    def providers(self) -> list[tuple[str, str]]:
        return self._controller.fields.providers() if self._controller is not None else []

    def active_provider(self) -> str:
        return self._runtime.provider.name if self._runtime is not None else ""

    def enabled_providers(self) -> list[str]:
        return list(self._controller.settings.enabled) if self._controller is not None else []

    def is_enabled(self, name: str) -> bool:
        return self._controller is not None and name in self._controller.wanted_providers()

    def can_toggle(self, name: str) -> bool:
        return self._controller is not None and self._controller.can_toggle(name)

    def toggle_provider(self, name: str) -> None:
        controller = self._controller
        if controller is None:
            return
        on = name not in controller.wanted_providers()
        problems = controller.set_enabled(name, on)
        if problems:
            if self._tray is not None:
                self._tray.notify("; ".join(problems))
        else:
            log.info("%s %s from the tray", "enabled" if on else "disabled", name)
            if on and name in controller.enable_warnings():
                self.open_settings()  # the page says what it still needs
        self.refresh()

    def cooling(self, name: str) -> str:
        controller, runtime = self._controller, self._runtime
        if controller is None or runtime is None:
            return ""
        resting = [s for s in runtime.key_status().get(name, []) if s.cooling > 0]
        if not resting:
            return ""
        label = controller.fields.label(name)
        now = time.time()

        def until(seconds: float) -> str:
            return time.strftime("%H:%M:%S", time.localtime(now + seconds))

        if len(resting) == 1:
            return _("{label} key {key} cooling down until {time}").format(
                label=label, key=resting[0].key, time=until(resting[0].cooling)
            )
        keys = ", ".join(
            _("{key} until {time}").format(key=s.key, time=until(s.cooling)) for s in resting
        )
        return _("{label} keys cooling down: {keys}").format(label=label, keys=keys)

    def is_configured(self, name: str) -> bool:
        return self._controller is not None and self._controller.is_configured(name)

    def choose_provider(self, name: str) -> None:
        if self._controller is None:
            return
        if self._controller.switch_provider(name):
            log.info("switched to %s from the tray", name)
            self._upstream_problem = ""
        else:
            log.info("%s is not configured; opening the settings page", name)
            self.open_settings()
        self.refresh()

    def connect_tools(self) -> list[tuple[str, str]]:
        from aoa_desktop.connect import GUIDES, TOOLS, label

        return [(n, label(n)) for n in (*TOOLS, *GUIDES)]

    def open_connect(self, name: str) -> None:
        self.open_settings(f"#connect={name}")

    def open_settings(self, fragment: str = "") -> None:
        url = self.settings_url()
        if url is not None:
            url += fragment  # read by the page's script, never sent to the server
        if url is None:
            if self._tray is not None:
                self._tray.notify(self.state()[1] or _("the gateway is not running"))
            return
        # webbrowser may wait for the browser command ($BROWSER); never block the menu on it.
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    def open_log_folder(self) -> None:
        private_dir(self.log_dir)
        threading.Thread(target=open_path, args=(self.log_dir,), daemon=True).start()

    def autostart_enabled(self) -> bool:
        return self._controller is not None and self._controller.autostart_enabled()

    def set_autostart(self, on: bool) -> None:
        if self._controller is None:
            return
        problems = self._controller.save({"start_at_login": on})
        if problems and self._tray is not None:
            self._tray.notify("; ".join(problems))

    def is_paused(self) -> bool:
        return self._runtime is not None and self._runtime.paused

    def set_paused(self, paused: bool) -> None:
        if self._runtime is not None:
            self._runtime.paused = paused
            log.info("serving %s", "paused" if paused else "resumed")
        self.refresh()

    def quit(self) -> None:
        log.info("quit from the tray")
        self.request_quit()


def open_path(path: Path) -> bool:
    """Open a folder in the desktop's file manager."""
    try:
        if sys.platform.startswith("win"):
            os.startfile(path)  # type: ignore[attr-defined,unused-ignore]
            return True
        opener = "open" if sys.platform == "darwin" else "xdg-open"
        subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    except OSError as exc:
        log.warning("could not open %s: %s", path, exc)
        return False
