"""The tray's provider menus with the real app state (Shell, Controller, Runtime and a running
gateway; pystray's display-free dummy backend): "Default provider" lists the enabled providers,
"Enabled providers" switches them (stored as AOA_PROVIDERS), and a key the gateway cooled down
after a real 429 shows as a line and in the tooltip."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from aoa_desktop.controller import Controller
from aoa_desktop.gateway import GatewayThread
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_session import SessionBook
from aoa_desktop.shell import Shell
from aoa_desktop.tray import Tray
from aoa_proxy.runtime import Runtime
from tests.fakes import FakeUpstream, Received
from tests.support import free_port

KEY_A = "sk-tray-first-key-aaaa"
KEY_B = "sk-tray-second-key-bbbb"


@pytest.fixture
def pystray(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    import pystray as module

    return module


@dataclass
class App:
    controller: Controller
    runtime: Runtime
    shell: Shell
    port: int
    upstream: FakeUpstream


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    """The tray app's wiring (as shell._run does it) on a fake OpenAI-shaped upstream that
    rate-limits KEY_A; Gemini points at it too, so nothing leaves this machine."""

    async def limited(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.headers.get("Authorization") == f"Bearer {KEY_A}":
            error = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
            return web.json_response(error, status=429, headers={"retry-after": "30"})
        return await upstream.default(request, rec)

    upstream = await FakeUpstream(responder=limited).start()
    port = free_port()
    env = {
        "AOA_PORT": str(port),
        "OPENAI_ENDPOINT": f"{upstream.url}/v1",
        "OPENAI_API_KEY": f"{KEY_A},{KEY_B}",
        "GEMINI_ENDPOINT": upstream.url,
        "GEMINI_API_KEY": "gemini-tray-key-0003",
    }
    controller = Controller(tmp_path / "config", env, KeyStore())
    assert controller.save({"provider": "openai"}) == []
    runtime = Runtime(controller.settings)
    controller.attach(runtime)
    gateway = GatewayThread()
    shell = Shell(tmp_path / "logs")
    shell.wire(controller, runtime, gateway, SessionBook())
    status = await asyncio.to_thread(gateway.start, controller.settings, runtime)
    assert status.state == "running", status.error
    try:
        yield App(controller, runtime, shell, port, upstream)
    finally:
        shell.request_quit()
        await asyncio.to_thread(gateway.stop, 5.0)
        await upstream.close()


def _enabled(app: App) -> tuple[str, ...]:
    """The providers serving now (read afresh: mypy would narrow a repeated attribute)."""
    return app.controller.settings.enabled


def _texts(menu: Any) -> list[str]:
    return [item.text for item in menu.items if item.visible and item is not menu.SEPARATOR]


def _submenus(menu: Any) -> tuple[Any, Any]:
    defaults, enabled = [item.submenu for item in menu.items if item.submenu][:2]
    return defaults, enabled


async def test_the_default_provider_menu_lists_the_enabled_ones_and_the_tray_enables_more(
    pystray: Any, app: App, tmp_path: Path
) -> None:
    menu = Tray(app.shell, "dummy")._menu(pystray)
    defaults, enabled = _submenus(menu)
    assert "Default provider" in _texts(menu) and "Enabled providers" in _texts(menu)
    assert _texts(defaults) == ["OpenAI-compatible"]
    assert [(i.text, i.checked, i.enabled) for i in enabled.items] == [
        ("Azure OpenAI (not configured)", False, True),
        ("Yi (01.AI) (not configured)", False, True),
        ("Gemini", False, True),
        ("OpenAI-compatible (default)", True, False),  # the default is always enabled
        ("Anthropic (not configured)", False, True),
        ("Demo (offline)", False, True),
    ]
    icon = pystray.Icon("t")
    list(enabled.items)[2](icon)  # Gemini on
    assert _enabled(app) == ("openai", "gemini")
    assert app.runtime.settings.several
    stored = json.loads((tmp_path / "config" / "settings.json").read_text())
    assert stored["enabled"] == "openai,gemini" and stored["provider"] == "openai"
    assert _texts(defaults) == ["OpenAI-compatible", "Gemini"]
    assert [i.checked for i in defaults.items] == [True, False]
    list(defaults.items)[1](icon)  # Gemini becomes the default
    assert app.runtime.provider.name == "gemini"
    assert [i.checked for i in defaults.items] == [False, True]
    assert [i.enabled for i in enabled.items][2:4] == [False, True]  # now Gemini is locked
    list(enabled.items)[3](icon)  # OpenAI off: Gemini serves alone
    assert _enabled(app) == ("gemini",)
    assert _texts(defaults) == ["Gemini"]


async def test_a_key_cooled_by_a_real_429_shows_in_the_menu_and_the_tooltip(
    pystray: Any, app: App
) -> None:
    tray = Tray(app.shell, "dummy")
    menu = tray._menu(pystray)
    assert not any("cooling" in text for text in _texts(menu))
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{app.port}/v1", api_key="client-key", max_retries=0
    )
    try:
        answer = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        await client.close()
    assert answer.choices[0].message.content  # the second key answered
    line = app.shell.cooling("openai")
    assert re.fullmatch(
        r"OpenAI-compatible key \*\*\*\*aaaa cooling down until \d\d:\d\d:\d\d", line
    )
    assert _texts(menu)[1] == line  # right under the address
    assert tray._title("running", "").endswith("\n" + line)
    assert KEY_A not in line and app.shell.cooling("gemini") == ""
