"""Front door: chat completion -> Anthropic Message, usage, stop reasons and errors."""

from __future__ import annotations

from typing import Any

import pytest

from aoa_proxy.bridges.messages_request import MessagesCall
from aoa_proxy.bridges.messages_response import (
    ERROR_TYPES,
    STOP_REASONS,
    error_body,
    error_event,
    error_type,
    to_anthropic_error,
    to_message,
)
from aoa_proxy.errors import (
    AuthError,
    RateLimited,
    RequestError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from tests.anthropic.support import valid_error, valid_message

CALL = MessagesCall(chat={}, model="claude-opus-4-8", stream=False, input_tokens=42)


def completion(
    message: dict[str, Any], finish: str | None = "stop", usage: Any = None, **choice: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish,
                **choice,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def call_with(**fields: Any) -> MessagesCall:
    return MessagesCall(
        **{"chat": {}, "model": "claude-opus-4-8", "stream": False, "input_tokens": 0, **fields}
    )


def test_text_answer_is_a_valid_message_that_echoes_the_requested_model() -> None:
    message = to_message(completion({"content": "Hello!"}), CALL)
    model = valid_message(message)
    assert model.id.startswith("msg_") and model.type == "message" and model.role == "assistant"
    assert message["model"] == "claude-opus-4-8"
    assert message["content"] == [{"type": "text", "text": "Hello!"}]
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)


def test_reasoning_becomes_a_leading_thinking_block() -> None:
    for key in ("reasoning_content", "reasoning"):
        message = to_message(completion({key: "Let me think.", "content": "42"}), CALL)
        valid_message(message)
        assert message["content"] == [
            {"type": "thinking", "thinking": "Let me think.", "signature": ""},
            {"type": "text", "text": "42"},
        ]


def test_tool_calls_become_tool_use_blocks_with_parsed_input() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}},
    ]
    message = to_message(completion({"content": None, "tool_calls": calls}, "tool_calls"), CALL)
    valid_message(message)
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "now", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"


def test_unparsable_arguments_become_an_empty_input() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]
    message = to_message(completion({"tool_calls": calls}, "tool_calls"), CALL)
    assert message["content"][0]["input"] == {}


def test_tool_call_without_an_id_gets_a_toolu_id() -> None:
    calls = [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]
    message = to_message(completion({"tool_calls": calls}, "tool_calls"), CALL)
    assert message["content"][0]["id"].startswith("toolu_")


def test_shortened_tool_names_are_mapped_back() -> None:
    call = call_with(tool_names={"short_abcd1234": "a_very_long_original_name"})
    calls = [
        {"id": "c", "type": "function", "function": {"name": "short_abcd1234", "arguments": "{}"}}
    ]
    message = to_message(completion({"tool_calls": calls}, "tool_calls"), call)
    assert message["content"][0]["name"] == "a_very_long_original_name"


@pytest.mark.parametrize(
    ("finish", "has_calls", "expected"),
    [
        ("stop", False, "end_turn"),
        ("stop", True, "tool_use"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("function_call", True, "tool_use"),
        ("content_filter", False, "refusal"),
        ("something_new", False, "end_turn"),
        (None, False, "end_turn"),
    ],
)
def test_finish_reason_to_stop_reason_table(finish: Any, has_calls: bool, expected: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if has_calls:
        message["tool_calls"] = [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    assert to_message(completion(message, finish), CALL)["stop_reason"] == expected


def test_table_covers_every_openai_finish_reason() -> None:
    assert set(STOP_REASONS) == {"stop", "length", "tool_calls", "function_call", "content_filter"}


@pytest.mark.parametrize("key", ["stop_reason", "matched_stop"])
def test_stop_sequence_is_reported_when_the_provider_names_it(key: str) -> None:
    call = call_with(stop_sequences=("END",))
    message = to_message(completion({"content": "x"}, "stop", **{key: "END"}), call)
    valid_message(message)
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")


def test_unknown_matched_stop_is_an_end_turn() -> None:
    call = call_with(stop_sequences=("END",))
    message = to_message(completion({"content": "x"}, "stop", stop_reason=151645), call)
    assert (message["stop_reason"], message["stop_sequence"]) == ("end_turn", None)


def test_refusal_becomes_text_and_a_refusal_stop() -> None:
    message = to_message(completion({"content": None, "refusal": "I can't help with that."}), CALL)
    valid_message(message)
    assert message["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert message["stop_reason"] == "refusal"


def test_usage_moves_cached_tokens_to_cache_reads() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1050,
        "prompt_tokens_details": {"cached_tokens": 800},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    message = to_message(completion({"content": "x"}, usage=usage), CALL)
    valid_message(message)
    assert message["usage"] == {
        "input_tokens": 200,
        "output_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 800,
        "output_tokens_details": {"thinking_tokens": 20},
    }


def test_missing_usage_reports_the_input_estimate() -> None:
    message = to_message(completion({"content": "x"}), CALL)
    assert (message["usage"]["input_tokens"], message["usage"]["output_tokens"]) == (42, 0)


def test_empty_answer_is_a_message_with_no_blocks() -> None:
    message = to_message(completion({"content": ""}), CALL)
    valid_message(message)
    assert message["content"] == []


def test_answer_without_choices_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamUnreachable):
        to_message({"choices": []}, CALL)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "sent", "kind"),
    [
        (400, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (402, 402, "billing_error"),
        (403, 403, "permission_error"),
        (404, 404, "not_found_error"),
        (405, 405, "invalid_request_error"),
        (413, 413, "request_too_large"),
        (422, 422, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
        (500, 500, "api_error"),
        (502, 500, "api_error"),
        (503, 529, "overloaded_error"),
        (504, 504, "timeout_error"),
        (529, 529, "overloaded_error"),
        (501, 501, "api_error"),
    ],
)
def test_error_status_table(status: int, sent: int, kind: str) -> None:
    assert error_type(status) == (sent, kind)
    body = error_body(status, "Something failed", request_id="req_1")
    assert body == {
        "type": "error",
        "error": {"type": kind, "message": "Something failed"},
        "request_id": "req_1",
    }
    valid_error(body)


def test_table_keeps_the_statuses_the_sdk_classes_are_chosen_by() -> None:
    for status, (sent, _) in ERROR_TYPES.items():
        assert (sent >= 500) == (status >= 500)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (RequestError("max_tokens: Field required"), 400, "invalid_request_error"),
        (AuthError("Wrong key"), 401, "authentication_error"),
        (UpstreamError("Model gone", status=404), 404, "not_found_error"),
        (UpstreamUnreachable("Connection refused"), 500, "api_error"),
        (UpstreamTimeout("Too slow"), 504, "timeout_error"),
        (UpstreamError("Busy", status=503), 529, "overloaded_error"),
    ],
)
def test_our_errors_render_in_anthropic_shape(error: Exception, status: int, kind: str) -> None:
    rendered = to_anthropic_error(error)
    assert rendered.status == status
    assert rendered.body["error"] == {"type": kind, "message": str(error)}
    valid_error(rendered.body)


def test_retry_after_is_kept() -> None:
    rendered = to_anthropic_error(RateLimited("Cooling down", retry_after=7))
    assert rendered.status == 429 and rendered.headers["retry-after"] == "7"


def test_unexpected_exceptions_say_nothing_of_their_text() -> None:
    rendered = to_anthropic_error(KeyError("secret internals"))
    assert rendered.status == 500
    assert "secret" not in rendered.body["error"]["message"]


@pytest.mark.parametrize(
    ("message", "code", "expected"),
    [
        (
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130001 tokens. Please reduce the length of the messages.",
            "context_length_exceeded",
            "prompt is too long: 130001 tokens > 128000 maximum",
        ),
        (
            "This model's maximum context length is 8192 tokens. However, you requested 8500 "
            "tokens (500 in the messages, 8000 in the completion). Please reduce the length.",
            None,
            "input length and `max_tokens` exceed context limit: 500 + 8000 > 8192, decrease "
            "input length or `max_tokens` and try again",
        ),
        (
            "The input token count (1048577) exceeds the maximum number of tokens allowed "
            "(1048576).",
            None,
            "prompt is too long: 1048577 tokens > 1048576 maximum",
        ),
        (
            "Your input exceeds the context window of this model.",
            "context_length_exceeded",
            "prompt is too long: Your input exceeds the context window of this model.",
        ),
        ("Bad temperature", None, "Bad temperature"),
    ],
)
def test_context_length_errors_use_anthropics_wording(
    message: str, code: str | None, expected: str
) -> None:
    assert error_body(400, message, code=code)["error"]["message"] == expected


def test_mid_stream_error_event_has_the_error_type() -> None:
    assert error_event(UpstreamError("Busy", status=503)) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Busy"},
    }
