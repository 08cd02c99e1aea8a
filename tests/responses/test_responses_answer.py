"""Chat completion -> Response object (spec responses.md §6c), each checked by the SDK's model."""

from __future__ import annotations

from typing import Any

import pytest
from openai.lib._parsing._responses import parse_response
from pydantic import BaseModel

from aoa_proxy.bridges.responses import failure, to_response
from aoa_proxy.errors import RateLimited, UpstreamError, UpstreamTimeout
from tests.responses.support import completion, context, plain, sdk_response


def respond(body: dict[str, Any], ctx: Any) -> Any:
    """The Response as the client gets it (plain JSON)."""
    return plain(to_response(body, ctx))


USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 18,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 7},
}
NS_TOOLS = [
    {"type": "function", "name": "add", "parameters": {"type": "object"}},
    {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "agents",
        "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}}],
    },
    {"type": "custom", "name": "apply_patch", "description": "patch"},
]


def test_text_answer_is_a_completed_response_with_one_message():
    response = respond(completion(content="Hello", usage=USAGE), context())
    sdk = sdk_response(response)
    assert sdk.status == "completed" and sdk.output_text == "Hello"
    assert response["id"] == "resp_1" and response["object"] == "response"
    assert response["created_at"] == 1_700_000_000 and response["completed_at"] == 1_700_000_000
    assert response["model"] == "gpt-5"
    assert response["output"] == [
        {
            "id": "msg_2",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}
            ],
        }
    ]
    assert response["error"] is None and response["incomplete_details"] is None


def test_usage_maps_with_cached_and_reasoning_details():
    response = respond(completion(content="x", usage=USAGE), context())
    assert response["usage"] == {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 18,
        "output_tokens_details": {"reasoning_tokens": 7},
        "total_tokens": 29,
    }
    assert sdk_response(response).usage is not None


def test_no_usage_is_null_not_zeros():
    assert respond(completion(content="x"), context())["usage"] is None


@pytest.mark.parametrize(("summary", "key"), [(True, "summary"), (False, "content")])
def test_reasoning_text_becomes_a_reasoning_item_first(summary: bool, key: str):
    ctx = context({"reasoning": {"summary": "auto"}} if summary else {})
    response = respond(completion(content="42", reasoning="Think hard"), ctx)
    sdk_response(response)
    first = response["output"][0]
    assert first["type"] == "reasoning" and first["id"].startswith("rs_")
    assert first[key] == [
        {"type": "summary_text" if summary else "reasoning_text", "text": "Think hard"}
    ]
    assert first["encrypted_content"] is None
    assert response["output"][1]["type"] == "message"


def test_reasoning_alias_field_is_read_too():
    body = completion(content="x")
    body["choices"][0]["message"]["reasoning"] = "r"  # OpenRouter / vLLM name
    first = respond(body, context())["output"][0]
    assert first["type"] == "reasoning" and first["content"] == [
        {"type": "reasoning_text", "text": "r"}
    ]


def test_tool_calls_become_function_calls_under_the_clients_names():
    calls = [
        ("call_1", "add", '{"a":1}'),
        ("call_2", "multi_agent_v1__spawn_agent", '{"message":"go"}'),
        ("call_3", "apply_patch", '{"input":"*** Begin Patch"}'),
        ("call_4", "invented", "{}"),
    ]
    ctx = context({"tools": NS_TOOLS})
    response = respond(completion(content=None, calls=calls, finish="tool_calls"), ctx)
    sdk_response(response)
    assert response["output"] == [
        {
            "id": "fc_2",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "add",
            "arguments": '{"a":1}',
        },
        {
            "id": "fc_3",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_2",
            "name": "spawn_agent",
            "arguments": '{"message":"go"}',
            "namespace": "multi_agent_v1",
        },
        {
            "id": "ctc_4",
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": "call_3",
            "name": "apply_patch",
            "input": "*** Begin Patch",
        },
        {
            "id": "fc_5",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_4",
            "name": "invented",
            "arguments": "{}",
        },
    ]


def test_a_call_without_id_gets_one_in_openais_shape():
    body = completion(calls=[("", "add", "{}")], finish="tool_calls")
    [item] = respond(body, context({"tools": NS_TOOLS}))["output"]
    assert item["call_id"].startswith("call_") and len(item["call_id"]) == 29


def test_output_order_is_reasoning_message_calls():
    body = completion(
        content="Let me add.", reasoning="r", calls=[("c1", "add", "{}")], finish="tool_calls"
    )
    kinds = [i["type"] for i in respond(body, context())["output"]]
    assert kinds == ["reasoning", "message", "function_call"]


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_cut_off_answers_are_incomplete(finish: str, reason: str):
    response = respond(completion(content="Half", finish=finish, usage=USAGE), context())
    sdk = sdk_response(response)
    assert sdk.status == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][-1]["status"] == "incomplete"
    assert response["completed_at"] is None  # only a completed response has one


def test_only_the_last_item_of_a_cut_answer_is_incomplete():
    body = completion(
        content="a", calls=[("c1", "add", "{}"), ("c2", "add", '{"a"')], finish="length"
    )
    statuses = [i["status"] for i in respond(body, context())["output"]]
    assert statuses == ["completed", "completed", "incomplete"]


def test_refusal_is_a_refusal_part():
    response = respond(completion(content=None, refusal="I can't."), context())
    sdk_response(response)
    assert response["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't."}]


def test_empty_content_gives_no_message_item():
    assert respond(completion(content=""), context())["output"] == []


def test_url_citations_are_flattened():
    annotations = [
        {
            "type": "url_citation",
            "url_citation": {"start_index": 0, "end_index": 4, "title": "T", "url": "https://t"},
        }
    ]
    response = respond(completion(content="Text", annotations=annotations), context())
    sdk_response(response)
    assert response["output"][0]["content"][0]["annotations"] == [
        {"type": "url_citation", "start_index": 0, "end_index": 4, "title": "T", "url": "https://t"}
    ]


def test_logprobs_only_when_asked():
    body = completion(content="Hi")
    body["choices"][0]["logprobs"] = {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
            }
        ]
    }
    asked = respond(body, context({"include": ["message.output_text.logprobs"]}))
    sdk_response(asked)
    assert asked["output"][0]["content"][0]["logprobs"] == [
        {
            "token": "Hi",
            "bytes": [72, 105],
            "logprob": -0.1,
            "top_logprobs": [{"token": "Hi", "bytes": [72, 105], "logprob": -0.1}],
        }
    ]
    assert respond(body, context())["output"][0]["content"][0]["logprobs"] == []


def test_the_response_echoes_request_parameters():
    body = {
        "instructions": "be brief",
        "temperature": 0.3,
        "top_p": 0.8,
        "max_output_tokens": 50,
        "parallel_tool_calls": False,
        "tool_choice": "required",
        "tools": NS_TOOLS,
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_object"}},
        "metadata": {"k": "v"},
        "user": "u",
        "truncation": "auto",
        "prompt_cache_key": "pk",
        "safety_identifier": "sid",
    }
    response = respond(completion(content="{}"), context(body))
    sdk_response(response)
    for key, value in body.items():
        assert response[key] == value, key
    assert response["store"] is False and response["background"] is False
    assert response["previous_response_id"] is None


def test_defaults_when_the_request_set_nothing():
    response = respond(completion(content="x"), context())
    assert response["tool_choice"] == "auto" and response["tools"] == []
    assert response["parallel_tool_calls"] is True and response["text"] == {
        "format": {"type": "text"}
    }
    assert response["reasoning"] == {"effort": None, "summary": None} and response["metadata"] == {}
    assert response["truncation"] == "disabled"


def test_the_sdk_parses_a_json_schema_answer():
    class Point(BaseModel):
        x: int
        y: int

    response = sdk_response(respond(completion(content='{"x": 1, "y": 2}'), context()))
    parsed = parse_response(text_format=Point, input_tools=None, response=response)
    assert parsed.output_parsed == Point(x=1, y=2)


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("error", "code", "in_message"),
    [
        (
            RateLimited("Slow down.", retry_after=7.2),
            "rate_limit_exceeded",
            "Please try again in 7s.",
        ),
        (
            UpstreamError("Too many", status=429, headers={"retry-after": "3"}),
            "rate_limit_exceeded",
            "try again in 3s",
        ),
        (
            UpstreamError("ctx", status=400, code="context_length_exceeded"),
            "context_length_exceeded",
            "ctx",
        ),
        (
            UpstreamError("quota", status=429, code="insufficient_quota"),
            "insufficient_quota",
            "quota",
        ),
        (UpstreamError("busy", status=503), "server_is_overloaded", "busy"),
        (UpstreamTimeout("The upstream did not answer in time"), "server_error", "in time"),
        (ConnectionResetError("secret internals"), "server_error", "upstream failed"),
        ({"message": "boom", "code": "context_length_exceeded"}, "context_length_exceeded", "boom"),
        ({"message": "boom", "code": 500}, "server_error", "boom"),
        (None, "server_error", "upstream failed"),
    ],
)
def test_failures_carry_a_code_codex_acts_on(error: Any, code: str, in_message: str):
    got = failure(error)
    assert got["code"] == code and in_message in got["message"]
    assert "secret" not in got["message"]
