"""Chat Completions request -> Anthropic Messages request (the `anthropic` provider).

Wire references: https://docs.anthropic.com/en/api/messages and Anthropic's own OpenAI
compatibility notes, https://docs.anthropic.com/en/api/openai-sdk (system hoisting, the
temperature cap, ignored fields). The mapping table is in docs/anthropic.md. Pure: dicts in,
dicts out; `AnthropicCall` carries what the answer's translation needs back.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from aoa_proxy.bridges.anthropic_models import ModelTraits, traits
from aoa_proxy.errors import RequestError

log = logging.getLogger(__name__)

# max_tokens when the client sends none: Anthropic requires one. 4096 is what LiteLLM sends;
# larger defaults count against low tiers' output-tokens-per-minute limit on every request.
# When thinking is on, its budget (or, for adaptive thinking, the same allowance) is added.
DEFAULT_MAX_TOKENS: Final = 4096

# reasoning_effort -> thinking budget_tokens for models before adaptive thinking (aoa choice,
# shared/specs/anthropic.md §7c); 1024 is Anthropic's minimum budget.
THINKING_BUDGETS: Final = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 16384,
    "max": 16384,
}
# reasoning_effort -> output_config.effort for adaptive models; xhigh and max only reach
# Opus-class models as "max", others get "high".
ADAPTIVE_EFFORTS: Final = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "max",
    "max": "max",
}

# https://docs.anthropic.com/en/api/messages ("image" source media_type)
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# The forced tool that carries `response_format: json_schema` to models without structured
# outputs (LiteLLM's method); its input is the answer.
JSON_TOOL: Final = "json_tool_call"
JSON_OBJECT_LINE: Final = "Respond with a single JSON object only."
PLACEHOLDER: Final = "."  # a user turn where Anthropic needs one and the client sent none

# Chat fields Anthropic has no equivalent for (Anthropic's OpenAI layer ignores them too).
IGNORED_FIELDS: Final = (
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "audio",
    "modalities",
    "store",
    "metadata",
    "service_tier",
    "prediction",
    "web_search_options",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
)


class ThinkingCache:
    """Bounded tool_use id -> the thinking blocks of the assistant turn that made the call.

    OpenAI clients drop thinking blocks, but Anthropic wants them back on the assistant turn of
    a tool loop when thinking is on. The provider owns one; answers fill it, requests read it.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def remember(self, call_ids: Sequence[str], blocks: Sequence[Mapping[str, Any]]) -> None:
        if not call_ids or not blocks:
            return
        for call_id in call_ids:
            self._items[call_id] = [dict(b) for b in blocks]
            self._items.move_to_end(call_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, call_id: str) -> list[dict[str, Any]] | None:
        blocks = self._items.get(call_id)
        return [dict(b) for b in blocks] if blocks else None


@dataclass(frozen=True)
class AnthropicCall:
    """A translated chat request: the Messages body plus what the answer needs back."""

    body: dict[str, Any]  # the Messages request to send
    model: str  # the model name answers carry (as the client asked)
    include_usage: bool = False  # the client wants the closing usage chunk
    json_tool: bool = False  # the answer is the input of the JSON_TOOL call
    legacy: bool = False  # the client used `functions`: answer with `function_call`
    thinking: ThinkingCache | None = None


def to_messages_request(
    chat: Any,
    *,
    upstream_model: str | None = None,
    stream: bool | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    thinking: ThinkingCache | None = None,
) -> AnthropicCall:
    """A chat request -> the Messages request and its answer context.

    `upstream_model` is the Claude model (or Foundry deployment) to call, default the body's;
    `stream` overrides the body's `stream` (the provider may always stream upstream).
    Raises RequestError (400) for what Anthropic cannot take.
    """
    if not isinstance(chat, Mapping):
        raise RequestError("The request body must be a JSON object")
    client_model = chat.get("model") if isinstance(chat.get("model"), str) else ""
    model = upstream_model or client_model
    if not model:
        raise RequestError("'model' is required", param="model")
    n = chat.get("n")
    if n is not None and n != 1:
        raise RequestError("Anthropic answers with one choice: 'n' must be 1", param="n")
    model_traits = traits(model)
    legacy = chat.get("tools") is None and chat.get("functions") is not None
    system, messages = _messages(chat.get("messages"), thinking, model_traits)
    body: dict[str, Any] = {"model": model, "messages": messages}
    tools = _tools(chat.get("functions") if legacy else chat.get("tools"), legacy)
    choice = _tool_choice(
        chat.get("function_call") if legacy else chat.get("tool_choice"),
        chat.get("parallel_tool_calls"),
    )
    json_tool = False
    fmt = chat.get("response_format")
    fmt_type = fmt.get("type") if isinstance(fmt, Mapping) else None
    if isinstance(fmt, Mapping) and fmt_type == "json_schema":
        schema = _json_schema(fmt)
        if model_traits.structured_outputs:
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        else:
            json_tool = True
            tools.append(
                {
                    "name": JSON_TOOL,
                    "description": "Respond with this tool.",
                    "input_schema": schema,
                }
            )
            choice = {"type": "tool", "name": JSON_TOOL}
    elif fmt_type == "json_object":
        system.append(JSON_OBJECT_LINE)
    elif fmt_type not in (None, "text"):
        raise RequestError(f"response_format: unknown type {fmt_type!r}", param="response_format")
    if system:
        body["system"] = "\n".join(system)
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    max_tokens = _max_tokens(chat)
    _thinking(chat, body, model_traits, max_tokens, default_max_tokens)
    _sampling(chat, body)
    stops = chat.get("stop")
    stops = [stops] if isinstance(stops, str) else stops
    if isinstance(stops, list):
        kept = [s for s in stops if isinstance(s, str) and s.strip()]
        if kept:
            body["stop_sequences"] = kept
    if isinstance(chat.get("user"), str) and chat["user"]:
        body["metadata"] = {"user_id": chat["user"]}
    body["stream"] = chat.get("stream") is True if stream is None else stream
    dropped = [k for k in IGNORED_FIELDS if chat.get(k) is not None]
    if dropped:
        log.debug("anthropic: dropping fields it has no equivalent for: %s", ", ".join(dropped))
    options = chat.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    return AnthropicCall(
        body=body,
        model=client_model or model,
        include_usage=include_usage,
        json_tool=json_tool,
        legacy=legacy,
        thinking=thinking,
    )


# --------------------------------------------------------------------------- parameters


def _max_tokens(chat: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = chat.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RequestError(f"'{key}' must be a positive integer", param=key)
        return value
    return None


def _thinking(
    chat: Mapping[str, Any],
    body: dict[str, Any],
    model: ModelTraits,
    max_tokens: int | None,
    default: int,
) -> None:
    """reasoning_effort -> thinking (+ effort), and max_tokens, which must exceed a budget."""
    effort = chat.get("reasoning_effort")
    if effort is not None and effort != "none" and effort not in THINKING_BUDGETS:
        raise RequestError(
            f"'reasoning_effort' must be one of none, {', '.join(THINKING_BUDGETS)}",
            param="reasoning_effort",
        )
    thinking: dict[str, Any] | None = None
    allowance = 0
    if isinstance(chat.get("thinking"), Mapping):  # Anthropic's own field, as its SDK sends it
        thinking = dict(chat["thinking"])
        budget = thinking.get("budget_tokens")
        allowance = budget if isinstance(budget, int) else 0
    elif isinstance(effort, str) and effort != "none":
        allowance = THINKING_BUDGETS[effort]
        if model.adaptive_thinking:
            thinking = {"type": "adaptive"}
            level = ADAPTIVE_EFFORTS[effort]
            level = "high" if level == "max" and not model.max_effort else level
            body["output_config"] = {**body.get("output_config", {}), "effort": level}
        else:
            thinking = {"type": "enabled", "budget_tokens": allowance}
    reason = _thinking_blocked(body)
    if thinking is not None and thinking.get("type") != "disabled" and reason:
        log.debug("anthropic: sending without thinking: %s", reason)
        thinking = None
        body.get("output_config", {}).pop("effort", None)
        if not body.get("output_config", True):
            del body["output_config"]
    limit = max_tokens if max_tokens is not None else default + (allowance if thinking else 0)
    if thinking is not None and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and budget >= limit:
            budget = max(1024, limit // 2)
            if budget >= limit:  # no room for Anthropic's minimum budget
                thinking = None
            else:
                thinking["budget_tokens"] = budget
    body["max_tokens"] = limit
    if thinking is not None:
        body["thinking"] = thinking


def _thinking_blocked(body: Mapping[str, Any]) -> str:
    """Why thinking cannot be on for this body ("" if it can)."""
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") in ("any", "tool"):
        return "the request forces a tool call"
    last = next((m for m in reversed(body["messages"]) if m["role"] == "assistant"), None)
    if last is not None:
        blocks = last["content"]
        has_tool = any(b.get("type") == "tool_use" for b in blocks)
        if has_tool and blocks[0].get("type") not in ("thinking", "redacted_thinking"):
            return "the last tool-calling turn's thinking is unknown"
    return ""


def _sampling(chat: Mapping[str, Any], body: dict[str, Any]) -> None:
    """temperature (capped at 1, Anthropic's maximum), else top_p; none while thinking."""
    if "thinking" in body and body["thinking"].get("type") != "disabled":
        return  # Anthropic takes only its defaults while thinking
    for key in ("temperature", "top_p"):
        value = chat.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            # Newer models reject both together; temperature is the one clients mean.
            body[key] = min(max(float(value), 0.0), 1.0)
            break
    top_k = chat.get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool) and top_k > 0:
        body["top_k"] = top_k


def _json_schema(fmt: Mapping[str, Any]) -> dict[str, Any]:
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        raise RequestError(
            "response_format.json_schema.schema is required", param="response_format"
        )
    return dict(schema)


# --------------------------------------------------------------------------- tools


def _tools(declared: Any, legacy: bool) -> list[dict[str, Any]]:
    if declared is None:
        return []
    where = "functions" if legacy else "tools"
    if not isinstance(declared, list):
        raise RequestError(f"'{where}' must be an array", param=where)
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(declared):
        here = f"{where}[{i}]"
        fn = entry if legacy else (entry.get("function") if isinstance(entry, Mapping) else None)
        if (
            not legacy
            and isinstance(entry, Mapping)
            and entry.get("type", "function") != "function"
        ):
            raise RequestError(
                f"{here}: Anthropic can only call function tools, not {entry.get('type')!r}",
                param=f"{here}.type",
            )
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise RequestError(f"{here}: a function needs a name", param=here)
        params = fn.get("parameters")
        tool: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": dict(params)
            if isinstance(params, Mapping) and params
            else {"type": "object", "properties": {}},
        }
        if isinstance(fn.get("description"), str) and fn["description"]:
            tool["description"] = fn["description"]
        if isinstance(fn.get("strict"), bool):
            tool["strict"] = fn["strict"]
        out.append(tool)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    """tool_choice (or legacy function_call) -> Anthropic's; parallel_tool_calls folds in."""
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, Mapping):
        fn = choice.get("function") if "function" in choice else choice  # legacy: {"name"}
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str) or not name:
            raise RequestError("tool_choice: a function needs a name", param="tool_choice")
        out = {"type": "tool", "name": name}
    else:
        raise RequestError(f"tool_choice: unknown value {choice!r}", param="tool_choice")
    if parallel is False and (out is None or out["type"] != "none"):
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


# --------------------------------------------------------------------------- messages


def _messages(
    messages: Any, cache: ThinkingCache | None, model: ModelTraits
) -> tuple[list[str], list[dict[str, Any]]]:
    """Chat messages -> (system texts, alternating Messages turns that open with a user)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array", param="messages")
    system: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    legacy_ids: list[tuple[str, str]] = []  # (name, id) of legacy function calls awaiting results
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise RequestError(f"{where} must be an object", param=where)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _plain_text(content, where)
            if text:
                system.append(text)
        elif role == "user":
            turns.append(("user", _user_blocks(content, where)))
        elif role == "assistant":
            turns.append(("assistant", _assistant_blocks(message, where, cache, legacy_ids)))
        elif role in ("tool", "function"):
            turns.append(("user", [_tool_result(message, where, legacy_ids)]))
        else:
            raise RequestError(f"{where}: unknown role {role!r}", param=f"{where}.role")
    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        if not blocks:
            continue  # Anthropic rejects empty turns
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += blocks
        else:
            merged.append({"role": role, "content": list(blocks)})
    for turn in merged:
        if turn["role"] == "user":  # results must open the turn that follows the calls
            blocks = turn["content"]
            turn["content"] = [b for b in blocks if b["type"] == "tool_result"] + [
                b for b in blocks if b["type"] != "tool_result"
            ]
    if merged and merged[-1]["role"] == "assistant" and not _has_tool_use(merged[-1]):
        if not model.prefill:  # a trailing assistant turn is a prefill, which newer models refuse
            merged.pop()
        else:  # Anthropic refuses a prefill that ends in whitespace
            last = merged[-1]["content"][-1]
            if last["type"] == "text":
                last["text"] = last["text"].rstrip() or PLACEHOLDER
    if not merged or merged[0]["role"] != "user":
        merged.insert(0, {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER}]})
    return system, merged


def _has_tool_use(turn: Mapping[str, Any]) -> bool:
    return any(b["type"] == "tool_use" for b in turn["content"])


def _plain_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or p.get("refusal") or "")
            for p in content
            if isinstance(p, Mapping) and p.get("type") in ("text", "refusal")
        )
    raise RequestError(f"{where}.content must be a string or an array", param=where)


def _text_block(text: str) -> list[dict[str, Any]]:
    # Anthropic rejects empty and whitespace-only text blocks.
    return [{"type": "text", "text": text}] if text.strip() else []


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return _text_block(content)
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or an array", param=where)
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            out += _text_block(part["text"])
        elif kind == "image_url":
            out.append(_image(part.get("image_url"), here))
        elif kind == "file":
            out.append(_document(part.get("file"), here))
        elif kind == "input_audio":
            log.debug("anthropic: dropping an audio part (Claude takes no audio)")
        else:
            raise RequestError(f"{here}: unsupported content part {kind!r}", param=here)
    return out


def _image(image: Any, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise RequestError(f"{where}: image_url.url is required", param=where)
    if url.startswith("data:"):
        mime, data = _data_url(url, where)
        if mime not in IMAGE_TYPES:
            raise RequestError(
                f"{where}: Claude reads JPEG, PNG, GIF and WebP images, not {mime}",
                param=where,
                code="invalid_image_url",
            )
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if url.lower().startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise RequestError(
        f"{where}: image URLs must be data: or http(s) URLs", param=where, code="invalid_image_url"
    )


def _document(file: Any, where: str) -> dict[str, Any]:
    data = file.get("file_data") if isinstance(file, Mapping) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        raise RequestError(
            f"{where}: only files sent inline as a data: URL in 'file_data' can go to Claude "
            "(uploaded file ids are OpenAI's own)",
            param=where,
        )
    mime, b64 = _data_url(data, where)
    block: dict[str, Any]
    if mime == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": mime, "data": b64}}
    elif mime.startswith("text/"):
        try:
            text = base64.b64decode(b64, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise RequestError(f"{where}: the file is not UTF-8 text", param=where) from exc
        block = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
        }
    else:
        raise RequestError(f"{where}: Claude reads PDF and text files, not {mime}", param=where)
    name = file.get("filename")
    if isinstance(name, str) and name:
        block["title"] = name
    return block


def _data_url(url: str, where: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    params = [p.strip().lower() for p in header.split(";")]
    if not sep or "base64" not in params[1:]:
        raise RequestError(f"{where}: expected a base64 data: URL", param=where)
    return params[0], "".join(data.split())


def _assistant_blocks(
    message: Mapping[str, Any],
    where: str,
    cache: ThinkingCache | None,
    legacy_ids: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    out = _text_block(_plain_text(message.get("content"), where))
    calls = message.get("tool_calls")
    uses: list[dict[str, Any]] = []
    for j, call in enumerate(calls if isinstance(calls, list) else []):
        fn = call.get("function") if isinstance(call, Mapping) else None
        call_id = call.get("id") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(call_id, str) or not call_id:
            raise RequestError(f"{where}.tool_calls[{j}]: needs an id and a function", param=where)
        uses.append(_tool_use(call_id, fn))
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping) and not uses:
        call_id = f"toolu_legacy_{len(legacy_ids)}"
        uses.append(_tool_use(call_id, legacy))
        legacy_ids.append((str(legacy.get("name", "")), call_id))
    if uses and cache is not None:
        for use in uses:
            blocks = cache.get(use["id"])
            if blocks:
                out = blocks + out
                break
    return out + uses


def _tool_use(call_id: str, fn: Mapping[str, Any]) -> dict[str, Any]:
    args = fn.get("arguments")
    parsed: Any = {}
    if isinstance(args, str) and args.strip():
        try:
            parsed = orjson.loads(args)
        except orjson.JSONDecodeError:
            log.debug("anthropic: a replayed tool call's arguments are not JSON; sending {}")
    return {
        "type": "tool_use",
        "id": call_id,
        "name": str(fn.get("name") or ""),
        "input": parsed if isinstance(parsed, dict) else {},
    }


def _tool_result(
    message: Mapping[str, Any], where: str, legacy_ids: list[tuple[str, str]]
) -> dict[str, Any]:
    if message.get("role") == "function":
        name = message.get("name")
        found = next((i for i, (n, _) in enumerate(legacy_ids) if n == name), None)
        if found is None:
            raise RequestError(f"{where}: no function_call named {name!r} before it", param=where)
        call_id = legacy_ids.pop(found)[1]
    else:
        given = message.get("tool_call_id")
        if not isinstance(given, str) or not given:
            raise RequestError(f"{where}: tool_call_id is required", param=where)
        call_id = given
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        blocks = _user_blocks(content, where)
        if blocks:
            block["content"] = blocks
    else:
        text = _plain_text(content, where)
        if text:
            block["content"] = text
    return block
