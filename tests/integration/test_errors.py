"""Every error the gateway makes: status, OpenAI shape, and the SDK's exception class."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from tests.fakes import Received
from tests.support import free_port


def assert_openai_error(body: Any, status: int) -> Any:
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"]
    assert err["code"] is None or isinstance(err["code"], str)
    assert "Traceback" not in err["message"]
    return err


BAD_INPUT = [
    # (description, method, path, body bytes, headers, status, code/param check)
    ("malformed json", "POST", "/v1/chat/completions", b'{"model": "m", ', {}, 400, None),
    ("empty body", "POST", "/v1/chat/completions", b"", {}, 400, None),
    ("array body", "POST", "/v1/chat/completions", b"[1, 2]", {}, 400, None),
    ("string body", "POST", "/v1/embeddings", b'"hi"', {}, 400, None),
    ("invalid utf-8", "POST", "/v1/chat/completions", b'{"model": "\xff\xfe"}', {}, 400, None),
    ("missing messages", "POST", "/v1/chat/completions", b'{"model": "m"}', {}, 400, "messages"),
    (
        "messages not a list",
        "POST",
        "/v1/chat/completions",
        b'{"model": "m", "messages": "hi"}',
        {},
        400,
        "messages",
    ),
    (
        "message without role",
        "POST",
        "/v1/chat/completions",
        b'{"model": "m", "messages": [{"content": "x"}]}',
        {},
        400,
        "messages[0]",
    ),
    (
        "missing model",
        "POST",
        "/v1/chat/completions",
        b'{"messages": [{"role": "user", "content": "x"}]}',
        {},
        400,
        "model",
    ),
    (
        "model not a string",
        "POST",
        "/v1/completions",
        b'{"model": 5, "prompt": "x"}',
        {},
        400,
        "model",
    ),
    (
        "stream not a bool",
        "POST",
        "/v1/chat/completions",
        b'{"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
        {},
        400,
        "stream",
    ),
    ("missing input", "POST", "/v1/embeddings", b'{"model": "m"}', {}, 400, "input"),
    (
        "undecodable gzip body",
        "POST",
        "/v1/chat/completions",
        b"not gzip at all",
        {"Content-Encoding": "gzip"},
        400,
        None,
    ),
    ("unknown path", "POST", "/v1/foo", b"{}", {}, 404, None),
    ("unknown root path", "GET", "/nope", b"", {}, 404, None),
    ("wrong method", "GET", "/v1/chat/completions", b"", {}, 405, None),
    ("wrong method on models", "DELETE", "/v1/models", b"", {}, 405, None),
    ("rebinding host", "GET", "/v1/models", b"", {"Host": "attacker.example:8080"}, 403, None),
]


@pytest.mark.parametrize(
    ("what", "method", "path", "body", "headers", "status", "param"),
    BAD_INPUT,
    ids=[row[0] for row in BAD_INPUT],
)
async def test_bad_input_gets_a_clear_openai_error(
    start_gateway, what, method, path, body, headers, status, param
):
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": "http://127.0.0.1:9", "OPENAI_API_KEY": "k"}
    )
    async with (
        aiohttp.ClientSession() as s,
        s.request(
            method,
            gw.url + path,
            data=body,
            headers={"Content-Type": "application/json", **headers},
        ) as r,
    ):
        assert r.status == status, what
        assert r.content_type == "application/json"
        err = assert_openai_error(await r.json(), status)
    if param is not None:
        assert err["param"] == param


async def test_body_over_the_limit_is_413(start_gateway):
    gw = await start_gateway({"AOA_MAX_BODY_BYTES": "2048"})
    big = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]})
    async with aiohttp.ClientSession() as s, s.post(gw.url + "/v1/chat/completions", data=big) as r:
        assert r.status == 413
        assert_openai_error(await r.json(), 413)


async def test_access_token_is_required_when_set(start_gateway):
    gw = await start_gateway({"AOA_ACCESS_TOKEN": "let-me-in"})
    with pytest.raises(openai.AuthenticationError) as exc:
        await gw.client(api_key="wrong").models.list()
    assert exc.value.code == "invalid_api_key"
    models = await gw.client(api_key="let-me-in").models.list()
    assert [m.id async for m in models]


async def test_no_key_anywhere_is_401_naming_the_variable(start_gateway):
    gw = await start_gateway({"AOA_TYPE": "yi", "YI_ENDPOINT": "http://127.0.0.1:9"})
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r,
    ):
        assert r.status == 401
        err = assert_openai_error(await r.json(), 401)
    assert "YI_API_KEY" in err["message"]


async def test_unreachable_upstream_is_502(start_gateway):
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    )
    with pytest.raises(openai.InternalServerError) as exc:
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.status_code == 502
    assert exc.value.code == "upstream_unreachable"


async def test_slow_upstream_is_504(upstream, start_gateway):
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    upstream.responder = respond
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url, "AOA_READ_TIMEOUT": "0.3"}
    )
    with pytest.raises(openai.InternalServerError) as exc:
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.status_code == 504


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_upstream_status_is_kept(upstream, start_gateway, status, error_class):
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.Response(
            status=status, text="<html>upstream trouble</html>", headers={"retry-after": "7"}
        )

    upstream.responder = respond
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    with pytest.raises(error_class) as exc:
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.status_code == status
    assert "upstream trouble" in exc.value.message
    assert exc.value.response.headers["retry-after"] == "7"


async def test_stream_cut_midway_ends_with_an_error_event(upstream, start_gateway):
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(
            b'data: {"id":"c","object":"chat.completion.chunk","created":1,'
            b'"model":"m","choices":[{"index":0,"delta":{"content":"par"}}]}\n\ndata: {"id"'
        )
        assert request.transport is not None
        request.transport.close()
        return resp

    upstream.responder = respond
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/chat/completions",
            headers={"Authorization": "Bearer k"},
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as r,
    ):
        text = (await r.read()).decode()
    events = [e for e in text.split("\n\n") if e.startswith("data: ")]
    assert "[DONE]" not in text
    last = json.loads(events[-1][6:])
    assert_openai_error(last, 502)


async def test_cors_preflight_for_local_origin_with_private_network(start_gateway):
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": "http://127.0.0.1:9", "OPENAI_API_KEY": "server"}
    )
    async with (
        aiohttp.ClientSession() as s,
        s.options(
            gw.url + "/v1/chat/completions",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Private-Network": "true",
            },
        ) as r,
    ):
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert r.headers["Access-Control-Allow-Private-Network"] == "true"


async def test_foreign_origin_cannot_spend_the_server_key(upstream, start_gateway):
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url, "OPENAI_API_KEY": "server"}
    )
    async with aiohttp.ClientSession() as s:
        async with s.options(
            gw.url + "/v1/chat/completions",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        ) as r:
            assert r.status == 403
            assert "Access-Control-Allow-Origin" not in r.headers
        async with s.post(
            gw.url + "/v1/chat/completions",
            data=b'{"model":"m","messages":[{"role":"user","content":"x"}]}',
            headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        ) as r:
            assert r.status == 403
    assert upstream.received == []


async def test_pass_through_mode_allows_any_origin_like_the_original(upstream, start_gateway):
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/chat/completions",
            headers={"Origin": "https://chat.example", "Authorization": "Bearer own"},
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r,
    ):
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"


async def test_foreign_origin_with_the_access_token_is_allowed(upstream, start_gateway):
    gw = await start_gateway(
        {
            "AOA_TYPE": "openai",
            "OPENAI_ENDPOINT": upstream.url,
            "OPENAI_API_KEY": "server",
            "AOA_ACCESS_TOKEN": "tok",
        }
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/chat/completions",
            headers={"Origin": "https://chat.example", "Authorization": "Bearer tok"},
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r,
    ):
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://chat.example"
    assert upstream.last.headers["Authorization"] == "Bearer server"


async def test_health_ping_and_root_answer_200(start_gateway):
    gw = await start_gateway({})
    async with aiohttp.ClientSession() as s:
        for path in ("/", "/health", "/ping"):
            async with s.get(gw.url + path) as r:
                assert r.status == 200
        async with s.get(gw.url + "/health") as r:
            assert (await r.json())["provider"] == "demo"


async def test_streams_carry_the_cors_approval_too(upstream, start_gateway):
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            gw.url + "/v1/chat/completions",
            headers={"Origin": "https://chat.example", "Authorization": "Bearer own"},
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as r,
    ):
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert b"[DONE]" in await r.read()
