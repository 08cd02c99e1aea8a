"""The fake Gemini's Gemini-3-era rules (../shared/specs/gemini3.md): full JSON Schema in
`parametersJsonSchema`/`responseJsonSchema`, built-in tools (Google Search) and how they mix
with function calling, image output config, `$ref` in tool results; and the answers it gives
with grounding metadata and drawn images."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any


class Invalid(Exception):
    """A request Gemini would refuse with 400 INVALID_ARGUMENT."""


# The keywords Gemini documents for JSON Schema fields (python-genai types.py).
JSON_SCHEMA_KEYS = {
    "$id",
    "$defs",
    "$ref",
    "$anchor",
    "type",
    "format",
    "title",
    "description",
    "enum",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "anyOf",
    "oneOf",
    "properties",
    "additionalProperties",
    "required",
    "propertyOrdering",
}
JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


def tiny_png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


ASPECT_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"}
IMAGE_SIZES = {"1K", "2K", "4K"}
PNG_B64 = base64.b64encode(tiny_png()).decode()


def generation(model: str) -> int:
    found = re.search(r"gemini-(\d+)", model)
    return int(found.group(1)) if found else 99


def validate_json_schema(schema: Any, where: str, *, root_object: bool) -> None:
    """A `parametersJsonSchema` (root_object) or `responseJsonSchema` as Gemini checks it."""
    if not isinstance(schema, dict):
        raise Invalid(f"{where} must be a JSON object")
    if root_object and schema.get("type") != "object":
        raise Invalid(f"{where}: the root schema must have type object")
    defs = schema.get("$defs") or {}
    _json_node(schema, where, defs, 0)


def _json_node(node: Any, where: str, defs: dict[str, Any], depth: int) -> None:
    if depth > 64:
        raise Invalid(f"{where}: schema nests too deeply")
    if not isinstance(node, dict):
        raise Invalid(f"{where} must be a schema object")
    unknown = set(node) - JSON_SCHEMA_KEYS
    if unknown:
        raise Invalid(f"{where}: unsupported JSON Schema keywords {sorted(unknown)}")
    if "$ref" in node:
        ref = node["$ref"]
        others = [k for k in node if not k.startswith("$") and k not in ("description", "default")]
        if others:
            raise Invalid(
                f"$ref '{ref}' was set alongside unsupported fields. If a schema node has $ref "
                "set, then only description and default can be set alongside it"
            )
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if not name or name not in defs:
            raise Invalid(f"reference to undefined schema at {where}")
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    if any(k not in JSON_TYPES for k in kinds):
        raise Invalid(f"Invalid value at '{where}.type'")
    for value in node.get("enum", []):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise Invalid(f"{where}.enum: only strings and numbers are supported")
    props = node.get("properties") or {}
    for name, sub in props.items():
        _json_node(sub, f"{where}.properties.{name}", defs, depth + 1)
    for req in node.get("required") or []:
        if req not in props:
            raise Invalid(f"{where}.required: {req} is not a property")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _json_node(node[key], f"{where}.{key}", defs, depth + 1)
    for key in ("anyOf", "oneOf", "prefixItems"):
        for j, sub in enumerate(node.get(key) or []):
            _json_node(sub, f"{where}.{key}.{j}", defs, depth + 1)
    for name, sub in defs.items() if depth == 0 else ():
        _json_node(sub, f"$defs.{name}", defs, depth + 1)


def validate_builtins(tools: list[Any], config: Any, model: str, functions: bool) -> None:
    """Built-in tools alone, or with functions only on Gemini 3 with the opt-in flag."""
    builtins = [k for tool in tools for k in tool if k != "functionDeclarations"]
    for kind in builtins:
        if kind == "googleSearchRetrieval":
            raise Invalid(
                "Please use google_search field instead of google_search_retrieval field."
            )
        if kind not in ("googleSearch", "urlContext"):
            raise Invalid(f"Invalid JSON payload received. Unknown name \"{kind}\" at 'tools[0]'")
    if not builtins or not functions:
        return
    if generation(model) < 3:
        raise Invalid("Tool use with function calling is unsupported")
    if not (isinstance(config, dict) and config.get("includeServerSideToolInvocations") is True):
        raise Invalid(
            "Please enable tool_config.include_server_side_tool_invocations to use Built-in "
            "tools with Function calling."
        )


def validate_output_config(config: dict[str, Any]) -> None:
    if "responseJsonSchema" in config:
        if "responseSchema" in config:
            raise Invalid("responseSchema and responseJsonSchema are mutually exclusive")
        if config.get("responseMimeType") != "application/json":
            raise Invalid("responseJsonSchema needs responseMimeType application/json")
        validate_json_schema(
            config["responseJsonSchema"],
            "generation_config.response_json_schema",
            root_object=False,
        )
    modalities = config.get("responseModalities", [])
    if any(m not in ("TEXT", "IMAGE", "AUDIO") for m in modalities):
        raise Invalid("Invalid value at 'generation_config.response_modalities'")
    image = config.get("imageConfig", {})
    if set(image) - {"aspectRatio", "imageSize"}:
        raise Invalid(f"Unknown name in 'generation_config.image_config': {sorted(image)}")
    if image.get("aspectRatio", "1:1") not in ASPECT_RATIOS:
        raise Invalid("Invalid value at 'generation_config.image_config.aspect_ratio'")
    if image.get("imageSize", "1K") not in IMAGE_SIZES:
        raise Invalid("Invalid value at 'generation_config.image_config.image_size'")


def validate_function_results(contents: list[Any], model: str) -> None:
    """Gemini 3 resolves `$ref`s even inside a tool's result, and refuses dangling ones."""
    if generation(model) < 3:
        return
    for content in contents:
        for part in content.get("parts", []):
            response = part.get("functionResponse", {}).get("response")
            ref = _find_ref(response)
            if ref is not None:
                raise Invalid(
                    f"The referenced name `{ref}` in function_response.response does not match "
                    "to a display_name in the function_response.parts."
                )


def _find_ref(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            return str(value["$ref"])
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find_ref(item)
            if found is not None:
                return found
    return None


# --------------------------------------------------------------------------- answers


def add_parts(merged: list[dict[str, Any]], parts: list[dict[str, Any]]) -> None:
    """A whole answer holds streamed text as one part (grounding offsets count within it)."""
    for part in parts:
        if merged and set(merged[-1]) == {"text"} and set(part) == {"text"}:
            merged[-1] = {"text": merged[-1]["text"] + part["text"]}
        else:
            merged.append(part)


SOURCES = [
    ("https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA", "uefa.com"),
    ("https://vertexaisearch.cloud.google.com/grounding-api-redirect/BBB", "bbc.co.uk"),
]


def grounding_metadata(text: str, query: str) -> dict[str, Any]:
    """Metadata citing each sentence of `text` (UTF-8 byte offsets, zeros left out)."""
    raw = text.encode()
    supports = []
    start = 0
    for n, sentence in enumerate(s for s in re.split(r"(?<=\.) ", text) if s):
        size = len(sentence.encode())
        segment: dict[str, Any] = {"endIndex": start + size, "text": sentence}
        if start:
            segment["startIndex"] = start
        supports.append(
            {
                "segment": segment,
                "groundingChunkIndices": [n % len(SOURCES)],
                "confidenceScores": [0.9],
            }
        )
        start += size + 1
    assert start >= len(raw)
    return {
        "webSearchQueries": [query],
        "searchEntryPoint": {"renderedContent": '<div class="container">chips</div>'},
        "groundingChunks": [{"web": {"uri": u, "title": t}} for u, t in SOURCES],
        "groundingSupports": supports,
    }


def decorate(body: dict[str, Any], model: str, chunks: list[dict[str, Any]]) -> None:
    """Grounding metadata on the last chunk when Google Search was on; a drawn image after
    the text when an image model was asked for images."""
    tools = body.get("tools") or []
    last = chunks[-1]["candidates"][0]
    if any("googleSearch" in t for t in tools):
        text = "".join(
            p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
        )
        last["groundingMetadata"] = grounding_metadata(text, text[:40])
        chunks[-1]["usageMetadata"]["toolUsePromptTokenCount"] = 50
    config = body.get("generationConfig") or {}
    if "image" in model and "IMAGE" in config.get("responseModalities", []):
        last["content"]["parts"].append(
            {"inlineData": {"mimeType": "image/png", "data": PNG_B64}, "thoughtSignature": "aW1n"}
        )
