"""OpenAI tool declarations and tool choice -> Gemini functionDeclarations and toolConfig,
plus the memory of Gemini's thought signatures that replayed tool calls need.

Wire reference: https://ai.google.dev/api/caching#Tool
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError
from aoa_proxy.providers.gemini_schema import clean_schema, has_parameters

# https://ai.google.dev/api/generate-content#FunctionCallingConfig
TOOL_CHOICE_MODES: Final = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

# Documented value that makes Gemini 3 accept a replayed function call whose real thought
# signature is unknown: https://ai.google.dev/gemini-api/docs/thought-signatures
DUMMY_SIGNATURE: Final = "skip_thought_signature_validator"


class SignatureCache:
    """Bounded tool-call id -> (thought signature, id is Gemini's own) map.

    The last resort behind the signatures that travel in tool call ids and extra_content
    (gemini_signatures): it serves clients that cut or rewrite ids, within this process only
    ("" = the call had no signature). The Gemini provider owns one; the translators get it.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[str, bool]] = OrderedDict()

    def remember(self, call_id: str, signature: str, native: bool = False) -> None:
        self._items[call_id] = (signature, native)
        self._items.move_to_end(call_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, call_id: str) -> str | None:
        item = self._items.get(call_id)
        return item[0] if item else None

    def is_native(self, call_id: Any) -> bool:
        """True when Gemini itself chose this id."""
        item = self._items.get(call_id) if isinstance(call_id, str) else None
        return bool(item and item[1])


def tools_and_config(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`tools`/`tool_choice` (or legacy `functions`/`function_call`) -> (tools, toolConfig)."""
    legacy = body.get("tools") is None and body.get("functions") is not None
    declared = body.get("functions") if legacy else body.get("tools")
    if declared is not None and not isinstance(declared, list):
        raise RequestError("'tools' must be an array", param="tools", code="invalid_type")
    declarations = [_declaration(entry, legacy, i) for i, entry in enumerate(declared or [])]
    choice = body.get("function_call") if legacy else body.get("tool_choice")
    config = _tool_choice(choice, [d["name"] for d in declarations], legacy)
    tools = [{"functionDeclarations": declarations}] if declarations else []
    return tools, config


def _declaration(entry: Any, legacy: bool, i: int) -> dict[str, Any]:
    where = f"functions[{i}]" if legacy else f"tools[{i}]"
    if not isinstance(entry, Mapping):
        raise RequestError(f"{where} must be an object", param=where)
    if legacy:
        fn: Any = entry
    else:
        if entry.get("type", "function") != "function":
            raise RequestError(
                f"{where}: Gemini can only call function tools, not {entry.get('type')!r}",
                param=f"{where}.type",
                code="invalid_value",
            )
        fn = entry.get("function")
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise RequestError(f"{where}: the function needs a 'name'", param=where)
    out: dict[str, Any] = {"name": fn["name"]}
    if isinstance(fn.get("description"), str) and fn["description"]:
        out["description"] = fn["description"]
    params = fn.get("parameters")
    if params is not None:
        cleaned = clean_schema(params, where=f"{where}.parameters")
        if has_parameters(cleaned):  # a no-argument function must leave `parameters` out
            out["parameters"] = cleaned
    return out


def _tool_choice(choice: Any, names: list[str], legacy: bool) -> dict[str, Any]:
    param = "function_call" if legacy else "tool_choice"
    if choice is None:
        return {}
    if not names:
        if choice in ("none", "auto"):
            return {}
        raise RequestError(
            f"'{param}' is only allowed when {'functions' if legacy else 'tools'} are given",
            param=param,
        )
    if (
        isinstance(choice, str)
        and choice in TOOL_CHOICE_MODES
        and not (legacy and choice == "required")
    ):
        return {"functionCallingConfig": {"mode": TOOL_CHOICE_MODES[choice]}}
    if isinstance(choice, Mapping):
        if choice.get("type") == "allowed_tools":
            return _allowed_tools(choice.get("allowed_tools"), names)
        fn = choice if legacy else choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if isinstance(name, str) and name in names:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
        if isinstance(name, str):
            raise RequestError(
                f"'{param}' names {name!r}, which is not one of the declared functions",
                param=param,
                code="invalid_value",
            )
    raise RequestError(
        f"'{param}' must be none, auto, required or a named function",
        param=param,
        code="invalid_value",
    )


def _allowed_tools(spec: Any, names: list[str]) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise RequestError("'tool_choice.allowed_tools' must be an object", param="tool_choice")
    allowed = [
        t["function"]["name"]
        for t in spec.get("tools") or []
        if isinstance(t, Mapping)
        and isinstance(t.get("function"), Mapping)
        and t["function"].get("name") in names
    ]
    if spec.get("mode") == "required":
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": allowed}}
    # Gemini restricts names only in ANY mode; in AUTO mode every declared function stays callable.
    return {"functionCallingConfig": {"mode": "AUTO"}}
