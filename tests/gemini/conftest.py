"""Gemini fixtures: the fake Gemini API, a gateway in front of it, and a local image server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import Gateway, StartGateway
from tests.gemini.fake_gemini import FakeGemini
from tests.gemini.fake_gemini_rules import tiny_png as tiny_png

FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def gemini_env(fake: FakeGemini, **extra: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "gemini",
        "GEMINI_ENDPOINT": fake.url,
        "GEMINI_API_KEY": "server-key",
        **extra,
    }


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    fake = await FakeGemini().start()
    yield fake
    await fake.close()


@pytest.fixture
async def gw(gemini: FakeGemini, start_gateway: StartGateway) -> Gateway:
    return await start_gateway(gemini_env(gemini))


@pytest.fixture
async def images() -> AsyncIterator[str]:
    """A loopback web server with /cat.png, /octet (a PNG sent as octet-stream) and /page."""
    app = web.Application()
    png = tiny_png()

    async def cat(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def octet(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="application/octet-stream")

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    app.router.add_get("/cat.png", cat)
    app.router.add_get("/octet", octet)
    app.router.add_get("/page", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


def strict_chat(data: dict[str, Any], model: str) -> ChatCompletion:
    """Check a chat.completion the way a strict client would, then parse it with the SDK."""
    assert {"id", "object", "created", "model", "choices", "usage"} <= set(data)
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-") and len(data["id"]) > 12
    assert isinstance(data["created"], int) and data["created"] > 1_600_000_000
    assert data["model"] == model
    for i, choice in enumerate(data["choices"]):
        assert set(choice) >= {"index", "message", "finish_reason", "logprobs"}
        assert choice["index"] == i
        assert choice["finish_reason"] in FINISH
        message = choice["message"]
        assert message["role"] == "assistant"
        assert "content" in message
        assert message.get("tool_calls", None) != []
        for call in message.get("tool_calls") or []:
            assert call["type"] == "function" and call["id"]
            assert isinstance(call["function"]["arguments"], str)
    u = data["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    return ChatCompletion.model_validate(data)


def strict_completion(data: dict[str, Any], model: str) -> Completion:
    assert data["object"] == "text_completion" and data["id"].startswith("cmpl-")
    assert data["model"] == model and isinstance(data["created"], int)
    for i, choice in enumerate(data["choices"]):
        assert set(choice) >= {"text", "index", "logprobs", "finish_reason"}
        assert choice["index"] == i and choice["finish_reason"] in FINISH
    return Completion.model_validate(data)


def strict_chunks(events: list[str], model: str, usage: bool) -> list[ChatCompletionChunk]:
    """Check a whole chat SSE stream (its `data:` payloads) and parse each chunk."""
    import json

    assert events[-1] == "[DONE]", events[-3:]
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    first = chunks[0]["choices"][0]
    assert first["delta"]["role"] == "assistant" and first["finish_reason"] is None
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == model
        assert ("usage" in c) == usage
    body = chunks[:-1] if usage else chunks
    if usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in body)
    finishes = [c["choices"][0]["finish_reason"] for c in body]
    assert finishes[-1] in FINISH and not any(finishes[:-1])
    return [ChatCompletionChunk.model_validate(c) for c in chunks]
