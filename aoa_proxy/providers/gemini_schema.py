"""OpenAI JSON Schema -> the OpenAPI subset Gemini's `Schema` accepts.

Gemini rejects any key it does not know ("Unknown name ... Cannot find field"), so this is a
whitelist filter that also rewrites what has a Gemini equivalent: `$ref` is inlined, nullable
unions become `nullable`, `const` becomes a one-value `enum`, `allOf` is merged.
Schema reference: https://ai.google.dev/api/caching#Schema
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError

# Keys every Gemini model revision accepts, copied as they are (after cleaning their values).
# https://ai.google.dev/api/caching#Schema - `title`, `default` and `example` are left out on
# purpose: older model revisions reject them, and they carry no constraint.
_PLAIN_KEYS: Final = frozenset(
    {
        "description",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "propertyOrdering",
    }
)
_TYPES: Final = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}
# Gemini only honours a few `format` values per type; others are rejected on some revisions.
_FORMATS: Final = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_MAX_DEPTH: Final = 32  # deeper (or recursive via $ref) parts become a plain object


def clean_schema(schema: Any, *, where: str = "schema") -> dict[str, Any]:
    """A Gemini `Schema` equivalent to the JSON Schema `schema` (as close as Gemini allows)."""
    if not isinstance(schema, Mapping):
        raise RequestError(f"{where} must be a JSON Schema object", param=where)
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), Mapping):
            defs.update({f"#/{key}/{name}": s for name, s in schema[key].items()})
    return _clean(schema, defs, 0)


def _clean(node: Any, defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return {"type": "OBJECT"} if depth > _MAX_DEPTH else {}
    node = _resolve(node, defs, depth)
    node = _merge_all_of(node, defs, depth)
    out: dict[str, Any] = {}
    nullable = bool(node.get("nullable"))

    kind = node.get("type")
    if isinstance(kind, list):  # ["string", "null"] -> STRING + nullable
        others = [k for k in kind if k != "null"]
        nullable = nullable or len(others) < len(kind)
        if len(others) == 1:
            kind = others[0]
        elif others:
            out["anyOf"] = [{"type": _TYPES.get(str(k).lower(), "STRING")} for k in others]
            kind = None
        else:
            kind = "null"
    if isinstance(kind, str) and kind.lower() in _TYPES:
        out["type"] = _TYPES[kind.lower()]

    union = node.get("anyOf", node.get("oneOf"))
    if isinstance(union, list):
        branches = [b for b in union if not (isinstance(b, Mapping) and b.get("type") == "null")]
        nullable = nullable or len(branches) < len(union)
        cleaned = [_clean(b, defs, depth + 1) for b in branches]
        if len(cleaned) == 1:
            # A nullable single type: fold it into this node instead of a one-branch anyOf.
            out = {**cleaned[0], **out}
        elif cleaned:
            out["anyOf"] = cleaned

    for key in _PLAIN_KEYS:
        if key in node and node[key] is not None:
            out[key] = node[key]

    if isinstance(node.get("properties"), Mapping):
        props = {str(k): _clean(v, defs, depth + 1) for k, v in node["properties"].items()}
        out["properties"] = props
        out.setdefault("type", "OBJECT")
        required = node.get("required")
        if isinstance(required, list):
            kept = [r for r in required if r in props]
            if kept:
                out["required"] = kept
    if "items" in node and isinstance(node["items"], Mapping):
        out["items"] = _clean(node["items"], defs, depth + 1)
        out.setdefault("type", "ARRAY")
    elif isinstance(node.get("items"), list) and node["items"]:  # tuple form: use the first
        out["items"] = _clean(node["items"][0], defs, depth + 1)
        out.setdefault("type", "ARRAY")

    values = [node["const"]] if "const" in node else node.get("enum")
    if isinstance(values, list) and values:
        if out.get("type", "STRING") == "STRING":
            out["type"] = "STRING"
            out["enum"] = [v if isinstance(v, str) else _json_text(v) for v in values]
        else:  # Gemini enums are strings only: say it in words instead
            allowed = ", ".join(_json_text(v) for v in values)
            text = str(out.get("description", "")).rstrip()
            out["description"] = (text + " " if text else "") + f"(one of: {allowed})"

    fmt = node.get("format")
    allowed_formats = _FORMATS.get(str(out.get("type")), frozenset())
    if "format" not in out and isinstance(fmt, str) and fmt in allowed_formats:
        out["format"] = fmt
    if nullable:
        out["nullable"] = True
    return out


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
    """Inline a local `$ref` (siblings of `$ref` win, as in JSON Schema 2019+)."""
    seen = 0
    while isinstance(node.get("$ref"), str) and seen <= _MAX_DEPTH:
        target = defs.get(node["$ref"])
        if not isinstance(target, Mapping):
            raise RequestError(
                f"JSON Schema reference {node['$ref']!r} cannot be resolved; only local "
                "'#/$defs/...' references are supported",
                param="schema",
            )
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **rest}
        seen += 1
    return node


def _merge_all_of(
    node: Mapping[str, Any], defs: Mapping[str, Any], depth: int
) -> Mapping[str, Any]:
    parts = node.get("allOf")
    if not isinstance(parts, list):
        return node
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        part = _resolve(part, defs, depth)
        for key, value in part.items():
            if key == "properties" and isinstance(value, Mapping):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def has_parameters(schema: Mapping[str, Any]) -> bool:
    """False for a schema that declares no arguments (Gemini wants `parameters` left out)."""
    return (
        bool(schema.get("properties"))
        or bool(schema.get("anyOf"))
        or (schema.get("type") not in (None, "OBJECT"))
    )
