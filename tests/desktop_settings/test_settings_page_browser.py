"""The settings page in headless Chromium: aliases persist across a restart and take effect,
a key stored through the page lands in the Secret Service and works upstream, and a screenshot
for the README."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openai

from aoa_desktop.keys import KeyStore
from tests.desktop_settings.conftest import Launcher, files_containing, open_settings
from tests.fakes import FakeUpstream

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "settings.png"


def _client(port: int, key: str = "client-key") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)


async def _show_provider(page: Any, label: str) -> Any:
    await page.get_by_role("tab", name=label).click()
    return page.locator(".panel:not([hidden])")


async def test_page_aliases_persist_across_restart_and_map_models(
    browser: Any, launcher: Launcher, config_dir: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    keys = KeyStore()  # whatever this machine has: the aliases do not depend on it
    first = await launcher.launch(config_dir, keys)
    page = await open_settings(browser, first)

    # Switching the one provider: enable OpenAI, make it the default, switch the demo off.
    panel = await _show_provider(page, "OpenAI-compatible")
    await panel.locator(".enabled-switch").check()
    await page.select_option("#g-provider", "openai")
    demo = await _show_provider(page, "Demo (offline)")
    await demo.locator(".enabled-switch").uncheck()
    panel = await _show_provider(page, "OpenAI-compatible")
    await panel.locator("[data-field='endpoint'] input").fill(f"{upstream.url}/v1")
    await panel.get_by_role("button", name="Add alias").click()
    rows = panel.locator("table.aliases tbody tr")
    await rows.nth(0).locator(".alias-from").fill("gpt-4")
    await rows.nth(0).locator(".alias-to").fill("fake-model-x")
    # A bad row is caught in the page and blocks saving, with the reason shown.
    await panel.get_by_role("button", name="Add alias").click()
    await rows.nth(1).locator(".alias-from").fill("bad:name")
    await rows.nth(1).locator(".alias-to").fill("y")
    await page.click("#save")
    await page.wait_for_selector("#save-status.invalid")
    assert "commas or colons" in await page.inner_text("#save-status")
    assert not (config_dir / "settings.json").exists()
    await rows.nth(1).get_by_role("button", name="Remove").click()
    await page.click("#save")
    await page.wait_for_selector("#save-status.ok")
    await page.context.close()
    await launcher.stop(first)

    # A fresh launch on the same config dir: the page shows the alias and requests use it.
    second = await launcher.launch(config_dir, keys)
    assert second.controller.settings.provider == "openai"
    assert second.controller.settings.enabled == ("openai",)
    assert dict(second.controller.settings.providers["openai"].aliases) == {"gpt-4": "fake-model-x"}
    page = await open_settings(browser, second)
    panel = await _show_provider(page, "OpenAI-compatible")
    row = panel.locator("table.aliases tbody tr").nth(0)
    assert await row.locator(".alias-from").input_value() == "gpt-4"
    assert await row.locator(".alias-to").input_value() == "fake-model-x"

    client = _client(second.port)
    answer = await client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}]
    )
    await client.close()
    assert answer.choices[0].message.content
    assert upstream.last.path == "/v1/chat/completions"
    assert upstream.last.json["model"] == "fake-model-x"
    # The live view shows the request (model -> upstream model), without any body.
    await page.wait_for_selector("#recent-rows tr")
    assert "gpt-4 \u2192 fake-model-x" in await page.inner_text("#recent-rows")
    assert "hi" not in await page.inner_text("#recent-rows")
    await page.context.close()


async def test_key_saved_through_page_is_in_secret_service_and_used_upstream(
    browser: Any,
    launcher: Launcher,
    config_dir: Path,
    upstream: FakeUpstream,
    real_keys: KeyStore,
    tmp_path: Path,
) -> None:
    desktop = await launcher.launch(config_dir, real_keys)
    assert (
        desktop.controller.save(
            {
                "provider": "openai",
                "providers": {
                    "openai": {
                        "endpoint": f"{upstream.url}/v1",
                        "model": "gpt-4o-mini",
                        "aliases": {"gpt-4": "fake-model-x", "gpt-3.5-turbo": "fake-small"},
                    }
                },
            }
        )
        == []
    )
    page = await open_settings(browser, desktop)
    panel = await _show_provider(page, "OpenAI-compatible")
    key = "sk-test-" + secrets.token_hex(16)
    await panel.locator("input.key-input").fill(key)
    await panel.get_by_role("button", name="Store key").click()
    await page.wait_for_selector(f"text=A key ending in {key[-4:]} is stored")

    # In the Secret Service (read back with libsecret's own tool), and in no file we wrote.
    found = subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", "openai"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found == key
    assert files_containing(config_dir, key) == []
    assert files_containing(tmp_path, key) == []
    # Never sent back: not in the page, not in the state API.
    assert key not in await page.content()
    state = await page.evaluate("call('state').then(s => JSON.stringify(s))")
    assert key not in state and json.loads(state)["providers"]["openai"]["key"]["stored"]

    # The stored key is the one the upstream sees (the client's own key is not passed on).
    client = _client(desktop.port, key="client-key")
    for model in ("gpt-4", "gpt-3.5-turbo", "gpt-4"):
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello"}]
        )
    await client.close()
    assert upstream.last.headers["Authorization"] == f"Bearer {key}"

    await panel.get_by_role("button", name="Test connection").click()
    await page.wait_for_selector(".panel:not([hidden]) .test-result.ok")
    assert "the key works" in await panel.locator(".test-result").inner_text()
    assert upstream.last.path == "/v1/models"

    await page.wait_for_function("document.querySelectorAll('#recent-rows tr').length >= 3")
    shot = tmp_path / "settings.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # The README's copy is refreshed on request only, so a test run leaves the tree clean.
    if os.environ.get("AOA_UPDATE_SCREENSHOTS") or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    await page.context.close()


async def test_page_shows_environment_values_read_only_and_missing_keyring(
    browser: Any, launcher: Launcher, config_dir: Path
) -> None:
    import keyring.backends.fail

    keys = KeyStore(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    env = {"AZURE_ENDPOINT": "https://env.openai.azure.com/", "AOA_PORT": "8123"}
    desktop = await launcher.launch(config_dir, keys, env)
    page = await open_settings(browser, desktop)
    assert "No system keyring is available" in await page.inner_text("#problems")
    assert await page.is_disabled("#g-port")
    assert await page.inner_text("#g-port-env") == "from environment (AOA_PORT)"
    panel = await _show_provider(page, "Azure OpenAI")
    endpoint = panel.locator("[data-field='endpoint'] input")
    assert await endpoint.is_disabled()
    assert await endpoint.input_value() == "https://env.openai.azure.com/"
    assert "from environment (AZURE_ENDPOINT)" in await panel.inner_text()
    # Storing a key is refused with the reason, and nothing is written anywhere.
    await panel.locator("input.key-input").fill("sk-azure-0123456789abcdef")
    await panel.get_by_role("button", name="Store key").click()
    await page.wait_for_selector(".panel:not([hidden]) .key-result.invalid")
    assert "No system keyring" in await panel.locator(".key-result").inner_text()
    assert files_containing(config_dir.parent, "sk-azure-0123456789abcdef") == []
    await page.context.close()


async def test_moved_link_from_the_old_port_opens_the_page_on_the_new_one(
    browser: Any, launcher: Launcher, config_dir: Path, tmp_path: Path
) -> None:
    """After a port change the page links to the new address: a same-site navigation."""
    old = await launcher.launch(config_dir, KeyStore())
    new = await launcher.launch(tmp_path / "other", KeyStore())
    page = await open_settings(browser, old)
    await page.evaluate(
        """url => { const a = document.createElement('a'); a.href = url;
                    document.body.append(a); a.click(); }""",
        new.entry_url(),
    )
    await page.wait_for_url(f"{new.url}/settings")
    await page.wait_for_selector("body[data-ready='true']")
    assert await page.inner_text("#base-url") == f"{new.url}/v1"
    await page.context.close()
