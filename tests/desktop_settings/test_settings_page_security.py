"""Attacks on the settings page are refused and change nothing: wrong, missing or used entry
codes and sessions, foreign Origin (CSRF), a foreign Host (DNS rebinding), cross-site reads, and
another web page in the same browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import SESSION_HEADER
from tests.desktop_settings.conftest import Desktop, Launcher, enter, open_settings, page_session

CHANGE = {"providers": {"openai": {"aliases": {"gpt-4": "attacker-model"}}}}


def _own(desktop: Desktop) -> dict[str, str]:
    return {"Origin": desktop.url, "Content-Type": "application/json"}


def _unchanged(desktop: Desktop, config_dir: Path) -> bool:
    aliases = desktop.controller.settings.providers["openai"].aliases
    return "gpt-4" not in aliases and not (config_dir / "settings.json").exists()


async def test_entry_code_gives_the_page_a_session_in_memory_and_sets_no_cookie(
    launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    url = desktop.entry_url()
    code = url.split("code=", 1)[1]
    async with aiohttp.ClientSession() as s:
        async with s.get(url, allow_redirects=False) as r:
            assert r.status == 200
            assert "Set-Cookie" not in r.headers
            assert r.headers["Cache-Control"] == "no-store"
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self';" in csp and "unsafe-inline" not in csp
            token = page_session(await r.text())
        assert len(token) >= 40 and code not in token
        async with s.get(f"{desktop.url}/settings/api/state", headers={SESSION_HEADER: token}) as r:
            assert r.status == 200
            assert "Set-Cookie" not in r.headers
    assert not s.cookie_jar or not list(s.cookie_jar)


async def test_missing_wrong_or_used_codes_and_sessions_are_refused(
    launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    used = desktop.entry_url()
    async with aiohttp.ClientSession() as s:
        async with s.get(used) as r:
            assert r.status == 200
        for url in (used, f"{desktop.url}/settings?code=wrong", f"{desktop.url}/settings"):
            async with s.get(url, allow_redirects=False) as r:
                assert r.status == 403 and "Set-Cookie" not in r.headers
                assert "tray" in await r.text()
        for headers in ({}, {SESSION_HEADER: "wrong-session"}, {SESSION_HEADER: ""}):
            async with s.get(f"{desktop.url}/settings/api/state", headers=headers) as r:
                assert r.status == 403
            async with s.post(
                f"{desktop.url}/settings/api/save",
                json=CHANGE,
                headers={**headers, **_own(desktop)},
            ) as r:
                assert r.status == 403
            async with s.post(
                f"{desktop.url}/settings/api/key",
                json={"name": "openai", "key": "sk-attacker-000000000"},
                headers={**headers, **_own(desktop)},
            ) as r:
                assert r.status == 403
    assert _unchanged(desktop, config_dir)
    assert desktop.controller.key_status("openai")["stored"] is False


async def test_foreign_origin_and_missing_origin_cannot_change(
    launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    session = await enter(desktop)
    url = f"{desktop.url}/settings/api/save"
    async with aiohttp.ClientSession() as s:
        for origin in ("http://evil.example", "http://127.0.0.1:1", "null"):
            headers = {**session, "Origin": origin, "Content-Type": "application/json"}
            async with s.post(url, data=json.dumps(CHANGE), headers=headers) as r:
                assert r.status == 403, origin
                assert "Access-Control-Allow-Origin" not in r.headers
        async with s.post(url, json=CHANGE, headers=session) as r:  # no Origin
            assert r.status == 403
        # A form post (the classic CSRF shape) is not JSON: refused even from our own origin.
        async with s.post(url, data="providers=x", headers={**session, "Origin": desktop.url}) as r:
            assert r.status == 403
        # Control: the same change from the page's own origin works.
        assert _unchanged(desktop, config_dir)
        async with s.post(url, json=CHANGE, headers={**session, **_own(desktop)}) as r:
            assert r.status == 200 and (await r.json())["ok"]
    assert desktop.controller.settings.providers["openai"].aliases == {"gpt-4": "attacker-model"}


async def test_foreign_host_header_is_refused(launcher: Launcher, config_dir: Path) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host."""
    desktop = await launcher.launch(config_dir, KeyStore())
    evil = f"evil.example:{desktop.port}"
    headers = {**await enter(desktop), "Host": evil, "Origin": f"http://{evil}"}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{desktop.url}/settings/api/state", headers=headers) as r:
            assert r.status == 403
        async with s.get(desktop.entry_url(), headers=headers) as r:
            assert r.status == 403 and "aoa-session" not in await r.text()
        async with s.post(
            f"{desktop.url}/settings/api/save",
            json=CHANGE,
            headers={**headers, "Content-Type": "application/json"},
        ) as r:
            assert r.status == 403
    assert _unchanged(desktop, config_dir)


async def test_cross_site_reads_and_preflights_get_no_cors(
    launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    session = await enter(desktop)
    async with aiohttp.ClientSession() as s:
        headers = {**session, "Sec-Fetch-Site": "cross-site"}
        async with s.get(f"{desktop.url}/settings/api/state", headers=headers) as r:
            assert r.status == 403
        async with s.get(
            f"{desktop.url}/settings/api/state",
            headers={**session, "Origin": "http://localhost:3000"},
        ) as r:
            assert r.status == 403
            assert "Access-Control-Allow-Origin" not in r.headers
        async with s.options(
            f"{desktop.url}/settings/api/save",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-aoa-session",
            },
        ) as r:
            assert not [h for h in r.headers if h.lower().startswith("access-control-allow")]
        async with s.get(f"{desktop.url}/settings/api/state", headers=session) as r:
            assert r.status == 200
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


async def _evil_site() -> tuple[web.AppRunner, str]:
    """Another web page on loopback (same *site* as the gateway: ports do not count)."""
    page = """<!doctype html><script>
    async function attack(url, init) {
      try { const r = await fetch(url, init); return "read:" + r.status + ":" + await r.text(); }
      catch (e) { return "blocked"; }
    }
    </script>"""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


async def test_other_page_in_same_browser_cannot_read_or_change(
    browser: Any, launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    settings_page = await open_settings(browser, desktop)  # the user has a session now
    runner, evil_url = await _evil_site()
    try:
        evil = await settings_page.context.new_page()
        await evil.goto(evil_url)
        api = f"{desktop.url}/settings/api/"
        read = await evil.evaluate("url => attack(url, {credentials: 'include'})", api + "state")
        assert read == "blocked"
        write = await evil.evaluate(
            """([url, body]) => attack(url, {method: 'POST', credentials: 'include',
                 headers: {'Content-Type': 'application/json'}, body})""",
            [api + "save", json.dumps(CHANGE)],
        )
        assert write == "blocked"
        # A "simple" request needs no preflight, so it reaches the server: still refused.
        simple = await evil.evaluate(
            """([url, body]) => attack(url, {method: 'POST', credentials: 'include',
                 mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body})""",
            [api + "save", json.dumps(CHANGE)],
        )
        # It reaches the server and is refused; even the opaque answer is withheld from the
        # page (Cross-Origin-Resource-Policy: same-origin), so the fetch fails outright.
        assert simple == "blocked"
        assert _unchanged(desktop, config_dir)
        # The real page, same browser, still works (its script holds the session).
        ok = await settings_page.evaluate("call('state').then(s => typeof s.version)")
        assert ok == "string"
    finally:
        await settings_page.context.close()
        await runner.cleanup()
