"""Anthropic tools and tool_choice -> chat tools (front door), and the names chat allows.

Wire references: https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview and
https://platform.openai.com/docs/api-reference/chat/create#chat-create-tools. Pure.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aoa_proxy.errors import RequestError

log = logging.getLogger(__name__)

# tool_choice.type -> chat tool_choice (the "tool" type becomes a function object).
TOOL_CHOICES: Final = {"auto": "auto", "any": "required", "none": "none"}
MAX_FUNCTION_NAME: Final = 64  # OpenAI's limit; Anthropic allows 128


def _is_function_tool(tool: Mapping[str, Any]) -> bool:
    """Custom tools have no type (or "custom"); every typed tool is Anthropic-defined."""
    return tool.get("type") in (None, "custom")


def short_name(name: str) -> str:
    """Names past chat's 64 characters -> a stable 64-character name (prefix + digest)."""
    if len(name) <= MAX_FUNCTION_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_FUNCTION_NAME - 9]}_{digest}"


def tool_name_map(body: Mapping[str, Any]) -> dict[str, str]:
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
    return {name: short_name(name) for name in names}


def chat_tools(tools: Any, names: Mapping[str, str]) -> list[dict[str, Any]]:
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
            "name": names.get(name) or short_name(name),
            "parameters": {k: v for k, v in schema.items() if k != "$schema"},
        }
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(
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


def forces_tool(choice: Any) -> bool:
    return isinstance(choice, Mapping) and choice.get("type") in ("any", "tool")
