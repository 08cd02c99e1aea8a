"""Chat Completions request -> Anthropic Messages request (the `anthropic` provider).

Wire references: https://docs.anthropic.com/en/api/messages and Anthropic's own OpenAI
compatibility notes, https://docs.anthropic.com/en/api/openai-sdk (system hoisting, the
temperature cap, ignored fields). The mapping table is in docs/anthropic.md. Pure: dicts in,
dicts out; `AnthropicCall` carries what the answer's translation needs back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from aoa_proxy.bridges.anthropic_messages import ThinkingCache, convert_messages
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

# The forced tool that carries `response_format: json_schema` to models without structured
# outputs (LiteLLM's method); its input is the answer.
JSON_TOOL: Final = "json_tool_call"
JSON_OBJECT_LINE: Final = "Respond with a single JSON object only."

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
    system, messages = convert_messages(chat.get("messages"), thinking, model_traits)
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
        config = body.get("output_config")
        if config is not None:
            config.pop("effort", None)
            if not config:
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
            # Compared before float(): an integer past float's range would overflow.
            body[key] = 1.0 if value > 1 else 0.0 if value < 0 else float(value)
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
