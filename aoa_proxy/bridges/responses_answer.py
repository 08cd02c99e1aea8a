"""A chat completion -> the Response object, plus the item builders the stream shares, so a
streamed answer ends in exactly the Response the same answer gives whole.

Mapping (spec responses.md §6c): reasoning text (`reasoning_content`, alias `reasoning`) -> a
`reasoning` item first; `content` -> a `message` item with one `output_text` part (`refusal` ->
a refusal part); `tool_calls` -> `function_call` items in order (namespace children and custom
tools mapped back to the client's names); `finish_reason` -> `status`; usage -> Responses usage.
Wire reference: https://platform.openai.com/docs/api-reference/responses/object
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aoa_proxy.bridges.responses_tools import ToolName
from aoa_proxy.bridges.responses_types import (
    CustomToolCallItem,
    FunctionCallItem,
    IncompleteDetails,
    ItemStatus,
    Logprob,
    MessageItem,
    MessagePart,
    OutputItem,
    OutputText,
    ReasoningItem,
    Response,
    ResponseError,
    ResponseStatus,
    ResponseUsage,
    UrlCitation,
)
from aoa_proxy.errors import AoaError, RateLimited

# chat finish_reason -> (Response status, incomplete_details.reason); anything else: completed.
FINISH_REASONS: Final[dict[str, tuple[ResponseStatus, Any]]] = {
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}

# Error codes Codex acts on (codex-rs sse/responses.rs); others become server_error.
PASSED_ERROR_CODES: Final = frozenset(
    {
        "rate_limit_exceeded",
        "context_length_exceeded",
        "insufficient_quota",
        "server_is_overloaded",
        "slow_down",
        "invalid_prompt",
    }
)


def new_id(prefix: str) -> str:
    """A fresh id like OpenAI's: `resp_…`, `msg_…`, `fc_…`, `rs_…`, `ctc_…`."""
    return f"{prefix}_{uuid.uuid4().hex}"


def new_call_id() -> str:
    """A call id in OpenAI's shape (`call_` + 24 alphanumerics), for calls that came without one."""
    alphabet = string.ascii_letters + string.digits
    return "call_" + "".join(secrets.choice(alphabet) for _ in range(24))


@dataclass(frozen=True, slots=True)
class ResponseContext:
    """What the answer side needs from the request: names, echo, ids and the clock.

    `ids` and `clock` are injectable so tests can compare a streamed and a whole answer.
    """

    model: str
    echo: Mapping[str, Any] = field(default_factory=dict)  # parameters the Response repeats
    names: Mapping[str, ToolName] = field(default_factory=dict)  # flat chat name -> client tool
    summary: bool = False  # reasoning text is a summary (the client set reasoning.summary)
    logprobs: bool = False  # the client asked for message.output_text.logprobs
    ids: Callable[[str], str] = new_id
    clock: Callable[[], float] = time.time
    response_id: str = ""
    created_at: int = 0

    def __post_init__(self) -> None:
        if not self.response_id:
            object.__setattr__(self, "response_id", self.ids("resp"))
        if not self.created_at:
            object.__setattr__(self, "created_at", int(self.clock()))


# --------------------------------------------------------------------------- the whole answer


def to_response(completion: Mapping[str, Any], context: ResponseContext) -> Response:
    """A chat.completion -> the Response object (status completed or incomplete)."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, Mapping) else {}
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    status, reason = finish_status(choice.get("finish_reason"))
    output: list[OutputItem] = []
    thought = reasoning_text(message)
    if thought:
        output.append(reasoning_item(context.ids("rs"), thought, context.summary))
    parts: list[MessagePart] = []
    text = content_text(message.get("content"))
    if text:
        logprobs = convert_logprobs(choice.get("logprobs")) if context.logprobs else []
        parts.append(output_text(text, convert_annotations(message.get("annotations")), logprobs))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        output.append(message_item(context.ids("msg"), parts, "completed"))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function")
        fn = fn if isinstance(fn, Mapping) else {}
        call_id = call.get("id") if isinstance(call.get("id"), str) and call["id"] else None
        arguments = fn.get("arguments")
        tool = tool_for(context, str(fn.get("name") or ""))
        output.append(
            call_item(
                tool,
                context.ids("ctc" if tool.custom else "fc"),
                call_id or new_call_id(),
                arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
                "completed",
            )
        )
    if status == "incomplete" and output:
        mark_incomplete(output[-1])
    return response_object(
        context,
        status=status,
        output=output,
        usage=convert_usage(completion.get("usage")),
        incomplete=reason,
    )


def response_object(
    context: ResponseContext,
    *,
    status: ResponseStatus,
    output: list[OutputItem],
    usage: ResponseUsage | None,
    incomplete: IncompleteDetails | None = None,
    error: ResponseError | None = None,
) -> Response:
    """The Response object around `output`, echoing the request's parameters."""
    echo = context.echo
    return {
        "id": context.response_id,
        "object": "response",
        "created_at": context.created_at,
        "status": status,
        "background": False,
        "completed_at": int(context.clock()) if status == "completed" else None,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": echo.get("max_tool_calls"),
        "model": context.model,
        "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": echo.get("previous_response_id"),
        "prompt_cache_key": echo.get("prompt_cache_key"),
        "reasoning": echo.get("reasoning") or {"effort": None, "summary": None},
        "safety_identifier": echo.get("safety_identifier"),
        "service_tier": echo.get("service_tier"),
        "store": bool(echo.get("store", False)),
        "temperature": echo.get("temperature"),
        "text": echo.get("text") or {"format": {"type": "text"}},
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": list(echo.get("tools") or []),
        "top_logprobs": echo.get("top_logprobs"),
        "top_p": echo.get("top_p"),
        "truncation": echo.get("truncation") or "disabled",
        "usage": usage,
        "user": echo.get("user"),
        "metadata": dict(echo.get("metadata") or {}),
    }


def mark_incomplete(item: OutputItem) -> None:
    """The item the upstream cut off (the last one) is incomplete; reasoning has no status."""
    if item["type"] != "reasoning":
        item["status"] = "incomplete"


def finish_status(reason: Any) -> tuple[ResponseStatus, IncompleteDetails | None]:
    """chat finish_reason -> (status, incomplete_details)."""
    status, why = FINISH_REASONS.get(reason if isinstance(reason, str) else "", ("completed", None))
    return status, ({"reason": why} if why else None)


# --------------------------------------------------------------------------- items


def reasoning_item(item_id: str, text: str, summary: bool) -> ReasoningItem:
    """Reasoning text as a summary (what Codex shows) or as raw reasoning_text content."""
    if summary:
        return {
            "id": item_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}],
            "encrypted_content": None,
        }
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "encrypted_content": None,
    }


def message_item(item_id: str, parts: list[MessagePart], status: ItemStatus) -> MessageItem:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def output_text(text: str, annotations: list[UrlCitation], logprobs: list[Logprob]) -> OutputText:
    return {"type": "output_text", "text": text, "annotations": annotations, "logprobs": logprobs}


def tool_for(context: ResponseContext, flat: str) -> ToolName:
    """The client's tool behind a flat chat name (an unknown name stays as the model said it)."""
    return context.names.get(flat) or ToolName(flat)


def call_item(
    tool: ToolName, item_id: str, call_id: str, arguments: str, status: ItemStatus
) -> FunctionCallItem | CustomToolCallItem:
    """A chat tool call -> a function_call (or custom_tool_call) item under the client's name."""
    if tool.custom:
        custom: CustomToolCallItem = {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": tool.name,
            "input": custom_input(arguments),
        }
        if tool.namespace is not None:
            custom["namespace"] = tool.namespace
        return custom
    item: FunctionCallItem = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": tool.name,
        "arguments": arguments,
    }
    if tool.namespace is not None:
        item["namespace"] = tool.namespace
    return item


def custom_input(arguments: str) -> str:
    """A custom tool's `input` from the chat arguments `{"input": ...}`; unparsable -> as is."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    value = parsed.get("input") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else arguments


# --------------------------------------------------------------------------- fields


def reasoning_text(source: Mapping[str, Any]) -> str:
    """Reasoning text of a chat message or delta (`reasoning_content`, alias `reasoning`)."""
    for key in ("reasoning_content", "reasoning"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def content_text(content: Any) -> str:
    """Text of a chat content: a string, or (some hosts) a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def convert_usage(usage: Any) -> ResponseUsage | None:
    """chat usage -> Responses usage; none -> None, never zeros (Codex tracks context from it)."""
    if not isinstance(usage, Mapping):
        return None
    prompt = _count(usage, "prompt_tokens")
    completion = _count(usage, "completion_tokens")
    total = usage.get("total_tokens")
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": _count(prompt_details, "cached_tokens"),
            "cache_write_tokens": _count(prompt_details, "cache_write_tokens"),
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": _count(completion_details, "reasoning_tokens"),
        },
        "total_tokens": total
        if isinstance(total, int) and not isinstance(total, bool)
        else prompt + completion,
    }


def convert_annotations(annotations: Any) -> list[UrlCitation]:
    """chat `annotations[{type: url_citation, url_citation: {...}}]` -> flat url_citation."""
    out: list[UrlCitation] = []
    for entry in annotations if isinstance(annotations, list) else []:
        if not isinstance(entry, Mapping) or entry.get("type") != "url_citation":
            continue
        cite = entry.get("url_citation")
        if not isinstance(cite, Mapping):
            continue
        out.append(
            {
                "type": "url_citation",
                "start_index": _count(cite, "start_index"),
                "end_index": _count(cite, "end_index"),
                "title": str(cite.get("title") or ""),
                "url": str(cite.get("url") or ""),
            }
        )
    return out


def convert_logprobs(logprobs: Any) -> list[Logprob]:
    """chat `logprobs.content[...]` -> output_text logprobs."""
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    out: list[Logprob] = []
    for entry in content if isinstance(content, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("token"), str):
            continue
        tops = entry.get("top_logprobs")
        out.append(
            {
                "token": entry["token"],
                "bytes": _bytes(entry),
                "logprob": _float(entry.get("logprob")),
                "top_logprobs": [
                    {"token": t["token"], "bytes": _bytes(t), "logprob": _float(t.get("logprob"))}
                    for t in (tops if isinstance(tops, list) else [])
                    if isinstance(t, Mapping) and isinstance(t.get("token"), str)
                ],
            }
        )
    return out


def failure(error: BaseException | Mapping[str, Any] | None) -> ResponseError:
    """The `error` of a failed Response: a code Codex acts on, and a message fit for the client."""
    if isinstance(error, Mapping):  # an `{"error": {...}}` chunk from a chat upstream
        code = error.get("code")
        message = error.get("message")
        known = isinstance(code, str) and code in PASSED_ERROR_CODES
        return {
            "code": str(code) if known else "server_error",
            "message": message if isinstance(message, str) and message else _FAILED,
        }
    if isinstance(error, AoaError):
        # A quota 429 is not a rate limit: Codex gives up on it instead of retrying.
        if error.code in PASSED_ERROR_CODES and error.code != "rate_limit_exceeded":
            return {"code": str(error.code), "message": error.message}
        if error.status == 429 or isinstance(error, RateLimited):
            return {"code": "rate_limit_exceeded", "message": _retry_message(error)}
        if error.status == 503:
            return {"code": "server_is_overloaded", "message": error.message}
        return {"code": "server_error", "message": error.message}
    return {"code": "server_error", "message": _FAILED}


_FAILED: Final = "The upstream failed before the response was complete."


def _retry_message(error: AoaError) -> str:
    """Codex reads the wait from "Please try again in Ns." (codex-rs api_bridge.rs)."""
    seconds: float | None = None
    if isinstance(error, RateLimited):
        seconds = error.retry_after
    else:
        raw = error.headers.get("retry-after") or error.headers.get("Retry-After")
        try:
            seconds = float(raw) if raw else None
        except ValueError:
            seconds = None
    message = error.message.rstrip()
    if seconds is None or "try again in" in message.lower():
        return message
    return f"{message} Please try again in {max(1, round(seconds))}s."


def _count(source: Any, key: str) -> int:
    value = source.get(key) if isinstance(source, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _bytes(entry: Mapping[str, Any]) -> list[int]:
    raw = entry.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) for b in raw):
        return list(raw)
    token = entry.get("token")
    return list(token.encode()) if isinstance(token, str) else []


_RESPONSE_ID = re.compile(rb'"id"\s*:\s*"(resp_[^"]{1,200})"')
_SEQUENCE = re.compile(rb'"sequence_number"\s*:\s*(\d{1,12})')


def failed_event(tail: bytes, error: BaseException, model: str) -> dict[str, Any]:
    """A native Responses stream cut off mid-way: the `response.failed` event that ends it.

    Built from the relayed stream's tail alone (its response id and last sequence number), so a
    client sees the Responses dialect's own ending instead of chat's error frame.
    """
    ids = _RESPONSE_ID.findall(tail)
    numbers = _SEQUENCE.findall(tail)
    response: dict[str, Any] = {
        "id": ids[-1].decode() if ids else f"resp_{secrets.token_hex(16)}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "failed",
        "error": failure(error),
        "incomplete_details": None,
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    sequence = int(numbers[-1]) + 1 if numbers else 0
    return {"type": "response.failed", "sequence_number": sequence, "response": response}
