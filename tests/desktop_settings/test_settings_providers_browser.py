"""Several providers on the settings page in headless Chromium (issue 14): an "Enabled" switch per
provider and the default chosen among the enabled ones, the warning for one that is not
configured, a second key shown as its last 4 characters, a key the gateway cooled down after a
429, and each request's route (and why it moved) in the recent requests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import openai
from aiohttp import web
from playwright.async_api import expect

from aoa_desktop.keys import KeyStore
from tests.desktop_settings.conftest import Launcher, files_containing, open_settings
from tests.fakes import FakeUpstream, Received

KEY_A = "sk-pool-first-key-aaaa"
KEY_B = "sk-pool-second-key-bbbb"


def _client(port: int) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="client-key", max_retries=0
    )


async def _chat(port: int, model: str) -> str:
    client = _client(port)
    try:
        answer = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        await client.close()
    return answer.model


async def _tab(page: Any, label: str) -> Any:
    await page.get_by_role("tab", name=label).click()
    return page.locator(".panel:not([hidden])")


async def _options(page: Any) -> list[str]:
    values: list[str] = await page.eval_on_selector_all(
        "#g-provider option", "options => options.map(o => o.value)"
    )
    return values


def _chats(upstream: FakeUpstream) -> list[Received]:
    """What reached an upstream's chat door (the gateway also lists models in the background)."""
    return [r for r in upstream.received if r.path.endswith("/chat/completions")]


def _secret_tool(provider: str) -> str:
    return subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", provider],
        capture_output=True,
        text=True,
    ).stdout


async def test_page_enables_a_second_provider_and_makes_it_the_default(
    browser: Any, launcher: Launcher, config_dir: Path, real_keys: KeyStore
) -> None:
    first, second = await FakeUpstream().start(), await FakeUpstream().start()
    try:
        desktop = await launcher.launch(config_dir, real_keys)
        controller = desktop.controller
        endpoint = {"endpoint": f"{first.url}/v1", "key": KEY_A}
        assert controller.save({"provider": "openai", "providers": {"openai": endpoint}}) == []
        page = await open_settings(browser, desktop)
        assert await _options(page) == ["openai"]  # only enabled providers can be the default
        assert await page.inner_text("label[for=g-provider]") == "Default provider"

        yi = await _tab(page, "Yi")
        assert not await yi.locator(".enabled-switch").is_checked()
        await yi.locator("[data-field='endpoint'] input").fill(second.url)
        await yi.locator("input.key-input").fill(KEY_B)
        await yi.locator(".enabled-switch").check()
        assert await _options(page) == ["yi", "openai"]
        await page.select_option("#g-provider", "yi")
        assert await yi.locator(".enabled-switch").is_disabled()  # the default stays on
        assert await yi.locator(".enable-note").inner_text() == (
            "The default provider is always enabled."
        )
        assert "default" in await page.get_by_role("tab", name="Yi").inner_text()
        openai_tab = await _tab(page, "OpenAI-compatible")
        assert await openai_tab.locator(".enabled-switch").is_enabled()
        assert await openai_tab.locator(".enabled-switch").is_checked()
        await page.click("#save")
        await page.wait_for_selector("#save-status.ok")

        settings = controller.settings
        assert (settings.provider, settings.enabled) == ("yi", ("yi", "openai"))
        assert await page.locator("#problems").is_hidden()
        # The default serves what no other provider claims; a prefix picks the provider.
        await _chat(desktop.port, "gpt-4o")
        await _chat(desktop.port, "openai/gpt-4o-mini")
        assert [r.json["model"] for r in _chats(second)] == ["gpt-4o"]
        assert _chats(second)[0].headers["Authorization"] == f"Bearer {KEY_B}"
        assert [r.json["model"] for r in _chats(first)] == ["gpt-4o-mini"]
        # Recent requests show each route, as the access log does.
        # (The page's CSP forbids eval, so waits use locators, not wait_for_function.)
        await page.locator("#recent-rows tr").nth(1).wait_for()
        recent = await page.inner_text("#recent-rows")
        assert "gpt-4o \u2192 yi/gpt-4o" in recent
        assert "openai/gpt-4o-mini \u2192 openai/gpt-4o-mini" in recent
        await page.context.close()
    finally:
        await first.close()
        await second.close()


async def test_page_warns_about_an_enabled_provider_that_is_not_configured(
    browser: Any, launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    page = await open_settings(browser, desktop)
    gemini = await _tab(page, "Gemini")
    await gemini.locator("[data-field='model'] input").fill("gemini-2.5-flash")
    await gemini.locator(".enabled-switch").check()
    await page.click("#save")
    await page.wait_for_selector("#save-status.ok")  # saved: a warning, not a refusal

    banner = await page.inner_text("#problems")
    assert (
        "Gemini is enabled but not configured, so it serves no requests: set its API key" in banner
    )
    gemini = await _tab(page, "Gemini")
    warning = gemini.locator(".enable-warning")
    assert await warning.is_visible()
    assert "Gemini is enabled but not configured" in await warning.inner_text()
    assert await gemini.locator(".enabled-switch").is_checked()
    # Nothing else in the save was lost, and the gateway serves on without it.
    settings = desktop.controller.settings
    assert settings.providers["gemini"].model == "gemini-2.5-flash"
    assert settings.enabled == ("demo",)
    assert "gemini" in json.loads((config_dir / "settings.json").read_text())["enabled"]
    assert await _chat(desktop.port, "gpt-4o")  # the demo still answers
    await page.context.close()


async def test_page_adds_a_second_key_and_shows_both_as_their_last_4(
    browser: Any,
    launcher: Launcher,
    config_dir: Path,
    real_keys: KeyStore,
    upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    desktop = await launcher.launch(config_dir, real_keys)
    change = {"provider": "openai", "providers": {"openai": {"endpoint": f"{upstream.url}/v1"}}}
    assert desktop.controller.save(change) == []
    page = await open_settings(browser, desktop)
    panel = await _tab(page, "OpenAI-compatible")
    await panel.locator("input.key-input").fill(KEY_A)
    await panel.get_by_role("button", name="Store key").click()
    await page.wait_for_selector("text=A key ending in aaaa is stored")
    panel = await _tab(page, "OpenAI-compatible")
    await panel.locator("input.key-input").fill(KEY_B)
    await panel.get_by_role("button", name="Add key").click()
    await page.wait_for_selector("text=2 keys are stored, used in turn")

    panel = page.locator(".panel[data-name='openai']")
    assert await panel.locator(".pool-key code").all_inner_texts() == ["****aaaa", "****bbbb"]
    assert _secret_tool("openai") == f"{KEY_A},{KEY_B}"
    assert KEY_A not in await page.content() and KEY_B not in await page.content()
    assert files_containing(tmp_path, KEY_B) == []
    # The same key again is refused, saying which one (its last 4 only).
    await panel.locator("input.key-input").fill(KEY_A)
    await panel.get_by_role("button", name="Add key").click()
    await page.wait_for_selector(".panel[data-name='openai'] .key-result.invalid")
    assert "the key ****aaaa is listed twice" in await panel.locator(".key-result").inner_text()
    assert _secret_tool("openai") == f"{KEY_A},{KEY_B}"
    # Removing one leaves the other.
    await panel.get_by_role("button", name="Remove ****aaaa").click()
    await page.wait_for_selector("text=A key ending in bbbb is stored")
    assert _secret_tool("openai") == KEY_B
    assert desktop.controller.settings.active.keys == (KEY_B,)
    await page.context.close()


async def test_page_shows_a_cooling_key_and_why_the_request_moved_on(
    browser: Any, launcher: Launcher, config_dir: Path, real_keys: KeyStore
) -> None:
    async def limited(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.headers.get("Authorization") == f"Bearer {KEY_A}":
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                status=429,
                headers={"retry-after": "30"},
            )
        return await fake.default(request, rec)

    fake = await FakeUpstream(responder=limited).start()
    try:
        desktop = await launcher.launch(config_dir, real_keys)
        change = {"provider": "openai", "providers": {"openai": {"endpoint": f"{fake.url}/v1"}}}
        assert desktop.controller.save(change) == []
        assert desktop.controller.set_key("openai", f"{KEY_A},{KEY_B}") == []
        page = await open_settings(browser, desktop)
        pool = page.locator(".panel[data-name='openai'] .pool-key")
        assert await pool.locator(".cooling").all_inner_texts() == ["", ""]

        assert await _chat(desktop.port, "gpt-4o")  # the first key: 429; the second answers
        assert [r.headers["Authorization"] for r in _chats(fake)] == [
            f"Bearer {KEY_A}",
            f"Bearer {KEY_B}",
        ]
        # The page learns it from the live view, without a reload.
        cooling = pool.nth(0).locator(".cooling")
        await expect(cooling).to_have_text(re.compile(r"^cooling down: "), timeout=20_000)
        text = await cooling.inner_text()
        assert text.endswith("s left (rate limited)")
        assert 25 <= int(text.split(":")[1].split()[0]) <= 30
        assert await pool.nth(1).locator(".cooling").inner_text() == ""
        assert await pool.locator("code").all_inner_texts() == ["****aaaa", "****bbbb"]
        # The request's row: its route, and why it left the first key.
        row = page.locator("#recent-rows tr").first
        assert "gpt-4o \u2192 openai/gpt-4o" in await row.inner_text()
        moved = await row.locator(".moved").inner_text()
        assert moved == "moved on: 429 from openai, key ****aaaa rests 30 s"
        assert KEY_A not in await page.content()
        await page.context.close()
    finally:
        await fake.close()
