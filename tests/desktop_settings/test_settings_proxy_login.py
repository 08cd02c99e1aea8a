"""A proxy's login (user:password in its URL) lives in the keyring, never in settings.json; the
page and the messages show it masked, and the proxy still gets it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import keyring.backends.fail
import pytest

from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import state
from tests.desktop_settings.conftest import Desktop, Launcher, files_containing
from tests.fakes import FakeUpstream
from tests.proxies import TunnelProxy
from tests.secret_service import secret_service_backend

LOGIN = "alice:s3cr%40t-pw"  # as written in the URL (percent-encoded "@")
PASSWORD = "s3cr"  # a piece of the password that must appear in no file and no answer
KEY = "sk-openai-0123456789abcdefWXYZ"


def _secret_tool(entry: str) -> str:
    return subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", entry],
        capture_output=True,
        text=True,
    ).stdout


def _with_login(url: str, login: str = LOGIN) -> str:
    return url.replace("://", f"://{login}@", 1)


def _page_proxy(controller: Controller) -> Any:
    return state(controller)["providers"]["openai"]["fields"]["proxy"]["value"]


async def _chat(desktop: Desktop) -> int:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{desktop.url}/v1/chat/completions", json=body) as r,
    ):
        await r.read()
        return r.status


@pytest.fixture(params=["http", "socks5"])
async def proxy(request: pytest.FixtureRequest) -> AsyncIterator[TunnelProxy]:
    p = await TunnelProxy(request.param).start()
    yield p
    await p.close()


async def _configure(desktop: Desktop, upstream: FakeUpstream, proxy_url: str) -> list[str]:
    c = desktop.controller
    # The key goes with the new endpoint and proxy: a stored key never follows them unasked.
    changes = {"endpoint": f"{upstream.url}/v1", "proxy": proxy_url, "key": KEY}
    return c.save({"provider": "openai", "providers": {"openai": changes}})


async def test_proxy_login_is_kept_in_the_keyring_masked_and_still_reaches_the_proxy(
    real_keys: KeyStore,
    launcher: Launcher,
    config_dir: Path,
    tmp_path: Path,
    upstream: FakeUpstream,
    proxy: TunnelProxy,
) -> None:
    desktop = await launcher.launch(config_dir, real_keys)
    assert await _configure(desktop, upstream, _with_login(proxy.url)) == []
    # Stored: the URL without the login in settings.json, the login in the keyring.
    stored = json.loads((config_dir / "settings.json").read_text())
    assert stored["providers"]["openai"]["proxy"] == proxy.url
    assert files_containing(tmp_path, PASSWORD) == []
    assert _secret_tool("openai.proxy") == LOGIN
    # Shown masked, wherever the page looks.
    masked = _with_login(proxy.url, "alice:****")
    assert _page_proxy(desktop.controller) == masked
    assert PASSWORD not in json.dumps(state(desktop.controller))
    # The proxy gets the login (decoded, as proxies expect it) and the call goes through.
    assert await _chat(desktop) == 200
    assert proxy.logins == ["alice:s3cr@t-pw"]
    assert proxy.tunnels[-1][1] == upstream.server.port  # type: ignore[union-attr]
    # Saving the page as shown (masked) keeps the login.
    resave = {"providers": {"openai": {"endpoint": f"{upstream.url}/v1", "proxy": masked}}}
    assert desktop.controller.save(resave) == []
    assert _secret_tool("openai.proxy") == LOGIN
    assert await _chat(desktop) == 200
    # A new launch reads it back from the keyring (and opens a new tunnel with it).
    await launcher.stop(desktop)
    tunnels = len(proxy.logins)
    again = await launcher.launch(config_dir, KeyStore(secret_service_backend()))
    assert _page_proxy(again.controller) == masked
    assert await _chat(again) == 200
    assert len(proxy.logins) > tunnels and set(proxy.logins) == {"alice:s3cr@t-pw"}


async def test_a_masked_login_does_not_follow_the_proxy_to_another_host(
    real_keys: KeyStore, launcher: Launcher, config_dir: Path, upstream: FakeUpstream
) -> None:
    desktop = await launcher.launch(config_dir, real_keys)
    assert await _configure(desktop, upstream, _with_login("http://127.0.0.1:3128")) == []
    moved = {"providers": {"openai": {"proxy": "http://alice:****@127.0.0.1:4444"}}}
    problems = desktop.controller.save(moved)
    assert problems == [
        "OpenAI-compatible: enter the proxy password again for the new proxy address"
    ]
    assert _secret_tool("openai.proxy") == LOGIN
    assert desktop.controller.settings.providers["openai"].proxy == _with_login(
        "http://127.0.0.1:3128"
    )
    # With the password (and, for a new proxy host, the API key) typed again, the move is fine.
    typed = {"providers": {"openai": {"proxy": "http://alice:new-pw@127.0.0.1:4444", "key": KEY}}}
    assert desktop.controller.save(typed) == []
    assert _secret_tool("openai.proxy") == "alice:new-pw"


async def test_removing_the_login_from_the_proxy_url_removes_it_from_the_keyring(
    real_keys: KeyStore, launcher: Launcher, config_dir: Path, upstream: FakeUpstream
) -> None:
    desktop = await launcher.launch(config_dir, real_keys)
    assert await _configure(desktop, upstream, _with_login("socks5://127.0.0.1:1080")) == []
    assert _secret_tool("openai.proxy") == LOGIN
    bare = {"providers": {"openai": {"proxy": "socks5://127.0.0.1:1080"}}}
    assert desktop.controller.save(bare) == []
    assert _secret_tool("openai.proxy") == ""
    assert desktop.controller.settings.providers["openai"].proxy == "socks5://127.0.0.1:1080"


def test_a_login_left_in_settings_json_by_an_older_version_moves_to_the_keyring(
    real_keys: KeyStore, config_dir: Path
) -> None:
    config_dir.mkdir(parents=True)
    old = {"schema": 1, "providers": {"yi": {"proxy": _with_login("http://127.0.0.1:3128")}}}
    (config_dir / "settings.json").write_text(json.dumps(old))
    controller = Controller(config_dir, {}, real_keys)
    assert PASSWORD not in (config_dir / "settings.json").read_text()
    assert _secret_tool("yi.proxy") == LOGIN
    assert controller.settings.providers["yi"].proxy == _with_login("http://127.0.0.1:3128")


def test_without_a_keyring_a_proxy_login_is_refused_not_written_to_a_file(
    config_dir: Path,
) -> None:
    no_keys = KeyStore(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    controller = Controller(config_dir, {}, no_keys)
    problems = controller.save({"providers": {"gemini": {"proxy": _with_login("http://h:1")}}})
    assert len(problems) == 1 and problems[0].startswith("The proxy login could not be stored")
    assert not (config_dir / "settings.json").exists()
    assert controller.save({"providers": {"gemini": {"proxy": "http://h:1"}}}) == []


def test_proxy_logins_from_the_environment_are_masked_on_the_page_and_in_messages(
    config_dir: Path,
) -> None:
    no_keys = KeyStore(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    env = {
        "OPENAI_HTTP_PROXY": "http://bob:envpw-123@127.0.0.1:3128",
        "YI_SOCKS_PROXY": "socks5://carol:envpw-456@127.0.0.1:99999",  # bad port: a message
    }
    controller = Controller(config_dir, env, no_keys)
    field = state(controller)["providers"]["openai"]["fields"]["proxy"]
    assert field["value"] == "http://bob:****@127.0.0.1:3128" and field["env"]
    assert controller.load_problem and "carol:****@127.0.0.1:99999" in controller.load_problem
    assert "envpw" not in json.dumps(state(controller))
    # The gateway itself still gets the real login.
    assert controller.settings.providers["openai"].proxy == env["OPENAI_HTTP_PROXY"]
