"""The settings page speaks Chinese under zh_CN, in a real browser, with no English left over."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import openai
from playwright.async_api import expect

from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import page_strings
from aoa_proxy.i18n import LANGUAGES, set_language
from tests.desktop_settings.conftest import Launcher, open_settings
from tests.i18n.conftest import ROOT

SCREENSHOT = ROOT / "docs" / "screenshots" / "settings.zh-CN.png"


async def _a_few_requests(url: str) -> None:
    """Requests through the (demo) gateway, so the page's recent-requests table has rows."""
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4o"):
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "你好"}]
        )
    await client.close()


async def _visible_text(page: Any) -> str:
    text: str = await page.locator("body").inner_text()
    return text


async def test_settings_page_is_chinese_under_zh_cn(
    browser: Any, launcher: Launcher, config_dir: Path, tmp_path: Path
) -> None:
    set_language("en")
    english = page_strings()
    # The language as a user picks it in the page: a stored setting, applied at once.
    desktop = await launcher.launch(config_dir, KeyStore())
    assert desktop.controller.save({"language": "zh_CN"}) == []
    chinese = page_strings()
    await _a_few_requests(desktop.url)
    page = await open_settings(browser, desktop)

    assert await page.locator("#general h2").inner_text() == chinese["general"] == "常规"
    assert await page.locator("#save").inner_text() == "保存"
    assert await page.locator("#g-provider option[value=demo]").inner_text() == "演示（离线）"
    await page.wait_for_function("document.querySelectorAll('#recent-rows tr').length >= 3")
    text = await _visible_text(page)
    assert chinese["recent"] in text
    # No English sentence of the page is left (short words like "Model" may be model names).
    leftovers = [s for k, s in english.items() if len(s) > 12 and s != chinese[k] and s in text]
    assert leftovers == []

    shot = tmp_path / "settings.zh-CN.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("AOA_UPDATE_SCREENSHOTS") or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    await page.context.close()


async def test_settings_page_is_english_by_default(
    browser: Any, launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore(), env={"AOA_LANG": "en"})
    page = await open_settings(browser, desktop)
    assert await page.locator("#general h2").inner_text() == "General"
    # The only Chinese is the language list's own name for Chinese.
    text = (await _visible_text(page)).replace(LANGUAGES["zh_CN"], "")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text)
    await page.context.close()


async def test_language_chosen_in_the_page_rewords_it_at_once_and_is_remembered(
    browser: Any, launcher: Launcher, config_dir: Path, monkeypatch: Any
) -> None:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "AOA_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C")  # the OS says English
    first = await launcher.launch(config_dir, KeyStore())
    page = await open_settings(browser, first)
    assert await page.locator("#general h2").inner_text() == "General"
    assert await page.locator("#g-language").input_value() == ""

    await page.select_option("#g-language", "zh_CN")
    await page.click("#save")
    await expect(page.locator("#general h2")).to_have_text("常规")
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    assert await page.locator("#save").inner_text() == "保存"
    await page.context.close()

    # A later launch (same stored settings) starts in Chinese although the OS says English.
    await launcher.stop(first)
    second = await launcher.launch(config_dir, KeyStore())
    page = await open_settings(browser, second)
    assert await page.locator("#general h2").inner_text() == "常规"
    assert await page.locator("#g-language").input_value() == "zh_CN"

    await page.select_option("#g-language", "")  # back to the system's language
    await page.click("#save")
    await expect(page.locator("#general h2")).to_have_text("General")
    await page.context.close()
