"""Chat chunks -> Responses events: exact event order per spec responses.md §4, every event
validated by the SDK's ResponseStreamEvent union and accumulated by the SDK's stream state."""

from __future__ import annotations

from typing import Any

import pytest

from aoa_proxy.bridges.responses import ResponseStream, sse_event, to_response
from aoa_proxy.errors import RateLimited, UpstreamUnreachable
from tests.responses.support import (
    check_stream,
    chunk,
    completion,
    context,
    run,
    sdk_events,
)

USAGE = {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12}
USAGE_CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "up",
    "choices": [],
    "usage": USAGE,
}
TOOLS = {
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


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def tool_delta(
    index: int, args: str, call_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


def test_text_answer_emits_exactly_the_spec_sequence():
    events = run(
        context(),
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}, "stop"),
            USAGE_CHUNK,
        ],
    )
    assert types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_stream(events)
    assert final["usage"]["total_tokens"] == 12 and final["status"] == "completed"
    assert events[2] == {
        "type": "response.output_item.added",
        "sequence_number": 2,
        "output_index": 0,
        "item": {
            "id": "msg_2",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        },
    }
    assert events[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": "msg_2",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    sdk = sdk_events(events)
    assert sdk is not None and sdk.output_text == "Hello"


def test_function_call_streams_its_arguments():
    events = run(
        context(TOOLS),
        [
            chunk({"role": "assistant", "content": None, **tool_delta(0, "", "call_7", "add")}),
            chunk(tool_delta(0, '{"a":3,')),
            chunk(tool_delta(0, '"b":5}')),
            chunk({}, "tool_calls"),
            USAGE_CHUNK,
        ],
    )
    assert types(events)[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_stream(events)
    assert final["output"] == [
        {
            "id": "fc_2",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_7",
            "name": "add",
            "arguments": '{"a":3,"b":5}',
        }
    ]
    assert events[5]["name"] == "add"  # the SDK requires name on .done
    assert sdk_events(events) is not None


def test_parallel_calls_interleaved_keep_their_own_indexes():
    events = run(
        context(TOOLS),
        [
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c0",
                            "type": "function",
                            "function": {"name": "add", "arguments": '{"a"'},
                        },
                        {
                            "index": 1,
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "ns__spawn", "arguments": '{"m"'},
                        },
                    ]
                }
            ),
            chunk(tool_delta(1, ':"x"}')),
            chunk(tool_delta(0, ":1}")),
            chunk({}, "tool_calls"),
        ],
    )
    final = check_stream(events)
    assert [
        (i["call_id"], i["name"], i.get("namespace"), i["arguments"]) for i in final["output"]
    ] == [
        ("c0", "add", None, '{"a":1}'),
        ("c1", "spawn", "ns", '{"m":"x"}'),
    ]
    deltas = [
        (e["output_index"], e["delta"]) for e in events if e["type"].endswith("arguments.delta")
    ]
    assert deltas == [(0, '{"a"'), (1, '{"m"'), (1, ':"x"}'), (0, ":1}")]
    sdk_events(events)


def test_sequential_parallel_calls_get_increasing_output_indexes():
    events = run(
        context(TOOLS),
        [
            chunk(tool_delta(0, '{"a":1}', "c0", "add")),
            chunk(tool_delta(1, '{"a":2}', "c1", "add")),
            chunk({}, "tool_calls"),
        ],
    )
    final = check_stream(events)
    assert [i["call_id"] for i in final["output"]] == ["c0", "c1"]
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [0, 1]


def test_reasoning_then_text_uses_summary_events_when_a_summary_was_asked():
    events = run(
        context({"reasoning": {"summary": "auto"}}),
        [
            chunk({"reasoning_content": "**Pl"}),
            chunk({"reasoning_content": "an**"}),
            chunk({"content": "Hi"}, "stop"),
        ],
    )
    assert types(events)[2:] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_stream(events)
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "**Plan**"}]
    assert events[2]["item"] == {
        "id": "rs_2",
        "type": "reasoning",
        "summary": [],
        "encrypted_content": None,
    }
    assert events[9]["output_index"] == 1
    sdk_events(events)


def test_raw_reasoning_uses_reasoning_text_events_without_a_summary_request():
    events = run(context(), [chunk({"reasoning": "think"}), chunk({"content": "ok"}, "stop")])
    assert types(events)[2:7] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
    ]
    final = check_stream(events)
    assert final["output"][0]["content"] == [{"type": "reasoning_text", "text": "think"}]
    sdk_events(events)


def test_refusal_streams_as_refusal_events():
    events = run(context(), [chunk({"refusal": "I can"}), chunk({"refusal": "'t."}, "stop")])
    assert "response.refusal.delta" in types(events) and "response.refusal.done" in types(events)
    final = check_stream(events)
    assert final["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't."}]
    sdk_events(events)


def test_text_then_call_closes_the_message_before_the_call_opens():
    events = run(
        context(TOOLS),
        [
            chunk({"content": "Let me add."}),
            chunk(tool_delta(0, "{}", "c1", "add")),
            chunk({}, "tool_calls"),
        ],
    )
    final = check_stream(events)
    kinds = types(events)
    assert kinds.index("response.output_item.done") < kinds.index(
        "response.function_call_arguments.delta"
    )
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]


def test_custom_tool_input_is_sent_whole_when_the_call_closes():
    events = run(
        context(TOOLS),
        [
            chunk(tool_delta(0, '{"input": "*** Be', "c1", "apply_patch")),
            chunk(tool_delta(0, 'gin"}')),
            chunk({}, "tool_calls"),
        ],
    )
    assert types(events)[2:] == [
        "response.output_item.added",
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = check_stream(events)
    assert (
        final["output"][0]["type"] == "custom_tool_call"
        and final["output"][0]["input"] == "*** Begin"
    )
    sdk_events(events)


def test_length_finish_ends_incomplete_with_the_message_incomplete():
    events = run(context(), [chunk({"content": "Half an ans"}, "length"), USAGE_CHUNK])
    assert events[-1]["type"] == "response.incomplete"
    final = check_stream(events)
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"
    assert final["usage"]["input_tokens"] == 11
    sdk_events(events)


def test_a_call_whose_name_comes_late_waits_for_it():
    events = run(
        context(TOOLS),
        [
            chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "add", "arguments": ":1}"}}]}),
            chunk({}, "tool_calls"),
        ],
    )
    assert check_stream(events)["output"][0]["arguments"] == '{"a":1}'


def test_empty_choice_chunks_and_other_choices_are_skipped():
    other = {"choices": [{"index": 1, "delta": {"content": "not ours"}, "finish_reason": None}]}
    events = run(context(), [{"choices": []}, other, chunk({"content": "ours"}, "stop")])
    assert check_stream(events)["output"][0]["content"][0]["text"] == "ours"


# --------------------------------------------------------------------------- failures


def test_error_chunk_mid_stream_fails_with_the_finished_items_only():
    stream = ResponseStream(context(TOOLS))
    events: list[Any] = []
    events += stream.feed(chunk({"content": "Done part."}))
    events += stream.feed(chunk(tool_delta(0, '{"a"', "c1", "add")))
    events += stream.feed({"error": {"message": "overloaded", "code": "server_is_overloaded"}})
    events += stream.feed(chunk({"content": "ignored"}))
    events += stream.finish()
    final = check_stream([dict(e) for e in events])
    assert final["status"] == "failed"
    assert final["error"] == {"code": "server_is_overloaded", "message": "overloaded"}
    assert [i["type"] for i in final["output"]] == ["message"]  # the open call is not faked done
    assert not any(e["type"] == "response.function_call_arguments.done" for e in events)


def test_fail_after_a_cut_names_a_retryable_rate_limit():
    stream = ResponseStream(context())
    events = [
        *stream.start(),
        *stream.feed(chunk({"content": "a"})),
        *stream.fail(RateLimited("Limited.", retry_after=2)),
    ]
    final = check_stream([dict(e) for e in events])
    assert final["error"] == {
        "code": "rate_limit_exceeded",
        "message": "Limited. Please try again in 2s.",
    }
    sdk_events([dict(e) for e in events])


def test_stream_ending_without_a_finish_reason_fails():
    events = run(context(), [chunk({"content": "cut"})])
    final = check_stream(events)
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"


def test_fail_before_any_chunk_still_starts_the_stream():
    stream = ResponseStream(context())
    events = [dict(e) for e in stream.fail(UpstreamUnreachable("gone"))]
    assert types(events) == ["response.created", "response.in_progress", "response.failed"]
    assert stream.done and stream.response is not None and stream.response["status"] == "failed"


def test_nothing_follows_the_terminal_event():
    stream = ResponseStream(context())
    stream.feed(chunk({"content": "x"}, "stop"))
    assert stream.finish()[-1]["type"] == "response.completed"
    assert (
        stream.finish()
        == stream.fail()
        == stream.feed(chunk({"content": "y"}))
        == stream.start()
        == []
    )


def test_start_is_emitted_once():
    stream = ResponseStream(context())
    assert types([dict(e) for e in stream.start()]) == ["response.created", "response.in_progress"]
    assert stream.start() == []
    assert stream.feed(chunk({"content": "x"}))[0]["sequence_number"] == 2


# --------------------------------------------------------------------------- equivalence, SSE


def test_stream_ends_in_the_same_response_as_the_whole_answer():
    body = completion(
        content="Let me add.",
        reasoning="plan",
        calls=[("c1", "ns__spawn", '{"m":1}')],
        finish="tool_calls",
        usage=USAGE,
    )
    whole = to_response(body, context(TOOLS))
    events = run(
        context(TOOLS),
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": "pl"}),
            chunk({"reasoning_content": "an"}),
            chunk({"content": "Let me add."}),
            chunk(tool_delta(0, '{"m"', "c1", "ns__spawn")),
            chunk(tool_delta(0, ":1}")),
            chunk({}, "tool_calls"),
            USAGE_CHUNK | {"usage": USAGE},
        ],
    )
    assert check_stream(events) == whole


def test_sse_event_frames_one_event():
    event = {"type": "response.output_text.delta", "sequence_number": 4, "delta": "é\n"}
    assert sse_event(event) == (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"sequence_number":4,"delta":"\xc3\xa9\\n"}\n\n'
    )


@pytest.mark.parametrize("summary", [True, False])
def test_every_event_of_a_mixed_answer_validates_with_the_sdk(summary: bool):
    ctx = context({**TOOLS, "reasoning": {"summary": "auto"}} if summary else TOOLS)
    annotation = {
        "type": "url_citation",
        "url_citation": {"start_index": 0, "end_index": 1, "title": "t", "url": "u"},
    }
    events = run(
        ctx,
        [
            chunk({"reasoning_content": "r"}),
            chunk({"content": "T", "annotations": [annotation]}),
            chunk({"refusal": "no"}),
            chunk(tool_delta(0, '{"input":"p"}', "c0", "apply_patch")),
            chunk(tool_delta(1, "{}", "c1", "add")),
            chunk({}, "stop"),
            USAGE_CHUNK,
        ],
    )
    final = check_stream(events)
    assert "response.output_text.annotation.added" in types(events)
    assert final["output"][1]["content"][0]["annotations"][0]["url"] == "u"
    sdk = sdk_events(events)
    assert sdk is not None and [o.type for o in sdk.output] == [i["type"] for i in final["output"]]
