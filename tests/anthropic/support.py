"""Checks shared by the Anthropic bridge tests: the official SDKs' types plus Anthropic's rules.

`anthropic_rules` checks what the SDK's types cannot see but Anthropic's API enforces
(alternation, tool_result placement, non-empty text, thinking limits), so a fake Anthropic
upstream can refuse the same bodies the real one does. `check_events` checks a Messages event
stream in strict order and returns the Message the official SDK builds from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import ErrorResponse, Message, RawMessageStreamEvent
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)

LOCAL_CAPTURES = Path(__file__).with_name("captures")
CAPTURE_NAMES = ("claude-code-2.1.197-first-turn", "claude-code-2.1.197-title-request")

_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)
_ANTHROPIC_REQUEST = pydantic.TypeAdapter(MessageCreateParamsNonStreaming)
_ANTHROPIC_STREAM_REQUEST = pydantic.TypeAdapter(MessageCreateParamsStreaming)
_CHAT_REQUEST = pydantic.TypeAdapter(CompletionCreateParamsNonStreaming)
_CHAT_STREAM_REQUEST = pydantic.TypeAdapter(CompletionCreateParamsStreaming)
_PLACEHOLDER = re.compile(r"^<[a-z_]+: (\d+) chars>$")


def capture(name: str) -> dict[str, Any]:
    """A captured Claude Code request body, its "<text: N chars>" stand-ins made N chars long."""
    path = LOCAL_CAPTURES / f"{name}.json"
    data = json.loads(path.read_text())

    def expand(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v) for v in value]
        if isinstance(value, str) and (found := _PLACEHOLDER.match(value)):
            return ("lorem ipsum " * int(found[1]))[: int(found[1])]
        return value

    body = expand(data["body"])
    assert isinstance(body, dict)
    return body


def force(value: Any) -> Any:
    """Walk a pydantic-validated TypedDict, running the lazy validators of its iterables."""
    if isinstance(value, Mapping):
        return {k: force(v) for k, v in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [force(v) for v in value]
    return value


# --------------------------------------------------------------------------- requests


def valid_chat_request(body: Mapping[str, Any]) -> None:
    """The openai SDK's request types accept it, and tool messages follow their calls."""
    adapter = _CHAT_STREAM_REQUEST if body.get("stream") else _CHAT_REQUEST
    force(adapter.validate_python(dict(body)))
    pending: set[str] = set()
    for message in body["messages"]:
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending, message
            pending.discard(message["tool_call_id"])
            continue
        assert not pending, f"tool calls {pending} not answered before {message['role']}"
        if message["role"] == "assistant":
            pending = {c["id"] for c in message.get("tool_calls") or []}
            assert message.get("content") is not None or pending, message


def anthropic_rules(body: Mapping[str, Any]) -> None:
    """The SDK's request types accept it, and so would Anthropic's API (the rules it enforces)."""
    adapter = _ANTHROPIC_STREAM_REQUEST if body.get("stream") else _ANTHROPIC_REQUEST
    force(adapter.validate_python(dict(body)))
    messages = body["messages"]
    assert messages, "messages: at least one message is required"
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] >= 1
    previous_uses: set[str] = set()
    for i, message in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        assert message["role"] == expected, f"messages[{i}] must be {expected}: roles alternate"
        blocks = message["content"]
        blocks = [{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks
        assert blocks, f"messages[{i}]: empty content"
        for block in blocks:
            if block["type"] == "text":
                assert block["text"].strip(), f"messages[{i}]: text blocks must be non-empty"
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        if message["role"] == "user":
            assert set(results) == previous_uses, (
                f"messages[{i}]: tool_result blocks {results} for tool_use {previous_uses}"
            )
            head = [b["type"] for b in blocks[: len(results)]]
            assert head == ["tool_result"] * len(results), "tool_result blocks must come first"
            previous_uses = set()
        else:
            previous_uses = {b["id"] for b in blocks if b["type"] == "tool_use"}
    assert not previous_uses or messages[-1]["role"] == "assistant"
    thinking = body.get("thinking")
    if thinking and thinking["type"] != "disabled":
        for key in ("temperature", "top_p", "top_k"):
            assert key not in body, f"{key} is not allowed while thinking"
        choice = body.get("tool_choice") or {}
        assert choice.get("type") not in ("any", "tool"), "thinking cannot force tool use"
        if thinking["type"] == "enabled":
            assert 1024 <= thinking["budget_tokens"] < body["max_tokens"]
    assert not ("temperature" in body and "top_p" in body), "temperature and top_p both"


# --------------------------------------------------------------------------- answers


def valid_message(message: Mapping[str, Any]) -> Message:
    model = Message.model_validate(message)
    assert model.stop_reason is not None
    return model


def valid_error(body: Mapping[str, Any]) -> None:
    """The SDK's error type accepts the body (it knows all types but request_too_large)."""
    if body["error"]["type"] != "request_too_large":
        ErrorResponse.model_validate(body)
    assert set(body["error"]) == {"type", "message"}


def valid_completion(completion: Mapping[str, Any]) -> ChatCompletion:
    return ChatCompletion.model_validate(completion)


def valid_chunks(chunks: Iterable[Mapping[str, Any]]) -> list[ChatCompletionChunk]:
    return [ChatCompletionChunk.model_validate(c) for c in chunks]


def check_events(events: Sequence[Mapping[str, Any]]) -> Message:
    """Every event valid for the SDK, in Anthropic's order; returns the SDK-built Message.

    message_start; then blocks with contiguous indexes from 0, one open at a time, each delta
    of its block's kind; message_delta; message_stop last. `ping` may come anywhere.
    """
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    expected_index = 0
    open_block: str | None = None
    state = "start"
    delta_kinds = {
        "text": {"text_delta", "citations_delta"},
        "thinking": {"thinking_delta", "signature_delta"},
        "tool_use": {"input_json_delta"},
    }
    for n, event in enumerate(events):
        kind = event["type"]
        if kind == "ping":
            assert event == {"type": "ping"}
            continue
        assert state != "stopped", f"event {n} ({kind}) after message_stop"
        parsed = _EVENT.validate_python(event)
        if kind == "message_start":
            assert state == "start", f"event {n}: a second message_start"
            state = "blocks"
        elif kind == "content_block_start":
            assert state == "blocks" and open_block is None, f"event {n}: block inside a block"
            assert event["index"] == expected_index, (event["index"], expected_index)
            open_block = event["content_block"]["type"]
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == expected_index, event
            assert event["delta"]["type"] in delta_kinds[open_block], (open_block, event)
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == expected_index, event
            open_block = None
            expected_index += 1
        elif kind == "message_delta":
            assert state == "blocks" and open_block is None, f"event {n}: message_delta early"
            assert event["delta"]["stop_reason"] is not None
            state = "delta"
        elif kind == "message_stop":
            assert state == "delta", f"event {n}: message_stop before message_delta"
            state = "stopped"
        else:
            raise AssertionError(f"unexpected event {event}")
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=json_bufs)
    assert state == "stopped", f"the stream ended in state {state}"
    return Message.model_validate(snapshot.model_dump())
