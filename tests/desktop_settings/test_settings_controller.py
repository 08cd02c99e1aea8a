"""The Controller: environment beats stored values, live provider switching (streams in flight
unaffected), test connection in plain words, port changes, start at login."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from aoa_desktop.autostart import XdgAutostart
from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import state
from aoa_proxy.config import Settings
from tests.desktop_settings.conftest import Launcher, enter
from tests.fakes import FakeUpstream, Received, chat_chunks


def test_environment_overrides_stored_values_and_is_read_only(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    Controller(config, {}, KeyStore()).save(
        {"providers": {"azure": {"endpoint": "https://stored.openai.azure.com/", "model": "m1"}}}
    )
    env = {"AZURE_ENDPOINT": "https://env.openai.azure.com/", "AZURE_API_KEY": "env-key-0123456789"}
    controller = Controller(config, env, KeyStore())
    azure = controller.settings.providers["azure"]
    assert azure.endpoint == "https://env.openai.azure.com/" and azure.model == "m1"
    assert azure.api_key == "env-key-0123456789"
    assert controller.env_overrides == {"AZURE_ENDPOINT", "AZURE_API_KEY"}
    page = state(controller)["providers"]["azure"]
    assert page["fields"]["endpoint"] == {
        "value": "https://env.openai.azure.com/",
        "env": "AZURE_ENDPOINT",
        "placeholder": "",
        "widget": "wide",
    }
    assert page["fields"]["model"]["env"] is None
    assert page["key"] == {
        "stored": True,
        "hint": "6789",
        "from_env": True,
        "env_name": "AZURE_API_KEY",
    }
    problems = controller.save({"providers": {"azure": {"endpoint": "https://other.example/"}}})
    assert problems and "environment variable AZURE_ENDPOINT" in problems[0]
    assert controller.settings.providers["azure"].endpoint == "https://env.openai.azure.com/"


def test_env_proxy_replaces_both_stored_proxies(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    Controller(config, {}, KeyStore()).save(
        {"providers": {"yi": {"proxy": "socks5://127.0.0.1:1080"}}}
    )
    controller = Controller(config, {"YI_HTTP_PROXY": "http://127.0.0.1:3128"}, KeyStore())
    assert controller.settings.providers["yi"].proxy == "http://127.0.0.1:3128"


def test_invalid_values_are_refused_with_field_names(tmp_path: Path) -> None:
    controller = Controller(tmp_path / "aoa", {}, KeyStore())
    problems = controller.save(
        {
            "port": 70000,
            "providers": {
                "openai": {"endpoint": "http://remote.example/v1", "aliases": {"a": ""}},
                "gemini": {"safety": "BLOCK_EVERYTHING"},
            },
        }
    )
    assert any(p.startswith("OpenAI-compatible, model aliases") for p in problems)
    assert any(p.startswith("Gemini, safety level") for p in problems)
    problems = controller.save({"port": 70000, "providers": {"openai": {"endpoint": "ftp://x"}}})
    assert any(p.startswith("Port:") for p in problems)
    assert any(p.startswith("OpenAI-compatible, endpoint:") for p in problems)
    assert not (tmp_path / "aoa" / "settings.json").exists()


async def test_switch_takes_effect_next_request_and_spares_stream_in_flight(
    launcher: Launcher, config_dir: Path
) -> None:
    gate = asyncio.Event()

    async def slow_stream(request: web.Request, rec: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunks = chat_chunks(["from ", "openai"])
        await response.write(f"data: {json.dumps(chunks[0])}\n\n".encode())
        await gate.wait()  # the switch happens while we hold the stream open
        for chunk in chunks[1:]:
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    first = await FakeUpstream(responder=slow_stream).start()
    second = await FakeUpstream().start()
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": f"{first.url}/v1",
        "OPENAI_API_KEY": "openai-key-0123456789",
        "YI_ENDPOINT": second.url,
        "YI_API_KEY": "yi-key-0123456789",
    }
    try:
        desktop = await launcher.launch(config_dir, KeyStore(), env)
        assert desktop.controller.switch_provider("azure") is False  # no endpoint, no key
        assert desktop.runtime.provider.name == "openai"
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{desktop.url}/v1/chat/completions", json=body) as stream,
        ):
            first_chunk = await stream.content.readline()
            assert b"chat.completion.chunk" in first_chunk
            changes: list[Settings] = []
            desktop.controller.on_change.append(changes.append)
            assert desktop.controller.switch_provider("yi") is True
            assert [c.provider for c in changes] == ["yi"]
            async with s.post(
                f"{desktop.url}/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "y"}]},
            ) as r:
                assert r.status == 200
            assert second.last.path == "/v1/chat/completions"
            assert second.last.headers["Authorization"] == "Bearer yi-key-0123456789"
            gate.set()
            rest = await stream.read()
        assert b"openai" in rest and rest.rstrip().endswith(b"data: [DONE]")
        assert len(first.received) == 1
        # The choice is stored for the next launch (the environment's AOA_TYPE still wins then).
        assert desktop.controller.stored["provider"] == "yi"
    finally:
        gate.set()
        await first.close()
        await second.close()


async def _by_key(request: web.Request, rec: Received) -> web.StreamResponse:
    if rec.headers.get("Authorization") != "Bearer good-key-0123456789":
        return web.json_response({"error": {"message": "bad key"}}, status=401)
    return web.json_response({"object": "list", "data": [{"id": "a"}, {"id": "b"}]})


@pytest.mark.parametrize(
    ("provider", "endpoint", "key", "ok", "says"),
    [
        ("openai", "up", "good-key-0123456789", True,
         "Connected to OpenAI-compatible: the key works (models listed: 2)."),
        ("openai", "up", "wrong-key-0123456789", False, "refused the key (HTTP 401)"),
        ("openai", "closed", "good-key-0123456789", False, "Could not connect to 127.0.0.1"),
        ("openai", "", "", False, "No API key"),
        ("demo", "", "", True, "offline"),
    ],
    ids=["works", "wrong-key", "nothing-listens", "no-key", "demo"],
)  # fmt: skip
async def test_connection_results_in_plain_words(
    tmp_path: Path, provider: str, endpoint: str, key: str, ok: bool, says: str
) -> None:
    upstream = await FakeUpstream(responder=_by_key).start()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens here once the socket closes
    urls = {"up": f"{upstream.url}/v1", "closed": f"http://127.0.0.1:{closed_port}/v1"}
    env = {"OPENAI_ENDPOINT": urls[endpoint]} if endpoint else {}
    if key:
        env["OPENAI_API_KEY"] = key
    try:
        got_ok, message = await Controller(tmp_path, env, KeyStore()).test_connection(provider)
    finally:
        await upstream.close()
    assert got_ok is ok
    assert message == says if says.endswith(".") else says in message


async def test_port_in_use_is_refused_and_free_port_moves_with_a_link(
    launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore())
    session = {**await enter(desktop), "Origin": desktop.url}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{desktop.url}/settings/api/save", json={"port": taken}, headers=session) as r,
        ):
            answer = await r.json()
    assert not answer["ok"]
    assert answer["problems"] == [
        f"Port {taken} on 127.0.0.1 is already in use by another program; "
        "choose another port in Settings."
    ]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    notified: list[int] = []
    desktop.controller.on_change.append(lambda s: notified.append(s.port))
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{desktop.url}/settings/api/save", json={"port": free}, headers=session) as r,
    ):
        answer = await r.json()
    assert answer["ok"] and answer["moved"]["port"] == free
    assert answer["moved"]["url"].startswith(f"http://127.0.0.1:{free}/settings?code=")
    assert answer["moved"]["base_url"] == f"http://127.0.0.1:{free}/v1"
    for _ in range(200):  # listeners are told after the answer went out, on another thread
        if notified:
            break
        await asyncio.sleep(0.01)
    assert notified == [free]


def test_start_at_login_writes_and_removes_the_xdg_entry(tmp_path: Path) -> None:
    item = XdgAutostart(tmp_path / "autostart")
    controller = Controller(
        tmp_path / "aoa", {}, KeyStore(), autostart=item, launch_command=["/opt/aoa/aoa"]
    )
    assert state(controller)["start_at_login"] is False
    assert controller.save({"start_at_login": True}) == []
    assert "Exec=/opt/aoa/aoa" in item.path.read_text()
    assert state(controller)["start_at_login"] is True
    assert controller.save({"start_at_login": False}) == []
    assert not item.path.exists()
