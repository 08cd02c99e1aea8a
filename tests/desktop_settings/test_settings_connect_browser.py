"""The settings page's Connect section in headless Chromium, and its API's guard.

The page opens on a tool the way the tray's "Connect a tool" opens it (#connect=<tool>), shows
the exact change with the access token masked, writes only after "Write this change", and
Disconnect puts the file back byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aoa_desktop.keys import KeyStore
from tests.desktop_settings.conftest import Launcher, enter

TOKEN = "page-access-token-77ab"
CODEX = """\
# mine
model = "o3"
approval_policy = "on-request"

[model_providers.ollama]
base_url = "http://localhost:11434/v1"
"""


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "", "AOA_ACCESS_TOKEN": TOKEN}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home" / ".codex").mkdir(parents=True)
    path = tmp_path / "home" / ".codex" / "config.toml"
    path.write_text(CODEX)
    os.chmod(path, 0o640)
    return tmp_path / "home"


async def test_page_connects_and_disconnects_codex(
    browser: Any, launcher: Launcher, config_dir: Path, home: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore(), _env(home))
    config = home / ".codex" / "config.toml"
    original = config.read_bytes()
    context = await browser.new_context(viewport={"width": 1000, "height": 900})
    page = await context.new_page()
    await page.goto(desktop.entry_url() + "#connect=codex")
    await page.wait_for_selector("body[data-ready='true']")

    assert await page.get_attribute("#connect-panel", "data-tool") == "codex"
    tab = page.locator("#connect-tabs .tab[aria-selected='true']")
    assert await tab.inner_text() == "Codex CLI"
    status = page.locator("#connect-panel .connect-state")
    assert await status.get_attribute("data-state") == "not-connected"
    assert "installed" in await page.inner_text("#connect-panel .connect-status")

    await page.click("#connect-panel .connect-preview")
    diff = await page.inner_text("#connect-panel pre.diff")
    assert '+model_provider = "aoa"' in diff
    assert '+experimental_bearer_token = "****77ab"' in diff
    assert "-model = " in diff and "+model = " in diff
    assert config.read_bytes() == original  # a preview writes nothing

    await page.click("#connect-panel .connect-confirm")
    await page.wait_for_selector("#connect-panel .connect-state[data-state='connected']")
    assert "The old file is kept as" in await page.inner_text("#connect-panel .connect-result")
    text = config.read_text()
    assert f'experimental_bearer_token = "{TOKEN}"' in text and "# mine" in text
    assert len(list(config.parent.glob("config.toml.aoa-backup-*"))) == 1
    assert TOKEN not in await page.content()  # the page only ever saw ****77ab

    await page.click("#connect-panel .connect-disconnect")
    await page.wait_for_selector("#connect-panel .connect-state[data-state='not-connected']")
    assert config.read_bytes() == original
    await context.close()


async def test_copy_puts_the_snippet_with_the_real_token_on_the_clipboard(
    browser: Any, launcher: Launcher, config_dir: Path, home: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore(), _env(home))
    context = await browser.new_context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    await page.goto(desktop.entry_url() + "#connect=curl")
    await page.wait_for_selector("body[data-ready='true']")
    shown = await page.inner_text("#connect-panel pre.snippet")
    assert f"http://127.0.0.1:{desktop.port}/v1/chat/completions" in shown
    assert "Bearer ****77ab" in shown and TOKEN not in shown
    await page.click("#connect-panel .snippet-copy")
    await page.wait_for_selector("#connect-panel .snippet-copy:text-is('Copied')")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert f"Authorization: Bearer {TOKEN}" in copied
    await context.close()


async def test_connect_api_refuses_other_pages_and_missing_sessions(
    launcher: Launcher, config_dir: Path, home: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore(), _env(home))
    config = home / ".codex" / "config.toml"
    url = f"{desktop.url}/settings/api/connect/apply"
    own = {"Origin": desktop.url}
    headers = await enter(desktop)
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"name": "codex"}, headers=own) as r:
            assert r.status == 403  # no session
        evil = {**headers, "Origin": "http://evil.example"}
        async with s.post(url, json={"name": "codex"}, headers=evil) as r:
            assert r.status == 403
        async with s.post(url, data='{"name": "codex"}', headers={**headers, **own}) as r:
            assert r.status == 403  # not JSON: a form post from another page
        async with s.get(f"{desktop.url}/settings/api/connect", headers=headers) as r:
            assert r.status == 200
            overview = await r.json()
        async with s.post(url, json={"name": "../../etc"}, headers={**headers, **own}) as r:
            assert r.status == 400
    assert config.read_text() == CODEX
    assert TOKEN not in str(overview)
    names = [t["name"] for t in overview["tools"]]
    assert names[:4] == ["codex", "claude-code", "llm", "continue"]
    assert {"open-webui", "cherry-studio", "python", "javascript", "curl"} <= set(names)


async def test_a_new_access_token_shows_old_settings_and_reconnect_updates(
    browser: Any, launcher: Launcher, config_dir: Path, home: Path, real_keys: KeyStore
) -> None:
    env = {"HOME": str(home), "PATH": ""}  # no token yet
    desktop = await launcher.launch(config_dir, real_keys, env)
    config = home / ".codex" / "config.toml"
    page = await (await browser.new_context()).new_page()
    await page.goto(desktop.entry_url() + "#connect=codex")
    await page.wait_for_selector("body[data-ready='true']")
    await page.click("#connect-panel .connect-preview")
    assert "experimental_bearer_token" not in await page.inner_text("#connect-panel pre.diff")
    await page.click("#connect-panel .connect-confirm")
    await page.wait_for_selector("#connect-panel .connect-state[data-state='connected']")

    token = "fresh-page-token-" + os.urandom(6).hex()
    await page.fill("#token-key input.key-input", token)
    await page.click("#token-key button:has-text('Store key')")
    await page.wait_for_selector("#connect-panel .connect-state[data-state='outdated']")
    await page.click("#connect-panel .connect-preview")
    diff = await page.inner_text("#connect-panel pre.diff")
    assert f'+experimental_bearer_token = "****{token[-4:]}"' in diff and token not in diff
    await page.click("#connect-panel .connect-confirm")
    await page.wait_for_selector("#connect-panel .connect-state[data-state='connected']")
    assert f'experimental_bearer_token = "{token}"' in config.read_text()

    await page.click("#connect-panel .connect-disconnect")
    await page.wait_for_selector("#connect-panel .connect-state[data-state='not-connected']")
    assert config.read_text() == CODEX
