"""The Anthropic provider on the settings page (headless Chromium): its tab comes from the
catalogue, its key goes to the Secret Service, and the gateway then talks to Claude with it."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from aoa_desktop.keys import KeyStore
from tests.anthropic_provider.fake_anthropic import FakeAnthropic
from tests.desktop_settings.conftest import Launcher, files_containing, open_settings


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    fake = await FakeAnthropic().start()
    yield fake
    await fake.close()


async def test_anthropic_tab_stores_the_key_in_the_keyring_and_claude_gets_it(
    browser: Any,
    launcher: Launcher,
    config_dir: Path,
    claude: FakeAnthropic,
    real_keys: KeyStore,
) -> None:
    key = "sk-ant-test-" + secrets.token_hex(12)
    claude.keys.add(key)
    desktop = await launcher.launch(config_dir, real_keys)
    page = await open_settings(browser, desktop)
    await page.get_by_role("tab", name="Anthropic").click()
    panel = page.locator(".panel:not([hidden])")
    endpoint = panel.locator("[data-field='endpoint'] input")
    assert await endpoint.input_value() in ("", "https://api.anthropic.com")
    await panel.locator(".enabled-switch").check()
    await page.select_option("#g-provider", "anthropic")
    await endpoint.fill(claude.url)
    await panel.locator("[data-field='model'] input").fill("claude-haiku-4-5")
    await page.click("#save")
    await page.wait_for_selector("#save-status.ok")
    await panel.locator("input.key-input").fill(key)
    await panel.get_by_role("button", name="Store key").click()
    await page.wait_for_selector(f"text=A key ending in {key[-4:]} is stored")

    found = subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", "anthropic"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found == key
    assert files_containing(config_dir, key) == []

    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{desktop.port}/v1", api_key="client-key", max_retries=0
    )
    answer = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    await client.close()
    assert answer.choices[0].message.content == "Hello from Claude"
    sent = claude.posts[-1]
    assert sent.headers["x-api-key"] == key
    assert sent.json["model"] == "claude-haiku-4-5"

    await panel.get_by_role("button", name="Test connection").click()
    await page.wait_for_selector(".panel:not([hidden]) .test-result.ok")
    assert "the key works (models listed: 1)" in await panel.locator(".test-result").inner_text()
    await page.context.close()
