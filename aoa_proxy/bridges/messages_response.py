"""Chat answers -> Anthropic Messages answers: the whole message, usage, stop reasons, errors.

Wire references: https://docs.anthropic.com/en/api/messages (the Message object) and
https://docs.anthropic.com/en/api/errors. The stream's events are in messages_stream.py.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aoa_proxy.bridges.arguments import parse_arguments
from aoa_proxy.bridges.messages_request import MessagesCall
from aoa_proxy.errors import AoaError, UpstreamUnreachable

log = logging.getLogger(__name__)

# Chat finish_reason -> Anthropic stop_reason (https://docs.anthropic.com/en/api/messages,
# "stop_reason"). A "stop" with tool calls is a tool_use; unknown reasons end the turn.
STOP_REASONS: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

# Our error status -> (status sent, Anthropic error type): https://docs.anthropic.com/en/api/errors
# plus aoa's choices for the statuses Anthropic never sends (shared/specs/anthropic.md §7b):
# a 502 is an api_error 500 and a 503 is Anthropic's "overloaded" 529, which clients retry.
ERROR_TYPES: Final[dict[int, tuple[int, str]]] = {
    400: (400, "invalid_request_error"),
    401: (401, "authentication_error"),
    402: (402, "billing_error"),
    403: (403, "permission_error"),
    404: (404, "not_found_error"),
    413: (413, "request_too_large"),
    429: (429, "rate_limit_error"),
    500: (500, "api_error"),
    502: (500, "api_error"),
    503: (529, "overloaded_error"),
    504: (504, "timeout_error"),
    529: (529, "overloaded_error"),
}

# Upstream "context too long" wordings -> Anthropic's, which Claude Code reads to compact the
# conversation or lower max_tokens. OpenAI/Azure first, then Gemini.
_OVER_CONTEXT: Final = (
    re.compile(
        r"maximum context length is (?P<limit>\d+) tokens.*?requested (?P<total>\d+) tokens "
        r"\((?P<input>\d+) in the messages, (?P<output>\d+) in the completion\)",
        re.DOTALL,
    ),
    re.compile(
        r"maximum context length is (?P<limit>\d+) tokens.*?resulted in (?P<input>\d+) tokens",
        re.DOTALL,
    ),
    re.compile(
        r"input token count \((?P<input>\d+)\) exceeds the maximum number of tokens allowed "
        r"\((?P<limit>\d+)\)"
    ),
)


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def new_tool_id() -> str:
    return f"toolu_{secrets.token_hex(12)}"


def new_request_id() -> str:
    """An id for the `request-id` header and the error body, as Anthropic sends."""
    return f"req_{secrets.token_hex(12)}"


# --------------------------------------------------------------------------- whole answers


def to_message(completion: Any, call: MessagesCall) -> dict[str, Any]:
    """A chat.completion -> an Anthropic Message (first choice; Messages has no `n`).

    Content: a thinking block from `reasoning_content`/`reasoning` (no signature: it did not
    come from Anthropic), the text, then one tool_use block per call with its parsed input.
    """
    choice = _first_choice(completion)
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    content: list[dict[str, Any]] = []
    thinking = reasoning_text(message)
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = message.get("content")
    refusal = message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    elif isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    calls = message.get("tool_calls")
    for raw in calls if isinstance(calls, list) else []:
        block = _tool_use(raw, call)
        if block is not None:
            content.append(block)
    has_calls = any(b["type"] == "tool_use" for b in content)
    reason, sequence = stop_reason(choice, call, has_calls)
    if reason == "end_turn" and not text and isinstance(refusal, str) and refusal:
        reason = "refusal"
    usage = completion.get("usage") if isinstance(completion, Mapping) else None
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": message_usage(usage, call.input_tokens if usage is None else 0),
    }


def _first_choice(completion: Any) -> Mapping[str, Any]:
    choices = completion.get("choices") if isinstance(completion, Mapping) else None
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                return choice
    raise UpstreamUnreachable("The provider answered without a choice")


def reasoning_text(source: Mapping[str, Any]) -> str:
    """The reasoning text in a chat message or delta (`reasoning_content`, else `reasoning`)."""
    for key in ("reasoning_content", "reasoning"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _tool_use(raw: Any, call: MessagesCall) -> dict[str, Any] | None:
    fn = raw.get("function") if isinstance(raw, Mapping) else None
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        return None
    call_id = raw.get("id")
    return {
        "type": "tool_use",
        "id": call_id if isinstance(call_id, str) and call_id else new_tool_id(),
        "name": call.tool_name(fn["name"]),
        "input": tool_input(fn.get("arguments")),
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """A call's JSON arguments -> tool_use input (an object; what is not one becomes {})."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str):
        return {}
    parsed = parse_arguments(arguments)
    if parsed is None:
        log.warning("messages: a tool call's arguments are not a JSON object; sending {}")
        return {}
    return parsed


def stop_reason(
    choice: Mapping[str, Any], call: MessagesCall, has_calls: bool
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for a choice's finish_reason.

    Chat does not say which stop sequence matched; vLLM (`stop_reason`) and SGLang
    (`matched_stop`) do, so where one of them names a requested sequence it is reported.
    """
    finish = choice.get("finish_reason")
    reason = STOP_REASONS.get(finish, "end_turn") if isinstance(finish, str) else "end_turn"
    if reason == "end_turn" and has_calls:
        return "tool_use", None
    if reason == "end_turn":
        for key in ("stop_reason", "matched_stop"):
            matched = choice.get(key)
            if isinstance(matched, str) and matched in call.stop_sequences:
                return "stop_sequence", matched
    return reason, None


def message_usage(usage: Any, input_estimate: int = 0) -> dict[str, Any]:
    """Chat usage -> Anthropic usage; with no usage, the input estimate and 0 output.

    Anthropic's input_tokens exclude cache reads, so the cached part of prompt_tokens moves to
    cache_read_input_tokens.
    """
    usage = usage if isinstance(usage, Mapping) else {}
    prompt = _count(usage, "prompt_tokens") if usage else input_estimate
    details = usage.get("prompt_tokens_details")
    cached = _count(details, "cached_tokens") if isinstance(details, Mapping) else 0
    out: dict[str, Any] = {
        "input_tokens": max(0, prompt - cached),
        "output_tokens": _count(usage, "completion_tokens"),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": min(cached, prompt),
    }
    reasoning = usage.get("completion_tokens_details")
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("reasoning_tokens"), int):
        out["output_tokens_details"] = {"thinking_tokens": reasoning["reasoning_tokens"]}
    return out


def _count(source: Mapping[str, Any], key: str) -> int:
    value = source.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class AnthropicError:
    """An error as a Messages client gets it: status, body and headers (retry-after...)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_type(status: int) -> tuple[int, str]:
    """Our status -> (status to send, Anthropic error type), per ERROR_TYPES.

    Other 4xx are invalid_request_error and other 5xx api_error, keeping their status.
    """
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return status, "api_error" if status >= 500 else "invalid_request_error"


def error_body(
    status: int, message: str, *, code: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}` for our status, message and code.

    A context-length error is reworded the way Anthropic words it (Claude Code reads it to
    compact the conversation or lower max_tokens).
    """
    _, kind = error_type(status)
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": kind, "message": _anthropic_wording(status, message, code)},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def to_anthropic_error(err: BaseException, *, request_id: str | None = None) -> AnthropicError:
    """Any exception -> the Anthropic error to send; unknown ones are a generic api_error."""
    if isinstance(err, AoaError):
        status, message, code = err.status, err.message, err.code
        headers = dict(err.headers)
    else:
        status, message, code, headers = 500, "Internal error in the gateway", None, {}
    sent, _ = error_type(status)
    body = error_body(status, message, code=code, request_id=request_id)
    return AnthropicError(sent, body, headers)


def error_event(err: BaseException) -> dict[str, Any]:
    """The stream's closing `error` event for a failure after the answer began."""
    body = to_anthropic_error(err).body
    return {"type": "error", "error": body["error"]}


def _anthropic_wording(status: int, message: str, code: str | None) -> str:
    """Context-length errors in Anthropic's words, the ones Claude Code acts on."""
    if status != 400:
        return message
    for pattern in _OVER_CONTEXT:
        found = pattern.search(message)
        if found is None:
            continue
        values = found.groupdict()
        limit, used = int(values["limit"]), int(values["input"])
        if values.get("output") and used <= limit:
            return (
                f"input length and `max_tokens` exceed context limit: {used} + "
                f"{values['output']} > {limit}, decrease input length or `max_tokens` and try "
                "again"
            )
        return f"prompt is too long: {used} tokens > {limit} maximum"
    if code == "context_length_exceeded":
        return f"prompt is too long: {message}"
    return message
