"""Fixtures for the desktop shell: a private Xvfb + trayer + D-Bus, fake upstreams, app launcher.

The app always runs as a real subprocess (`python -m aoa_desktop`): pystray binds its backend
per process and GTK wants the main thread, and the exit status is part of what is tested.
Every wait polls a condition; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from tests.support import free_port, wait_for
from tests.xserver import start_trayer, start_xvfb, stop

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
X_TOOLS = ("Xvfb", "trayer", "xdotool", "xdpyinfo", "import", "dbus-daemon")


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def open_page(url: str) -> tuple[int, str, str]:
    """GET a settings-page URL like a browser would: (status, content type, body)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as page:
            return page.status, page.headers.get("Content-Type", ""), page.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def page_session(body: str) -> str:
    """The session token the settings page hands its script (in a <meta> tag)."""
    import re

    found = re.search(r'<meta name="aoa-session" content="([^"]+)">', body)
    assert found, "the page carries no session"
    return found.group(1)


def health(port: int) -> dict[str, Any] | None:
    try:
        out: dict[str, Any] = get_json(f"http://127.0.0.1:{port}/health", timeout=2)
        return out
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- fake upstreams


@dataclass
class Upstream:
    """An OpenAI-shaped upstream on 127.0.0.1 in its own thread (these tests are synchronous).

    Answers every chat call with "from <name>", records (method, path) of what it got; with
    `status` set it fails with that status instead.
    """

    name: str
    received: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.received.append((request.method, request.path))
        if self.status != 200:
            return web.json_response(
                {"error": {"message": "fake failure", "type": "server_error"}}, status=self.status
            )
        if request.method == "GET":
            return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"from {self.name}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            }
        )

    def start(self) -> Upstream:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()

        async def up() -> int:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return int(self._runner.addresses[0][1])

        self.port = asyncio.run_coroutine_threadsafe(up(), loop).result(10)
        return self

    def close(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            runner = self._runner

            async def down() -> None:
                await runner.cleanup()
                await asyncio.sleep(0.2)  # let closed transports release their sockets

            asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()


@pytest.fixture
def upstreams() -> Iterator[Callable[[str], Upstream]]:
    started: list[Upstream] = []

    def make(name: str) -> Upstream:
        up = Upstream(name).start()
        started.append(up)
        return up

    yield make
    for up in started:
        up.close()


def chat(port: int, content: str = "hi", model: str = "gpt-4o") -> str:
    """One chat call through the real openai SDK; the answer's text."""
    import openai

    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="client-key", max_retries=0, timeout=20
    )
    try:
        out = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": content}]
        )
    finally:
        client.close()
    return out.choices[0].message.content or ""


# --------------------------------------------------------------------------- the app process


@dataclass
class App:
    """A running `python -m aoa_desktop` and the places it writes to."""

    proc: subprocess.Popen[str]
    port: int
    home: Path
    browser_log: Path
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def opened_urls(self) -> list[str]:
        if not self.browser_log.exists():
            return []
        return self.browser_log.read_text().split()

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
        """wait_for, with the app's log in the failure message."""
        try:
            return wait_for(what, probe, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- aoa log ---\n{self.stderr[-4000:]}") from None

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"aoa exited with {self.proc.returncode}:\n{self.stderr}")
            return health(self.port)

        return wait_for(f"/health on port {self.port}", probe, timeout)

    def wait_exit(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"aoa did not exit within {timeout:g} s:\n{self.stderr}") from None

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)


@dataclass
class Launcher:
    tmp: Path
    base_env: dict[str, str]
    apps: list[App] = field(default_factory=list)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self.base_env, **(extra or {})}

    def start(
        self,
        *args: str,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        port_option: bool = True,
    ) -> App:
        """Start aoa on `port` (--port, which like AOA_PORT locks the port; with
        port_option=False the port must come from the stored settings instead)."""
        port = free_port() if port is None else port
        n = len(self.apps)
        stderr_path = self.tmp / f"aoa-{n}.stderr"
        with open(stderr_path, "w") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aoa_desktop",
                    *(["--port", str(port)] if port_option else []),
                    *args,
                ],
                cwd=ROOT,
                env=self.env(env),
                stdout=err,
                stderr=subprocess.STDOUT,
                text=True,
            )
        app = App(proc, port, Path(self.base_env["HOME"]), self.tmp / "browser.log", stderr_path)
        self.apps.append(app)
        return app

    def run(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aoa_desktop", *args],
            cwd=ROOT,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def close(self) -> None:
        for app in self.apps:
            if app.proc.poll() is None:
                app.proc.send_signal(signal.SIGKILL)
                app.proc.wait(10)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Starts aoa with a private HOME/XDG dirs, no display, no keyring, a recording $BROWSER."""
    home = tmp_path / "home"
    runtime = tmp_path / "run"
    for d in (home, runtime):
        d.mkdir(mode=0o700)
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{tmp_path}/browser.log"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AOA_LANG": "en",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        # Keys come from the environment here; the real keyring is the settings suite's job.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "BROWSER": str(browser),
        "PYTHONUNBUFFERED": "1",
    }
    launch = Launcher(tmp_path, env)
    yield launch
    launch.close()


# --------------------------------------------------------------------------- X, tray host, D-Bus


@dataclass
class Desktop:
    """A private X server with a tray host and a session bus."""

    display: str
    bus: str
    procs: list[subprocess.Popen[bytes]]
    notification_log: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "DISPLAY": self.display,
            "DBUS_SESSION_BUS_ADDRESS": self.bus,
            "PYSTRAY_BACKEND": "gtk",
        }

    def run(self, *args: str) -> str:
        out = subprocess.run(
            args,
            env={**os.environ, "DISPLAY": self.display},
            capture_output=True,
            text=True,
            timeout=20,
        )
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def panel(self) -> tuple[int, int, int, int]:
        """trayer's panel geometry (x, y, width, height)."""
        wid = self.run("xdotool", "search", "--name", "^panel$").split()[0]
        return _geometry(self.run("xdotool", "getwindowgeometry", "--shell", wid))

    def popup_menus(self) -> int:
        """How many GTK popup menus are on screen (1 = menu, 2 = menu + submenu)."""
        return _count_popup_menus(self.display)

    def screenshot(self, path: Path) -> None:
        self.run("import", "-window", "root", str(path))

    def notifications(self) -> list[dict[str, str]]:
        """Every desktop notification shown so far (by any app in this session)."""
        if not self.notification_log.exists():
            return []
        lines = self.notification_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def tray_icon(self, pid: int) -> tuple[int, int, int, int] | None:
        """Screen geometry of `pid`'s tray icon once it is docked (embedded) in trayer."""
        return _docked_icon(self.display, pid)

    def click(self, where: tuple[int, int, int, int], button: int = 3) -> None:
        x, y, w, h = where
        self.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", str(button))

    def keys(self, *names: str) -> None:
        self.run("xdotool", "key", "--delay", "60", *names)


def _geometry(shell: str) -> tuple[int, int, int, int]:
    values = dict(line.split("=", 1) for line in shell.split() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def _count_popup_menus(display: str) -> int:
    from Xlib import X  # type: ignore[import-untyped,unused-ignore]
    from Xlib import display as xdisplay  # type: ignore[import-untyped,unused-ignore]

    d = xdisplay.Display(display)
    try:
        popup = d.intern_atom("_NET_WM_WINDOW_TYPE_POPUP_MENU")
        wtype = d.intern_atom("_NET_WM_WINDOW_TYPE")
        count = 0
        for w in d.screen().root.query_tree().children:
            if w.get_attributes().map_state != X.IsViewable:
                continue
            prop = w.get_full_property(wtype, X.AnyPropertyType)
            if prop is not None and popup in prop.value:
                count += 1
        return count
    finally:
        d.close()


def _docked_icon(display: str, pid: int) -> tuple[int, int, int, int] | None:
    from Xlib import X  # type: ignore[import-untyped,unused-ignore]
    from Xlib import display as xdisplay  # type: ignore[import-untyped,unused-ignore]

    d = xdisplay.Display(display)
    try:
        root = d.screen().root
        pid_atom = d.intern_atom("_NET_WM_PID")
        stack = [(w, root) for w in root.query_tree().children]
        while stack:
            w, parent = stack.pop()
            try:
                prop = w.get_full_property(pid_atom, X.AnyPropertyType)
                attrs = w.get_attributes()
            except Exception:  # the window went away meanwhile
                continue
            owned = prop is not None and pid in prop.value
            if owned and parent != root and attrs.map_state == X.IsViewable:
                geo = w.get_geometry()
                pos = w.translate_coords(root, 0, 0)
                return -pos.x, -pos.y, geo.width, geo.height
            stack.extend((child, w) for child in w.query_tree().children)
        return None
    finally:
        d.close()


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture(scope="session")
def desktop() -> Iterator[Desktop]:
    """Xvfb on a free :N, trayer as the XEMBED tray host, and a private D-Bus session bus."""
    missing = [tool for tool in X_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"desktop tests need {', '.join(missing)} (apt: xvfb trayer xdotool x11-utils "
            "imagemagick dbus; see scripts/system-deps.sh)"
        )
    probe = subprocess.run(
        [sys.executable, "-c", "import gi; gi.require_version('Gtk', '3.0')"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("desktop tests need PyGObject with GTK 3 (pip install 'aoa[gtk]')")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        display = start_xvfb(procs, "1024x768x24")
        # A bus without service activation: nothing (gnome-keyring, its GUI prompter) starts
        # behind the tests' back and pops up windows on this display.
        config = Path(tempfile.mkdtemp(prefix="aoa-bus-")) / "bus.conf"
        config.write_text(_BUS_CONFIG)
        bus_proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        procs.append(bus_proc)
        assert bus_proc.stdout is not None
        bus = bus_proc.stdout.readline().decode().strip()
        assert bus, "dbus-daemon printed no address"
        start_trayer(procs, display)
        log = Path(tempfile.mkdtemp(prefix="aoa-notify-")) / "notifications.jsonl"
        daemon = subprocess.Popen(
            [sys.executable, "-m", "tests.desktop_shell.notify_daemon", str(log)],
            cwd=ROOT,
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        procs.append(daemon)
        assert daemon.stdout is not None
        assert daemon.stdout.readline().strip() == b"ready", "the notification daemon did not start"
        yield Desktop(display, bus, procs, log)
    finally:
        for proc in reversed(procs):
            stop(proc)
