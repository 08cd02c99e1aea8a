"""Issue 12 reproductions on the settings page: another loopback page must get no session, a
stolen session must not redirect a stored key, exposing a key-holding gateway needs a
confirmation, and two saves that used to fail (AOA_CORS_ORIGINS set; only the bind address
changed) work."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from aoa_desktop.keys import KeyStore
from aoa_desktop.store import SettingsStore
from tests.desktop_settings.conftest import Desktop, Launcher, enter, open_settings
from tests.fakes import FakeUpstream

CHANGE = {"providers": {"openai": {"aliases": {"gpt-4": "attacker-model"}}}}


def _own(desktop: Desktop) -> dict[str, str]:
    return {"Origin": desktop.url, "Content-Type": "application/json"}


async def _post(desktop: Desktop, path: str, body: Any, headers: dict[str, str]) -> Any:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{desktop.url}/settings/api/{path}", json=body, headers=headers) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- V2: other pages


class _OtherLoopbackSite:
    """Someone else's web server on another loopback port: records the cookies it is sent."""

    def __init__(self) -> None:
        self.cookies: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> _OtherLoopbackSite:
        async def index(request: web.Request) -> web.Response:
            self.cookies.append(request.headers.get("Cookie", ""))
            html = "<!doctype html><title>other</title>"
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", index)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_other_loopback_page_gets_no_session_cookie_and_no_access(
    browser: Any, launcher: Launcher, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    page = await open_settings(browser, desktop)
    other = await _OtherLoopbackSite().start()
    try:
        # Cookies ignore ports: whatever the settings page set would reach this server too.
        assert await page.context.cookies() == []
        evil = await page.context.new_page()
        await evil.goto(f"{other.url}/")
        for path in ("/settings", "/settings/api/state", "/anything"):
            status = await evil.evaluate(
                "p => fetch(p, {credentials: 'include'}).then(r => r.status)", path
            )
            assert status == 200
        await evil.goto(f"{other.url}/settings/api/save")  # a top-level navigation too
        assert len(other.cookies) >= 5
        assert [c for c in other.cookies if "aoa" in c] == []
        # Same-site requests to the settings API from that page: refused, nothing changes.
        api = f"{desktop.url}/settings/api/"
        caplog.clear()
        read = await evil.evaluate(
            "url => fetch(url, {credentials: 'include'}).then(r => r.status, () => 'blocked')",
            api + "state",
        )
        assert read == "blocked"
        answer = await evil.evaluate(
            """url => fetch(url, {method: 'POST', credentials: 'include', mode: 'no-cors',
                 headers: {'Content-Type': 'text/plain'}, body: '{}'})
                 .then(r => r.type, () => 'blocked')""",
            api + "save",
        )
        assert answer == "blocked"  # refused, and even the opaque answer is withheld (CORP)
        # Both reached aoa and were answered 403 (the browser hides the status from the page).
        refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert [m.split(":")[1] for m in refused] == [
            " refused GET /settings/api/state",
            " refused POST /settings/api/save",
        ]
        # Replaying everything that page was given (no cookie at all) gets a 403.
        replay = {"Cookie": other.cookies[-1]} if other.cookies[-1] else {}
        async with aiohttp.ClientSession() as s:
            async with s.get(api + "state", headers=replay) as r:
                assert r.status == 403
            async with s.post(api + "save", json=CHANGE, headers={**replay, **_own(desktop)}) as r:
                assert r.status == 403
        assert "gpt-4" not in desktop.controller.settings.providers["openai"].aliases
    finally:
        await page.context.close()
        await other.close()


# --------------------------------------------------------------------------- key re-entry


async def _with_stored_key(
    launcher: Launcher, config_dir: Path, keys: KeyStore, endpoint: str
) -> tuple[Desktop, str]:
    desktop = await launcher.launch(config_dir, keys)
    key = "sk-victim-" + secrets.token_hex(16)
    changes = {"provider": "openai", "providers": {"openai": {"endpoint": endpoint}}}
    assert desktop.controller.save(changes) == []
    assert desktop.controller.set_key("openai", key) == []
    return desktop, key


async def test_stolen_session_cannot_send_the_stored_key_to_a_new_endpoint(
    launcher: Launcher, config_dir: Path, real_keys: KeyStore, upstream: FakeUpstream
) -> None:
    """V1's payoff: save an attacker's endpoint, press "Test connection", read the key."""
    attacker = await FakeUpstream().start()
    try:
        desktop, key = await _with_stored_key(launcher, config_dir, real_keys, f"{upstream.url}/v1")
        headers = {**await enter(desktop), **_own(desktop)}
        redirect = {"providers": {"openai": {"endpoint": f"{attacker.url}/v1"}}}
        answer = await _post(desktop, "save", redirect, headers)
        assert answer["ok"] is False
        assert "enter the API key again" in " ".join(answer["problems"])
        test = await _post(desktop, "test", {"name": "openai"}, headers)
        assert attacker.received == []  # the key never left for the new address
        assert test["ok"] and upstream.last.headers["Authorization"] == f"Bearer {key}"
        assert desktop.controller.settings.providers["openai"].endpoint == f"{upstream.url}/v1"
        # A new proxy host would see the key too (an http endpoint through an http proxy).
        proxy = {"providers": {"openai": {"proxy": f"http://127.0.0.1:{_free_port()}"}}}
        answer = await _post(desktop, "save", proxy, headers)
        assert answer["ok"] is False and "API key" in " ".join(answer["problems"])
        assert desktop.controller.settings.providers["openai"].proxy == ""
    finally:
        await attacker.close()


async def test_new_endpoint_with_the_key_entered_again_is_saved(
    launcher: Launcher, config_dir: Path, real_keys: KeyStore, upstream: FakeUpstream
) -> None:
    moved = await FakeUpstream().start()
    try:
        desktop, _old_key = await _with_stored_key(
            launcher, config_dir, real_keys, f"{upstream.url}/v1"
        )
        headers = {**await enter(desktop), **_own(desktop)}
        new_key = "sk-moved-" + secrets.token_hex(16)
        change = {"providers": {"openai": {"endpoint": f"{moved.url}/v1", "key": new_key}}}
        answer = await _post(desktop, "save", change, headers)
        assert answer["ok"] is True, answer["problems"]
        assert new_key not in str(answer)
        assert real_keys.get("openai") == new_key
        assert (await _post(desktop, "test", {"name": "openai"}, headers))["ok"]
        assert moved.last.headers["Authorization"] == f"Bearer {new_key}"
    finally:
        await moved.close()


async def test_key_from_the_environment_is_not_redirected_from_the_page(
    launcher: Launcher, config_dir: Path, upstream: FakeUpstream
) -> None:
    env = {"OPENAI_API_KEY": "sk-env-" + secrets.token_hex(16)}
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    before = desktop.controller.settings.providers["openai"].endpoint
    headers = {**await enter(desktop), **_own(desktop)}
    change = {"providers": {"openai": {"endpoint": f"{upstream.url}/v1", "key": "sk-x" * 5}}}
    answer = await _post(desktop, "save", change, headers)
    assert answer["ok"] is False
    assert "OPENAI_API_KEY" in " ".join(answer["problems"])
    assert desktop.controller.settings.providers["openai"].endpoint == before


# --------------------------------------------------------------------------- V6: exposure


async def test_exposing_a_key_holding_gateway_needs_confirmation_and_is_logged(
    launcher: Launcher, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    SettingsStore(config_dir).save({"port": port})
    env = {"OPENAI_API_KEY": "sk-env-" + secrets.token_hex(16)}
    desktop = await launcher.launch(config_dir, KeyStore(), env, on_settings_port=True)
    headers = {**await enter(desktop), **_own(desktop)}
    answer = await _post(desktop, "save", {"host": "0.0.0.0"}, headers)
    assert answer["ok"] is False and answer.get("confirm") == "exposure"
    assert "access token" in answer["problems"][0]
    assert desktop.controller.settings.host == "127.0.0.1"
    assert SettingsStore(config_dir).load().get("host") is None
    with caplog.at_level(logging.WARNING):
        answer = await _post(
            desktop, "save", {"host": "0.0.0.0", "confirm_exposure": True}, headers
        )
    assert answer["ok"] is True, answer["problems"]
    assert desktop.controller.settings.host == "0.0.0.0"
    assert any("anyone who can reach" in r.getMessage() for r in caplog.records)
    assert env["OPENAI_API_KEY"] not in caplog.text


async def test_exposure_needs_no_confirmation_with_an_access_token_or_no_key(
    launcher: Launcher, config_dir: Path
) -> None:
    port = _free_port()
    SettingsStore(config_dir).save({"port": port})
    desktop = await launcher.launch(config_dir, KeyStore(), on_settings_port=True)
    headers = {**await enter(desktop), **_own(desktop)}
    assert (await _post(desktop, "save", {"host": "0.0.0.0"}, headers))["ok"] is True
    other = config_dir.parent / "other"
    SettingsStore(other).save({"port": _free_port()})
    env = {"OPENAI_API_KEY": "sk-env-" + secrets.token_hex(16), "AOA_ACCESS_TOKEN": "t" * 20}
    guarded = await launcher.launch(other, KeyStore(), env, on_settings_port=True)
    headers = {**await enter(guarded), **_own(guarded)}
    assert (await _post(guarded, "save", {"host": "0.0.0.0"}, headers))["ok"] is True


# --------------------------------------------------------------------------- functional bugs


async def test_changing_only_the_bind_address_on_the_same_port_is_saved(
    launcher: Launcher, config_dir: Path
) -> None:
    """The port check used to bind while aoa's own listener held the port."""
    port = _free_port()
    SettingsStore(config_dir).save({"port": port})
    desktop = await launcher.launch(config_dir, KeyStore(), on_settings_port=True)
    assert desktop.port == port
    headers = {**await enter(desktop), **_own(desktop)}
    for host in ("0.0.0.0", "127.0.0.1"):
        answer = await _post(desktop, "save", {"host": host, "port": port}, headers)
        assert answer["ok"] is True, answer["problems"]
        assert desktop.controller.settings.host == host


async def test_page_saves_with_cors_origins_set_and_a_server_key(
    browser: Any, launcher: Launcher, config_dir: Path, upstream: FakeUpstream
) -> None:
    env = {
        "AOA_CORS_ORIGINS": "https://chat.example.com",
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": f"{upstream.url}/v1",
        "OPENAI_API_KEY": "sk-env-" + secrets.token_hex(16),
    }
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    page = await open_settings(browser, desktop)
    # The page says what a hosted chat page needs (Local Network Access + AOA_CORS_ORIGINS).
    help_text = await page.inner_text("#web-pages-help")
    assert "local network" in help_text and "AOA_CORS_ORIGINS" in help_text
    await page.get_by_role("tab", name="OpenAI-compatible").click()
    panel = page.locator(".panel:not([hidden])")
    await panel.get_by_role("button", name="Add alias").click()
    row = panel.locator("table.aliases tbody tr").nth(0)
    await row.locator(".alias-from").fill("gpt-4")
    await row.locator(".alias-to").fill("fake-model-x")
    await page.click("#save")
    await page.wait_for_selector("#save-status.ok, #save-status.invalid")
    assert await page.get_attribute("#save-status", "class") == "ok", await page.inner_text(
        "#save-status"
    )
    assert desktop.controller.settings.providers["openai"].aliases == {"gpt-4": "fake-model-x"}
    # The gateway's own CORS policy is unchanged: a foreign origin still cannot spend the key.
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{desktop.url}/v1/models", headers={"Origin": "http://127.0.0.1:1"}) as r,
    ):
        assert r.status == 403
    await page.context.close()


# --------------------------------------------------------------------------- the same, in the page


async def test_page_asks_before_exposing_a_key_holding_gateway(
    browser: Any, launcher: Launcher, config_dir: Path
) -> None:
    SettingsStore(config_dir).save({"port": _free_port()})
    env = {"OPENAI_API_KEY": "sk-env-" + secrets.token_hex(16)}
    desktop = await launcher.launch(config_dir, KeyStore(), env, on_settings_port=True)
    page = await open_settings(browser, desktop)
    questions: list[str] = []
    answer = {"accept": False}

    async def on_dialog(dialog: Any) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if answer["accept"] else dialog.dismiss())

    page.on("dialog", on_dialog)
    await page.fill("#g-host", "0.0.0.0")
    await page.click("#save")
    await page.wait_for_selector("#save-status.invalid")
    assert "no access token is set" in questions[0]
    assert desktop.controller.settings.host == "127.0.0.1"
    answer["accept"] = True
    await page.click("#save")
    await page.wait_for_selector("#save-status.ok")
    assert len(questions) == 2 and desktop.controller.settings.host == "0.0.0.0"
    await page.context.close()


async def test_page_asks_for_the_key_again_for_a_new_endpoint_and_save_stores_it(
    browser: Any,
    launcher: Launcher,
    config_dir: Path,
    real_keys: KeyStore,
    upstream: FakeUpstream,
) -> None:
    moved = await FakeUpstream().start()
    try:
        desktop, _key = await _with_stored_key(
            launcher, config_dir, real_keys, f"{upstream.url}/v1"
        )
        page = await open_settings(browser, desktop)
        await page.get_by_role("tab", name="OpenAI-compatible").click()
        panel = page.locator(".panel:not([hidden])")
        hint = panel.locator(".key-again")
        assert not await hint.is_visible()
        await panel.locator("[data-field='endpoint'] input").fill(f"{moved.url}/v1")
        assert await hint.is_visible()
        await page.click("#save")
        await page.wait_for_selector("#save-status.invalid")
        assert "enter the API key again" in await page.inner_text("#save-status")
        new_key = "sk-moved-" + secrets.token_hex(16)
        await panel.locator("input.key-input").fill(new_key)
        await page.click("#save")
        await page.wait_for_selector("#save-status.ok")
        assert real_keys.get("openai") == new_key
        assert new_key not in await page.content()
        await panel.get_by_role("button", name="Test connection").click()
        await page.wait_for_selector(".panel:not([hidden]) .test-result.ok")
        assert moved.last.headers["Authorization"] == f"Bearer {new_key}"
        await page.context.close()
    finally:
        await moved.close()
