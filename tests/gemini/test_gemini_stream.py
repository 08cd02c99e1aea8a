"""Streaming: Gemini SSE in, OpenAI chunks out, as they arrive, through the openai SDK."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from tests.conftest import Gateway
from tests.gemini.conftest import strict_chunks
from tests.gemini.fake_gemini import FakeGemini, text_chunks, usage

HELLO: Any = [{"role": "user", "content": "Hi"}]


async def _events(gw: Gateway, endpoint: str = "chat", **kw: Any) -> list[str]:
    """The `data:` payloads of a stream exactly as the gateway sent them."""
    client = gw.client()
    api = client.chat.completions if endpoint == "chat" else client.completions
    out: list[str] = []
    async with api.with_streaming_response.create(stream=True, **kw) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.iter_lines():
            if line.startswith("data: "):
                out.append(line[6:])
    return out


async def test_gemini_stream_with_usage_is_exactly_openai_shaped(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: text_chunks(["Hel", "lo", "!"], prompt=4, thoughts=2)
    events = await _events(
        gw, model="gemini-2.5-flash", messages=HELLO, stream_options={"include_usage": True}
    )
    chunks = strict_chunks(events, "gemini-2.5-flash", usage=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert chunks[-2].choices[0].finish_reason == "stop"
    final = chunks[-1].usage
    assert final is not None
    assert (final.prompt_tokens, final.completion_tokens, final.total_tokens) == (4, 5, 9)
    assert gemini.last.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert gemini.last.query == {"alt": "sse"}


async def test_gemini_stream_without_include_usage_has_no_usage(gw: Gateway) -> None:
    events = await _events(gw, model="gemini-2.5-flash", messages=HELLO)
    strict_chunks(events, "gemini-2.5-flash", usage=False)


async def test_gemini_stream_reaches_the_client_before_gemini_finishes(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: text_chunks(["first ", "second"])
    gemini.pause_after = 1  # the fake holds the rest until the client has seen the first part
    stream = await gw.client().chat.completions.create(
        model="gemini-2.5-flash", messages=HELLO, stream=True
    )
    pieces: list[str] = []

    async def read() -> None:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                gemini.resume.set()

    await asyncio.wait_for(read(), 30)  # a buffering gateway would hang here
    assert pieces == ["first ", "second"]


async def test_gemini_stream_given_as_json_array_still_streams(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.sse = False
    events = await _events(
        gw, model="gemini-2.5-flash", messages=HELLO, stream_options={"include_usage": True}
    )
    chunks = strict_chunks(events, "gemini-2.5-flash", usage=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: Hi"


async def test_gemini_error_in_the_middle_of_a_stream_ends_it_with_an_error_event(
    gw: Gateway, gemini: FakeGemini
) -> None:
    failure = {
        "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    }
    gemini.reply = lambda body, model: [
        *text_chunks(["partial", "rest"])[:1],
        "data: " + json.dumps(failure),
    ]
    events = await _events(gw, model="gemini-2.5-flash", messages=HELLO)
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last == {
        "error": {
            "message": "The model is overloaded.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    with pytest.raises(openai.APIError, match="overloaded"):
        async for _ in await gw.client().chat.completions.create(
            model="gemini-2.5-flash", messages=HELLO, stream=True
        ):
            pass


async def test_gemini_stream_cut_before_finishing_ends_with_an_error_event(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "half"}]}}]}
    ]
    events = await _events(gw, model="gemini-2.5-flash", messages=HELLO)
    assert "[DONE]" not in events
    assert "ended before" in json.loads(events[-1])["error"]["message"]


async def test_gemini_prompt_blocked_while_streaming_is_a_content_filter_finish(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: [
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage(5, 0)}
    ]
    events = await _events(gw, model="gemini-2.5-flash", messages=HELLO)
    chunks = strict_chunks(events, "gemini-2.5-flash", usage=False)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert "PROHIBITED_CONTENT" in (chunks[-1].choices[0].delta.refusal or "")


async def test_gemini_answer_stopped_for_recitation_while_streaming(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: text_chunks(["Once upon", " a time"], finish="RECITATION")
    events = await _events(gw, model="gemini-2.5-flash", messages=HELLO)
    chunks = strict_chunks(events, "gemini-2.5-flash", usage=False)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert chunks[-1].choices[0].delta.refusal is None  # the text already sent stands


async def test_gemini_completions_stream(gw: Gateway, gemini: FakeGemini) -> None:
    events = await _events(
        gw,
        "completions",
        model="gemini-2.5-flash",
        prompt="Hello",
        stream_options={"include_usage": True},
    )
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Echo: Hello"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 7
    async for completion in await gw.client().completions.create(
        model="gemini-2.5-flash", prompt="Hello", stream=True
    ):
        assert completion.object == "text_completion"


async def test_gemini_raw_json_error_inside_a_stream_ends_it_with_an_error_event(
    gw: Gateway, gemini: FakeGemini
) -> None:
    # Google sometimes writes a bare multi-line error object (no `data:`) into the stream.
    gemini.reply = lambda body, model: [
        *text_chunks(["partial", "rest"])[:1],
        '{\n  "error": {\n    "code": 500,\n    "status": "INTERNAL"\n  }\n}',
    ]
    events = await _events(gw, model="gemini-2.5-flash", messages=HELLO)
    assert "[DONE]" not in events
    assert json.loads(events[-1])["error"]["type"] == "server_error"
