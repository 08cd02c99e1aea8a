"""OpenAI JSON Schema -> the OpenAPI subset Gemini's `Schema` accepts.

Gemini rejects any key it does not know ("Unknown name ... Cannot find field"), so this is a
whitelist filter that also rewrites what has a Gemini equivalent: `$ref` is inlined, nullable
unions become `nullable`, `const` becomes a one-value `enum`, `allOf` is merged.
Schema reference: https://ai.google.dev/api/caching#Schema
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import unquote

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
    defs = _Pointers(schema)  # every local `#/...` reference, looked up on demand
    return _clean(schema, defs, 0)


class _Pointers(Mapping[str, Any]):
    """`#/...` JSON pointers into one schema, as a read-only mapping (ref -> schema)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def __getitem__(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise KeyError(ref)
        target: Any = self.root
        for token in ref[1:].lstrip("/").split("/") if ref.strip("#/") else []:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                raise KeyError(ref)
        return target

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _clean(node: Any, defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """One schema node and everything under it, in Gemini's terms."""
    if depth > _MAX_DEPTH:
        return {"type": "OBJECT"}
    if not isinstance(node, Mapping):
        return {}
    node = _merge_all_of(_resolve(node, defs, depth), defs, depth)
    # Each step may read what the earlier ones wrote: a folded union brings its own keys, the
    # node's own keys then win, and properties/items/enum fill in a type only if none is set.
    out = _fold_union(node, _declared_type(node), defs, depth)
    _copy_plain_keys(node, out)
    _add_properties(node, out, defs, depth)
    _add_items(node, out, defs, depth)
    _add_enum(node, out)
    _add_format(node, out)
    if _is_nullable(node):
        out["nullable"] = True
    return out


def _declared_type(node: Mapping[str, Any]) -> dict[str, Any]:
    """`type` in Gemini's spelling; a list of several non-null types becomes an `anyOf`."""
    kind = node.get("type")
    if isinstance(kind, list):  # ["string", "null"] -> STRING (the null goes to `nullable`)
        others = [k for k in kind if k != "null"]
        if len(others) > 1:
            return {"anyOf": [{"type": _TYPES.get(str(k).lower(), "STRING")} for k in others]}
        kind = others[0] if others else "null"
    if isinstance(kind, str) and kind.lower() in _TYPES:
        return {"type": _TYPES[kind.lower()]}
    return {}


def _fold_union(
    node: Mapping[str, Any], out: dict[str, Any], defs: Mapping[str, Any], depth: int
) -> dict[str, Any]:
    """`anyOf`/`oneOf` without its null branches; a single branch is folded into this node."""
    union = node.get("anyOf", node.get("oneOf"))
    if not isinstance(union, list):
        return out
    branches = [_clean(b, defs, depth + 1) for b in union if not _is_null_branch(b)]
    if len(branches) == 1:
        # A nullable single type: fold it into this node instead of a one-branch anyOf.
        return {**branches[0], **out}
    if branches:
        out["anyOf"] = branches
    return out


def _is_null_branch(branch: Any) -> bool:
    return isinstance(branch, Mapping) and branch.get("type") == "null"


def _is_nullable(node: Mapping[str, Any]) -> bool:
    """`nullable: true`, a "null" in a type list, or a null branch in `anyOf`/`oneOf`."""
    kind = node.get("type")
    union = node.get("anyOf", node.get("oneOf"))
    return (
        bool(node.get("nullable"))
        or (isinstance(kind, list) and "null" in kind)
        or (isinstance(union, list) and any(_is_null_branch(b) for b in union))
    )


def _copy_plain_keys(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key in _PLAIN_KEYS:
        if key in node and node[key] is not None:
            out[key] = node[key]


def _add_properties(
    node: Mapping[str, Any], out: dict[str, Any], defs: Mapping[str, Any], depth: int
) -> None:
    """Cleaned properties; `required` keeps only names that are properties."""
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        return
    props = {str(k): _clean(v, defs, depth + 1) for k, v in properties.items()}
    out["properties"] = props
    out.setdefault("type", "OBJECT")
    required = node.get("required")
    if isinstance(required, list):
        kept = [r for r in required if isinstance(r, str) and r in props]
        if kept:
            out["required"] = kept


def _add_items(
    node: Mapping[str, Any], out: dict[str, Any], defs: Mapping[str, Any], depth: int
) -> None:
    items = node.get("items")
    if isinstance(items, list) and items:
        items = items[0]  # the tuple form: Gemini has one item schema, use the first
    elif not isinstance(items, Mapping):
        return
    out["items"] = _clean(items, defs, depth + 1)
    out.setdefault("type", "ARRAY")


def _add_enum(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """`enum`/`const` as a string enum; Gemini has no other kind, so others become words."""
    values = [node["const"]] if "const" in node else node.get("enum")
    if not isinstance(values, list) or not values:
        return
    if out.get("type", "STRING") == "STRING":
        out["type"] = "STRING"
        out["enum"] = [_json_text(v) for v in values]
    else:
        allowed = ", ".join(_json_text(v) for v in values)
        text = str(out.get("description", "")).rstrip()
        out["description"] = (text + " " if text else "") + f"(one of: {allowed})"


def _add_format(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """`format`, only where Gemini honours it for this type (others are rejected)."""
    fmt = node.get("format")
    allowed = _FORMATS.get(str(out.get("type")), frozenset())
    if "format" not in out and isinstance(fmt, str) and fmt in allowed:
        out["format"] = fmt


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> Mapping[str, Any]:
    """Inline a local `$ref` (siblings of `$ref` win, as in JSON Schema 2019+)."""
    seen = 0
    while isinstance(node.get("$ref"), str) and seen <= _MAX_DEPTH:
        target = defs.get(node["$ref"])
        if not isinstance(target, Mapping):
            raise RequestError(
                f"JSON Schema reference {node['$ref']!r} cannot be resolved; only local "
                "'#/...' references are supported",
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
            # The outer node's own entry may be malformed (not an object or list): the part's
            # well-formed one then replaces it rather than crash the merge.
            if key == "properties" and isinstance(value, Mapping):
                mine = merged.get("properties")
                merged["properties"] = {**(mine if isinstance(mine, Mapping) else {}), **value}
            elif key == "required" and isinstance(value, list):
                mine = merged.get("required")
                merged["required"] = [*(mine if isinstance(mine, list) else []), *value]
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


# --------------------------------------------------------------------------- full JSON Schema

# Keywords Gemini reads in `parametersJsonSchema` / `responseJsonSchema` (python-genai types.py,
# docstring of `response_json_schema`; ../docs/gemini.md "Tool schemas"). `$ref`/`$defs` are
# inlined before sending, so they are not here; everything else is dropped.
_JSON_PLAIN: Final[dict[str, type | tuple[type, ...]]] = {
    "$id": str,
    "$anchor": str,
    "format": str,
    "title": str,
    "description": str,
    "minItems": int,
    "maxItems": int,
    "minimum": (int, float),
    "maximum": (int, float),
    "propertyOrdering": list,
}
_JSON_TYPES: Final = frozenset(
    {"string", "number", "integer", "boolean", "array", "object", "null"}
)
_UNROLL: Final = 2  # a recursive $ref is inlined this many times, then cut to its bare type
_MAX_NODES: Final = 20_000  # inlining shared $refs multiplies nodes: a schema bomb stops here
_MODEL_VERSION: Final = re.compile(r"gemini-(\d+)(?:\.(\d+))?")


def accepts_json_schema(model: str, api_version: str) -> bool:
    """True when `parametersJsonSchema`/`responseJsonSchema` may be sent: v1beta or v1alpha,
    Gemini 2.5 or later (or a `-latest` alias); tuned and older models keep `parameters`."""
    if (api_version or "v1beta") not in ("v1beta", "v1alpha"):
        return False
    found = _MODEL_VERSION.search(model)
    if found is None:
        return model.endswith("-latest") and "gemini" in model
    return (int(found.group(1)), int(found.group(2) or 0)) >= (2, 5)


def response_json_schema(
    config: dict[str, Any], body: Mapping[str, Any], model: str, api_version: str
) -> None:
    """Swap generationConfig's cleaned `responseSchema` for the full `responseJsonSchema`
    where the model accepts it (the two are mutually exclusive)."""
    if "responseSchema" not in config or not accepts_json_schema(model, api_version):
        return
    fmt = body.get("response_format")
    spec = fmt.get("json_schema") if isinstance(fmt, Mapping) else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    where = "response_format.json_schema.schema"
    full = json_schema(schema, where=where, object_root=False)
    if full:
        del config["responseSchema"]
        config["responseJsonSchema"] = full


def json_schema(
    schema: Any, *, where: str = "schema", object_root: bool = True
) -> dict[str, Any] | None:
    """A JSON Schema Gemini accepts as `parametersJsonSchema` (or `responseJsonSchema`:
    `object_root=False`), or None when it cannot be one (function arguments whose root is not
    an object: the caller falls back to clean_schema)."""
    if not isinstance(schema, Mapping):
        raise RequestError(f"{where} must be a JSON Schema object", param=where)
    out = _JsonSchema(schema, where).node(schema, (), 0)
    if not object_root:
        return out
    kind = out.get("type")
    if kind is None and set(out) - {"title", "description"} <= {"properties", "required"}:
        out["type"] = "object"  # a bare {"properties": ...} (or {}) is an object
    elif isinstance(kind, list) and "object" in kind:
        out["type"] = "object"  # the arguments are never null
    return out if out.get("type") == "object" else None


class _JsonSchema:
    """One schema's conversion: the root (for `#/...` pointers) and where errors point."""

    def __init__(self, root: Mapping[str, Any], where: str) -> None:
        self.pointers = _Pointers(root)
        self.where = where
        self.nodes = 0

    def node(self, node: Any, refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
            return {}
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise RequestError(
                f"{self.where} grows past {_MAX_NODES} schema nodes once its $refs are inlined",
                param=self.where,
            )
        ref = node.get("$ref")
        if isinstance(ref, str):
            if refs.count(ref) >= _UNROLL:  # recursion: stop with the bare type
                target = self.pointer(ref)
                kind = target.get("type")
                return {"type": kind} if isinstance(kind, str) and kind in _JSON_TYPES else {}
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return self.node({**self.pointer(ref), **rest}, (*refs, ref), depth + 1)
        node = self.merge_all_of(node)
        out: dict[str, Any] = {}
        for key, kinds in _JSON_PLAIN.items():
            value = node.get(key)
            if isinstance(value, kinds) and not isinstance(value, bool):
                out[key] = value
        _json_type(node, out)
        _json_enum(node, out)
        sub = self.node
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            out["properties"] = {str(k): sub(v, refs, depth + 1) for k, v in properties.items()}
            required = node.get("required")
            if isinstance(required, list):
                names = [r for r in required if isinstance(r, str) and r in out["properties"]]
                if names:
                    out["required"] = list(dict.fromkeys(names))
        items = node.get("items")
        if isinstance(items, Mapping):
            out["items"] = sub(items, refs, depth + 1)
        elif isinstance(items, list):  # draft-04 tuples are prefixItems now
            node = {**node, "prefixItems": items}
        prefix = node.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            out["prefixItems"] = [sub(p, refs, depth + 1) for p in prefix]
        extra = node.get("additionalProperties")
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif isinstance(extra, Mapping):
            out["additionalProperties"] = sub(extra, refs, depth + 1)
        union = node.get("anyOf", node.get("oneOf"))  # Gemini treats oneOf as anyOf
        if isinstance(union, list) and union:
            out["anyOf"] = [sub(b, refs, depth + 1) for b in union]
        return out

    def pointer(self, ref: str) -> Mapping[str, Any]:
        """The schema a local `#/...` JSON pointer names; anything else is a 400."""
        target = self.pointers.get(ref)
        if not isinstance(target, Mapping):
            raise RequestError(
                f"{self.where}: JSON Schema reference {ref!r} cannot be resolved; only local "
                "'#/...' references are supported",
                param=self.where,
            )
        return target

    def merge_all_of(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        parts = node.get("allOf")
        if not isinstance(parts, list):
            return node
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in parts:
            for _ in range(_UNROLL):  # a chain of refs; a cycle simply stops here
                if not isinstance(part, Mapping) or not isinstance(part.get("$ref"), str):
                    break
                rest = {k: v for k, v in part.items() if k != "$ref"}
                part = {**self.pointer(part["$ref"]), **rest}
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                mine = merged.get(key)
                if key == "properties" and isinstance(value, Mapping):
                    merged[key] = {**(mine if isinstance(mine, Mapping) else {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged[key] = [*(mine if isinstance(mine, list) else []), *value]
                elif key not in ("$ref", "allOf"):
                    merged.setdefault(key, value)
        return merged


def _json_type(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """`type` as a name or a list of names (JSON Schema spelling, lower case)."""
    kind = node.get("type")
    if isinstance(kind, str) and kind.lower() in _JSON_TYPES:
        out["type"] = kind.lower()
    elif isinstance(kind, list):
        names = list(dict.fromkeys(str(k).lower() for k in kind if str(k).lower() in _JSON_TYPES))
        if names:
            out["type"] = names[0] if len(names) == 1 else names


def _json_enum(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """`enum`/`const`: Gemini takes strings and numbers; a boolean or null const sets the type."""
    values = [node["const"]] if "const" in node else node.get("enum")
    if not isinstance(values, list):
        return
    kept = [v for v in values if isinstance(v, str | int | float) and not isinstance(v, bool)]
    if kept:
        out["enum"] = list(dict.fromkeys(kept))
    elif values and "type" not in out:
        if all(isinstance(v, bool) for v in values):
            out["type"] = "boolean"
        elif all(v is None for v in values):
            out["type"] = "null"


def holds_ref(value: Any, depth: int = 0) -> bool:
    """True when a JSON value has a `$ref` key with a string somewhere (Gemini 3 resolves those
    even inside a tool's result and refuses the request when they point nowhere)."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, Mapping):
        if isinstance(value.get("$ref"), str):
            return True
        return any(holds_ref(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(holds_ref(v, depth + 1) for v in value)
    return False
