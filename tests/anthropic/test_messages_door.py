"""POST /v1/messages through a real gateway, with the official `anthropic` SDK as the client.

Fake Gemini, fake Azure and a fake OpenAI-compatible host answer on loopback; each test checks
what the client gets (SDK-validated, events in strict order) and what the upstream received.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from aiohttp import web
from anthropic.types import Message

from aoa_proxy.doors import messages as door
from aoa_proxy.doors import messages_stream
from tests.anthropic.support import CAPTURE_NAMES, capture, check_events, valid_error, valid_message
from tests.conftest import Gateway, StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse
from tests.gemini.fake_gemini import FakeGemini

ENV_OPENAI = {"AOA_TYPE": "openai", "OPENAI_API_KEY": "server-key", "OPENAI_MODEL": "gpt-4o"}


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    fake = await FakeGemini().start()
    yield fake
    await fake.close()


def client(gw: Gateway, api_key: str = "client-key") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=api_key, max_retries=0)


async def openai_gw(start_gateway: StartGateway, upstream: FakeUpstream, **extra: str) -> Gateway:
    return await start_gateway({**ENV_OPENAI, "OPENAI_ENDPOINT": upstream.url + "/v1", **extra})


async def raw_events(gw: Gateway, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The SSE events of a streamed /v1/messages answer, `event:` name checked against `type`."""
    events: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{gw.url}/v1/messages?beta=true", json=body) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert r.headers["request-id"].startswith("req_")
        text = (await r.read()).decode()
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name_line, data_line = frame.split("\n")
        event = json.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {event['type']}"
        events.append(event)
    return events


HELLO = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 4000,
    "messages": [{"role": "user", "content": "hi"}],
}


async def say_hi(c: anthropic.AsyncAnthropic, model: str = "claude-sonnet-4-6") -> Message:
    return await c.messages.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )


# ------------------------------------------------------------------ answers


async def test_text_answer_openai_compatible(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    gw = await openai_gw(start_gateway, upstream)
    async with client(gw) as c:
        msg = await c.messages.create(
            model="claude-opus-4-8[1m]",
            max_tokens=1000,
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "adaptive"},
        )
    valid_message(msg.model_dump())
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello!"
    assert msg.model == "claude-opus-4-8[1m]"  # echoed as asked
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 9 and msg.usage.output_tokens == 3
    sent = upstream.last.json
    assert upstream.last.path == "/v1/chat/completions"
    assert sent["model"] == "gpt-4o"  # an unmapped claude-* name: the provider's default model
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_completion_tokens"] == 1000
    assert "reasoning_effort" not in sent  # gpt-4o refuses it


async def test_alias_glob_and_reasoning_model(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    gw = await openai_gw(start_gateway, upstream, OPENAI_MODEL_ALIAS="claude-*-haiku*:o4-mini")
    async with client(gw) as c:
        await c.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "enabled", "budget_tokens": 2000},
        )
    sent = upstream.last.json
    assert sent["model"] == "o4-mini"
    assert sent["reasoning_effort"] == "low"  # a reasoning model gets it


async def test_reasoning_becomes_thinking_block(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        body = chat_completion("42")
        body["choices"][0]["message"]["reasoning_content"] = "6 times 7"
        return web.json_response(body)

    upstream.responder = answer
    gw = await openai_gw(start_gateway, upstream)
    async with client(gw) as c:
        msg = await say_hi(c)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "6 times 7"  # type: ignore[union-attr]
    assert msg.content[1].text == "42"  # type: ignore[union-attr]


async def test_stream_strict_event_order_azure(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    gw = await start_gateway(
        {
            "AOA_TYPE": "azure",
            "AZURE_ENDPOINT": upstream.url + "/",
            "AZURE_API_KEY": "server-key",
            "AZURE_MODEL": "gpt4o-deploy",
        }
    )
    events = await raw_events(gw, {**HELLO, "stream": True})
    message = check_events(events)
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert message.content[0].text == "Hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert upstream.last.path == "/openai/deployments/gpt4o-deploy/chat/completions"
    assert upstream.last.json["max_completion_tokens"] == 4000
    assert upstream.last.json["stream_options"] == {"include_usage": True}
    async with (
        client(gw) as c,
        c.messages.stream(
            model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        assert await stream.get_final_text() == "Hello"


async def test_gemini_text_stream_and_thinking(
    start_gateway: StartGateway, gemini: FakeGemini
) -> None:
    gw = await start_gateway(
        {
            "AOA_TYPE": "gemini",
            "GEMINI_ENDPOINT": gemini.url,
            "GEMINI_API_KEY": "server-key",
            "GEMINI_MODEL": "gemini-2.5-pro",
            "GEMINI_MODEL_ALIAS": "claude-*haiku*:gemini-2.5-flash",  # README's tier alias
        }
    )
    async with client(gw) as c:
        msg = await c.messages.create(
            model="claude-haiku-4-5-20251001",
            max_tokens=200,
            messages=[{"role": "user", "content": "ping"}],
            thinking={"type": "enabled", "budget_tokens": 20000},
        )
        assert msg.content[0].text == "Echo: ping"  # type: ignore[union-attr]
        assert gemini.posts[-1].path.endswith("/models/gemini-2.5-flash:generateContent")
        config = gemini.posts[-1].json["generationConfig"]
        assert config["maxOutputTokens"] == 200
        assert "thinkingConfig" in config  # thinking reached Gemini as its reasoning control
        async with c.messages.stream(
            model="claude-opus-4-8", max_tokens=100, messages=[{"role": "user", "content": "yo"}]
        ) as stream:
            assert await stream.get_final_text() == "Echo: yo"
        assert "/models/gemini-2.5-pro:streamGenerateContent" in gemini.posts[-1].path
    events = await raw_events(gw, {**HELLO, "stream": True})
    assert check_events(events).content[0].text == "Echo: hi"  # type: ignore[union-attr]


async def test_tool_use_over_two_turns(start_gateway: StartGateway, upstream: FakeUpstream) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.json["messages"][-1]["role"] == "tool":
            return web.json_response(chat_completion("It is sunny."))
        body = chat_completion("")
        body["choices"][0]["message"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        body["choices"][0]["finish_reason"] = "tool_calls"
        return web.json_response(body)

    upstream.responder = answer
    gw = await openai_gw(start_gateway, upstream)
    tools: list[Any] = [
        {
            "name": "get_weather",
            "description": "Weather by city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with client(gw) as c:
        first = await c.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            tools=tools,
            messages=history,
        )
        assert first.stop_reason == "tool_use"
        use = first.content[0]
        assert use.type == "tool_use" and use.id == "call_1" and use.input == {"city": "Paris"}
        history += [
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ]
        second = await c.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            tools=tools,
            messages=history,
        )
    assert second.content[0].text == "It is sunny."  # type: ignore[union-attr]
    sent = upstream.last.json
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["messages"][-2]["tool_calls"][0]["id"] == "call_1"
    assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


async def test_count_tokens(start_gateway: StartGateway, upstream: FakeUpstream) -> None:
    gw = await openai_gw(start_gateway, upstream)
    async with client(gw) as c:
        counted = await c.messages.count_tokens(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hello " * 100}]
        )
    assert 100 <= counted.input_tokens <= 400
    assert not upstream.received  # an estimate: no upstream call


# ------------------------------------------------------------------ errors


async def test_access_token_401_in_anthropic_shape(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    gw = await openai_gw(start_gateway, upstream, AOA_ACCESS_TOKEN="tok-123456789")
    async with client(gw, api_key="wrong") as c:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await say_hi(c)
    assert caught.value.response.headers["request-id"].startswith("req_")
    body = caught.value.response.json()
    valid_error(body)
    assert body["error"]["type"] == "authentication_error"
    async with client(gw, api_key="tok-123456789") as c:  # sent as x-api-key
        msg = await say_hi(c)
    assert msg.content[0].text == "Hello!"  # type: ignore[union-attr]
    assert "tok-123456789" not in json.dumps(upstream.last.headers)  # never forwarded


async def test_errors_before_the_handler_speak_anthropic(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    gw = await openai_gw(start_gateway, upstream, AOA_MAX_BODY_BYTES="2000")
    async with aiohttp.ClientSession() as session:
        for path, body, status, kind in (
            ("/v1/messages", {**HELLO, "max_tokens": None}, 400, "invalid_request_error"),
            ("/v1/messages", {**HELLO, "pad": "x" * 5000}, 413, "request_too_large"),
            ("/v1/messages/nope", HELLO, 404, "not_found_error"),
        ):
            async with session.post(gw.url + path, json=body) as r:
                got = await r.json()
                assert r.status == status, got
                valid_error(got)
                assert got["error"]["type"] == kind
                assert r.headers["request-id"] == got["request_id"]
        async with session.post(gw.url + "/v1/chat/completions", data=b"{") as r:
            assert "type" not in await r.json()  # other paths keep OpenAI's shape


async def test_model_not_found_404(start_gateway: StartGateway, upstream: FakeUpstream) -> None:
    async def missing(request: web.Request, rec: Received) -> web.StreamResponse:
        error = {"error": {"code": "DeploymentNotFound", "message": "no such deployment"}}
        return web.json_response(error, status=404)

    upstream.responder = missing
    gw = await start_gateway(
        {"AOA_TYPE": "azure", "AZURE_ENDPOINT": upstream.url + "/", "AZURE_API_KEY": "k"}
    )
    async with client(gw) as c:
        with pytest.raises(anthropic.NotFoundError) as caught:
            await say_hi(c, "gpt-4o")
    assert caught.value.response.json()["error"]["type"] == "not_found_error"


async def test_upstream_429_keeps_retry_after(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    async def limited(request: web.Request, rec: Received) -> web.StreamResponse:
        error = {"error": {"message": "slow down", "type": "rate_limit_error", "code": None}}
        return web.json_response(error, status=429, headers={"retry-after": "7"})

    upstream.responder = limited
    gw = await openai_gw(start_gateway, upstream)
    async with client(gw) as c:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await say_hi(c)
    assert caught.value.response.headers["retry-after"] == "7"
    body = caught.value.response.json()
    assert body["error"] == {"type": "rate_limit_error", "message": "slow down"}


async def test_mid_stream_cut_ends_with_error_event(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    async def cut(request: web.Request, rec: Received) -> web.StreamResponse:
        return await sse(request, chat_chunks(["Hel", "lo"])[:2], done=False)

    upstream.responder = cut
    gw = await openai_gw(start_gateway, upstream)
    events = await raw_events(gw, {**HELLO, "stream": True})
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["type"] == "api_error"
    assert "message_stop" not in [e["type"] for e in events]


async def test_pings_while_the_upstream_is_silent(
    start_gateway: StartGateway, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages_stream, "PING_INTERVAL", 0.05)

    async def slow(request: web.Request, rec: Received) -> web.StreamResponse:
        return await sse(request, chat_chunks(["a", "b"]), gap=0.3)

    upstream.responder = slow
    gw = await openai_gw(start_gateway, upstream)
    events = await raw_events(gw, {**HELLO, "stream": True})
    assert "ping" in [e["type"] for e in events]
    assert check_events(events).content[0].text == "ab"  # type: ignore[union-attr]


async def test_key_pool_moves_on_after_a_429(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    """A pool takes dispatch's attempt loop: the next key on a 429, answered as a Message."""

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer key-aaaa-0001":
            error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "429"}}
            return web.json_response(error, status=429, headers={"retry-after": "30"})
        return await upstream.default(request, rec)

    upstream.responder = respond
    gw = await openai_gw(start_gateway, upstream, OPENAI_API_KEY="key-aaaa-0001, key-bbbb-0002")
    async with client(gw) as c:
        msg = await say_hi(c)
        assert msg.content[0].text == "Hello!"  # type: ignore[union-attr]
        async with c.messages.stream(
            model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert await stream.get_final_text() == "Hello"
    seen = [r.headers["Authorization"] for r in upstream.received]
    assert seen[:2] == ["Bearer key-aaaa-0001", "Bearer key-bbbb-0002"]


@pytest.mark.parametrize(
    ("model", "sent"),
    [("gpt-4o", 16384), ("prod-gpt4o-mini", 16384), ("gpt-4.1", 32768), ("llama3.2", 64000)],
)
async def test_max_tokens_clamped_to_known_model_limits(
    start_gateway: StartGateway, upstream: FakeUpstream, model: str, sent: int
) -> None:
    """Claude Code asks for 64000 output tokens; gpt-4o refuses more than 16384 with a 400."""
    gw = await openai_gw(start_gateway, upstream, OPENAI_MODEL=model)
    events = await raw_events(gw, {**HELLO, "max_tokens": 64000, "stream": True})
    check_events(events)
    assert upstream.last.json["max_completion_tokens"] == sent


@pytest.mark.parametrize("name", CAPTURE_NAMES)
async def test_claude_code_captures_reach_gemini(
    start_gateway: StartGateway, gemini: FakeGemini, name: str
) -> None:
    """Claude Code 2.1.197's real requests (25 tools, system blocks with cache_control, adaptive
    thinking, context_management) pass the fake Gemini's validation and stream back."""
    gw = await start_gateway(
        {
            "AOA_TYPE": "gemini",
            "GEMINI_ENDPOINT": gemini.url,
            "GEMINI_API_KEY": "server-key",
            "GEMINI_MODEL": "gemini-2.5-pro",
        }
    )
    body = capture(name)
    if body.get("stream"):
        message = check_events(await raw_events(gw, body))
    else:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{gw.url}/v1/messages?beta=true", json=body) as r,
        ):
            assert r.status == 200, await r.text()
            message = valid_message(await r.json())
    assert message.content[0].text.startswith("Echo: ")  # type: ignore[union-attr]
    assert gemini.posts[-1].path.startswith("/v1beta/models/gemini-2.5-pro:")


async def test_client_x_api_key_is_the_upstream_key_when_aoa_holds_none(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url + "/v1"})
    async with client(gw, api_key="sk-client-own-key") as c:
        await say_hi(c)
    assert upstream.last.headers["Authorization"] == "Bearer sk-client-own-key"


async def test_gemini_error_mid_stream_ends_with_error_event(
    start_gateway: StartGateway, gemini: FakeGemini
) -> None:
    """Gemini's in-stream error (a JSON error after the first chunk) becomes one error event."""

    async def broken(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}
        await resp.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
        error = {
            "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
        }
        await resp.write(b"data: " + json.dumps(error).encode() + b"\r\n\r\n")
        await resp.write_eof()
        return resp

    gemini.raw = broken
    gw = await start_gateway(
        {
            "AOA_TYPE": "gemini",
            "GEMINI_ENDPOINT": gemini.url,
            "GEMINI_API_KEY": "server-key",
            "GEMINI_MODEL": "gemini-2.5-flash",
        }
    )
    events = await raw_events(gw, {**HELLO, "stream": True})
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "error", kinds
    assert "content_block_delta" in kinds  # "Hel" went out before the failure
    assert events[-1]["error"]["type"] == "overloaded_error"
    assert "message_stop" not in kinds


async def test_count_tokens_asks_gemini(start_gateway: StartGateway, gemini: FakeGemini) -> None:
    """Routed to Gemini, count_tokens is Gemini's own countTokens of the translated request; if
    that fails, the estimate (never an error)."""
    gw = await start_gateway(
        {
            "AOA_TYPE": "gemini",
            "GEMINI_ENDPOINT": gemini.url,
            "GEMINI_API_KEY": "server-key",
            "GEMINI_MODEL": "gemini-2.5-flash",
        }
    )
    async with client(gw) as c:
        counted = await c.messages.count_tokens(
            model="claude-sonnet-4-6",
            system="Be brief.",
            messages=[{"role": "user", "content": "hello " * 100}],
        )
        sent = gemini.posts[-1]
        assert sent.path == "/v1beta/models/gemini-2.5-flash:countTokens"
        assert (
            counted.input_tokens
            == len(
                json.dumps(
                    {k: v for k, v in sent.json["generateContentRequest"].items() if k != "model"}
                )
            )
            // 4
        )
        gemini.fail = (500, {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}})
        fallback = await c.messages.count_tokens(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hello " * 100}]
        )
    assert 100 <= fallback.input_tokens <= 400


@pytest.mark.parametrize(
    ("model", "reasons"),
    [
        ("o3-mini", True),
        ("o1", True),
        ("prod-o3", True),  # an Azure deployment name
        ("gpt-5-mini", True),
        ("openai/gpt-oss-120b", True),
        ("deepseek-reasoner", True),
        ("deepseek-r1:14b", True),
        ("qwq-32b", True),
        ("gpt-4o", False),
        ("gpt4o-deploy", False),
        ("llama3.2", False),
        ("turbo-1", False),
    ],
)
def test_which_models_get_reasoning_effort(model: str, reasons: bool) -> None:
    assert bool(door._REASONING_MODEL.search(model)) is reasons


async def test_upstream_html_error_is_json_without_markup(
    start_gateway: StartGateway, upstream: FakeUpstream
) -> None:
    async def page(request: web.Request, rec: Received) -> web.StreamResponse:
        html = "<html><script>alert(1)</script>&amp; Bad gateway</html>"
        return web.Response(status=502, text=html, content_type="text/html")

    upstream.responder = page
    gw = await openai_gw(start_gateway, upstream)
    async with client(gw) as c:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await say_hi(c)
    raw = caught.value.response.content
    assert b"<" not in raw and b">" not in raw and b"&" not in raw
    assert "<script>" in caught.value.response.json()["error"]["message"]  # same JSON value
