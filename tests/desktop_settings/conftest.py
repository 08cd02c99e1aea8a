"""Fixtures for the settings area: the real keyring, a real gateway with the settings page on
127.0.0.1, fake upstreams, and headless Chromium through Playwright."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from aoa_desktop.autostart import XdgAutostart
from aoa_desktop.controller import Controller
from aoa_desktop.fields import FIELDS, KEYED_PROVIDERS
from aoa_desktop.keys import ACCESS_TOKEN, SERVICE, KeyStore, proxy_login_name
from aoa_desktop.settings_session import SessionBook
from aoa_desktop.settings_web import SESSION_HEADER, add_settings_routes, settings_url
from aoa_desktop.signin import CACHE_ENTRY, RECORD_ENTRY, MicrosoftSignIn
from aoa_proxy.app import create_app
from aoa_proxy.catalogue import CATALOGUE, Catalogue
from aoa_proxy.runtime import Runtime
from tests.secret_service import PrivateKeyring, secret_service_backend, session_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
]


def _clear_keyring(store: KeyStore) -> None:
    extra = (RECORD_ENTRY, CACHE_ENTRY, *FIELDS.extra_secrets)  # Microsoft sign-in, client secret
    for name in (*KEYED_PROVIDERS, ACCESS_TOKEN, *map(proxy_login_name, KEYED_PROVIDERS), *extra):
        store.delete(name)


@pytest.fixture
def real_keys(private_keyring: PrivateKeyring) -> Iterator[KeyStore]:
    """The real Secret Service, but the tests' private one (tests/secret_service.py), emptied of
    aoa's entries. Never the person's own session: its bus is not even contacted."""
    with session_env(private_keyring):
        store = KeyStore(secret_service_backend())
        assert store.available, store.problem
        assert store.backend_name == "Keyring"
        _clear_keyring(store)
        yield store
        _clear_keyring(store)


@dataclass
class Desktop:
    """One launch of the desktop app's server side: Controller + gateway + settings page."""

    controller: Controller
    runtime: Runtime
    runner: web.AppRunner
    port: int
    sessions: SessionBook

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def entry_url(self) -> str:
        """What the tray opens: the page with a new one-time entry code."""
        return settings_url("127.0.0.1", self.port, self.sessions.mint_code())


@dataclass
class Launcher:
    """Starts launches on a config dir; `stop_all` runs at teardown."""

    autostart_dir: Path
    running: list[Desktop] = field(default_factory=list)

    async def launch(
        self,
        config_dir: Path,
        keys: KeyStore,
        env: Mapping[str, str] | None = None,
        *,
        on_settings_port: bool = False,
        catalogue: Catalogue = CATALOGUE,
        signin: MicrosoftSignIn | None = None,
    ) -> Desktop:
        """A launch on a free port, or (on_settings_port) on the port its settings name."""
        controller = Controller(
            config_dir,
            env or {},
            keys,
            autostart=XdgAutostart(self.autostart_dir),
            launch_command=["aoa"],
            catalogue=catalogue,
        )
        runtime = Runtime(controller.settings, signin=signin.credential if signin else None)
        if signin is not None:
            controller.signin = signin
            signin.on_change.append(runtime.forget_tokens)
        controller.attach(runtime)
        app = create_app(controller.settings, runtime)
        sessions = SessionBook()
        add_settings_routes(app, controller, sessions)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", controller.settings.port if on_settings_port else 0)
        await site.start()
        port = runner.addresses[0][1]
        controller.address = ("127.0.0.1", port)
        desktop = Desktop(controller, runtime, runner, port, sessions)
        self.running.append(desktop)
        return desktop

    async def stop(self, desktop: Desktop) -> None:
        if desktop in self.running:
            self.running.remove(desktop)
            await desktop.runner.cleanup()

    async def stop_all(self) -> None:
        for desktop in list(self.running):
            await self.stop(desktop)


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[Launcher]:
    launcher = Launcher(tmp_path / "autostart")
    yield launcher
    await launcher.stop_all()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "config" / "aoa"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Debian Chromium (never a downloaded browser)."""
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


Open = Callable[[Desktop], Awaitable[Any]]


async def open_settings(browser: Any, desktop: Desktop) -> Any:
    """A fresh browser context on the settings page, entered the way the tray does it."""
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    page = await context.new_page()
    await page.goto(desktop.entry_url())
    await page.wait_for_selector("body[data-ready='true']")
    return page


def page_session(html: str) -> str:
    """The session token the settings page hands its script (in a <meta> tag)."""
    found = re.search(r'<meta name="aoa-session" content="([^"]+)">', html)
    assert found, "the page carries no session"
    return found.group(1)


async def enter(desktop: Desktop) -> dict[str, str]:
    """Open the page as the tray does; the header its script then sends on every API call."""
    async with aiohttp.ClientSession() as s, s.get(desktop.entry_url()) as r:
        assert r.status == 200, await r.text()
        return {SESSION_HEADER: page_session(await r.text())}


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under `root` whose bytes contain `needle`."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(path)
    return hits


SERVICE_NAME = SERVICE
