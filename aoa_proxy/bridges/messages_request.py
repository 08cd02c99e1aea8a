"""Anthropic Messages request -> Chat Completions request (the `/v1/messages` front door).

Wire references: https://docs.anthropic.com/en/api/messages (request, content blocks, tools)
and https://platform.openai.com/docs/api-reference/chat/create. The mapping tables are in
docs/anthropic.md; `MessagesCall` carries what the answer's translation needs back. Content
blocks are converted in messages_content.py, tools in messages_tools.py.
Pure: dicts in, dicts out, no I/O.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aoa_proxy.bridges.messages_content import convert_message, system_text
from aoa_proxy.bridges.messages_tools import (
    chat_tool_choice,
    chat_tools,
    forces_tool,
    tool_name_map,
)
from aoa_proxy.errors import RequestError
from aoa_proxy.providers.base import dumps

log = logging.getLogger(__name__)

# thinking {type: enabled, budget_tokens} -> reasoning_effort: the first bound the budget is
# below picks the effort, anything larger is "high" (aoa choice, shared/specs/anthropic.md §7a).
BUDGET_EFFORTS: Final = ((4096, "low"), (16384, "medium"))
# output_config.effort -> reasoning_effort. OpenAI's enum stops at "xhigh"
# (openai-python shared/reasoning_effort.py), so Anthropic's "max" becomes the top it has.
EFFORTS: Final = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "xhigh",
}
ADAPTIVE_EFFORT: Final = "high"  # Anthropic's default effort for adaptive thinking

# Request fields chat has no equivalent for: dropped with a debug line, never an error.
IGNORED_FIELDS: Final = (
    "top_k",
    "service_tier",
    "context_management",
    "container",
    "inference_geo",
    "cache_control",
    "mcp_servers",
)

MAX_USER: Final = 64  # OpenAI's `user` limit
MEDIA_TOKENS: Final = 1600  # estimate for one image or document (Anthropic's cap for an image)

_ONE_M: Final = "[1m]"


@dataclass(frozen=True)
class MessagesCall:
    """A translated Messages request: the chat body plus what the answer needs back."""

    chat: dict[str, Any]  # the Chat Completions request to route
    model: str  # the model as the client named it; answers echo it
    stream: bool
    input_tokens: int  # estimate, for message_start before the provider reports usage
    stop_sequences: tuple[str, ...] = ()
    # chat function name -> the client's tool name, for names shortened to fit chat's limit
    tool_names: Mapping[str, str] = field(default_factory=dict)

    def tool_name(self, chat_name: str) -> str:
        """The client's name for a function the provider called."""
        return self.tool_names.get(chat_name, chat_name)


def to_chat_request(
    body: Any, *, reasoning: bool = True, max_output_tokens: int | None = None
) -> MessagesCall:
    """A `/v1/messages` body -> the chat request and its answer context.

    `reasoning=False` leaves `reasoning_effort` out (for targets known not to reason, which
    reject it); `max_output_tokens` clamps `max_tokens` to what the target model accepts.
    Raises RequestError (400) for input Anthropic itself would reject.
    """
    body = _object(body)
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise RequestError("max_tokens: Field required", param="max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise RequestError(
            "max_tokens: must be a positive integer (0, a cache pre-warm, needs an Anthropic "
            "provider)",
            param="max_tokens",
        )
    chat, names = _translate(body)
    limit = max_tokens if max_output_tokens is None else min(max_tokens, max_output_tokens)
    chat["max_completion_tokens"] = limit
    _sampling(body, chat)
    if reasoning:
        effort = reasoning_effort(body.get("thinking"), body.get("output_config"))
        if effort is not None:
            chat["reasoning_effort"] = effort
    stream = body.get("stream") is True
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    stops = chat.get("stop") or []
    dropped = [k for k in IGNORED_FIELDS if body.get(k) is not None]
    if dropped:
        log.debug("messages: dropping fields chat has no equivalent for: %s", ", ".join(dropped))
    return MessagesCall(
        chat=chat,
        model=body["model"],
        stream=stream,
        input_tokens=estimate_tokens(chat),
        stop_sequences=tuple(stops),
        tool_names={short: name for name, short in names.items() if short != name},
    )


def count_tokens(body: Any) -> dict[str, int]:
    """`/v1/messages/count_tokens` for providers without a counter: `{"input_tokens": n}`.

    The body is translated as for a real call (so dropped tools and blocks are not counted)
    and measured with `estimate_tokens`.
    """
    chat, _ = _translate(_object(body))
    return {"input_tokens": estimate_tokens(chat)}


def estimate_tokens(chat: Mapping[str, Any]) -> int:
    """Prompt tokens of a chat request, estimated: about 4 bytes of JSON a token.

    The JSON of the messages and tools counts one token per 4 UTF-8 bytes (keys included, which
    stand in for the per-message overhead); each image or file counts MEDIA_TOKENS however
    large its data. It overestimates code and JSON a little and underestimates CJK text a
    little; clients use it to decide when to compact, where overestimating is the safe side.
    """
    media = 0

    def strip(value: Any) -> Any:
        nonlocal media
        if isinstance(value, dict):
            if value.get("type") in ("image_url", "file", "input_audio"):
                media += 1
                return None
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = dumps([strip(chat.get("messages") or []), chat.get("tools") or []])
    return math.ceil(len(text) / 4) + media * MEDIA_TOKENS


def reasoning_effort(thinking: Any, output_config: Any) -> str | None:
    """Anthropic's `thinking` and `output_config.effort` -> chat's `reasoning_effort`.

    disabled -> none sent; enabled -> by budget (BUDGET_EFFORTS); adaptive -> the effort, else
    "high"; no `thinking` -> the effort if one is given (effort also steers answers without
    thinking), else none sent.
    """
    effort = output_config.get("effort") if isinstance(output_config, Mapping) else None
    if effort is not None and effort not in EFFORTS:
        raise RequestError(
            f"output_config.effort: must be one of {', '.join(EFFORTS)}",
            param="output_config.effort",
        )
    if thinking is None:
        return EFFORTS[effort] if effort else None
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return EFFORTS[effort] if effort else ADAPTIVE_EFFORT
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not _is_int(budget):
            raise RequestError(
                "thinking.budget_tokens: Field required", param="thinking.budget_tokens"
            )
        return next((e for bound, e in BUDGET_EFFORTS if budget < bound), "high")
    raise RequestError(
        "thinking.type: must be 'enabled', 'adaptive' or 'disabled'", param="thinking.type"
    )


# --------------------------------------------------------------------------- the body


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RequestError("The request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestError("model: Field required", param="model")
    if not isinstance(body.get("messages"), list):
        raise RequestError("messages: Field required", param="messages")
    return body


def _translate(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Model, messages, tools, tool_choice, stop and output format; returns the name map."""
    names = tool_name_map(body)
    messages: list[dict[str, Any]] = []
    system = system_text(body.get("system"), "system")
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body["messages"]):
        messages += convert_message(message, f"messages[{i}]", names)
    chat: dict[str, Any] = {"model": _model_name(body["model"]), "messages": messages}
    tools = chat_tools(body.get("tools"), names)
    if tools:
        chat["tools"] = tools
        chat.update(chat_tool_choice(body.get("tool_choice"), names, tools))
    elif forces_tool(body.get("tool_choice")):
        raise RequestError(
            "tool_choice: forces a tool call, but none of the tools is one this provider can "
            "call (server tools run only on Anthropic)",
            param="tool_choice",
        )
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise RequestError("stop_sequences: must be a list of strings", param="stop_sequences")
        if stops:
            chat["stop"] = list(stops)
    fmt = _output_format(body)
    if fmt is not None:
        chat["response_format"] = fmt
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    if isinstance(user, str) and user:
        # OpenAI caps `user` at 64 characters; Claude Code's id is 150: a stable digest instead.
        chat["user"] = user if len(user) <= MAX_USER else hashlib.sha256(user.encode()).hexdigest()
    return chat, names


def _model_name(model: str) -> str:
    """`claude-sonnet-4-6[1m]` -> `claude-sonnet-4-6`: the suffix only selects a context size."""
    return model[: -len(_ONE_M)] if model.endswith(_ONE_M) else model


def _sampling(body: Mapping[str, Any], chat: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise RequestError(f"{key}: must be a number", param=key)
        chat[key] = value


def _output_format(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """`output_config.format` (or the older top-level `output_format`) -> response_format."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if fmt is None:
        fmt = body.get("output_format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        raise RequestError(
            "output_config.format: only {'type': 'json_schema', 'schema': ...} is supported",
            param="output_config.format",
        )
    schema = fmt.get("schema")
    if not isinstance(schema, Mapping):
        raise RequestError(
            "output_config.format.schema: Field required", param="output_config.format.schema"
        )
    return {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": dict(schema), "strict": True},
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
