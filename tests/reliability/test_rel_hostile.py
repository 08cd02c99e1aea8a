"""Hostile neighbours: web pages on other origins, DNS-rebinding Host headers, and missing or
wrong access tokens are all refused, and nothing changes (no upstream call, same settings)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.conftest import Gateway, StartGateway
from tests.fakes import FakeUpstream
from tests.reliability.conftest import ACCESS_TOKEN, SERVER_KEY, provider_env

FOREIGN_ORIGINS = [
    "https://evil.example",
    "http://localhost.evil.example",
    "http://127.0.0.1.nip.io:8080",
    "null",
    "file://",
    "chrome-extension://abcdefghijklmnop",
    "http://0.0.0.0:8080",
    "http://[::ffff:7f00:1]evil",
    "https://evil.example/http://localhost",
    "",
]
REBINDING_HOSTS = [
    "evil.example",
    "evil.example:8080",
    "127.0.0.1.evil.example",
    "localhost.evil.example:80",
    "0.0.0.0:8080",
    "attacker.example:127.0.0.1",
    "localhost:8080:80",
    "127.0.0.1:80@evil.example",
    "[::1].evil.example",
    "192.168.1.10:8080",
    "localhost\t.evil",
]
BAD_AUTH = [
    None,
    "Bearer",
    "Bearer wrong",
    f"Bearer {ACCESS_TOKEN}x",
    f"Bearer {ACCESS_TOKEN[:-1]}",
    f"Basic {ACCESS_TOKEN}",
    f"{ACCESS_TOKEN}",
    f"Bearer {SERVER_KEY}",
]
ROUTES = [
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/images/generations"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/m"),
]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "prompt": "p", "input": "i"}


async def _call(
    gw: Gateway, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(
            method, gw.url + path, json=BODY if method == "POST" else None, headers=headers
        ) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


async def _gateway(start_gateway: StartGateway, upstream: FakeUpstream, token: bool) -> Gateway:
    env = provider_env("openai", upstream.url)
    if token:
        env["AOA_ACCESS_TOKEN"] = ACCESS_TOKEN
    return await start_gateway(env)


def _unchanged(gw: Gateway, upstream: FakeUpstream, settings: object) -> None:
    assert upstream.received == []
    assert gw.runtime.settings is settings
    assert gw.runtime.provider.name == "openai"


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
async def test_foreign_origin_cannot_spend_the_server_key(start_gateway, upstream, origin):
    gw = await _gateway(start_gateway, upstream, token=False)
    before = gw.runtime.settings
    for method, path in ROUTES:
        status, headers, data = await _call(gw, method, path, {"Origin": origin})
        assert status == 403, (origin, path, data)
        assert b'"origin_not_allowed"' in data
        assert "access-control-allow-origin" not in headers
    status, headers, _ = await _call(
        gw,
        "OPTIONS",
        "/v1/chat/completions",
        {"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert status == 403 and "access-control-allow-origin" not in headers
    _unchanged(gw, upstream, before)


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS[:4])
async def test_foreign_origin_without_the_token_is_refused(start_gateway, upstream, origin):
    gw = await _gateway(start_gateway, upstream, token=True)
    before = gw.runtime.settings
    for method, path in ROUTES:
        status, headers, data = await _call(
            gw, method, path, {"Origin": origin, "Authorization": "Bearer client-key"}
        )
        assert status in (401, 403), (origin, path, status, data)
        assert "access-control-allow-origin" not in headers
    _unchanged(gw, upstream, before)


async def test_local_origin_is_served(start_gateway, upstream):
    gw = await _gateway(start_gateway, upstream, token=False)
    status, headers, _ = await _call(
        gw, "POST", "/v1/chat/completions", {"Origin": "http://localhost:3000"}
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.mark.parametrize("host", REBINDING_HOSTS)
async def test_rebinding_host_header_is_refused(start_gateway, upstream, host):
    gw = await _gateway(start_gateway, upstream, token=False)
    before = gw.runtime.settings
    for method, path in [*ROUTES, ("GET", "/health")]:
        status, _, data = await _call(gw, method, path, {"Host": host})
        assert status == 403, (host, path, data)
        assert b'"host_not_allowed"' in data
    _unchanged(gw, upstream, before)


@pytest.mark.parametrize("auth", BAD_AUTH)
async def test_missing_or_wrong_access_token_is_refused(start_gateway, upstream, auth):
    gw = await _gateway(start_gateway, upstream, token=True)
    before = gw.runtime.settings
    headers = {} if auth is None else {"Authorization": auth}
    for method, path in ROUTES:
        status, _, data = await _call(gw, method, path, headers)
        assert status == 401, (auth, path, data)
        assert ACCESS_TOKEN.encode() not in data and SERVER_KEY.encode() not in data
    _unchanged(gw, upstream, before)


async def test_right_token_is_served_and_never_forwarded(start_gateway, upstream):
    gw = await _gateway(start_gateway, upstream, token=True)
    status, _, _ = await _call(
        gw, "POST", "/v1/chat/completions", {"Authorization": f"bearer {ACCESS_TOKEN}"}
    )
    assert status == 200
    sent = upstream.last.headers
    assert sent["Authorization"] == f"Bearer {SERVER_KEY}"
    assert ACCESS_TOKEN not in str(sent) and ACCESS_TOKEN.encode() not in upstream.last.body


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST",
        "[::1]:8080",
        "[::1]",
        "::1",
        "app.localhost:80",
        "127.1.2.3:1",
    ],
)
async def test_loopback_host_headers_are_served(start_gateway, upstream, host):
    gw = await _gateway(start_gateway, upstream, token=False)
    status, _, data = await _call(gw, "GET", "/v1/models", {"Host": host})
    assert status == 200, (host, data)


@pytest.mark.parametrize(
    "key",
    ["", "wrong", f"{ACCESS_TOKEN}x", ACCESS_TOKEN[:-1], f"Bearer {ACCESS_TOKEN}", SERVER_KEY],
)
async def test_messages_route_refuses_a_wrong_x_api_key(start_gateway, upstream, key):
    """x-api-key is checked like the bearer on the Anthropic routes; refusals in their shape."""
    gw = await _gateway(start_gateway, upstream, token=True)
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        async with (
            aiohttp.ClientSession() as s,
            s.post(gw.url + path, json=body, headers={"x-api-key": key}) as r,
        ):
            data = await r.read()
        assert r.status == 401, (key, path, data)
        assert json.loads(data)["error"]["type"] == "authentication_error"
        assert ACCESS_TOKEN.encode() not in data and SERVER_KEY.encode() not in data
    assert upstream.received == []
    origin = {"x-api-key": ACCESS_TOKEN, "Origin": "https://evil.example"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(gw.url + "/v1/messages", json=body, headers=origin) as r,
    ):
        assert r.status == 200  # the token is the permission, as with the bearer
