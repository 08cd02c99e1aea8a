"""The settings page's Usage view in headless Chromium: its numbers are the requests sent."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from aoa_desktop.keys import KeyStore
from aoa_desktop.usage_web import usage_strings
from tests.desktop_settings.conftest import Launcher, enter, open_settings
from tests.fakes import FakeUpstream, Received
from tests.support import wait_for

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "usage.png"
SCREENSHOT_ZH = SCREENSHOT.with_name("usage.zh-CN.png")


def _count_rows(db: Path, want: int) -> int:
    def read() -> int | None:
        try:
            con = sqlite3.connect(db)
            try:
                (n,) = con.execute("SELECT COUNT(*) FROM requests").fetchone()
            finally:
                con.close()
        except sqlite3.DatabaseError:
            return None
        return n if n >= want else None

    return wait_for(f"{want} rows in the usage history", read, timeout=10)


async def _send(port: int, upstream: FakeUpstream) -> None:
    """4 whole answers (9 + 3 tokens), 1 stream (5 + 2), 2 upstream failures: 7 requests."""

    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.json.get("model") == "broken-model":
            return web.json_response(
                {"error": {"message": "down", "type": "server_error"}}, status=500
            )
        return await upstream.default(request, rec)

    upstream.responder = answer
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="client", max_retries=0
    )
    try:
        for _ in range(4):
            await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass
        for _ in range(2):
            with contextlib.suppress(openai.InternalServerError):
                await client.chat.completions.create(
                    model="broken-model", messages=[{"role": "user", "content": "hi"}]
                )
    finally:
        await client.close()


async def _stat(page: Any, name: str) -> str:
    return str(await page.inner_text(f"#u-stats [data-stat='{name}'] dd")).strip()


async def _chart_total(page: Any, chart: str) -> int:
    values = await page.eval_on_selector_all(
        f"#{chart} rect[data-value]", "rects => rects.map(r => Number(r.dataset.value))"
    )
    return int(sum(values))


async def test_usage_view_shows_the_requests_sent_and_exports_them(
    browser: Any, launcher: Launcher, config_dir: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    db = tmp_path / "usage" / "usage.sqlite3"
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream.url,
        "OPENAI_API_KEY": "sk-usage-view-key-4321",
        "AOA_USAGE_DB": str(db),
    }
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    await _send(desktop.port, upstream)
    _count_rows(db, 7)

    page = await open_settings(browser, desktop)
    await page.wait_for_selector("#usage[data-loaded='true']")
    assert await _stat(page, "requests") == "7"
    assert await _stat(page, "error_rate") == "28.6 %"  # 2 of 7
    assert await _stat(page, "tokens") == "55"  # 4 x 12 + 7
    assert await _chart_total(page, "u-tokens-chart") == 55
    assert await _chart_total(page, "u-requests-chart") == 7
    legend = await page.inner_text("#u-legend")
    assert "openai" in legend

    # The table: one row per provider and model, sortable by any column.
    rows = page.locator("#u-rows tr")
    assert await rows.count() == 3
    first = rows.nth(0)
    assert await first.locator("[data-col='model']").inner_text() == "gpt-4o"  # most requests
    assert await first.locator("[data-col='requests']").inner_text() == "4"
    assert await first.locator("[data-col='prompt_tokens']").inner_text() == "36"
    await page.click("#u-table th[data-sort='errors']")
    assert await rows.nth(0).locator("[data-col='model']").inner_text() == "broken-model"
    assert await rows.nth(0).locator("[data-col='errors']").inner_text() == "2"
    await page.click("#u-table th[data-sort='errors']")  # again: ascending
    assert await page.get_attribute("#u-table th[data-sort='errors']", "aria-sort") == "ascending"

    # Grouped by model, the tokens chart's stacks are the models that used tokens.
    await page.select_option("#u-by", "model")
    await page.wait_for_selector("#usage[data-loaded='true'][data-by='model']")
    legend = await page.inner_text("#u-legend")
    assert "gpt-4o" in legend and "broken-model" not in legend

    async with page.expect_download() as info:
        await page.click("#u-csv")
    download = await info.value
    saved = tmp_path / "export.csv"
    await download.save_as(saved)
    table = list(csv.DictReader(io.StringIO(saved.read_text("utf-8"))))
    assert len(table) == 7
    assert sum(int(r["prompt_tokens"] or 0) + int(r["completion_tokens"] or 0) for r in table) == 55
    assert sorted({r["status"] for r in table}) == ["200", "500"]
    assert {r["key_last4"] for r in table} == {"4321"}
    assert "sk-usage-view-key" not in saved.read_text("utf-8")

    shot = tmp_path / "usage.png"
    await page.locator("#usage").screenshot(path=str(shot))
    assert shot.stat().st_size > 5_000
    if os.environ.get("AOA_UPDATE_SCREENSHOTS") or not SCREENSHOT.exists():
        shutil.copyfile(shot, SCREENSHOT)
    await page.context.close()


async def test_a_date_range_without_requests_shows_nothing(
    browser: Any, launcher: Launcher, config_dir: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    db = tmp_path / "usage.sqlite3"
    env = {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url, "AOA_USAGE_DB": str(db)}
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    await _send(desktop.port, upstream)
    _count_rows(db, 7)
    page = await open_settings(browser, desktop)
    await page.wait_for_selector("#usage[data-loaded='true']")
    await page.fill("#u-from", "2020-01-01")
    await page.fill("#u-to", "2020-01-31")
    await page.click("#u-show")
    await page.wait_for_selector("#usage[data-loaded='true'][data-from='2020-01-01']")
    assert await _stat(page, "requests") == "0"
    assert await page.is_visible("#u-empty")
    assert await _chart_total(page, "u-tokens-chart") == 0
    await page.context.close()


async def test_usage_api_needs_the_page_session(
    launcher: Launcher, config_dir: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream.url,
        "AOA_USAGE_DB": str(tmp_path / "u.db"),
    }
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    async with aiohttp.ClientSession() as s:
        for path in ("usage", "usage.csv"):
            async with s.get(f"{desktop.url}/settings/api/{path}") as r:
                assert r.status == 403
        headers = await enter(desktop)
        async with s.get(f"{desktop.url}/settings/api/usage.csv", headers=headers) as r:
            assert r.status == 200
            assert r.headers["Content-Disposition"].startswith("attachment;")
            assert (await r.text()).startswith("time,door,provider,model")


async def test_a_history_that_cannot_be_written_is_named_on_the_page(
    browser: Any, launcher: Launcher, config_dir: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the history's folder should be")
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream.url,
        "AOA_USAGE_DB": str(blocker / "usage.sqlite3"),
    }
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    await _send(desktop.port, upstream)  # every request is still answered
    usage = desktop.runtime.usage
    assert usage is not None
    wait_for("the write to fail", lambda: usage.problem or None)
    page = await open_settings(browser, desktop)
    await page.wait_for_selector("#usage[data-loaded='true']")
    assert await page.is_visible("#u-problem")
    assert "could not open" in await page.inner_text("#u-problem")
    await page.context.close()


async def test_usage_view_in_chinese(
    browser: Any, launcher: Launcher, config_dir: Path, upstream: FakeUpstream, tmp_path: Path
) -> None:
    db = tmp_path / "usage.sqlite3"
    env = {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url, "AOA_USAGE_DB": str(db)}
    desktop = await launcher.launch(config_dir, KeyStore(), env)
    assert desktop.controller.save({"language": "zh_CN"}) == []
    if usage_strings()["usage"] == "Usage":
        pytest.skip("the zh_CN catalogue does not have the Usage view's strings yet")
    await _send(desktop.port, upstream)
    _count_rows(db, 7)
    page = await open_settings(browser, desktop)
    await page.wait_for_selector("#usage[data-loaded='true']")
    assert await page.inner_text("#usage h2") == usage_strings()["usage"] == "用量"
    assert await _stat(page, "requests") == "7"
    shot = tmp_path / "usage.zh-CN.png"
    await page.locator("#usage").screenshot(path=str(shot))
    if os.environ.get("AOA_UPDATE_SCREENSHOTS") or not SCREENSHOT_ZH.exists():
        shutil.copyfile(shot, SCREENSHOT_ZH)
    await page.context.close()
