"""Both directions together, and any input: translations never crash.

A∘B: a chat request sent through the provider bridge (chat -> Messages) and back through the
front door (Messages -> chat) keeps its meaning: the same system text, turns, tool calls with
the same ids and arguments, tool results, images, tools, tool choice and limits.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.bridges.anthropic_request import to_messages_request
from aoa_proxy.bridges.messages_request import count_tokens, to_chat_request
from aoa_proxy.errors import RequestError
from aoa_proxy.providers.base import dumps
from tests.anthropic.support import CAPTURE_NAMES, anthropic_rules, capture, valid_chat_request

_checks = settings(
    max_examples=int(os.environ.get("AOA_FUZZ_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PNG = "data:image/png;base64,iVBORw0KGgo="
_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20
).filter(lambda t: t.strip() == t and t)
_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,15}", fullmatch=True)
_args = st.dictionaries(
    st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=5) | st.booleans(), max_size=3
)


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid chat conversation: system first, then user turns, assistant turns (text and/or
    tool calls, each answered by a tool message), ending with a user or tool message."""
    messages: list[dict[str, Any]] = [
        {"role": draw(st.sampled_from(["system", "developer"])), "content": t}
        for t in draw(st.lists(_words, max_size=2))
    ]
    next_id = 0
    for _ in range(draw(st.integers(1, 4))):
        content: Any = draw(_words)
        if draw(st.booleans()):
            content = [
                {"type": "text", "text": content},
                {"type": "image_url", "image_url": {"url": PNG}},
            ]
        messages.append({"role": "user", "content": content})
        if draw(st.booleans()):
            continue
        calls = []
        for _ in range(draw(st.integers(0, 2))):
            calls.append(
                {
                    "id": f"call_{next_id}",
                    "type": "function",
                    "function": {
                        "name": draw(_name),
                        "arguments": dumps(draw(_args)).decode(),
                    },
                }
            )
            next_id += 1
        text = draw(st.none() | _words) if calls else draw(_words)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
        for c in calls:
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": draw(_words)})
        if not calls:
            messages.append({"role": "user", "content": draw(_words)})
    body: dict[str, Any] = {
        "model": "claude-opus-4-6",
        "messages": messages,
        "max_completion_tokens": draw(st.integers(1, 100000)),
    }
    tools = draw(st.lists(_name, max_size=3, unique=True))
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": n,
                    "description": "d",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
            for n in tools
        ]
        choice = draw(
            st.sampled_from(
                ["auto", "none", "required", {"type": "function", "function": {"name": tools[0]}}]
            )
        )
        body["tool_choice"] = choice
        if draw(st.booleans()) and choice != "none":
            body["parallel_tool_calls"] = False
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        body["stop"] = draw(st.lists(_words, min_size=1, max_size=3))
    if draw(st.booleans()):
        body["user"] = draw(_words)
    if draw(st.booleans()):
        body["reasoning_effort"] = draw(st.sampled_from(["low", "medium", "high"]))
    return body


def _turns(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The conversation without system messages, comparable: consecutive user messages merged
    (Anthropic merges same-role runs), a text-only user turn as one text joined by blank lines."""
    merged: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] in ("system", "developer"):
            continue
        content = m.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if m["role"] == "user" and merged and merged[-1]["role"] == "user":
            merged[-1]["parts"] += parts
        else:
            merged.append({**m, "parts": parts})
    out: list[tuple[Any, ...]] = []
    for m in merged:
        parts = m["parts"]
        if m["role"] == "user" and all(p["type"] == "text" for p in parts):
            parts = [{"type": "text", "text": "\n\n".join(p["text"] for p in parts)}]
        calls = tuple(
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in m.get("tool_calls") or []
        )
        out.append((m["role"], m.get("tool_call_id"), json.dumps(parts), calls))
    return out


def _joined(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages body as the front door reshapes it: the text of a user turn with no other
    media, and the text of an assistant turn, each become one text joined by blank lines."""
    turns = []
    for m in body["messages"]:
        results = [b for b in m["content"] if b["type"] == "tool_result"]
        texts = [b["text"] for b in m["content"] if b["type"] == "text"]
        others = [b for b in m["content"] if b["type"] not in ("text", "tool_result")]
        if m["role"] == "assistant" or not others:
            joined = [{"type": "text", "text": "\n\n".join(texts)}] if texts else []
            turns.append({**m, "content": results + joined + others})
        else:
            turns.append(m)
    return {**body, "messages": turns}


@_checks
@given(chat=chat_requests())
def test_chat_through_both_bridges_keeps_its_meaning(chat: dict[str, Any]) -> None:
    anthropic = to_messages_request(chat).body
    anthropic_rules(anthropic)
    back = to_chat_request(anthropic).chat
    valid_chat_request(back)

    system = "\n".join(
        m["content"] for m in chat["messages"] if m["role"] in ("system", "developer")
    )
    got_system = [m["content"] for m in back["messages"] if m["role"] == "system"]
    assert got_system == ([system] if system else [])
    assert _turns(back["messages"]) == _turns(chat["messages"])
    assert back["max_completion_tokens"] == chat["max_completion_tokens"]
    assert back.get("tools") == chat.get("tools")
    assert (
        back.get("tool_choice") == chat.get("tool_choice")
        if "tools" in chat
        else "tool_choice" not in back
    )
    assert back.get("parallel_tool_calls") == chat.get("parallel_tool_calls")
    assert back.get("stop") == chat.get("stop")
    assert back.get("user") == chat.get("user")
    thinking = "thinking" in anthropic
    if not thinking:
        assert back.get("temperature") == chat.get("temperature")
    if thinking:
        assert back["reasoning_effort"] == chat["reasoning_effort"]


@_checks
@given(chat=chat_requests())
def test_messages_through_both_bridges_is_a_fixed_point(chat: dict[str, Any]) -> None:
    """B∘A∘B = B: once in Anthropic's shape, a request survives a further round unchanged."""
    first = to_messages_request(chat).body
    again = to_messages_request(to_chat_request(first).chat).body
    assert again == _joined(first)


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_claude_code_requests_reach_an_anthropic_upstream_in_a_shape_it_accepts(name: str) -> None:
    """Claude Code -> front door -> chat -> (router) -> anthropic provider: still a valid body."""
    chat = to_chat_request(capture(name)).chat
    anthropic_rules(to_messages_request(chat, upstream_model="claude-opus-4-8").body)


# --------------------------------------------------------------------------- any input

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_block = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "text",
                "image",
                "document",
                "tool_use",
                "tool_result",
                "thinking",
                "search_result",
                "x",
            ]
        )
    },
    optional={
        "text": _json,
        "source": _json,
        "id": _json,
        "name": _json,
        "input": _json,
        "tool_use_id": _json,
        "content": _json,
        "is_error": _json,
        "title": _json,
    },
)
_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "tool"]) | _json,
        "content": st.lists(_block, max_size=3) | _json,
    }
)
_messages_body = st.fixed_dictionaries(
    {"model": st.just("claude-x") | _json, "messages": st.lists(_message, max_size=4) | _json},
    optional={
        "max_tokens": st.integers(-5, 10**6) | _json,
        "system": _json,
        "tools": _json,
        "tool_choice": _json,
        "thinking": _json,
        "output_config": _json,
        "stop_sequences": _json,
        "temperature": _json,
        "metadata": _json,
        "stream": _json,
    },
)
_chat_body = st.fixed_dictionaries(
    {
        "model": st.just("claude-sonnet-4-5") | _json,
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "assistant", "system", "tool", "function"])
                    | _json
                },
                optional={
                    "content": _json,
                    "tool_calls": _json,
                    "tool_call_id": _json,
                    "name": _json,
                },
            ),
            max_size=4,
        )
        | _json,
    },
    optional={
        "tools": _json,
        "tool_choice": _json,
        "response_format": _json,
        "reasoning_effort": _json,
        "max_tokens": _json,
        "stop": _json,
        "temperature": _json,
        "n": _json,
        "parallel_tool_calls": _json,
        "functions": _json,
        "function_call": _json,
    },
)


@_checks
@given(body=_messages_body)
def test_any_messages_body_translates_or_is_a_request_error(body: dict[str, Any]) -> None:
    with contextlib.suppress(RequestError):
        valid_chat_request(to_chat_request(body).chat)
    with contextlib.suppress(RequestError):
        assert count_tokens(body)["input_tokens"] >= 0


@_checks
@given(body=_chat_body)
def test_any_chat_body_translates_or_is_a_request_error(body: dict[str, Any]) -> None:
    with contextlib.suppress(RequestError):
        to_messages_request(body)
