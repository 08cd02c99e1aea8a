"""Thought signatures without gateway memory: a restart or a second worker between the two turns
of a tool conversation still gives Gemini 3 the signature it sent, on all three front doors.

The gateways here are real `aoa-proxy` processes (tests.integration.test_cli.running); the fake
Gemini refuses an unsigned call on Gemini 3 with Google's exact 400, so a lost signature would
fail loudly, and the tests also check the value is the original, never the bypass value.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aoa_proxy.providers import gemini_signatures as sig
from aoa_proxy.providers.gemini_tools import DUMMY_SIGNATURE, SignatureCache
from tests.conftest import Gateway
from tests.gemini.conftest import gemini_env
from tests.gemini.fake_gemini import FakeGemini, call_chunk, text_chunks
from tests.gemini.fake_thinking import MISSING
from tests.integration.test_cli import running

MODEL = "gemini-3-pro-preview"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def signature_for(question: str) -> str:
    """A distinct real-looking signature per conversation, with `+` and `/` in it."""
    return base64.b64encode(b"\xfb\xff\xfe" + question.encode() + b"\xff\xfe").decode()


def tool_then_answer(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """Turn 1: two parallel calls signed for the question; turn 2: an answer."""
    last = body["contents"][-1]["parts"]
    if any("functionResponse" in p for p in last):
        return text_chunks(["It is sunny."])
    question = next(p["text"] for p in body["contents"][0]["parts"] if "text" in p)
    return call_chunk(
        [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})],
        signature=signature_for(question),
    )


def replayed(gemini: FakeGemini) -> list[dict[str, Any]]:
    """The model turn of the last request Gemini got."""
    contents = gemini.posts[-1].json["contents"]
    parts: list[dict[str, Any]] = [c for c in contents if c["role"] == "model"][-1]["parts"]
    return parts


def env_for(gemini: FakeGemini, **extra: str) -> dict[str, str]:
    return {**gemini_env(gemini), "GEMINI_MODEL": MODEL, **extra}


def oa_client(port: int) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)


# --------------------------------------------------------------------------- restarts, workers


async def test_restart_between_turns_keeps_the_signature_on_chat_responses_and_messages(
    gemini: FakeGemini,
) -> None:
    gemini.reply = tool_then_answer
    tools_r: Any = [{"type": "function", **WEATHER["function"]}]
    tools_m: Any = [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}]
    with running(env_for(gemini)) as run:  # turn 1 on each door
        async with oa_client(run.port) as client:
            chat_q: list[Any] = [{"role": "user", "content": "chat?"}]
            first = await client.chat.completions.create(
                model=MODEL, messages=chat_q, tools=[WEATHER]
            )
            resp_q: list[Any] = [{"role": "user", "content": "responses?"}]
            response = await client.responses.create(model=MODEL, input=resp_q, tools=tools_r)
        async with anthropic.AsyncAnthropic(
            base_url=f"http://127.0.0.1:{run.port}", api_key="x", max_retries=0
        ) as claude:
            msg_q: list[Any] = [{"role": "user", "content": "messages?"}]
            message = await claude.messages.create(
                model=MODEL, max_tokens=500, messages=msg_q, tools=tools_m
            )

    with running(env_for(gemini)) as run:  # a new process: nothing remembered
        async with oa_client(run.port) as client:
            calls = first.choices[0].message.tool_calls or []
            chat_q.append(first.choices[0].message.model_dump(exclude_none=True))
            chat_q += [{"role": "tool", "tool_call_id": c.id, "content": "sun"} for c in calls]
            stream = await client.chat.completions.create(
                model=MODEL, messages=chat_q, tools=[WEATHER], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text == "It is sunny."
            parts = replayed(gemini)
            assert parts[0]["thoughtSignature"] == signature_for("chat?")
            assert "thoughtSignature" not in parts[1]  # the second parallel call had none

            items: list[Any] = [i.model_dump(exclude_none=True) for i in response.output]
            outputs: list[Any] = [
                {"type": "function_call_output", "call_id": i["call_id"], "output": "sun"}
                for i in items
            ]
            again = await client.responses.create(
                model=MODEL, input=[*resp_q, *items, *outputs], tools=tools_r
            )
            assert again.output_text == "It is sunny."
            assert replayed(gemini)[0]["thoughtSignature"] == signature_for("responses?")

        async with anthropic.AsyncAnthropic(
            base_url=f"http://127.0.0.1:{run.port}", api_key="x", max_retries=0
        ) as claude:
            uses = [b for b in message.content if b.type == "tool_use"]
            msg_q.append({"role": "assistant", "content": [b.model_dump() for b in uses]})
            results = [{"type": "tool_result", "tool_use_id": b.id, "content": "sun"} for b in uses]
            msg_q.append({"role": "user", "content": results})
            final = await claude.messages.create(
                model=MODEL, max_tokens=500, messages=msg_q, tools=tools_m
            )
            assert final.content[0].type == "text" and final.content[0].text == "It is sunny."
            assert replayed(gemini)[0]["thoughtSignature"] == signature_for("messages?")
    assert DUMMY_SIGNATURE not in json.dumps([p.json for p in gemini.posts])


async def test_two_workers_each_second_turn_carries_the_original_signature(
    gemini: FakeGemini,
) -> None:
    """Eight conversations, each turn on a new connection: SO_REUSEPORT spreads them over both
    workers, so with per-process memory about half the second turns would lose the signature."""
    gemini.reply = tool_then_answer
    with running(env_for(gemini, AOA_WORKERS="2")) as run:
        for n in range(8):
            question = f"city {n}?"
            messages: list[Any] = [{"role": "user", "content": question}]
            async with oa_client(run.port) as client:
                first = await client.chat.completions.create(
                    model=MODEL, messages=messages, tools=[WEATHER]
                )
            calls = first.choices[0].message.tool_calls or []
            assistant = first.choices[0].message.model_dump(exclude_none=True)
            for call in assistant["tool_calls"]:  # a plain client: only the id comes back
                call.pop("extra_content", None)
            messages.append(assistant)
            messages += [{"role": "tool", "tool_call_id": c.id, "content": "sun"} for c in calls]
            async with oa_client(run.port) as client:
                await client.chat.completions.create(
                    model=MODEL, messages=messages, tools=[WEATHER]
                )
            assert replayed(gemini)[0]["thoughtSignature"] == signature_for(question), n


# --------------------------------------------------------------------------- carriers


async def test_tool_calls_carry_extra_content_streamed_and_not(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = tool_then_answer
    expected = {"google": {"thought_signature": signature_for("q")}}
    raw = await gw.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "q"}], tools=[WEATHER]
    )
    calls = raw.http_response.json()["choices"][0]["message"]["tool_calls"]
    assert calls[0]["extra_content"] == expected and "extra_content" not in calls[1]
    assert all(
        set(c["id"]) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        for c in calls
    )
    stream = await gw.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "q"}], tools=[WEATHER], stream=True
    )
    deltas = [
        tc.model_dump()
        async for chunk in stream
        for tc in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
    ]
    assert deltas[0]["extra_content"] == expected and deltas[0]["id"].startswith("call_")


async def test_a_client_echoing_extra_content_needs_no_id(gw: Gateway, gemini: FakeGemini) -> None:
    """Google's carrier alone (an id the client made up) brings the signature back."""
    history: Any = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "mine-1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                    "extra_content": {"google": {"thought_signature": "Z29vZ2xl"}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "mine-1", "content": "sun"},
    ]
    await gw.client().chat.completions.create(model=MODEL, tools=[WEATHER], messages=history)
    assert replayed(gemini)[0]["thoughtSignature"] == "Z29vZ2xl"


async def test_a_text_answer_signature_comes_back_on_its_text(
    gw: Gateway, gemini: FakeGemini
) -> None:
    def signed_text(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        chunks = text_chunks(["Hello", " there"])
        chunks.append(  # Gemini's late chunk with only the signature (spec: never drop it)
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"text": "", "thoughtSignature": "dGV4dA=="}],
                        }
                    }
                ]
            }
        )
        chunks[-1]["candidates"][0]["finishReason"] = "STOP"
        del chunks[1]["candidates"][0]["finishReason"]
        return chunks

    gemini.reply = signed_text
    client = gw.client()
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    message = raw.http_response.json()["choices"][0]["message"]
    assert message["content"] == "Hello there"
    assert message["extra_content"] == {"google": {"thought_signature": "dGV4dA=="}}
    stream = await client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    extras = [
        c.choices[0].delta.model_dump().get("extra_content") async for c in stream if c.choices
    ]
    assert {"google": {"thought_signature": "dGV4dA=="}} in extras

    # The other doors' streams take the signature-only delta in their stride.
    async with client.responses.stream(model=MODEL, input="hi") as events:
        assert (await events.get_final_response()).output_text == "Hello there"
    async with (
        anthropic.AsyncAnthropic(base_url=gw.url, api_key="x", max_retries=0) as claude,
        claude.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as messages,
    ):
        assert await messages.get_final_text() == "Hello there"

    gemini.reply = lambda body, model: text_chunks(["ok"])
    history: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello there"},  # a plain client: no extra_content
        {"role": "user", "content": "and?"},
    ]
    await client.chat.completions.create(model=MODEL, messages=history)
    assert replayed(gemini) == [{"text": "Hello there", "thoughtSignature": "dGV4dA=="}]


# --------------------------------------------------------------------------- the fake's rule


async def test_the_fake_refuses_an_unsigned_gemini_3_call_with_googles_words(
    gemini: FakeGemini,
) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}],
            },
        ]
    }
    url = f"{gemini.url}/v1beta/models/{MODEL}:generateContent"
    async with (
        aiohttp.ClientSession(headers={"x-goog-api-key": "server-key"}) as session,
        session.post(url, json=body) as r,
    ):
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == MISSING.format(name="get_weather", position=2)


async def test_bypass_only_on_the_first_unsigned_call_of_each_step_of_this_turn(
    gw: Gateway, gemini: FakeGemini
) -> None:
    def call(cid: str) -> Any:
        return {
            "id": cid,
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        }

    await gw.client().chat.completions.create(
        model=MODEL,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "earlier turn"},
            {"role": "assistant", "tool_calls": [call("old")]},
            {"role": "tool", "tool_call_id": "old", "content": "1"},
            {"role": "user", "content": "this turn"},
            {"role": "assistant", "tool_calls": [call("a"), call("b")]},
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
            {"role": "assistant", "tool_calls": [call("c")]},
            {"role": "tool", "tool_call_id": "c", "content": "3"},
        ],
    )
    models = [c["parts"] for c in gemini.posts[-1].json["contents"] if c["role"] == "model"]
    signatures = [[p.get("thoughtSignature") for p in parts] for parts in models]
    assert signatures == [[None], [DUMMY_SIGNATURE, None], [DUMMY_SIGNATURE]]


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize("native", [None, "fc-7"])
def test_call_id_round_trips_the_signature_without_memory(native: str | None) -> None:
    signature = base64.b64encode(bytes(range(256)) * 8).decode()  # 2 KiB, every byte value
    call_id = sig.encode_call_id(native, signature, SignatureCache())
    ref = sig.parse_call_id(call_id, SignatureCache())
    assert ref.signature == signature and ref.native is bool(native)
    assert ref.base == (native or call_id.partition(sig.MARK)[0])
    assert set(call_id) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def test_a_signature_that_is_not_plain_base64_stays_in_the_cache_only() -> None:
    cache = SignatureCache()
    call_id = sig.encode_call_id(None, "not base64!", cache)
    assert sig.MARK not in call_id
    assert sig.parse_call_id(call_id, cache).signature == "not base64!"
    assert sig.parse_call_id(call_id, SignatureCache()).signature is None


def test_a_tampered_id_is_an_unknown_call_not_an_error() -> None:
    ref = sig.parse_call_id(f"call_1{sig.MARK}a_***", SignatureCache())
    assert ref.signature is None and not ref.native


@given(
    signature=st.binary(max_size=600),
    native=st.none() | st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
)
def test_any_signature_and_gemini_id_survive_the_id(signature: bytes, native: str | None) -> None:
    text = base64.b64encode(signature).decode()
    ref = sig.parse_call_id(sig.encode_call_id(native, text, SignatureCache()), SignatureCache())
    assert ref.signature == (text if text or native else None)
    assert ref.native is bool(native)


@given(st.text(max_size=80) | st.from_regex(r"call_[0-9a-f]{4}__gsig[an]_[A-Za-z0-9_=+/-]{0,12}"))
def test_any_client_id_parses_without_error(call_id: str) -> None:
    ref = sig.parse_call_id(call_id, SignatureCache())
    assert ref.signature is None or base64.b64decode(ref.signature, validate=True) is not None
