"""A Responses request -> a chat request for a provider that only speaks chat.

Mapping (spec responses.md §6a/§6b; wire: https://platform.openai.com/docs/api-reference/responses/create
and https://platform.openai.com/docs/api-reference/chat/create): `instructions` first as a system
message; `input` items in order (system/developer messages in place); consecutive
`function_call` items -> one assistant message with `tool_calls`, their outputs -> `tool` messages
with the same ids; reasoning items dropped (their encrypted content only means something to the
model that wrote it). What chat cannot carry is dropped and named in `BridgedRequest.dropped`;
what would change the answer's meaning (background runs, built-in tools, stored prompts) is a
RequestError naming the field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aoa_proxy.bridges.responses_answer import ResponseContext, new_id
from aoa_proxy.bridges.responses_items import ChatHistory
from aoa_proxy.bridges.responses_tools import (
    ToolName,
    convert_tool_choice,
    convert_tools,
)
from aoa_proxy.errors import RequestError

log = logging.getLogger(__name__)

# Top-level field -> the JSON types it may have (None is always allowed and means "not set").
_NUMBER: Final = (int, float)
FIELD_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "model": (str,),
    "instructions": (str,),
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "max_output_tokens": (int,),
    "top_logprobs": (int,),
    "max_tool_calls": (int,),
    "stream": (bool,),
    "store": (bool,),
    "background": (bool,),
    "parallel_tool_calls": (bool,),
    "user": (str,),
    "safety_identifier": (str,),
    "service_tier": (str,),
    "prompt_cache_key": (str,),
    "previous_response_id": (str,),
    "truncation": (str,),
    "reasoning": (dict,),
    "text": (dict,),
    "metadata": (dict,),
    "stream_options": (dict,),
    "include": (list,),
}

# Fields chat has under the same name and every chat upstream takes.
SAME_NAME: Final = ("temperature", "top_p", "user")
# Fields only OpenAI's and Azure's own chat take (sent when `upstream_openai`).
OPENAI_ONLY: Final = ("service_tier", "prompt_cache_key", "safety_identifier")
# Fields that mean nothing to a chat upstream (the bridge answers them itself or they do not apply).
IGNORED: Final = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "text",
        "reasoning",
        "max_output_tokens",
        "top_logprobs",
        "include",
        "stream",
        "previous_response_id",
        "background",
        *SAME_NAME,
        *OPENAI_ONLY,
    }
)
# Fields that change the answer and that a chat upstream cannot honour.
REFUSED: Final = {
    "conversation": "server-side conversations need OpenAI's conversation store",
    "prompt": "stored prompt templates live on OpenAI's servers",
}
EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
OPENAI_ONLY_EFFORTS: Final = {"xhigh": "high", "max": "high"}
LOGPROBS_INCLUDE: Final = "message.output_text.logprobs"


@dataclass(frozen=True, slots=True)
class BridgedRequest:
    """The chat request to send, and what the answer side needs to build the Response."""

    chat: dict[str, Any]
    context: ResponseContext
    dropped: tuple[str, ...] = ()  # request fields (and tools) chat could not carry

    @property
    def names(self) -> Mapping[str, ToolName]:
        """Flat chat tool name -> the client's tool (namespace child, custom tool)."""
        return self.context.names


def to_chat(
    body: Mapping[str, Any],
    *,
    previous: Sequence[Mapping[str, Any]] | None = None,
    upstream_openai: bool = False,
    stored: bool = False,
    ids: Callable[[str], str] = new_id,
    clock: Callable[[], float] = time.time,
) -> BridgedRequest:
    """A Responses request body -> the chat request and the Response's context.

    `previous`: the input and output items of the response `previous_response_id` names, from
    the caller's store (None: no store has it, which is a 400 when the id is set).
    `upstream_openai`: the chat upstream is OpenAI's or Azure's own, which also takes
    service_tier, prompt_cache_key, safety_identifier, verbosity and every reasoning effort.
    `stored`: the caller keeps this response (the Response echoes `store` as what aoa did).
    Raises RequestError (400) naming the field for input the bridge cannot translate.
    """
    _check_types(body)
    _refuse(body, previous)
    dropped: list[str] = []
    tools = convert_tools(body.get("tools"))
    dropped += [f"tools[type={kind}]" for kind in tools.dropped]
    tool_choice = convert_tool_choice(body.get("tool_choice"), tools)

    history = ChatHistory(tools)
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        history.messages.append({"role": "system", "content": body["instructions"]})
    for i, item in enumerate(previous or []):
        history.add(item, f"previous_response_id.items[{i}]")
    items = body.get("input")
    if isinstance(items, str):
        history.add({"role": "user", "content": items}, "input")
    elif isinstance(items, list):
        for i, item in enumerate(items):
            history.add(item, f"input[{i}]")
    elif items is not None:
        raise RequestError(
            "'input' must be a string or an array of items", param="input", code="invalid_type"
        )
    messages = history.finish()
    if not messages:
        raise RequestError("Missing required parameter: 'input'", param="input")

    chat: dict[str, Any] = {}
    if isinstance(body.get("model"), str):
        chat["model"] = body["model"]
    chat["messages"] = messages
    if tools.chat:
        chat["tools"] = tools.chat
        if tool_choice is not None:
            chat["tool_choice"] = tool_choice
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    for key in SAME_NAME:
        if body.get(key) is not None:
            chat[key] = body[key]
    for key in OPENAI_ONLY:
        if body.get(key) is not None:
            if upstream_openai:
                chat[key] = body[key]
            else:
                dropped.append(key)
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    summary = _reasoning(body.get("reasoning"), chat, upstream_openai)
    dropped += _text(body.get("text"), chat, upstream_openai)
    logprobs = _logprobs(body, chat)
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}

    dropped += [k for k in body if k not in IGNORED and body[k] is not None]
    dropped += [f"include[{x}]" for x in body.get("include") or [] if x != LOGPROBS_INCLUDE]
    if dropped:
        log.debug("responses bridge: chat cannot carry %s; dropped", ", ".join(dropped))
    echo = {k: body.get(k) for k in _ECHOED if body.get(k) is not None}
    echo["tools"] = tools.echo
    echo["store"] = stored
    context = ResponseContext(
        model=str(body.get("model") or ""),
        echo=echo,
        names=dict(tools.names),
        summary=summary,
        logprobs=logprobs,
        ids=ids,
        clock=clock,
    )
    return BridgedRequest(chat=chat, context=context, dropped=tuple(dropped))


# The request parameters the Response object repeats (spec §3).
_ECHOED: Final = (
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "temperature",
    "text",
    "tool_choice",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
    "metadata",
)


# --------------------------------------------------------------------------- top-level fields


def _check_types(body: Mapping[str, Any]) -> None:
    for key, types in FIELD_TYPES.items():
        value = body.get(key)
        if value is None:
            continue
        # bool is an int in Python, never a number or a count in JSON
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            kind = " or ".join(_JSON_NAMES[t] for t in types)
            raise RequestError(f"'{key}' must be {kind}", param=key, code="invalid_type")


_JSON_NAMES: Final = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
}


def _refuse(body: Mapping[str, Any], previous: Sequence[Mapping[str, Any]] | None) -> None:
    if body.get("background"):
        raise RequestError(
            "'background' runs need OpenAI's response store and are not available on this "
            "provider; send the request without background: true",
            param="background",
            code="unsupported_parameter",
        )
    if body.get("previous_response_id") is not None and body.get("conversation") is not None:
        raise RequestError(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="previous_response_id",
            code="mutually_exclusive_parameters",
        )
    for key, why in REFUSED.items():
        if body.get(key) is not None:
            raise RequestError(
                f"'{key}' is not available on this provider: {why}",
                param=key,
                code="unsupported_parameter",
            )
    rid = body.get("previous_response_id")
    if rid is not None and previous is None:
        raise RequestError(
            f"Previous response with id '{rid}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )


def _reasoning(reasoning: Any, chat: dict[str, Any], upstream_openai: bool) -> bool:
    """`reasoning.effort` -> `reasoning_effort`; returns whether a summary was asked for."""
    if reasoning is None:
        return False
    effort = reasoning.get("effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise RequestError(
                f"'reasoning.effort' must be one of {', '.join(EFFORTS)}",
                param="reasoning.effort",
                code="invalid_value",
            )
        if not upstream_openai:
            effort = OPENAI_ONLY_EFFORTS.get(effort, effort)
        chat["reasoning_effort"] = effort
    return bool(reasoning.get("summary") or reasoning.get("generate_summary"))


def _text(text: Any, chat: dict[str, Any], upstream_openai: bool) -> list[str]:
    """`text.format` -> `response_format`, `text.verbosity` -> `verbosity`; returns what dropped."""
    if text is None:
        return []
    fmt = text.get("format")
    if fmt is not None:
        chat_format = _format(fmt)
        if chat_format is not None:
            chat["response_format"] = chat_format
    if text.get("verbosity") is None:
        return []
    if upstream_openai:
        chat["verbosity"] = text["verbosity"]
        return []
    return ["text.verbosity"]


def _format(fmt: Any) -> dict[str, Any] | None:
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(fmt, Mapping)
        if not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise RequestError(
                "'text.format.name' is required for json_schema", param="text.format.name"
            )
        if not isinstance(fmt.get("schema"), Mapping):
            raise RequestError("'text.format.schema' must be an object", param="text.format.schema")
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    raise RequestError(
        "'text.format.type' must be text, json_object or json_schema",
        param="text.format.type",
        code="invalid_value",
    )


def _logprobs(body: Mapping[str, Any], chat: dict[str, Any]) -> bool:
    include = body.get("include") or []
    if not all(isinstance(x, str) for x in include):
        raise RequestError("'include' must be an array of strings", param="include")
    top = body.get("top_logprobs")
    wanted = LOGPROBS_INCLUDE in include or bool(top)
    if wanted:
        chat["logprobs"] = True
        if top:
            chat["top_logprobs"] = top
    return wanted
