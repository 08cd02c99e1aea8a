"""Provider: Anthropic stream events -> chat chunks (the ChatStream state machine)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.bridges.anthropic_messages import ThinkingCache
from aoa_proxy.bridges.anthropic_request import JSON_TOOL, AnthropicCall
from aoa_proxy.bridges.anthropic_response import to_chat_completion
from aoa_proxy.bridges.anthropic_stream import ChatStream
from aoa_proxy.errors import UpstreamError, UpstreamUnreachable
from tests.anthropic.support import valid_chunks, valid_completion

CALL = AnthropicCall(body={}, model="gpt-4o", include_usage=True)

# The SDK's own fixture stream (anthropic-sdk-python tests/.../basic_response.txt), as the
# spec quotes it.
BASIC = (Path(__file__).with_name("fixtures") / "basic_response.sse").read_text()


def parse_sse(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def run(events: list[dict[str, Any]], call: AnthropicCall = CALL) -> list[dict[str, Any]]:
    stream = ChatStream(call)
    chunks: list[Any] = []
    for event in events:
        chunks += stream.feed(event)
    chunks += stream.finish()
    valid_chunks(chunks)
    return chunks


def aggregate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What a chat client builds from the chunks: one message, finish reason and usage."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    finish = None
    usage = None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                message["content"] = (message["content"] or "") + delta["content"]
            if delta.get("reasoning_content"):
                message["reasoning_content"] = (
                    message.get("reasoning_content", "") + delta["reasoning_content"]
                )
            for fragment in delta.get("tool_calls") or []:
                entry = calls.setdefault(
                    fragment["index"],
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                entry["id"] = fragment.get("id") or entry["id"]
                entry["function"]["name"] += fragment["function"].get("name") or ""
                entry["function"]["arguments"] += fragment["function"].get("arguments") or ""
            finish = choice["finish_reason"] or finish
    if calls:
        message["tool_calls"] = [calls[k] for k in sorted(calls)]
    elif message["content"] is None:
        message["content"] = ""
    return {"message": message, "finish_reason": finish, "usage": usage}


def test_sdk_basic_stream_becomes_chunks() -> None:
    chunks = run(parse_sse(BASIC))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["id"] == "chatcmpl-msg_4QpJur2dWWDjF6C758FbBw5vm1"
    whole = aggregate(chunks)
    assert whole["message"]["content"] == "Hello there!"
    assert whole["finish_reason"] == "stop"
    assert whole["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 6,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert chunks[-1]["choices"] == []  # the usage chunk closes the stream


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    chunks = run(parse_sse(BASIC), AnthropicCall(body={}, model="m"))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def start(message_id: str = "msg_1") -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "c",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(reason: str, output_tokens: int = 9, **usage: Any) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens, **usage},
        },
        {"type": "message_stop"},
    ]


def test_tool_calls_go_out_whole_when_their_block_stops() -> None:
    events = [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Checking."),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        delta(1, type="input_json_delta", partial_json=""),
        delta(1, type="input_json_delta", partial_json='{"city": "Pa'),
        delta(1, type="input_json_delta", partial_json='ris"}'),
        stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}),
        stop(2),
        *end("tool_use"),
    ]
    chunks = run(events)
    tool_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert [c["choices"][0]["delta"]["tool_calls"] for c in tool_chunks] == [
        [
            {
                "index": 0,
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
        [
            {
                "index": 1,
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "now", "arguments": "{}"},
            }
        ],
    ]
    assert aggregate(chunks)["finish_reason"] == "tool_calls"


def test_thinking_streams_as_reasoning_content_and_is_remembered() -> None:
    cache = ThinkingCache()
    call = AnthropicCall(body={}, model="m", thinking=cache)
    events = [
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, type="thinking_delta", thinking="Let me "),
        delta(0, type="thinking_delta", thinking="see."),
        delta(0, type="signature_delta", signature="c2ln"),
        stop(0),
        block_start(1, {"type": "redacted_thinking", "data": "opaque"}),
        stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}),
        stop(2),
        *end("tool_use"),
    ]
    chunks = run(events, call)
    assert aggregate(chunks)["message"]["reasoning_content"] == "Let me see."
    assert cache.get("toolu_1") == [
        {"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]


def test_forced_json_tool_streams_as_content() -> None:
    call = AnthropicCall(body={}, model="m", json_tool=True)
    events = [
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": {}}),
        delta(0, type="input_json_delta", partial_json='{"title": '),
        delta(0, type="input_json_delta", partial_json='"Hi"}'),
        stop(0),
        *end("tool_use"),
    ]
    whole = aggregate(run(events, call))
    assert orjson.loads(whole["message"]["content"]) == {"title": "Hi"}
    assert whole["finish_reason"] == "stop" and "tool_calls" not in whole["message"]


def test_legacy_clients_get_one_function_call() -> None:
    call = AnthropicCall(body={}, model="m", legacy=True)
    events = [
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}),
        delta(0, type="input_json_delta", partial_json='{"a":1}'),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}}),
        stop(1),
        *end("tool_use"),
    ]
    chunks = run(events, call)
    calls = [
        c["choices"][0]["delta"]["function_call"]
        for c in chunks
        if c["choices"] and "function_call" in c["choices"][0]["delta"]
    ]
    assert calls == [{"name": "f", "arguments": '{"a":1}'}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_message_delta_usage_replaces_the_start_counts() -> None:
    events = [
        start(),
        *end("end_turn", output_tokens=7, input_tokens=50, cache_read_input_tokens=40),
    ]
    usage = run(events)[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (90, 7)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 40}


def test_unknown_events_and_pings_make_no_chunks() -> None:
    stream = ChatStream(CALL)
    assert stream.feed({"type": "ping"}) == []
    assert stream.feed({"type": "future_event", "data": 1}) == []
    assert stream.feed(delta(5, type="text_delta", text="orphan")) == []


def test_error_event_raises_its_error() -> None:
    stream = ChatStream(CALL)
    stream.feed(start())
    with pytest.raises(UpstreamError) as info:
        stream.feed(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        )
    assert (info.value.status, info.value.message) == (503, "Overloaded")


def test_a_stream_cut_before_message_delta_is_an_error() -> None:
    stream = ChatStream(CALL)
    stream.feed(start())
    stream.feed(block_start(0, {"type": "text", "text": ""}))
    with pytest.raises(UpstreamUnreachable, match="ended before"):
        stream.finish()


def test_non_object_events_are_errors() -> None:
    with pytest.raises(UpstreamUnreachable):
        ChatStream(CALL).feed("garbage")


# --------------------------------------------------------------------------- property


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_block = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, st.text(min_size=1, max_size=20)),
    st.builds(
        lambda t: {"type": "thinking", "thinking": t, "signature": "sig"}, st.text(max_size=20)
    ),
    st.builds(
        lambda i, n, a: {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a},
        st.integers(0, 10**6),
        st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True),
        st.dictionaries(st.text(min_size=1, max_size=5), _json_value, max_size=3),
    ),
)


def _cut(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=5)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def messages_and_events(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An Anthropic Message and a stream of it, its text and JSON cut anywhere."""
    blocks = draw(st.lists(_block, max_size=5, unique_by=lambda b: b.get("id", id(b))))
    reason = draw(
        st.sampled_from(["end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal"])
    )
    usage = {
        "input_tokens": draw(st.integers(0, 10**5)),
        "output_tokens": draw(st.integers(0, 10**4)),
        "cache_read_input_tokens": draw(st.integers(0, 10**5)),
    }
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": usage,
    }
    events = [start()]
    events[0]["message"]["usage"] = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            events.append(block_start(i, {"type": "text", "text": ""}))
            events += [delta(i, type="text_delta", text=p) for p in _cut(draw, block["text"])]
        elif block["type"] == "thinking":
            events.append(block_start(i, {"type": "thinking", "thinking": "", "signature": ""}))
            events += [
                delta(i, type="thinking_delta", thinking=p) for p in _cut(draw, block["thinking"])
            ]
            events.append(delta(i, type="signature_delta", signature="sig"))
        else:
            events.append(block_start(i, {**block, "input": {}}))
            text = orjson.dumps(block["input"]).decode()
            events += [delta(i, type="input_json_delta", partial_json=p) for p in _cut(draw, text)]
        if draw(st.booleans()):
            events.append({"type": "ping"})
        events.append(stop(i))
    events += end(
        reason, usage["output_tokens"], cache_read_input_tokens=usage["cache_read_input_tokens"]
    )
    return message, events


_checks = settings(
    max_examples=int(os.environ.get("AOA_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_checks
@given(case=messages_and_events())
def test_any_split_of_an_event_stream_gives_the_non_streamed_completion(
    case: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    message, events = case
    streamed = aggregate(run(events))
    whole = valid_completion(to_chat_completion(message, CALL)).model_dump(exclude_none=True)
    expected = whole["choices"][0]
    got = valid_completion(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": streamed["message"],
                    "finish_reason": streamed["finish_reason"],
                }
            ],
            "usage": streamed["usage"],
        }
    ).model_dump(exclude_none=True)
    assert got["choices"][0]["finish_reason"] == expected["finish_reason"]
    assert got["choices"][0]["message"] == expected["message"]
    assert got["usage"] == whole["usage"]
