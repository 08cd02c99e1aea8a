"""Any JSON a client sends is translated or refused with a RequestError, never a crash."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.errors import AoaError, RequestError
from aoa_proxy.providers.gemini_request import embed_body, generate_body
from aoa_proxy.providers.gemini_response import Shape, StreamTranslator, translate, translate_error
from aoa_proxy.providers.gemini_schema import clean_schema
from aoa_proxy.providers.gemini_tools import SignatureCache
from tests.gemini.fake_gemini import _SCHEMA_KEYS, _SCHEMA_TYPES

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        [
            "",
            "x",
            "user",
            "assistant",
            "tool",
            "system",
            "function",
            "text",
            "image_url",
            "auto",
            "required",
            "none",
            "json_schema",
            "json_object",
            "data:image/png;base64,AAAA",
            "#/$defs/A",
            "object",
            "string",
            "c1",
            "{}",
            "[1]",
            "STOP",
            "SAFETY",
        ]
    )
)
_keys = st.sampled_from(
    [
        "role",
        "content",
        "type",
        "text",
        "image_url",
        "url",
        "tool_calls",
        "id",
        "function",
        "name",
        "arguments",
        "tool_call_id",
        "parameters",
        "properties",
        "items",
        "$ref",
        "$defs",
        "anyOf",
        "enum",
        "const",
        "required",
        "schema",
        "json_schema",
        "input_audio",
        "file",
        "file_data",
        "data",
        "format",
        "candidates",
        "parts",
        "functionCall",
        "args",
        "finishReason",
        "index",
        "error",
        "code",
        "status",
        "details",
        "promptFeedback",
    ]
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=25,
)
_body = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.lists(_json, min_size=1, max_size=4) | _json,
        "tools": _json,
        "tool_choice": _json,
        "functions": _json,
        "function_call": _json,
        "response_format": _json,
        "stop": _json,
        "temperature": _json,
        "n": _json,
        "reasoning_effort": _json,
        "max_tokens": _json,
        "prompt": _json,
        "input": _json,
        "dimensions": _json,
        "encoding_format": _json,
    },
)
_checks = settings(
    max_examples=int(os.environ.get("AOA_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_checks
@given(body=_body)
def test_gemini_any_request_body_translates_or_is_a_request_error(body: dict[str, Any]) -> None:
    for chat in (True, False):
        if chat and not isinstance(body.get("messages"), list):
            continue
        if chat and not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in body["messages"]
        ):
            continue  # the app's validate() refuses these before the provider sees them
        with contextlib.suppress(RequestError):
            generate_body(
                body,
                model="gemini-2.5-flash",
                chat=chat,
                media={},
                safety="OFF",
                api_version="v1beta",
                signatures=SignatureCache(),
            )
    with contextlib.suppress(RequestError):
        embed_body(body, "models/gemini-embedding-001")


@_checks
@given(payload=_json)
def test_gemini_any_upstream_answer_translates_or_is_a_clean_error(payload: Any) -> None:
    for shape in (Shape(model="m"), Shape(model="m", chat=False, n=2, legacy=True)):
        with contextlib.suppress(AoaError):
            translate(payload, shape, signatures=SignatureCache())
        stream = StreamTranslator(shape, signatures=SignatureCache())
        try:
            stream.feed(payload)
            stream.close()
        except AoaError:
            pass
    import orjson

    err = translate_error(400, orjson.dumps(payload), {})
    assert 400 <= err.status < 600


_schema_keys = st.sampled_from(
    [
        "type",
        "anyOf",
        "oneOf",
        "allOf",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "format",
        "nullable",
        "description",
        "minimum",
        "maxItems",
        "pattern",
        "title",
        "additionalProperties",
        "$ref",
        "$defs",
        "A",
        "B",
    ]
)
_schema_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.sampled_from(
        [
            "string",
            "null",
            "integer",
            "number",
            "boolean",
            "array",
            "object",
            "date-time",
            "email",
            "int64",
            "#/$defs/A",
            "A",
            "",
        ]
    )
)
_schemas = st.dictionaries(
    _schema_keys,
    st.recursive(
        _schema_scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(_schema_keys, inner, max_size=5)
        ),
        max_leaves=30,
    ),
    max_size=6,
)


def _assert_gemini_shaped(schema: dict[str, Any]) -> None:
    """Only keys Gemini's Schema has, its type names, string enums, required ⊆ properties."""
    assert set(schema) <= _SCHEMA_KEYS, set(schema) - _SCHEMA_KEYS
    assert schema.get("type", "STRING") in _SCHEMA_TYPES
    assert all(isinstance(v, str) for v in schema.get("enum", []))
    assert set(schema.get("required", [])) <= set(schema.get("properties", {}))
    for sub in [*schema.get("properties", {}).values(), *schema.get("anyOf", [])]:
        _assert_gemini_shaped(sub)
    if "items" in schema:
        _assert_gemini_shaped(schema["items"])


@_checks
@given(schema=_schemas)
def test_any_json_schema_cleans_to_gemini_keys_or_is_a_request_error(schema: Any) -> None:
    try:
        cleaned = clean_schema(schema)
    except RequestError:
        return  # an unresolvable $ref
    _assert_gemini_shaped(cleaned)


@_checks
@given(schema=_schemas)
def test_cleaning_a_cleaned_schema_changes_nothing(schema: Any) -> None:
    with contextlib.suppress(RequestError):
        cleaned = clean_schema(schema)
        assert clean_schema(cleaned) == cleaned
