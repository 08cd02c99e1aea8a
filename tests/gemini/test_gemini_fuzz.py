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
from aoa_proxy.providers.gemini_tools import SignatureCache

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
