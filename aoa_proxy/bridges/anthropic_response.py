"""Anthropic Messages answers -> chat answers: the whole completion, usage, finish reasons, errors.

Wire references: https://docs.anthropic.com/en/api/messages (the Message object) and
https://docs.anthropic.com/en/api/errors. The stream's chunks are in anthropic_stream.py.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, NotRequired

import orjson

from aoa_proxy.bridges.anthropic_request import JSON_TOOL, AnthropicCall
from aoa_proxy.errors import UpstreamError, UpstreamUnreachable, upstream_error
from aoa_proxy.providers.base import dumps
from aoa_proxy.schema import ChatCompletion, Delta, Message, ToolCall, Usage

# Anthropic stop_reason -> chat finish_reason (https://docs.anthropic.com/en/api/messages,
# "stop_reason"; the same table as Vercel's AI SDK, map-anthropic-stop-reason.ts).
FINISH_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error type -> the status our client gets, for errors that arrive inside a stream
# (no HTTP status of their own) and bodies whose status says less than their type.
ERROR_STATUSES: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 503,  # Anthropic's 529: OpenAI clients know 503 as "retry later"
}

# Anthropic statuses OpenAI clients do not know -> the nearest they do.
STATUSES: Final = {529: 503}

# Headers of an upstream error worth passing on (the SDKs' retry hints).
RETRY_HEADERS: Final = ("retry-after", "retry-after-ms", "x-should-retry")

_MODEL_HINT = " (set ANTHROPIC_MODEL or map the name in ANTHROPIC_MODEL_ALIAS)"


class ReasoningMessage(Message):
    """A chat message with the model's thinking, as DeepSeek and vLLM send it."""

    reasoning_content: NotRequired[str]


class ReasoningDelta(Delta, total=False):
    reasoning_content: str


def to_chat_completion(message: Any, call: AnthropicCall) -> ChatCompletion:
    """An Anthropic Message -> chat.completion; remembers thinking for the next tool turn."""
    if not isinstance(message, Mapping) or message.get("type") == "error":
        raise UpstreamUnreachable("Anthropic sent an answer that is not a message")
    blocks = message.get("content")
    blocks = [b for b in blocks if isinstance(b, Mapping)] if isinstance(blocks, list) else []
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind == "tool_use" and call.json_tool and block.get("name") == JSON_TOOL:
            texts.append(dumps(block.get("input") or {}).decode())
        elif kind == "tool_use":
            calls.append(tool_call(block))
    remember_thinking(call, blocks)
    reason = finish_reason(message.get("stop_reason"), call)
    text = "".join(texts)
    chat_message: ReasoningMessage = {
        "role": "assistant",
        "content": text if text or not calls else None,
        "refusal": None,
    }
    if calls and call.legacy:
        chat_message["function_call"] = {**calls[0]["function"]}
        reason = "function_call" if reason == "tool_calls" else reason
    elif calls:
        chat_message["tool_calls"] = calls
    if any(thinking):
        chat_message["reasoning_content"] = "".join(thinking)
    message_id = message.get("id")
    return {
        "id": f"chatcmpl-{message_id}" if isinstance(message_id, str) else "chatcmpl-anthropic",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.model,
        "choices": [
            {"index": 0, "message": chat_message, "logprobs": None, "finish_reason": reason}
        ],
        "usage": chat_usage(message.get("usage")),
    }


def tool_call(block: Mapping[str, Any]) -> ToolCall:
    return {
        "id": str(block.get("id") or ""),
        "type": "function",
        "function": {
            "name": str(block.get("name") or ""),
            "arguments": dumps(block.get("input") or {}).decode(),
        },
    }


def remember_thinking(call: AnthropicCall, blocks: Sequence[Mapping[str, Any]]) -> None:
    """Keep a tool-calling turn's thinking blocks, which OpenAI clients do not send back."""
    if call.thinking is None:
        return
    kept = [dict(b) for b in blocks if b.get("type") in ("thinking", "redacted_thinking")]
    ids = [str(b["id"]) for b in blocks if b.get("type") == "tool_use" and b.get("id")]
    call.thinking.remember(ids, kept)


def finish_reason(stop: Any, call: AnthropicCall) -> str:
    reason = FINISH_REASONS.get(stop, "stop") if isinstance(stop, str) else "stop"
    if call.json_tool and reason == "tool_calls":
        return "stop"  # the forced tool's input is the answer
    return reason


def chat_usage(usage: Any) -> Usage:
    """Anthropic usage -> chat usage: cache reads and writes are prompt tokens too."""
    usage = usage if isinstance(usage, Mapping) else {}

    def count(source: Mapping[str, Any], key: str) -> int:
        value = source.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    cached = count(usage, "cache_read_input_tokens")
    prompt = count(usage, "input_tokens") + count(usage, "cache_creation_input_tokens") + cached
    completion = count(usage, "output_tokens")
    details = usage.get("output_tokens_details")
    thinking = count(details, "thinking_tokens") if isinstance(details, Mapping) else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": thinking},
    }


# --------------------------------------------------------------------------- errors


def translate_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """An Anthropic error answer -> the OpenAI-format error with the matching status.

    4xx keep their status; 529 (overloaded) becomes 503; the message is Anthropic's own.
    """
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    kept = {k: v for k, v in headers.items() if k.lower() in RETRY_HEADERS}
    err = parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(err, Mapping):
        return upstream_error(STATUSES.get(status, status), body, kept)
    return error_from_object(err, status, kept)


def error_from_event(event: Mapping[str, Any]) -> UpstreamError:
    """A stream's `error` event -> the error to end the chat stream with."""
    err = event.get("error")
    return error_from_object(err if isinstance(err, Mapping) else {}, None, {})


def error_from_object(
    err: Mapping[str, Any], status: int | None, headers: Mapping[str, str]
) -> UpstreamError:
    kind = err.get("type") if isinstance(err.get("type"), str) else ""
    if status is None:
        status = ERROR_STATUSES.get(str(kind), 500)
    status = STATUSES.get(status, status)
    message = str(err.get("message") or f"Anthropic returned HTTP {status}")
    code: str | None = None
    param: str | None = None
    oa_type: str | None = None
    if status == 401:
        code = "invalid_api_key"
    elif status == 404:
        code, param = "model_not_found", "model"
        message += _MODEL_HINT
    elif status == 429:
        code = "rate_limit_exceeded"
    elif status == 400 and message.startswith(("prompt is too long", "input length and")):
        code = "context_length_exceeded"
    elif status >= 500:
        oa_type = "timeout" if status == 504 else "server_error"
    return UpstreamError(
        message, status=status, type=oa_type, code=code, param=param, headers=headers
    )
