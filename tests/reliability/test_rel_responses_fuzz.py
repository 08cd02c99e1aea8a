"""POST /v1/responses with Responses-shaped bodies, fuzzed: items of every type (known, unknown,
malformed, orphan outputs), tools of every kind, wrong-typed fields and huge inputs, on every
provider kind (native pass-through on openai, bridged elsewhere). Every answer is a 200 or a
well-formed OpenAI 4xx error, never a 5xx; no error is logged."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.reliability.test_rel_fuzz import KINDS, _auth, _send, check_answer, gateways

__all__ = ["gateways"]
SCALE = 10 if os.environ.get("AOA_SOAK") == "long" else 1

_text = st.text(max_size=20)
_junk = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text
_part = st.fixed_dictionaries(
    {"type": st.sampled_from(["input_text", "output_text", "input_image", "input_file", "x"])},
    optional={"text": _text | _junk, "image_url": _junk, "file_data": _junk, "detail": _junk},
)
_content = _text | st.lists(_part | _junk, max_size=3) | _junk
_call_ids = st.sampled_from(["call_1", "call_2", "", "x"])
_item = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "x"])},
        optional={"type": st.just("message"), "content": _content},
    ),
    st.fixed_dictionaries(
        {"type": st.just("function_call")},
        optional={"call_id": _call_ids | _junk, "name": _text | _junk, "arguments": _text | _junk},
    ),
    st.fixed_dictionaries(
        {"type": st.just("function_call_output")},
        optional={"call_id": _call_ids | _junk, "output": _content},
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["reasoning", "item_reference", "web_search_call", "nope"])},
        optional={"id": _text, "summary": st.lists(_junk, max_size=2)},
    ),
    _junk,
)
_tool = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("function"), "name": st.sampled_from(["f", "g", "bad name!", ""])},
        optional={"parameters": st.just({"type": "object"}) | _junk, "strict": _junk},
    ),
    st.fixed_dictionaries(
        {"type": st.just("namespace"), "name": st.sampled_from(["ns", ""])},
        optional={
            "tools": st.lists(st.just({"type": "function", "name": "c"}) | _junk, max_size=2)
        },
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["web_search", "file_search", "custom", "mcp", "zzz"])},
        optional={"external_web_access": _junk, "name": _text},
    ),
    _junk,
)
_body = st.fixed_dictionaries(
    {"model": st.sampled_from(["gemini-2.5-flash", "m", "demo-echo"])},
    optional={
        "input": _text | st.lists(_item, max_size=5) | _junk,
        "instructions": _text | _junk,
        "tools": st.lists(_tool, max_size=3) | _junk,
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | _junk,
        "stream": st.booleans() | _junk,
        "store": st.booleans() | _junk,
        "previous_response_id": st.sampled_from(["resp_missing"]) | _junk,
        "text": st.fixed_dictionaries(
            {}, optional={"format": _junk | st.just({"type": "json_schema"})}
        ),
        "reasoning": st.fixed_dictionaries({}, optional={"effort": _junk, "summary": _junk}),
        "max_output_tokens": _junk,
        "temperature": _junk,
        "include": st.lists(_text, max_size=2) | _junk,
        "background": _junk,
    },
)


@settings(
    max_examples=300 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(kind=st.sampled_from(KINDS), body=_body)
def test_responses_shaped_bodies_get_200_or_4xx(gateways: Any, kind: str, body: Any) -> None:
    tg, ports, log = gateways
    status, headers, data = _send(
        ports[kind],
        "POST",
        "/v1/responses",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **_auth(kind)},
    )
    event(f"HTTP {status}")
    check_answer("POST", status, headers, data)
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


def test_a_huge_input_is_answered_not_crashed(gateways: Any) -> None:
    tg, ports, log = gateways
    items = [{"role": "user", "content": "x" * 50}] * 1000  # under AOA_MAX_BODY_BYTES: 64 KiB
    for kind in ("azure", "gemini", "demo"):
        body = json.dumps({"model": "m", "input": items[:1000]}).encode()
        status, headers, data = _send(
            ports[kind],
            "POST",
            "/v1/responses",
            body,
            {"Content-Type": "application/json", **_auth(kind)},
        )
        check_answer("POST", status, headers, data)
        assert status in (200, 413), (kind, status)
