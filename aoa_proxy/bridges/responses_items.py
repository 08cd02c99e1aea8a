"""Responses input items -> chat messages, in order (spec responses.md §6a).

message -> a chat message (system and developer -> system, in place); consecutive
function_call / custom_tool_call items (and the assistant message just before them) -> one
assistant message with `tool_calls`; their outputs -> `tool` messages with the same ids, an
output's images -> one user message after the run of tool messages; reasoning items dropped
(encrypted content only the model that wrote it can read). Anything else is a RequestError
naming its path, e.g. `input[3].type`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.bridges.responses_parts import (
    assistant_message,
    string_field,
    text_content,
    user_content,
    user_part,
)
from aoa_proxy.bridges.responses_tools import Tools
from aoa_proxy.errors import RequestError

# Items that only OpenAI's built-in tools produce; a chat upstream has nothing to replay them to.
BUILT_IN_ITEMS: Final = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "image_generation_call",
        "code_interpreter_call",
        "compaction",
        "tool_search_call",
        "tool_search_output",
    }
)


class ChatHistory:
    """Builds chat messages from items in order, keeping call ids paired."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools
        self.messages: list[dict[str, Any]] = []
        self.call_ids: set[str] = set()
        # Images a tool returned: chat tool messages hold text only, so they follow as one user
        # message once the run of tool messages ends (tool messages must follow their call).
        self.tool_images: list[dict[str, Any]] = []

    def finish(self) -> list[dict[str, Any]]:
        self._flush_images()
        return self.messages

    def add(self, item: Any, where: str) -> None:
        if not isinstance(item, Mapping):
            raise RequestError(f"{where} must be an object", param=where, code="invalid_type")
        kind = item.get("type", "message" if "role" in item else None)
        if not isinstance(kind, str):
            raise RequestError(
                f"{where}.type is missing: give the item a type (message, function_call, ...)",
                param=f"{where}.type",
            )
        if kind == "message":
            self._message(item, where)
        elif kind in ("function_call", "custom_tool_call"):
            self._call(item, where, custom=kind == "custom_tool_call")
        elif kind in ("function_call_output", "custom_tool_call_output"):
            self._output(item, where)
        elif kind == "reasoning":
            pass  # encrypted reasoning only the model that wrote it can read; chat has no slot
        elif kind == "item_reference":
            raise RequestError(
                f"{where}: item_reference needs a stored item, and this provider keeps none; "
                "send the item itself",
                param=where,
            )
        elif kind in BUILT_IN_ITEMS:
            raise RequestError(
                f"{where}: a {kind!r} item comes from a built-in tool this provider cannot run",
                param=f"{where}.type",
                code="unsupported_parameter",
            )
        else:
            raise RequestError(
                f"{where}.type: unknown item type {kind!r}",
                param=f"{where}.type",
                code="invalid_value",
            )

    def _append(self, message: dict[str, Any]) -> None:
        self._flush_images()
        self.messages.append(message)

    def _flush_images(self) -> None:
        if self.tool_images:
            self.messages.append({"role": "user", "content": self.tool_images})
            self.tool_images = []

    # --------------------------------------------------------------------- messages

    def _message(self, item: Mapping[str, Any], where: str) -> None:
        role = item.get("role")
        content = item.get("content")
        if not isinstance(content, (str, list)):
            raise RequestError(
                f"{where}.content must be a string or an array of parts",
                param=f"{where}.content",
                code="invalid_type",
            )
        if role in ("system", "developer"):
            self._append({"role": "system", "content": text_content(content, where)})
        elif role == "user":
            self._append({"role": "user", "content": user_content(content, where)})
        elif role == "assistant":
            self._append(assistant_message(content, where))
        else:
            raise RequestError(
                f"{where}.role must be user, assistant, system or developer, not {role!r}",
                param=f"{where}.role",
                code="invalid_value",
            )

    # --------------------------------------------------------------------- calls

    def _call(self, item: Mapping[str, Any], where: str, *, custom: bool) -> None:
        call_id = string_field(item, "call_id", where)
        name = string_field(item, "name", where)
        namespace = item.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise RequestError(f"{where}.namespace must be a string", param=f"{where}.namespace")
        if custom:
            arguments = json.dumps({"input": string_field(item, "input", where, empty=True)})
        else:
            raw = item.get("arguments")
            if isinstance(raw, Mapping):  # lenient: some clients send the object itself
                arguments = json.dumps(raw)
            elif isinstance(raw, str):
                arguments = raw
            else:
                raise RequestError(
                    f"{where}.arguments must be a JSON string", param=f"{where}.arguments"
                )
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": self.tools.flat(name, namespace), "arguments": arguments},
        }
        self.call_ids.add(call_id)
        last = self.messages[-1] if self.messages and not self.tool_images else None
        if last is not None and last["role"] == "assistant":
            # Calls right after an assistant message (or each other) are one chat turn.
            last.setdefault("tool_calls", []).append(call)
        else:
            self._append({"role": "assistant", "content": None, "tool_calls": [call]})

    def _output(self, item: Mapping[str, Any], where: str) -> None:
        call_id = string_field(item, "call_id", where)
        if call_id not in self.call_ids:
            raise RequestError(
                f"{where}: no function_call with call_id {call_id!r} comes before this output; "
                "send the call item first, or leave its output out",
                param=f"{where}.call_id",
                code="invalid_value",
            )
        output = item.get("output")
        if isinstance(output, str):
            text = output
        elif isinstance(output, list):
            texts: list[str] = []
            media: list[dict[str, Any]] = []
            for j, part in enumerate(output):
                chat_part = user_part(part, f"{where}.output[{j}]")
                if chat_part["type"] == "text":
                    texts.append(chat_part["text"])
                else:
                    media.append(chat_part)
            text = "\n".join(texts)
            if media:
                self.tool_images.append(
                    {"type": "text", "text": f"Image returned by tool call {call_id}."}
                )
                self.tool_images += media
        else:
            raise RequestError(
                f"{where}.output must be a string or an array of parts",
                param=f"{where}.output",
                code="invalid_type",
            )
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
