"""Property tests: any split of a chat stream ends in the Response the whole answer gives, with
a well-formed event stream the SDK accepts; answers round-trip through Codex-style replays; any
JSON a client sends is translated or refused with a RequestError, never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.bridges.responses import ResponseStream, to_chat, to_response
from aoa_proxy.errors import RequestError
from tests.responses.support import (
    check_stream,
    chunk,
    completion,
    context,
    run,
    sdk_events,
    split,
)

TOOLS: dict[str, Any] = {
    "tools": [
        {"type": "function", "name": "add", "parameters": {"type": "object"}},
        {
            "type": "namespace",
            "name": "ns",
            "description": "d",
            "tools": [{"type": "function", "name": "spawn"}],
        },
        {"type": "custom", "name": "apply_patch"},
    ]
}
NAMES = ["add", "ns__spawn", "apply_patch", "not_declared"]
FINISH = ["stop", "length", "tool_calls", "content_filter"]

text = st.text(st.characters(codec="utf-8"), max_size=30)  # utf-8: no lone surrogates
cuts = st.lists(st.integers(0, 60), max_size=5)
usage = st.builds(
    lambda p, c, cached, reasoning: {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    },
    st.integers(0, 10**6),
    st.integers(0, 10**5),
    st.integers(0, 100),
    st.integers(0, 100),
)


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    calls = []
    for i in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(NAMES))
        if name == "apply_patch":
            args = json.dumps({"input": draw(text)})
        else:
            args = draw(st.one_of(text, st.dictionaries(text, text, max_size=2).map(json.dumps)))
        calls.append((f"call_{i}", name, args))
    return {
        "reasoning": draw(st.one_of(st.just(""), text)),
        "content": draw(st.one_of(st.none(), text)),
        "refusal": draw(st.one_of(st.none(), st.none(), text)),
        "calls": calls,
        "finish": draw(st.sampled_from(FINISH)),
        "usage": draw(st.one_of(st.none(), usage)),
    }


@st.composite
def streams(draw: st.DrawFn, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer as chat chunks, cut anywhere, parallel calls interleaved after they open."""
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        out.append(chunk({"role": "assistant", "content": ""}))
    for key, field in (
        ("reasoning", "reasoning_content"),
        ("content", "content"),
        ("refusal", "refusal"),
    ):
        if answer[key]:
            out += [chunk({field: f}) for f in split(answer[key], draw(cuts))]
    fragments = [split(args, draw(cuts)) for _, _, args in answer["calls"]]
    pending = [list(f) for f in fragments]
    opened = 0
    while any(pending):
        # a call may open only after the ones before it (chat sends first deltas in index order)
        ready = [i for i, p in enumerate(pending) if p and i <= opened]
        i = draw(st.sampled_from(ready))
        piece = pending[i].pop(0)
        delta: dict[str, Any] = {"index": i, "function": {"arguments": piece}}
        if len(pending[i]) == len(fragments[i]) - 1:  # its first fragment: id and name
            call_id, name, _ = answer["calls"][i]
            delta.update(id=call_id, type="function")
            delta["function"]["name"] = name
            opened = max(opened, i + 1)
        last = out[-1]["choices"] if out else []
        if last and "tool_calls" in last[0]["delta"] and draw(st.booleans()):
            out[-1]["choices"][0]["delta"]["tool_calls"].append(delta)  # several in one chunk
        else:
            out.append(chunk({"tool_calls": [delta]}))
        if draw(st.integers(0, 9)) == 0:
            out.append({"choices": []})  # Azure's empty-choices chunk
    if out and out[-1]["choices"] and draw(st.booleans()):
        out[-1]["choices"][0]["finish_reason"] = answer["finish"]
    else:
        out.append(chunk({}, answer["finish"]))
    if answer["usage"] is not None:
        out.append({"choices": [], "usage": answer["usage"]})
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_any_split_of_a_stream_ends_in_the_whole_answers_response(
    data: st.DataObject, summary: bool
):
    answer = data.draw(answers())
    body = {**TOOLS, "reasoning": {"summary": "auto"}} if summary else TOOLS
    whole = to_response(completion(**answer), context(body))
    events = run(context(body), data.draw(streams(answer)))
    assert check_stream(events) == whole  # indexes, ids, order, texts, sequence numbers
    sdk = sdk_events(events)  # every event fits the SDK's types; its accumulator agrees
    assert sdk is not None
    assert [(o.id, o.type) for o in sdk.output] == [(i["id"], i["type"]) for i in whole["output"]]


@settings(max_examples=200, deadline=None)
@given(answers())
def test_an_answer_replayed_as_input_gives_back_the_chat_turn(answer: dict[str, Any]):
    """Codex sends the output items back next turn: they must become the same assistant turn."""
    response = to_response(completion(**{**answer, "finish": "tool_calls"}), context(TOOLS))
    question = {"role": "user", "content": "q"}
    replayed = to_chat({"model": "m", **TOOLS, "input": [question, *response["output"]]}).chat
    assistant = [m for m in replayed["messages"] if m["role"] == "assistant"]
    has_text = bool(answer["content"]) or answer["refusal"]
    if not has_text and not answer["calls"]:
        assert assistant == []
        return
    [turn] = assistant
    assert turn["content"] == (answer["content"] or None)
    assert turn.get("refusal") == (answer["refusal"] or None)
    calls = [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in turn.get("tool_calls", [])
    ]
    expected = [
        (cid, name, json.dumps(json.loads(args)) if name == "apply_patch" else args)
        for cid, name, args in answer["calls"]
    ]
    assert calls == expected


# --------------------------------------------------------------------------- fuzz

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            "",
            "x",
            "user",
            "assistant",
            "system",
            "developer",
            "message",
            "function_call",
            "function_call_output",
            "custom_tool_call",
            "reasoning",
            "item_reference",
            "input_text",
            "input_image",
            "input_file",
            "output_text",
            "refusal",
            "function",
            "namespace",
            "custom",
            "web_search",
            "auto",
            "required",
            "none",
            "allowed_tools",
            "json_schema",
            "json_object",
            "text",
            "c1",
            "high",
            "xhigh",
            "{}",
        ]
    )
)
_keys = st.sampled_from(
    [
        "type",
        "role",
        "content",
        "text",
        "call_id",
        "name",
        "arguments",
        "output",
        "namespace",
        "tools",
        "image_url",
        "file_data",
        "file_id",
        "detail",
        "format",
        "schema",
        "effort",
        "summary",
        "mode",
        "input",
        "refusal",
        "parameters",
    ]
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=25,
)
_bodies = st.fixed_dictionaries(
    {"model": st.just("m")},
    optional={
        "input": _json,
        "instructions": _json,
        "tools": _json,
        "tool_choice": _json,
        "text": _json,
        "reasoning": _json,
        "include": _json,
        "temperature": _json,
        "max_output_tokens": _json,
        "stream": _json,
        "previous_response_id": _json,
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies)
def test_any_request_is_translated_or_refused_with_a_request_error(body: dict[str, Any]):
    try:
        bridged = to_chat(body, previous=[])
    except RequestError as err:
        assert err.status == 400 and err.message
        return
    assert bridged.chat["messages"]
    json.dumps(bridged.chat)


_chunks = st.recursive(
    _scalars | st.sampled_from(["stop", "length", "tool_calls", "reasoning_content", "add"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "delta",
                    "content",
                    "tool_calls",
                    "index",
                    "id",
                    "function",
                    "name",
                    "arguments",
                    "finish_reason",
                    "usage",
                    "reasoning_content",
                    "refusal",
                    "error",
                    "message",
                    "annotations",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


# Chunks shaped like chat's, with junk inside, next to free-form ones.
_shaped = st.builds(
    lambda delta, finish, index: {
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}]
    },
    _chunks,
    st.sampled_from([None, "stop", "length", "tool_calls", "content_filter", 5]),
    st.sampled_from([0, 0, 0, 1, None]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_chunks | _shaped, max_size=6), st.booleans())
def test_any_chunk_sequence_gives_a_well_formed_stream(chunks: list[Any], cut: bool):
    stream = ResponseStream(context(TOOLS))
    events: list[Any] = []
    for c in chunks:
        events += stream.feed(c)
    events += stream.fail() if cut else stream.finish()
    check_stream([dict(e) for e in events])
