"""Front door: chat stream chunks -> Messages stream events (the MessagesStream state machine)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.bridges.messages_request import MessagesCall
from aoa_proxy.bridges.messages_response import to_message
from aoa_proxy.bridges.messages_stream import MessagesStream, encode_event
from aoa_proxy.errors import UpstreamError
from tests.anthropic.support import check_events, valid_message

CALL = MessagesCall(chat={}, model="claude-opus-4-8", stream=True, input_tokens=42)


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    *,
    choices: bool = True,
    **choice: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-5",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish, **choice}]
        if choices
        else [],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def tool_fragment(
    index: int, call_id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        fragment.update(id=call_id, type="function")
        fragment["function"]["name"] = name
    return {"tool_calls": [fragment]}


def run(chunks: Sequence[dict[str, Any]], call: MessagesCall = CALL) -> list[dict[str, Any]]:
    stream = MessagesStream(call)
    events = stream.start()
    for item in chunks:
        events += stream.feed(item)
    return events + stream.finish()


def shape(events: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each event's type, index and the block/delta type: the skeleton of a stream."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if e["type"] == "content_block_start":
            out.append((e["type"], e["index"], e["content_block"]["type"]))
        elif e["type"] == "content_block_delta":
            out.append((e["type"], e["index"], e["delta"]["type"]))
        elif e["type"] == "content_block_stop":
            out.append((e["type"], e["index"]))
        else:
            out.append((e["type"],))
    return out


def test_text_stream_has_anthropics_event_order() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}),
            chunk({"content": " there!"}),
            chunk(finish="stop"),
            chunk(
                choices=False,
                usage={"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17},
            ),
        ]
    )
    message = check_events(events)
    assert shape(events) == [
        ("message_start",),
        ("content_block_start", 0, "text"),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_stop", 0),
        ("message_delta",),
        ("message_stop",),
    ]
    assert message.content[0].type == "text" and message.content[0].text == "Hello there!"
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == (
        "end_turn",
        11,
        6,
    )


def test_message_start_comes_at_once_with_the_input_estimate() -> None:
    stream = MessagesStream(CALL)
    [start] = stream.start()
    assert start["type"] == "message_start"
    assert start["message"]["usage"]["input_tokens"] == 42
    assert start["message"]["model"] == "claude-opus-4-8"
    assert stream.start() == []  # once only; feed does not repeat it
    assert all(e["type"] != "message_start" for e in stream.feed(chunk({"content": "x"})))


def test_reasoning_streams_as_a_thinking_block_before_the_text() -> None:
    events = run(
        [
            chunk({"reasoning_content": "Think"}),
            chunk({"reasoning_content": "ing."}),
            chunk({"content": "Answer"}),
            chunk(finish="stop"),
        ]
    )
    message = check_events(events)
    assert shape(events)[1:4] == [
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
    ]
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].type == "thinking" and message.content[0].thinking == "Thinking."


def test_tool_calls_each_get_their_own_block_and_the_first_streams_live() -> None:
    events = run(
        [
            chunk({"content": "Checking."}),
            chunk(tool_fragment(0, "call_a", "get_weather")),
            chunk(tool_fragment(0, args='{"city": "Pa')),
            chunk(tool_fragment(0, args='ris"}')),
            chunk(tool_fragment(1, "call_b", "get_time", '{"tz":')),
            chunk(tool_fragment(1, args='"CET"}')),
            chunk(finish="tool_calls"),
        ]
    )
    message = check_events(events)
    assert shape(events) == [
        ("message_start",),
        ("content_block_start", 0, "text"),
        ("content_block_delta", 0, "text_delta"),
        ("content_block_stop", 0),
        ("content_block_start", 1, "tool_use"),
        ("content_block_delta", 1, "input_json_delta"),
        ("content_block_delta", 1, "input_json_delta"),
        ("content_block_stop", 1),
        ("content_block_start", 2, "tool_use"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2),
        ("message_delta",),
        ("message_stop",),
    ]
    uses = [b for b in message.content if b.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in uses] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"tz": "CET"}),
    ]
    assert message.stop_reason == "tool_use"


def test_interleaved_parallel_calls_lose_nothing() -> None:
    events = run(
        [
            chunk(tool_fragment(0, "call_a", "f", '{"a"')),
            chunk(tool_fragment(1, "call_b", "g", '{"b"')),
            chunk(tool_fragment(0, args=": 1}")),
            chunk(tool_fragment(1, args=": 2}")),
            chunk(finish="tool_calls"),
        ]
    )
    message = check_events(events)
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("call_a", {"a": 1}),
        ("call_b", {"b": 2}),
    ]


def test_whole_calls_in_one_delta_as_gemini_sends_them() -> None:
    calls = [
        {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "f", "arguments": '{"x":1}'},
        },
        {
            "index": 1,
            "id": "call_2",
            "type": "function",
            "function": {"name": "g", "arguments": "{}"},
        },
    ]
    message = check_events(run([chunk({"tool_calls": calls}), chunk(finish="stop")]))
    assert [(b.name, b.input) for b in message.content if b.type == "tool_use"] == [
        ("f", {"x": 1}),
        ("g", {}),
    ]
    assert message.stop_reason == "tool_use"


def test_text_after_a_tool_call_comes_after_the_tool_blocks() -> None:
    events = run(
        [
            chunk(tool_fragment(0, "call_a", "f", "{}")),
            chunk({"content": "Done."}),
            chunk(finish="tool_calls"),
        ]
    )
    message = check_events(events)
    assert [b.type for b in message.content] == ["tool_use", "text"]


def test_tool_name_is_mapped_back_to_the_clients_name() -> None:
    call = MessagesCall(
        chat={}, model="m", stream=True, input_tokens=0, tool_names={"short": "long_name"}
    )
    message = check_events(
        run([chunk(tool_fragment(0, "c", "short", "{}")), chunk(finish="tool_calls")], call)
    )
    assert message.content[0].type == "tool_use" and message.content[0].name == "long_name"


def test_usage_chunk_fills_message_delta_usage() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 30,
        "total_tokens": 1030,
        "prompt_tokens_details": {"cached_tokens": 900},
    }
    events = run([chunk({"content": "x"}), chunk(finish="stop"), chunk(choices=False, usage=usage)])
    delta = next(e for e in events if e["type"] == "message_delta")
    assert delta["usage"] == {
        "input_tokens": 100,
        "output_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 900,
    }
    assert check_events(events).usage.cache_read_input_tokens == 900


def test_azure_filter_chunks_without_choices_make_no_events() -> None:
    stream = MessagesStream(CALL)
    stream.start()
    assert (
        stream.feed({"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]}) == []
    )


def test_stop_sequence_named_by_the_provider_is_reported() -> None:
    call = MessagesCall(chat={}, model="m", stream=True, input_tokens=0, stop_sequences=("END",))
    message = check_events(
        run([chunk({"content": "x"}), chunk(finish="stop", stop_reason="END")], call)
    )
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")],
)
def test_finish_reasons_reach_message_delta(finish: str | None, expected: str) -> None:
    chunks = [chunk({"content": "x"})] + ([chunk(finish=finish)] if finish else [])
    assert check_events(run(chunks)).stop_reason == expected


def test_refusal_delta_is_text_and_a_refusal_stop() -> None:
    message = check_events(run([chunk({"refusal": "No."}), chunk(finish="stop")]))
    assert message.content[0].type == "text" and message.content[0].text == "No."
    assert message.stop_reason == "refusal"


def test_empty_upstream_stream_is_still_a_complete_message() -> None:
    message = check_events(run([]))
    assert message.content == [] and message.stop_reason == "end_turn"


def test_error_chunk_mid_stream_ends_with_an_error_event() -> None:
    stream = MessagesStream(CALL)
    events = stream.start() + stream.feed(chunk({"content": "Hel"}))
    events += stream.feed({"error": {"message": "Overloaded", "type": "server_error", "code": 503}})
    assert events[-1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert stream.feed(chunk({"content": "lo"})) == [] and stream.finish() == []


def test_fail_gives_one_error_event_and_ends_the_stream() -> None:
    stream = MessagesStream(CALL)
    stream.start()
    stream.feed(chunk({"content": "partial"}))
    assert stream.fail(UpstreamError("Gateway timeout", status=504)) == [
        {"type": "error", "error": {"type": "timeout_error", "message": "Gateway timeout"}}
    ]
    assert stream.fail(UpstreamError("again", status=500)) == []
    assert stream.finish() == []


def test_chunk_that_is_not_an_object_fails_the_stream() -> None:
    stream = MessagesStream(CALL)
    stream.start()
    [event] = stream.feed(["not", "a", "chunk"])
    assert event["type"] == "error" and event["error"]["type"] == "api_error"


def test_ping_is_a_valid_event() -> None:
    stream = MessagesStream(CALL)
    events = (
        stream.start() + [stream.ping()] + stream.feed(chunk({"content": "x"})) + [stream.ping()]
    )
    events += stream.finish()
    check_events(events)


def test_encode_event_names_the_event() -> None:
    frame = encode_event({"type": "content_block_stop", "index": 3})
    assert frame == b'event: content_block_stop\ndata: {"type":"content_block_stop","index":3}\n\n'


# --------------------------------------------------------------------------- properties

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_args = st.dictionaries(st.text(min_size=1, max_size=6), _json_value, max_size=3)
_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,20}", fullmatch=True)


def _pieces(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut at random places (pieces may be empty, as upstreams sometimes send)."""
    if not text:
        return []
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def chat_streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A chat stream cut anywhere, and the whole completion it adds up to."""
    reasoning = draw(st.text(max_size=30))
    content = draw(st.text(max_size=30))
    calls = [
        {"id": f"call_{i}", "name": draw(_name), "arguments": orjson.dumps(draw(_args)).decode()}
        for i in range(draw(st.integers(0, 3)))
    ]
    finish = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"]))
    usage = draw(
        st.none()
        | st.builds(
            lambda p, c, cached: {
                "prompt_tokens": p,
                "completion_tokens": c,
                "total_tokens": p + c,
                "prompt_tokens_details": {"cached_tokens": min(cached, p)},
            },
            st.integers(0, 10**6),
            st.integers(0, 10**5),
            st.integers(0, 10**6),
        )
    )
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"reasoning_content": p}) for p in _pieces(draw, reasoning)]
    chunks += [chunk({"content": p}) for p in _pieces(draw, content)]
    # Each call's fragments in order; calls interleaved at random after their first fragment.
    queues = []
    for i, call in enumerate(calls):
        first, *rest = _pieces(draw, call["arguments"]) or [""]
        queues.append(
            [tool_fragment(i, call["id"], call["name"], first)]
            + [tool_fragment(i, args=p) for p in rest]
        )
    started = 0
    while any(queues):
        ready = [i for i, q in enumerate(queues) if q and (i < started or i == started)]
        i = draw(st.sampled_from(ready))
        if i == started:
            started += 1
        chunks.append(chunk(queues[i].pop(0)))
    chunks.append(chunk(finish=finish))
    if usage is not None:
        chunks.append(chunk(choices=False, usage=usage))
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls
        ]
    whole: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    if usage is not None:
        whole["usage"] = usage
    return chunks, whole


_checks = settings(
    max_examples=int(os.environ.get("AOA_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_checks
@given(case=chat_streams())
def test_any_split_of_a_stream_gives_the_non_streamed_message(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    chunks, whole = case
    streamed = check_events(run(chunks))  # strict order, contiguous indexes, SDK-valid events
    expected = valid_message(to_message(whole, CALL))
    assert streamed.model_dump(exclude={"id"}, exclude_none=True) == expected.model_dump(
        exclude={"id"}, exclude_none=True
    )


@_checks
@given(case=chat_streams(), cut=st.integers(0, 40))
def test_a_failure_anywhere_leaves_a_well_formed_prefix_and_one_error(
    case: tuple[list[dict[str, Any]], dict[str, Any]], cut: int
) -> None:
    chunks, _ = case
    stream = MessagesStream(CALL)
    events = stream.start()
    for item in chunks[:cut]:
        events += stream.feed(item)
    events += stream.fail(UpstreamError("Lost", status=502))
    assert events[-1]["type"] == "error" and sum(e["type"] == "error" for e in events) == 1
    open_index = None
    for e in events[1:-1]:
        if e["type"] == "content_block_start":
            assert open_index is None
            open_index = e["index"]
        elif e["type"] == "content_block_stop":
            assert e["index"] == open_index
            open_index = None
        elif e["type"] == "content_block_delta":
            assert e["index"] == open_index
