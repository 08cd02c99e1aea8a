"""Anthropic Messages request -> Chat Completions request (the `/v1/messages` front door).

Wire references: https://docs.anthropic.com/en/api/messages (request, content blocks, tools)
and https://platform.openai.com/docs/api-reference/chat/create. The mapping tables are in
docs/anthropic.md; `MessagesCall` carries what the answer's translation needs back.
Pure: dicts in, dicts out, no I/O.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from aoa_proxy.errors import RequestError

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

# tool_choice.type -> chat tool_choice (the "tool" type becomes a function object).
TOOL_CHOICES: Final = {"auto": "auto", "any": "required", "none": "none"}

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

MAX_FUNCTION_NAME: Final = 64  # OpenAI's limit; Anthropic allows 128
MAX_USER: Final = 64  # OpenAI's `user` limit
MEDIA_TOKENS: Final = 1600  # estimate for one image or document (Anthropic's cap for an image)

# Claude Code's attribution line at the top of its system prompt: a per-request hash that only
# api.anthropic.com reads, and which would defeat every other provider's prefix cache.
_BILLING_LINE: Final = re.compile(r"^x-anthropic-billing-header:[^\n]*(?:\n|$)", re.MULTILINE)
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

    text = orjson.dumps([strip(chat.get("messages") or []), chat.get("tools") or []])
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
    names = _tool_name_map(body)
    messages: list[dict[str, Any]] = []
    system = _system_text(body.get("system"), "system")
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body["messages"]):
        messages += _message(message, f"messages[{i}]", names)
    chat: dict[str, Any] = {"model": _model_name(body["model"]), "messages": messages}
    tools = _tools(body.get("tools"), names)
    if tools:
        chat["tools"] = tools
        chat.update(_tool_choice(body.get("tool_choice"), names, tools))
    elif _forces_tool(body.get("tool_choice")):
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


# --------------------------------------------------------------------------- messages


def _message(message: Any, where: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    if not isinstance(message, Mapping):
        raise RequestError(f"{where}: must be an object", param=where)
    role = message.get("role")
    content = message.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise RequestError(f"{where}.content: must be a string or a list of blocks", param=where)
    if role == "system":  # mid-conversation system message: kept where it is
        text = _system_text(content, f"{where}.content")
        return [{"role": "system", "content": text}] if text else []
    if role == "user":
        return _user(content, where)
    if role == "assistant":
        return _assistant(content, where, names)
    raise RequestError(
        f"{where}.role: must be 'user', 'assistant' or 'system'", param=f"{where}.role"
    )


def _system_text(system: Any, where: str) -> str:
    """System text from a string or text blocks (cache_control dropped), joined by a blank line.

    Also takes `mid_conv_system` blocks, whose `content` is a list of text blocks.
    """
    if system is None:
        return ""
    if isinstance(system, str):
        return _BILLING_LINE.sub("", system)
    if not isinstance(system, list):
        raise RequestError(f"{where}: must be a string or a list of text blocks", param=where)
    texts: list[str] = []
    for j, block in enumerate(system):
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(_BILLING_LINE.sub("", block["text"]))
        elif kind == "mid_conv_system":
            texts.append(_system_text(block.get("content"), f"{where}[{j}].content"))
        else:
            raise RequestError(f"{where}[{j}]: only text blocks are allowed", param=where)
    return "\n\n".join(t for t in texts if t)


def _user(blocks: Sequence[Any], where: str) -> list[dict[str, Any]]:
    """A user turn: its tool results first (as tool messages), then the rest, in order.

    Chat wants each tool message right after the assistant message that made the call, so the
    results go first; the turn's other blocks follow as one user message in their own order.
    Images and files inside a result cannot ride in a tool message: they go, at the result's
    place, into that user message.
    """
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        here = f"{where}.content[{j}]"
        kind = _kind(block, here)
        if kind == "tool_result":
            tool, media = _tool_result(block, here)
            tools.append(tool)
            parts += media
        else:
            parts += _user_part(block, kind, here)
    out = tools
    if parts:
        if all(p["type"] == "text" for p in parts):
            out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _user_part(block: Mapping[str, Any], kind: str, where: str) -> list[dict[str, Any]]:
    if kind == "text":
        return [{"type": "text", "text": _text(block, where)}]
    if kind == "image":
        return [_image(block.get("source"), where)]
    if kind == "document":
        return _document(block, where)
    if kind == "search_result":
        return [{"type": "text", "text": _search_result_text(block)}]
    if kind == "tool_use":
        raise RequestError(f"{where}: tool_use blocks belong in assistant turns", param=where)
    # thinking, server tool blocks, container_upload, ...: nothing chat can carry
    log.debug("messages: dropping a %s block from a user turn", kind)
    return []


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[Any]]:
    """tool_result -> (tool message, image/file parts it held).

    `is_error: true` has no field in chat: it becomes an "Error: " prefix on the content.
    """
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise RequestError(f"{where}.tool_use_id: Field required", param=where)
    content = block.get("content")
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, inner in enumerate(content):
            here = f"{where}.content[{j}]"
            kind = _kind(inner, here)
            for part in [] if kind == "tool_reference" else _user_part(inner, kind, here):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    media.append(part)
    elif content is not None:
        raise RequestError(f"{where}.content: must be a string or a list of blocks", param=where)
    text = "\n\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, media


def _assistant(blocks: Sequence[Any], where: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        here = f"{where}.content[{j}]"
        kind = _kind(block, here)
        if kind == "text":
            text = _text(block, here)
            if text:
                texts.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(block, here, names))
        elif kind == "tool_result":
            raise RequestError(f"{here}: tool_result blocks belong in user turns", param=here)
        else:
            # thinking and redacted_thinking never become answer text; server tool blocks ran
            # on Anthropic's side and mean nothing to another provider.
            log.debug("messages: dropping a %s block from an assistant turn", kind)
    if not texts and not calls:
        return []  # only thinking: nothing a chat provider can take
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "\n\n".join(texts) if texts else None,
    }
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: Mapping[str, Any], where: str, names: Mapping[str, str]) -> dict[str, Any]:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise RequestError(f"{where}: tool_use needs an id and a name", param=where)
    return {
        "id": call_id,
        "type": "function",
        "function": {
            "name": names.get(name) or _short_name(name),
            "arguments": orjson.dumps(args if args is not None else {}).decode(),
        },
    }


# --------------------------------------------------------------------------- blocks


def _kind(block: Any, where: str) -> str:
    kind = block.get("type") if isinstance(block, Mapping) else None
    if not isinstance(kind, str):
        raise RequestError(f"{where}: a content block needs a type", param=where)
    return kind


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise RequestError(f"{where}.text: Field required", param=where)
    return text


def _image(source: Any, where: str) -> dict[str, Any]:
    """image source -> image_url part: base64 as a data: URL, a URL as is."""
    kind = source.get("type") if isinstance(source, Mapping) else None
    if kind == "base64" and isinstance(source.get("data"), str):
        mime = source.get("media_type") or "image/png"
        url = f"data:{mime};base64,{source['data']}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    elif kind == "file":
        raise RequestError(
            f"{where}.source: file_id images live in Anthropic's Files API, which this provider "
            "cannot read; send the image as base64 or a URL",
            param=where,
        )
    else:
        raise RequestError(f"{where}.source: must be a base64 or url source", param=where)
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """document -> a chat `file` part (PDF), text parts (text/content sources) or the URL."""
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise RequestError(f"{where}.source: Field required", param=where)
    kind = source.get("type")
    title = block.get("title") if isinstance(block.get("title"), str) else None
    heading = "\n".join(t for t in (title, block.get("context")) if isinstance(t, str) and t)
    if kind == "base64" and isinstance(source.get("data"), str):
        mime = source.get("media_type") or "application/pdf"
        if mime != "application/pdf":
            raise RequestError(
                f"{where}.source.media_type: base64 documents must be application/pdf",
                param=where,
            )
        filename = title if title else "document.pdf"
        return [
            {
                "type": "file",
                "file": {"filename": filename, "file_data": f"data:{mime};base64,{source['data']}"},
            }
        ]
    if kind == "text" and isinstance(source.get("data"), str):
        return [{"type": "text", "text": "\n\n".join(t for t in (heading, source["data"]) if t)}]
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            inner = [{"type": "text", "text": inner}]
        parts = [{"type": "text", "text": heading}] if heading else []
        for j, block_j in enumerate(inner if isinstance(inner, list) else []):
            here = f"{where}.source.content[{j}]"
            kind_j = _kind(block_j, here)
            if kind_j not in ("text", "image"):
                raise RequestError(f"{here}: only text and image blocks are allowed", param=here)
            parts += _user_part(block_j, kind_j, here)
        return parts
    if kind == "url" and isinstance(source.get("url"), str):
        # Chat has no document-by-URL part; the model at least learns where it is (aoa choice).
        label = f"Document: {source['url']}"
        return [{"type": "text", "text": f"{heading}\n{label}" if heading else label}]
    if kind == "file":
        raise RequestError(
            f"{where}.source: file_id documents live in Anthropic's Files API, which this "
            "provider cannot read; send the PDF as base64",
            param=where,
        )
    raise RequestError(
        f"{where}.source: must be a base64, text, content or url source", param=where
    )


def _search_result_text(block: Mapping[str, Any]) -> str:
    head = f"[{block.get('source', '')}] {block.get('title', '')}".strip()
    texts = [
        b["text"]
        for b in block.get("content") or []
        if isinstance(b, Mapping) and isinstance(b.get("text"), str)
    ]
    return "\n".join([head, *texts])


# --------------------------------------------------------------------------- tools


def _is_function_tool(tool: Mapping[str, Any]) -> bool:
    """Custom tools have no type (or "custom"); every typed tool is Anthropic-defined."""
    return tool.get("type") in (None, "custom")


def _short_name(name: str) -> str:
    """Names past chat's 64 characters -> a stable 64-character name (prefix + digest)."""
    if len(name) <= MAX_FUNCTION_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_FUNCTION_NAME - 9]}_{digest}"


def _tool_name_map(body: Mapping[str, Any]) -> dict[str, str]:
    """Every custom tool name (declared or used) -> its chat function name."""
    names: set[str] = set()
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
            names.add(tool["name"])
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, Mapping) else None
        for block in content if isinstance(content, list) else []:
            if (
                isinstance(block, Mapping)
                and block.get("type") == "tool_use"
                and isinstance(block.get("name"), str)
            ):
                names.add(block["name"])
    return {name: _short_name(name) for name in names}


def _tools(tools: Any, names: Mapping[str, str]) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise RequestError("tools: must be a list", param="tools")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping):
            raise RequestError(f"{where}: must be an object", param=where)
        if not _is_function_tool(tool):
            # Server tools (web_search, code_execution, ...) run on Anthropic's side and the
            # typed client tools (bash, text_editor, ...) have no schema here: nothing to offer.
            log.debug("messages: dropping the %s tool %r", tool.get("type"), tool.get("name"))
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(f"{where}.name: Field required", param=where)
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping):
            raise RequestError(f"{where}.input_schema: Field required", param=where)
        function: dict[str, Any] = {
            "name": names.get(name) or _short_name(name),
            "parameters": {k: v for k, v in schema.items() if k != "$schema"},
        }
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(
    choice: Any, names: Mapping[str, str], tools: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if choice is None:
        return {}
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    out: dict[str, Any] = {}
    if kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    elif kind == "tool":
        name = choice.get("name")
        chat_name = names.get(name) if isinstance(name, str) else None
        if chat_name is None or chat_name not in {t["function"]["name"] for t in tools}:
            raise RequestError(
                f"tool_choice.name: {name!r} is not one of the tools this provider can call",
                param="tool_choice.name",
            )
        out["tool_choice"] = {"type": "function", "function": {"name": chat_name}}
    else:
        raise RequestError(
            "tool_choice.type: must be 'auto', 'any', 'tool' or 'none'", param="tool_choice.type"
        )
    if kind != "none" and choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


def _forces_tool(choice: Any) -> bool:
    return isinstance(choice, Mapping) and choice.get("type") in ("any", "tool")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
