"""OpenAI tool declarations and tool choice -> Gemini functionDeclarations and toolConfig,
plus the memory of Gemini's thought signatures that replayed tool calls need.

Wire reference: https://ai.google.dev/api/caching#Tool
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError
from aoa_proxy.providers import gemini_grounding as grounding
from aoa_proxy.providers.gemini_schema import clean_schema, has_parameters, json_schema

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


def tools_and_config(
    body: Mapping[str, Any], *, model: str = "", api_version: str = "v1beta", full: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`tools`/`tool_choice` (or legacy `functions`/`function_call`) and `web_search_options`
    -> (tools, toolConfig). `full`: send parametersJsonSchema (the model accepts it)."""
    legacy = body.get("tools") is None and body.get("functions") is not None
    declared = body.get("functions") if legacy else body.get("tools")
    if declared is not None and not isinstance(declared, list):
        raise RequestError("'tools' must be an array", param="tools", code="invalid_type")
    entries = list(enumerate(declared or []))
    search = grounding.wants_search(body) or any(grounding.is_search_tool(e) for _, e in entries)
    declarations = [
        _declaration(entry, legacy, i, full)
        for i, entry in entries
        if not grounding.is_search_tool(entry)
    ]
    choice = body.get("function_call") if legacy else body.get("tool_choice")
    if _names(choice) == grounding.SEARCH_TOOL:
        choice = None  # "use google_search": grounding is on, Gemini decides when to search
    config = _tool_choice(choice, [d["name"] for d in declarations], legacy)
    tools: list[dict[str, Any]] = [{"functionDeclarations": declarations}] if declarations else []
    if search:
        builtin, extra = grounding.search_tools(model, api_version, bool(declarations))
        tools += builtin
        config.update(extra)
    return tools, config


def _names(choice: Any) -> str | None:
    """The function a tool_choice names, if it names one."""
    fn = choice.get("function", choice) if isinstance(choice, Mapping) else None
    name = fn.get("name") if isinstance(fn, Mapping) else None
    return name if isinstance(name, str) else None


def _declaration(entry: Any, legacy: bool, i: int, full: bool) -> dict[str, Any]:
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
    where = f"{where}.parameters"
    full_schema = json_schema(params, where=where) if full and params is not None else None
    if full_schema is not None:
        if any(full_schema.get(k) for k in ("properties", "additionalProperties", "anyOf")):
            out["parametersJsonSchema"] = full_schema  # else no arguments: no schema at all
    elif params is not None:
        cleaned = clean_schema(params, where=where)
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
