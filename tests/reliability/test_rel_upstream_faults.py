"""Upstream faults for every provider type: refused, reset, stalls, malformed JSON, truncated SSE,
429 with retry-after, 5xx, huge answers. The client must get a clear OpenAI-format error (or its
stream must end with an error event), and the gateway must keep serving a concurrent request."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from aoa_proxy.providers.anthropic import message_events
from tests.anthropic_provider.fake_anthropic import message
from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse
from tests.gemini.fake_gemini import merge, text_chunks
from tests.reliability.conftest import SERVER_KEY, closed_port, provider_env

KINDS = ("azure", "yi", "openai", "gemini", "anthropic")
FAST = {"AOA_READ_TIMEOUT": "0.5", "AOA_CONNECT_TIMEOUT": "0.5"}
CHAT = "/v1/chat/completions"
Fault = Callable[[web.Request, Received], Awaitable[web.StreamResponse]]


def _gemini(request: web.Request) -> bool:
    return ":" in request.path


def _anthropic(request: web.Request) -> bool:
    return request.path == "/v1/messages"


def _no_done(request: web.Request) -> bool:
    """Gemini's and Anthropic's streams end without `data: [DONE]`."""
    return _gemini(request) or _anthropic(request)


def _good_events(request: web.Request) -> list[Any]:
    if _anthropic(request):
        return message_events(message())
    return text_chunks(["Hel", "lo"]) if _gemini(request) else chat_chunks(["Hel", "lo"])


def _good_json(request: web.Request) -> Any:
    if _anthropic(request):
        return message()
    return merge(text_chunks(["Hello"])) if _gemini(request) else chat_completion()


def _wants_stream(request: web.Request, rec: Received) -> bool:
    return "streamGenerateContent" in request.path or b'"stream":true' in rec.body.replace(
        b" ", b""
    )


async def good(request: web.Request, rec: Received) -> web.StreamResponse:
    if _wants_stream(request, rec):
        return await sse(request, _good_events(request), done=not _no_done(request))
    return web.json_response(_good_json(request))


def _abort(request: web.Request) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _stream_head(request: web.Request, events: int) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for event in _good_events(request)[:events]:
        await resp.write(f"data: {json.dumps(event)}\n\n".encode())
    return resp


async def reset_before_headers(request: web.Request, rec: Received) -> web.StreamResponse:
    _abort(request)
    return web.Response()


async def reset_mid_body(request: web.Request, rec: Received) -> web.StreamResponse:
    if _wants_stream(request, rec):
        resp = await _stream_head(request, 2)
    else:
        body = json.dumps(_good_json(request)).encode()
        resp = web.StreamResponse(
            headers={"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
    await asyncio.sleep(0.05)  # let the first bytes leave before the reset
    _abort(request)
    return resp


async def reset_mid_event(request: web.Request, rec: Received) -> web.StreamResponse:
    if not _wants_stream(request, rec):
        return await reset_mid_body(request, rec)
    resp = await _stream_head(request, 1)
    await resp.write(b'data: {"id": "chatcmpl-cut", "choi')
    await asyncio.sleep(0.05)
    _abort(request)
    return resp


async def stall_before_headers(request: web.Request, rec: Received) -> web.StreamResponse:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def stall_mid_body(request: web.Request, rec: Received) -> web.StreamResponse:
    if _wants_stream(request, rec):
        await _stream_head(request, 1 if _gemini(request) else 2)
    else:
        body = json.dumps(_good_json(request)).encode()
        resp = web.StreamResponse(
            headers={"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        await resp.prepare(request)
        await resp.write(body[:10])
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def malformed_json(request: web.Request, rec: Received) -> web.StreamResponse:
    if _wants_stream(request, rec):
        resp = await _stream_head(request, 1)
        await resp.write(b"data: {this is not json\n\n")
        if not _no_done(request):
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
    return web.Response(body=b'{"id": "chatcmpl-x", "choices": [', content_type="application/json")


async def truncated_sse(request: web.Request, rec: Received) -> web.StreamResponse:
    resp = await _stream_head(request, 1 if _gemini(request) else 2)  # no [DONE], no finish
    await resp.write_eof()
    return resp


async def rate_limited(request: web.Request, rec: Received) -> web.StreamResponse:
    body: dict[str, Any] = {
        "error": {
            "message": "Rate limit reached",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    if _gemini(request):
        body = {
            "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}
        }
    return web.json_response(
        body, status=429, headers={"retry-after": "7", "x-ratelimit-remaining-requests": "0"}
    )


async def server_error_html(request: web.Request, rec: Received) -> web.StreamResponse:
    return web.Response(
        status=500, text="<html><body>Internal <b>oops</b></body></html>", content_type="text/html"
    )


async def bad_gateway_json(request: web.Request, rec: Received) -> web.StreamResponse:
    return web.json_response({"error": {"message": "upstream overloaded"}}, status=503)


async def huge_error(request: web.Request, rec: Received) -> web.StreamResponse:
    return web.Response(status=500, body=b"x" * (8 * 1024 * 1024), content_type="text/plain")


async def empty_200(request: web.Request, rec: Received) -> web.StreamResponse:
    return web.Response(status=200, body=b"", content_type="application/json")


FAULTS: dict[str, tuple[Fault, int]] = {
    # name: (responder, status the client must see before any stream starts)
    "reset before headers": (reset_before_headers, 502),
    "reset mid-body": (reset_mid_body, 502),
    "reset mid-event": (reset_mid_event, 502),
    "stall before first byte": (stall_before_headers, 504),
    "stall mid-body": (stall_mid_body, 504),
    "malformed JSON": (malformed_json, 502),
    "truncated SSE": (truncated_sse, 502),
    "429 with retry-after": (rate_limited, 429),
    "500 HTML page": (server_error_html, 500),
    "503 JSON error": (bad_gateway_json, 503),
    "8 MiB error body": (huge_error, 500),
    "empty 200": (empty_200, 502),
}
STREAM_ONLY = {"truncated SSE", "reset mid-event"}


def _dispatch(fault: Fault) -> Fault:
    """Requests for model "good" get a normal answer; everything else gets the fault."""

    async def responder(request: web.Request, rec: Received) -> web.StreamResponse:
        if "good" in request.path or b'"good"' in rec.body:
            return await good(request, rec)
        return await fault(request, rec)

    return responder


def body_for(kind: str, model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            url + CHAT,
            json=body,
            headers={"Authorization": "Bearer client"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


def assert_openai_error(status: int, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    assert headers.get("content-type", "").startswith("application/json"), (status, data[:300])
    err: dict[str, Any] = json.loads(data)["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"]
    assert b"Traceback" not in data and SERVER_KEY.encode() not in data
    return err


def last_event(data: bytes) -> Any:
    events = [e for e in data.split(b"\n\n") if e.strip()]
    assert events, data
    last = events[-1].strip()
    assert last.startswith(b"data: "), last[:200]
    return json.loads(last[6:])


async def _good_still_served(url: str, stream: bool) -> None:
    status, headers, data = await post(url, body_for("", "good", stream))
    assert status == 200, data[:300]
    if stream:
        assert data.rstrip().endswith(b"data: [DONE]"), data[-200:]
    else:
        assert json.loads(data)["choices"][0]["message"]["content"]


@pytest.fixture
async def faulty(upstream: FakeUpstream, start_gateway: StartGateway) -> Any:
    async def start(kind: str, fault: Fault) -> str:
        upstream.responder = _dispatch(fault)
        gw = await start_gateway({**provider_env(kind, upstream.url), **FAST})
        return gw.url

    return start


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_fault_gives_clear_error_and_others_are_served(faulty, kind, fault, stream):
    responder, status = FAULTS[fault]
    if fault in STREAM_ONLY and not stream:
        pytest.skip("a whole answer cannot be a truncated stream")
    url = await faulty(kind, responder)
    bad = asyncio.ensure_future(post(url, body_for(kind, "m", stream)))
    await asyncio.sleep(0)  # the faulty request is in flight while the good one runs
    await _good_still_served(url, stream)
    got, headers, data = await bad
    assert b"Traceback" not in data and SERVER_KEY.encode() not in data
    if got == 200:  # the stream had started: it must end with an error event, no [DONE]
        assert stream, data[:300]
        assert headers["content-type"].startswith("text/event-stream")
        err = last_event(data)["error"]
        assert {"message", "type", "param", "code"} <= set(err), err
        assert b"data: [DONE]" not in data
        assert status in (502, 504)
        return
    assert got == status, (got, data[:300])
    err = assert_openai_error(got, headers, data)
    if fault == "429 with retry-after":
        assert headers.get("retry-after") == "7"
        assert err["type"] == "rate_limit_error"
    if fault == "8 MiB error body":
        assert len(data) < 64 * 1024


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_refused_is_502(start_gateway, kind):
    gw = await start_gateway({**provider_env(kind, f"http://127.0.0.1:{closed_port()}"), **FAST})
    status, headers, data = await post(gw.url, body_for(kind, "m", False))
    assert status == 502
    err = assert_openai_error(status, headers, data)
    assert "connect" in err["message"].lower()


@pytest.mark.parametrize("kind", KINDS)
async def test_sdk_sees_status_classes(faulty, kind):
    """The official SDK picks its exception from the status: check the ones users catch."""
    expected = {
        "429 with retry-after": openai.RateLimitError,
        "stall before first byte": openai.InternalServerError,
        "reset before headers": openai.InternalServerError,
    }
    for fault, cls in expected.items():
        url = await faulty(kind, FAULTS[fault][0])
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="client", max_retries=0)
        with pytest.raises(cls):
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        await client.close()


@pytest.mark.parametrize("fault", [stall_mid_body, reset_mid_event, malformed_json])
@pytest.mark.parametrize("kind", KINDS)
async def test_sdk_stream_raises_on_error_event(faulty, kind, fault):
    """The SDK must see our error event, not choke on half an event (a JSON error)."""
    url = await faulty(kind, fault)
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="client", max_retries=0)
    got: list[Any] = []
    with pytest.raises(openai.APIError):
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for chunk in stream:
            got.append(chunk)
    await client.close()
    assert got  # the chunks before the stall arrived


HUGE = 24 * 1024 * 1024


async def _huge(request: web.Request, rec: Received) -> web.StreamResponse:
    if _wants_stream(request, rec):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        piece = "x" * 65536
        pieces = [piece] * (HUGE // 65536)
        if _anthropic(request):
            events = message_events(message([{"type": "text", "text": p} for p in pieces]))
        else:
            events = text_chunks(pieces) if _gemini(request) else chat_chunks(pieces)
        for event in events:
            await resp.write(f"data: {json.dumps(event)}\n\n".encode())
        if not _no_done(request):
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
    text = "x" * HUGE
    answer = merge(text_chunks([text])) if _gemini(request) else chat_completion(text)
    if _anthropic(request):
        answer = message([{"type": "text", "text": text}])
    return web.json_response(answer)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("kind", KINDS)
async def test_huge_answer_arrives_whole(faulty, kind, stream):
    url = await faulty(kind, _huge)
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="client", max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        size = 0
        async for chunk in await client.chat.completions.create(
            model="m", messages=messages, stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                size += len(chunk.choices[0].delta.content)
        assert size == HUGE // 65536 * 65536
    else:
        out = await client.chat.completions.create(model="m", messages=messages)
        assert len(out.choices[0].message.content or "") == HUGE
    await client.close()


async def _noop() -> AsyncIterator[None]:
    yield None


# ------------------------------------------------------------------ the Messages door

# Our status -> what an Anthropic client sees (bridges/messages_response.py ERROR_TYPES).
ANTHROPIC_STATUS = {502: 500, 503: 529}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_fault_on_messages_speaks_anthropic(faulty, kind, fault, stream):
    """The same faults behind POST /v1/messages: an Anthropic error with a request-id, or a
    stream that ends with one `error` event and no message_stop."""
    responder, status = FAULTS[fault]
    if fault in STREAM_ONLY and not stream:
        pytest.skip("a whole answer cannot be a truncated stream")
    url = await faulty(kind, responder)
    body = {**body_for(kind, "m", stream), "max_tokens": 50}
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/messages", json=body, timeout=aiohttp.ClientTimeout(total=30)) as r,
    ):
        got, headers, data = r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()
    assert b"Traceback" not in data and SERVER_KEY.encode() not in data
    if got == 200:
        assert stream, data[:300]
        events = [e for e in data.split(b"\n\n") if e.strip()]
        assert events[-1].startswith(b"event: error\n"), events[-1][:300]
        assert b"event: message_stop" not in data
        assert status in (502, 504)
        return
    assert got == ANTHROPIC_STATUS.get(status, status), (got, data[:300])
    err = json.loads(data)
    assert err["type"] == "error" and err["request_id"] == headers["request-id"], err
    assert isinstance(err["error"]["message"], str) and err["error"]["message"]
    if fault == "429 with retry-after":
        assert headers.get("retry-after") == "7"
        assert err["error"]["type"] == "rate_limit_error"
