"""Responses tools and tool_choice -> chat tools and tool_choice, and the map that turns the
model's flat chat names back into the client's tools.

Responses tools are flat (`{"type": "function", "name", ...}`) and may be grouped in namespaces;
chat nests each function under `function` and has no namespaces, so a namespace child becomes
one chat function named `<namespace>__<child>`. Custom (free-form input) tools become functions
taking one string argument `input`. Built-in tools run on OpenAI's servers, which a chat upstream
does not have: they are refused, except the `web_search` tool Codex CLI always sends, dropped so
Codex works (the model simply cannot search).

Wire references: https://platform.openai.com/docs/api-reference/responses/create#responses-create-tools
(SDK `function_tool_param.py`, `namespace_tool_param.py`, `custom_tool_param.py`) and
https://platform.openai.com/docs/api-reference/chat/create#chat-create-tools
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aoa_proxy.errors import RequestError

log = logging.getLogger(__name__)

# Function names chat upstreams accept (OpenAI's rule; Gemini's is close enough).
CHAT_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NAMESPACE_SEPARATOR: Final = "__"

# Keys of the `web_search` tool Codex sends on every request (codex-rs tool_spec.rs
# `ToolSpec::WebSearch`; the 0.171 capture: {"type":"web_search","external_web_access":false}).
# A web_search tool with more settings than these was asked for on purpose and is refused.
CODEX_WEB_SEARCH_KEYS: Final = frozenset({"type", "external_web_access"})

# Where a chat tool_choice mode comes from: Responses uses the same three words.
TOOL_CHOICE_MODES: Final = ("none", "auto", "required")

# The custom tool's single argument (spec §6a: `parameters {"input": string}`).
CUSTOM_PARAMETERS: Final = {
    "type": "object",
    "properties": {"input": {"type": "string"}},
    "required": ["input"],
}


@dataclass(frozen=True, slots=True)
class ToolName:
    """The client's tool behind one flat chat function name."""

    name: str
    namespace: str | None = None
    custom: bool = False  # a custom tool: its calls carry `input`, not JSON arguments


@dataclass(slots=True)
class Tools:
    """The chat tools of one request and how their names map back."""

    chat: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, ToolName] = field(default_factory=dict)  # flat chat name -> client tool
    echo: list[Any] = field(default_factory=list)  # the client's tools the Response repeats
    dropped: list[str] = field(default_factory=list)  # quietly dropped tool types

    def flat(self, name: str, namespace: str | None) -> str:
        """The chat name of the client's tool `namespace`/`name` (also for replayed calls)."""
        if namespace is None:
            return name
        for flat, tool in self.names.items():
            if tool.namespace == namespace and tool.name == name:
                return flat
        return flat_name(namespace, name)


def flat_name(namespace: str, name: str) -> str:
    """`ns__name`, or (if that is no valid chat name) its first 55 safe chars + `_` + a hash."""
    joined = f"{namespace}{NAMESPACE_SEPARATOR}{name}"
    if CHAT_NAME.match(joined):
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    safe = re.sub(r"[^a-zA-Z0-9_-]", "_", joined)[:55]
    return f"{safe}_{digest}"


def convert_tools(tools: Any) -> Tools:
    """The request's `tools` -> chat tools and the name map; refuses what chat cannot carry."""
    out = Tools()
    if tools is None:
        return out
    if not isinstance(tools, list):
        raise RequestError("'tools' must be an array", param="tools", code="invalid_type")
    children: list[tuple[str, str, Mapping[str, Any], str]] = []  # (namespace, name, tool, where)
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        kind = _tool_type(tool, where)
        if kind in ("function", "custom"):
            name = _name(tool, where)
            out.names[name] = ToolName(name, None, kind == "custom")
            out.chat.append(_chat_function(name, tool, custom=kind == "custom"))
        elif kind == "namespace":
            namespace = _name(tool, where)
            members = tool.get("tools")
            if not isinstance(members, list):
                raise RequestError(
                    f"{where}.tools must be an array", param=f"{where}.tools", code="invalid_type"
                )
            for j, child in enumerate(members):
                child_where = f"{where}.tools[{j}]"
                if _tool_type(child, child_where) not in ("function", "custom"):
                    raise RequestError(
                        f"{child_where}: a namespace holds function and custom tools only",
                        param=f"{child_where}.type",
                        code="invalid_value",
                    )
                children.append((namespace, _name(child, child_where), child, child_where))
        elif kind == "web_search" and set(tool) <= CODEX_WEB_SEARCH_KEYS:
            log.debug("responses bridge: dropped the default web_search tool (%s)", where)
            out.dropped.append(kind)
            continue
        else:
            raise RequestError(
                f"{where}: the upstream cannot run the built-in {kind!r} tool; only function, "
                "custom and namespace tools work on this provider",
                param=f"{where}.type",
                code="unsupported_parameter",
            )
        out.echo.append(tool)
    # Namespace children are named after every plain tool is known, so a clash moves the child.
    for namespace, name, child, _where in children:
        flat = flat_name(namespace, name)
        if flat in out.names:
            flat = flat_name(namespace + "\x00", name)  # not a valid name: always the hashed form
        custom = child.get("type") == "custom"
        out.names[flat] = ToolName(name, namespace, custom)
        out.chat.append(_chat_function(flat, child, custom=custom))
    return out


def convert_tool_choice(choice: Any, tools: Tools) -> Any:
    """The request's `tool_choice` -> chat's (None: leave it out).

    An `allowed_tools` choice narrows `tools.chat` to the tools it lists.
    """
    if choice is None:
        return None
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        if not tools.chat:
            if choice == "required":
                raise RequestError(
                    "'tool_choice' is 'required' but the request has no tools the model can call",
                    param="tool_choice",
                    code="invalid_value",
                )
            return None  # chat refuses a tool_choice without tools
        return choice
    if not isinstance(choice, Mapping):
        raise RequestError(
            "'tool_choice' must be none, auto, required or an object",
            param="tool_choice",
            code="invalid_value",
        )
    kind = choice.get("type")
    if kind in ("function", "custom"):
        return {"type": "function", "function": {"name": _chosen(choice.get("name"), tools)}}
    if kind == "allowed_tools":
        return _allowed_tools(choice, tools)
    raise RequestError(
        f"'tool_choice' asks for the built-in tool {kind!r}, which this provider cannot run",
        param="tool_choice",
        code="unsupported_parameter",
    )


def _allowed_tools(choice: Mapping[str, Any], tools: Tools) -> Any:
    mode = choice.get("mode", "auto")
    listed = choice.get("tools")
    if mode not in ("auto", "required") or not isinstance(listed, list):
        raise RequestError(
            "'tool_choice' allowed_tools needs a mode (auto or required) and a tools array",
            param="tool_choice",
            code="invalid_value",
        )
    keep: set[str] = set()
    for entry in listed:
        if isinstance(entry, Mapping) and entry.get("type") in ("function", "custom"):
            keep.add(_chosen(entry.get("name"), tools))
    tools.chat = [t for t in tools.chat if t["function"]["name"] in keep]
    return convert_tool_choice(mode, tools)


def _chosen(name: Any, tools: Tools) -> str:
    """The flat name of the tool a tool_choice names (a plain tool, else a unique child)."""
    if isinstance(name, str):
        if name in tools.names and tools.names[name].namespace is None:
            return name
        matches = [flat for flat, tool in tools.names.items() if tool.name == name]
        if len(matches) == 1:
            return matches[0]
    raise RequestError(
        f"'tool_choice' names {name!r}, which is not one of the request's tools",
        param="tool_choice",
        code="invalid_value",
    )


def _tool_type(tool: Any, where: str) -> str:
    if not isinstance(tool, Mapping):
        raise RequestError(f"{where} must be an object", param=where, code="invalid_type")
    kind = tool.get("type")
    if not isinstance(kind, str):
        raise RequestError(f"{where}.type must be a string", param=f"{where}.type")
    return kind


def _name(tool: Mapping[str, Any], where: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError(f"{where}: the tool needs a 'name'", param=f"{where}.name")
    return name


def _chat_function(flat: str, tool: Mapping[str, Any], *, custom: bool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": flat}
    description = tool.get("description")
    if custom:
        text = description if isinstance(description, str) else ""
        fn["description"] = (text + _grammar_note(tool.get("format"))).strip()
        fn["parameters"] = CUSTOM_PARAMETERS
        return {"type": "function", "function": fn}
    if isinstance(description, str):
        fn["description"] = description
    if tool.get("parameters") is not None:
        fn["parameters"] = tool["parameters"]
    if isinstance(tool.get("strict"), bool):
        fn["strict"] = tool["strict"]
    return {"type": "function", "function": fn}


def _grammar_note(fmt: Any) -> str:
    """A custom tool's grammar as words for the description: chat has no grammar field."""
    if not isinstance(fmt, Mapping) or fmt.get("type") != "grammar":
        return ""
    syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "lark"
    definition = fmt.get("definition") if isinstance(fmt.get("definition"), str) else ""
    return f"\n\nThe input must follow this {syntax} grammar:\n{definition}"
