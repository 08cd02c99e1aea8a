"""Provider: Anthropic Message -> chat completion, and Anthropic errors -> ours."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from aoa_proxy.bridges.anthropic_messages import ThinkingCache
from aoa_proxy.bridges.anthropic_request import JSON_TOOL, AnthropicCall
from aoa_proxy.bridges.anthropic_response import (
    FINISH_REASONS,
    error_from_event,
    to_chat_completion,
    translate_error,
)
from aoa_proxy.errors import UpstreamUnreachable
from tests.anthropic.support import anthropic_rules, valid_completion

CALL = AnthropicCall(body={}, model="gpt-4o")


def message(*content: dict[str, Any], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": list(content),
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def tool_use(call_id: str, name: str = "get_weather", **args: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def test_text_answer_is_a_valid_completion() -> None:
    out = to_chat_completion(
        message({"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}), CALL
    )
    valid_completion(out)
    assert out["id"] == "chatcmpl-msg_01" and out["model"] == "gpt-4o"
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello!",
        "refusal": None,
    }
    assert out["choices"][0]["finish_reason"] == "stop"


def test_tool_use_becomes_tool_calls_and_content_is_null_without_text() -> None:
    out = to_chat_completion(message(tool_use("toolu_1", city="Paris"), stop="tool_use"), CALL)
    valid_completion(out)
    choice = out["choices"][0]
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert choice["finish_reason"] == "tool_calls"


def test_thinking_becomes_reasoning_content_and_is_remembered_for_the_tool_turn() -> None:
    cache = ThinkingCache()
    call = AnthropicCall(body={}, model="m", thinking=cache)
    thinking = {"type": "thinking", "thinking": "Plan.", "signature": "sig"}
    redacted = {"type": "redacted_thinking", "data": "opaque"}
    out = to_chat_completion(
        message(thinking, redacted, tool_use("toolu_1"), stop="tool_use"), call
    )
    valid_completion(out)
    assert out["choices"][0]["message"].get("reasoning_content") == "Plan."
    assert cache.get("toolu_1") == [thinking, redacted]


def test_server_tool_blocks_are_dropped() -> None:
    out = to_chat_completion(
        message(
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "Found."},
        ),
        CALL,
    )
    assert out["choices"][0]["message"]["content"] == "Found."


def test_forced_json_tool_answer_becomes_content() -> None:
    call = AnthropicCall(body={}, model="m", json_tool=True)
    out = to_chat_completion(
        message(tool_use("toolu_1", name=JSON_TOOL, title="Hi"), stop="tool_use"), call
    )
    valid_completion(out)
    assert orjson.loads(out["choices"][0]["message"]["content"] or "") == {"title": "Hi"}
    assert out["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in out["choices"][0]["message"]


def test_legacy_clients_get_function_call() -> None:
    call = AnthropicCall(body={}, model="m", legacy=True)
    out = to_chat_completion(message(tool_use("toolu_1", a=1), stop="tool_use"), call)
    valid_completion(out)
    assert out["choices"][0]["message"].get("function_call") == {
        "name": "get_weather",
        "arguments": '{"a":1}',
    }
    assert out["choices"][0]["finish_reason"] == "function_call"


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reason_to_finish_reason_table(stop: str, finish: str) -> None:
    out = to_chat_completion(message({"type": "text", "text": "x"}, stop=stop), CALL)
    assert out["choices"][0]["finish_reason"] == finish


def test_table_covers_every_stop_reason_the_sdk_knows() -> None:
    from typing import get_args

    from anthropic.types import StopReason

    assert set(get_args(StopReason)) == set(FINISH_REASONS)


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    out = to_chat_completion(
        message(
            {"type": "text", "text": "x"},
            cache_creation_input_tokens=100,
            cache_read_input_tokens=1000,
            output_tokens_details={"thinking_tokens": 3},  # type: ignore[arg-type]
        ),
        CALL,
    )
    valid_completion(out)
    assert out["usage"] == {
        "prompt_tokens": 1110,
        "completion_tokens": 5,
        "total_tokens": 1115,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }


@pytest.mark.parametrize("payload", [None, [], {"type": "error", "error": {}}])
def test_non_message_answers_are_upstream_errors(payload: Any) -> None:
    with pytest.raises(UpstreamUnreachable):
        to_chat_completion(payload, CALL)


# --------------------------------------------------------------------------- errors


def anthropic_error(kind: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}
    )


@pytest.mark.parametrize(
    ("status", "kind", "sent", "oa_type", "code"),
    [
        (400, "invalid_request_error", 400, "invalid_request_error", None),
        (401, "authentication_error", 401, "authentication_error", "invalid_api_key"),
        (403, "permission_error", 403, "permission_error", None),
        (404, "not_found_error", 404, "invalid_request_error", "model_not_found"),
        (413, "request_too_large", 413, "invalid_request_error", None),
        (429, "rate_limit_error", 429, "rate_limit_error", "rate_limit_exceeded"),
        (500, "api_error", 500, "server_error", None),
        (504, "timeout_error", 504, "timeout", None),
        (529, "overloaded_error", 503, "server_error", None),
    ],
)
def test_error_table(status: int, kind: str, sent: int, oa_type: str, code: str | None) -> None:
    err = translate_error(
        status, anthropic_error(kind, "Upstream said no"), {"retry-after": "3", "x-secret": "k"}
    )
    assert (err.status, err.type, err.code) == (sent, oa_type, code)
    assert err.message.startswith("Upstream said no")
    assert err.headers == {"retry-after": "3"}
    payload = err.payload()
    assert set(payload["error"]) == {"message", "type", "param", "code"}


def test_not_found_names_the_fix() -> None:
    err = translate_error(404, anthropic_error("not_found_error", "model: claude-x"), {})
    assert "ANTHROPIC_MODEL" in err.message and err.param == "model"


def test_prompt_too_long_is_a_context_length_error() -> None:
    body = anthropic_error(
        "invalid_request_error", "prompt is too long: 200251 tokens > 200000 maximum"
    )
    assert translate_error(400, body, {}).code == "context_length_exceeded"


def test_non_json_error_bodies_are_wrapped() -> None:
    err = translate_error(529, b"<html>overloaded</html>", {})
    assert err.status == 503 and "overloaded" in err.message


@pytest.mark.parametrize(
    ("kind", "status"),
    [("overloaded_error", 503), ("rate_limit_error", 429), ("api_error", 500), ("other", 500)],
)
def test_stream_error_events_get_the_status_of_their_type(kind: str, status: int) -> None:
    err = error_from_event({"type": "error", "error": {"type": kind, "message": "Overloaded"}})
    assert (err.status, err.message) == (status, "Overloaded")


def test_rules_refuse_what_anthropic_refuses() -> None:
    good: dict[str, Any] = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    }
    anthropic_rules(good)
    bad = [
        {**good, "messages": good["messages"] * 2},  # no alternation
        {**good, "messages": [{"role": "assistant", "content": "x"}]},  # opens with assistant
        {**good, "messages": [{"role": "user", "content": [{"type": "text", "text": " "}]}]},
        {**good, "thinking": {"type": "enabled", "budget_tokens": 10}},
        {**good, "temperature": 0.5, "top_p": 0.5},
        {
            **good,
            "messages": [
                good["messages"][0],
                {"role": "assistant", "content": [tool_use("t1")]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "x"},
                        {"type": "tool_result", "tool_use_id": "t1"},
                    ],
                },
            ],
        },
        {**good, "messages": [{"role": "user", "content": [{"type": "txt", "text": "x"}]}]},
    ]
    for body in bad:
        with pytest.raises((AssertionError, ValueError)):  # pydantic's errors are ValueErrors
            anthropic_rules(body)
