"""The pure translation functions, one behaviour each (no network)."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest

from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import RequestError, UpstreamUnreachable
from aoa_proxy.providers.base import Call, Endpoint
from aoa_proxy.providers.gemini import GeminiProvider
from aoa_proxy.providers.gemini_request import (
    convert_messages,
    generation_config,
    parse_data_url,
)
from aoa_proxy.providers.gemini_response import (
    FINISH_REASONS,
    Shape,
    StreamTranslator,
    error_from_json,
    finish_reason,
    model_objects,
    translate,
    usage,
)
from aoa_proxy.providers.gemini_schema import clean_schema
from aoa_proxy.providers.gemini_tools import SignatureCache
from aoa_proxy.schema import ChatCompletion, ChatCompletionChunk, Completion
from tests.gemini.fake_gemini import Invalid, validate_schema


def test_clean_schema_inlines_refs_and_drops_unknown_keywords() -> None:
    schema = {
        "$schema": "x",
        "title": "Root",
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Pet": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            }
        },
        "properties": {
            "pet": {"$ref": "#/$defs/Pet", "description": "the pet"},
            "pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}},
        },
        "required": ["pet", "missing"],
    }
    assert clean_schema(schema) == {
        "type": "OBJECT",
        "properties": {
            "pet": {
                "type": "OBJECT",
                "description": "the pet",
                "required": ["name"],
                "properties": {"name": {"type": "STRING"}},
            },
            "pets": {
                "type": "ARRAY",
                "items": {
                    "type": "OBJECT",
                    "required": ["name"],
                    "properties": {"name": {"type": "STRING"}},
                },
            },
        },
        "required": ["pet"],
    }


def test_clean_schema_bounds_recursive_refs() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    cleaned = clean_schema(schema)
    validate_schema(cleaned, "x")  # finite and acceptable to Gemini
    depth, node = 0, cleaned
    while "properties" in node:
        node, depth = node["properties"]["child"], depth + 1
    assert 10 < depth < 40


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, {"type": "INTEGER", "nullable": True}),
        (
            {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
        ),
        ({"const": "a"}, {"type": "STRING", "enum": ["a"]}),
        ({"type": "integer", "enum": [1, 2]}, {"type": "INTEGER", "description": "(one of: 1, 2)"}),
        ({"type": "string", "format": "email"}, {"type": "STRING"}),
        ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
        (
            {"type": "number", "exclusiveMinimum": 0, "minimum": 1, "examples": [2]},
            {"type": "NUMBER", "minimum": 1},
        ),
        (
            {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}},
                ]
            },
            {
                "type": "OBJECT",
                "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
                "required": ["a"],
            },
        ),
    ],
)
def test_clean_schema_rewrites_what_gemini_cannot_take(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert clean_schema(given) == expected
    validate_schema(clean_schema(given), "x")


def test_clean_schema_drops_required_entries_that_are_not_names() -> None:
    # A list in `required` used to raise TypeError (unhashable): a 500 instead of a clean tool.
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": [["a"], "a"]}
    assert clean_schema(schema)["required"] == ["a"]


def test_clean_schema_rejects_remote_refs() -> None:
    with pytest.raises(RequestError, match="cannot be resolved"):
        clean_schema({"$ref": "https://example.com/s.json"})


def test_fake_gemini_rejects_raw_openai_schemas() -> None:
    with pytest.raises(Invalid, match="additionalProperties"):
        validate_schema(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": "string"}},
            },
            "x",
        )


def test_data_urls_keep_base64_and_encode_plain_data() -> None:
    assert parse_data_url("data:image/png;base64,iVBO\nRw==", "p") == ("image/png", "iVBORw==")
    assert parse_data_url("data:text/plain,hi%20there", "p") == ("text/plain", "aGkgdGhlcmU=")
    with pytest.raises(RequestError):
        parse_data_url("data:image/png;base64", "p")


def test_assistant_text_comes_before_its_calls_and_tool_text_parts_join() -> None:
    system, contents = convert_messages(
        [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "Let me look."}],
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "c1",
                "content": [{"type": "text", "text": '{"ok"'}, {"type": "text", "text": ": true}"}],
            },
            {"role": "user", "content": "thanks"},
        ],
        {},
        signatures=SignatureCache(),
    )
    assert system == []
    assert contents[1]["parts"][0] == {"text": "Let me look."}
    assert contents[1]["parts"][1]["functionCall"] == {"name": "f", "args": {}}
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "f", "response": {"ok": True}}},
            {"text": "thanks"},
        ],
    }


def test_tool_call_arguments_must_be_a_json_object() -> None:
    with pytest.raises(RequestError, match="arguments"):
        convert_messages(
            [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "[1]"},
                        }
                    ],
                }
            ],
            {},
            signatures=SignatureCache(),
        )


def test_generation_config_prefers_max_completion_tokens_and_skips_zero_penalties() -> None:
    config = generation_config(
        {
            "max_tokens": 9,
            "max_completion_tokens": 5,
            "presence_penalty": 0,
            "frequency_penalty": -0.5,
            "n": 2.0,
        },
        "m",
    )
    assert config == {"maxOutputTokens": 5, "frequencyPenalty": -0.5, "candidateCount": 2}


def test_signature_cache_forgets_the_oldest() -> None:
    cache = SignatureCache(size=2)
    for name in ("a", "b", "c"):
        cache.remember(name, name.upper())
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "B", "C")


def test_every_finish_reason_maps_inside_openais_set() -> None:
    assert set(FINISH_REASONS.values()) <= {"stop", "length", "content_filter"}
    assert finish_reason("STOP", True, False) == "tool_calls"
    assert finish_reason("STOP", True, True) == "function_call"
    assert finish_reason("MAX_TOKENS", True, False) == "length"
    assert finish_reason("SOMETHING_NEW", False, False) == "stop"
    assert finish_reason(None, False, False) == "stop"


def test_usage_counts_thoughts_and_tool_prompts() -> None:
    got = usage(
        {
            "promptTokenCount": 10,
            "toolUsePromptTokenCount": 5,
            "thoughtsTokenCount": 7,
            "candidatesTokenCount": 3,
            "totalTokenCount": 25,
        }
    )
    assert (got["prompt_tokens"], got["completion_tokens"], got["total_tokens"]) == (15, 10, 25)
    assert got["completion_tokens_details"] == {"reasoning_tokens": 7}
    assert usage(None)["total_tokens"] == 0


def test_invalid_key_reason_beats_the_400() -> None:
    err = error_from_json(
        {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "API key expired",
            "details": [{"reason": "API_KEY_EXPIRED"}],
        },
        400,
        {},
    )
    assert (err.status, err.code, err.type) == (401, "invalid_api_key", "invalid_request_error")


def test_unknown_error_status_keeps_the_http_status() -> None:
    err = error_from_json({"message": "teapot", "status": "SOMETHING_NEW"}, 418, {"x": "1"})
    assert (err.status, err.message, err.headers) == (418, "teapot", {"x": "1"})


def test_answer_without_candidates_or_block_reason_is_a_502() -> None:
    with pytest.raises(UpstreamUnreachable):
        translate({"usageMetadata": {}}, Shape(model="m"), signatures=SignatureCache())


def _chat_chunks(chunks: list[ChatCompletionChunk | Completion]) -> list[ChatCompletionChunk]:
    """The chunks, each checked to be a chat chunk (which types them as one)."""
    out = []
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        out.append(chunk)
    return out


def test_stream_interleaves_candidates_with_their_own_index() -> None:
    t = StreamTranslator(Shape(model="m", n=2), signatures=SignatureCache())
    out = t.feed(
        {
            "candidates": [
                {"content": {"parts": [{"text": "a"}]}},
                {"index": 1, "content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"},
            ]
        }
    )
    out += t.feed(
        {
            "candidates": [
                {"index": 0, "content": {"parts": [{"text": "c"}]}, "finishReason": "MAX_TOKENS"}
            ]
        }
    )
    out += t.close()
    chunks = _chat_chunks(out)
    seen = [
        (
            c["choices"][0]["index"],
            c["choices"][0]["delta"].get("content"),
            c["choices"][0]["finish_reason"],
        )
        for c in chunks
    ]
    assert seen == [
        (0, "", None),
        (0, "a", None),
        (1, "", None),
        (1, "b", None),
        (1, None, "stop"),
        (0, "c", None),
        (0, None, "length"),
    ]


def test_stream_legacy_functions_emit_one_function_call_delta() -> None:
    t = StreamTranslator(Shape(model="m", legacy=True), signatures=SignatureCache())
    out = t.feed(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"functionCall": {"name": "f", "args": {"x": 1}}},
                            {"functionCall": {"name": "g", "args": {}}},
                        ]
                    },
                    "finishReason": "STOP",
                }
            ]
        }
    )
    chunks = _chat_chunks(out)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"function_call": {"name": "f", "arguments": '{"x":1}'}}
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call" and len(chunks) == 3


def test_stream_with_nothing_in_it_is_an_error() -> None:
    with pytest.raises(UpstreamUnreachable):
        StreamTranslator(Shape(model="m"), signatures=SignatureCache()).close()


def test_model_pages_strip_the_models_prefix() -> None:
    page, token = model_objects(
        {"models": [{"name": "models/a"}, {"nope": 1}], "nextPageToken": "t2"}
    )
    assert page == [{"id": "a", "object": "model", "created": 0, "owned_by": "google"}]
    assert token == "t2"
    assert model_objects("junk") == ([], "")


async def test_any_provider_replays_the_signature_from_the_id_the_cache_only_a_cut_id() -> None:
    settings = ProviderSettings(name="gemini", endpoint="http://127.0.0.1:1", model="gemini-3-pro")
    first, fresh = GeminiProvider(settings), GeminiProvider(settings)  # fresh: a restart

    def call(messages: list[Any]) -> Call:
        body = {"model": "gemini-3-pro", "messages": messages}
        return Call(Endpoint.CHAT, body, b"", "gemini-3-pro", "gemini-3-pro", False, "k")

    answer = first.translate_response(
        call([{"role": "user", "content": "q"}]),
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"}
                        ],
                    },
                    "finishReason": "STOP",
                }
            ]
        },
    )
    assert isinstance(answer, dict) and answer.get("object") == "chat.completion"
    tool_call = cast(ChatCompletion, answer)["choices"][0]["message"]["tool_calls"][0]
    assert tool_call["extra_content"] == {"google": {"thought_signature": "c2ln"}}

    def replay(call_id: str) -> Call:
        sent = {**tool_call, "id": call_id}
        sent.pop("extra_content")  # what a plain OpenAI client sends back
        return call(
            [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": None, "tool_calls": [sent]},
                {"role": "tool", "tool_call_id": call_id, "content": "1"},
            ]
        )

    async def no_fetch(url: str, limit: int) -> tuple[str, bytes]:
        raise AssertionError("nothing to fetch")

    async def replayed_signature(provider: GeminiProvider, call_id: str) -> str:
        request = await provider.build_request(replay(call_id), no_fetch)
        return str(orjson.loads(request.body or b"")["contents"][1]["parts"][0]["thoughtSignature"])

    cut = tool_call["id"].partition("__gsig")[0]  # a client that shortens ids
    assert await replayed_signature(first, tool_call["id"]) == "c2ln"
    assert await replayed_signature(fresh, tool_call["id"]) == "c2ln"
    assert await replayed_signature(first, cut) == "c2ln"  # the cache, last resort
    assert await replayed_signature(fresh, cut) == "skip_thought_signature_validator"


@pytest.mark.parametrize(
    "schema",
    [
        {"required": 1, "allOf": [{"required": ["a"]}]},
        {"properties": "x", "allOf": [{"properties": {"a": {"type": "string"}}}]},
    ],
)
def test_all_of_merges_over_a_malformed_outer_entry(schema: dict[str, Any]) -> None:
    # Found by the fuzz property test: the merge raised TypeError (a 500) on these.
    cleaned = clean_schema(schema)
    assert cleaned == clean_schema(cleaned)
