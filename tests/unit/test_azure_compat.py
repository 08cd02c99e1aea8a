"""azure_compat's reading of Azure's 400s and the chat <-> Responses bridge, as plain data."""

from __future__ import annotations

import pytest

from aoa_proxy.azure_compat import Advice, Fixes, Learned, advice
from aoa_proxy.bridges.chat_responses import ChunkStream, to_completion, to_responses, usage
from aoa_proxy.errors import RequestError, UpstreamError
from tests.azure_fake import (
    MAX_TOKENS_UNSUPPORTED,
    OPERATION_NOT_SUPPORTED,
    OPERATION_UNSUPPORTED_FOUNDRY,
    TEMPERATURE_VALUE_UNSUPPORTED,
    response_events,
    response_object,
    unsupported_parameter,
)

SENT = {"model": "o3", "messages": [], "max_tokens": 5, "temperature": 0.2, "stop": "x"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (OPERATION_NOT_SUPPORTED, Advice(responses=True)),
        (OPERATION_UNSUPPORTED_FOUNDRY, Advice(responses=True)),
        (MAX_TOKENS_UNSUPPORTED, Advice(field="max_tokens")),
        (TEMPERATURE_VALUE_UNSUPPORTED, Advice(field="temperature")),
        (unsupported_parameter("temperature"), Advice(field="temperature")),
        (unsupported_parameter("stop"), Advice(field="stop")),
        (unsupported_parameter("top_p"), None),  # not in the request: nothing to fix
        (unsupported_parameter("seed"), None),  # not a field aoa leaves out
        (b'{"error":{"code":"content_filter","message":"filtered"}}', None),
        (b"<html>bad gateway</html>", None),
        (b'{"statusCode":401,"message":"Unauthorized."}', None),
    ],
)
def test_advice_reads_the_spec_bodies(body: bytes, expected: Advice | None) -> None:
    assert advice(400, body, SENT) == expected


def test_only_400s_are_read() -> None:
    assert advice(404, OPERATION_NOT_SUPPORTED, SENT) is None
    assert advice(429, MAX_TOKENS_UNSUPPORTED, SENT) is None


def test_param_missing_falls_back_to_the_quoted_name() -> None:
    body = b'{"error":{"message":"Unsupported parameter: \'stop\' is not supported."}}'
    assert advice(400, body, SENT) == Advice(field="stop")


def test_fixes_rename_and_drop_and_keep_the_clients_new_value() -> None:
    fixes = Fixes(renamed=frozenset({"max_tokens"}), dropped=frozenset({"temperature"}))
    assert fixes.apply({"model": "o3", "max_tokens": 5, "temperature": 0.2}) == {
        "model": "o3",
        "max_completion_tokens": 5,
    }
    assert fixes.apply({"max_tokens": 5, "max_completion_tokens": 9}) == {
        "max_completion_tokens": 9
    }
    assert fixes.apply({"model": "o3"}) is None  # nothing to change: the bytes go as they are


def test_learning_logprobs_also_drops_top_logprobs() -> None:
    learned = Learned()
    assert not learned
    fixes = learned.learn("o3", Advice(field="logprobs"))
    assert fixes.dropped == {"logprobs", "top_logprobs"}
    assert learned and learned.get("o3") == fixes and learned.get("other") is None


def test_to_responses_maps_messages_tools_and_limits() -> None:
    body = {
        "model": "coder",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:x", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "max_completion_tokens": 99,
        "reasoning_effort": "high",
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
        "stop": ["x"],
        "presence_penalty": 0,
        "stream": True,
    }
    out = to_responses(body, "codex")
    assert out["model"] == "codex"
    assert out["input"] == [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:x", "detail": "low"},
            ],
        },
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ]
    assert out["max_output_tokens"] == 99
    assert out["reasoning"] == {"effort": "high"}
    assert out["text"] == {"format": {"type": "json_schema", "name": "s", "schema": {}}}
    assert out["stream"] is True and out["store"] is False
    assert "stop" not in out and "presence_penalty" not in out


def test_to_responses_refuses_n_above_one_and_audio() -> None:
    with pytest.raises(RequestError):
        to_responses({"messages": [], "n": 2}, "codex")
    audio = {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
    with pytest.raises(RequestError):
        to_responses({"messages": [audio]}, "codex")


def test_to_completion_maps_text_usage_and_incomplete() -> None:
    out = to_completion(response_object("codex"), "codex")
    assert out["id"] == "chatcmpl-abc123"
    assert out["choices"][0]["message"]["content"] == "Hello from codex"
    assert out["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    cut = {
        **response_object("codex"),
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }
    assert to_completion(cut, "codex")["choices"][0]["finish_reason"] == "length"
    failed = {
        **response_object("codex"),
        "status": "failed",
        "error": {"code": "server_error", "message": "boom"},
    }
    with pytest.raises(UpstreamError, match="boom"):
        to_completion(failed, "codex")


def test_chunk_stream_adds_up_to_the_whole_answer() -> None:
    stream = ChunkStream("codex", include_usage=True)
    chunks = [c for e in response_events("codex") for c in stream.feed(e)]
    assert stream.done
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from codex"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    last = chunks[-1]
    assert last["choices"] == [] and last.get("usage") == usage(response_object("codex")["usage"])
    assert {c["id"] for c in chunks} == {"chatcmpl-abc123"}


def test_chunk_stream_takes_a_whole_response_and_tool_calls() -> None:
    stream = ChunkStream("codex", include_usage=False)
    chunks = stream.feed(response_object("codex", tool=True))
    calls = [
        c["choices"][0]["delta"]["tool_calls"]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls == [
        [
            {
                "index": 0,
                "id": "call_42",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ]
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_chunk_stream_error_event_raises() -> None:
    stream = ChunkStream("codex", include_usage=False)
    with pytest.raises(UpstreamError, match="overloaded"):
        stream.feed({"type": "error", "code": "server_is_overloaded", "message": "overloaded"})
