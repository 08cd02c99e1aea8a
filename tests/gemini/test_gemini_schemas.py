"""Full JSON Schema for Gemini: MCP servers' real tool schemas go out as parametersJsonSchema
(local $refs inlined), older models keep the cleaned `parameters`, tool results that are JSON
Schemas no longer trip Gemini 3, and any schema at all translates or is refused cleanly."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.errors import RequestError
from aoa_proxy.providers.gemini_schema import accepts_json_schema, json_schema
from tests.conftest import Gateway
from tests.gemini.conftest import strict_chat
from tests.gemini.fake_gemini import FakeGemini, call_chunk, text_chunks, validate_generate
from tests.gemini.fake_gemini_rules import Invalid, validate_json_schema

# FastMCP / pydantic (scrapling's stealthy_fetch, trimmed): $defs, anyOf with null, defaults.
FASTMCP: Any = {
    "type": "object",
    "title": "stealthy_fetchArguments",
    "properties": {
        "url": {"type": "string", "title": "Url", "format": "uri"},
        "cookies": {
            "anyOf": [
                {"type": "array", "items": {"$ref": "#/$defs/SetCookieParam"}},
                {"type": "null"},
            ],
            "default": None,
            "title": "Cookies",
        },
        "timeout": {"type": "number", "default": 30000, "exclusiveMinimum": 0},
        "wait_selector_state": {
            "enum": ["attached", "detached", "hidden", "visible"],
            "type": "string",
            "default": "attached",
        },
    },
    "required": ["url"],
    "$defs": {
        "SetCookieParam": {
            "type": "object",
            "title": "SetCookieParam",
            "properties": {
                "name": {"type": "string"},
                "value": {"type": "string"},
                "sameSite": {
                    "anyOf": [
                        {"enum": ["Strict", "Lax", "None"], "type": "string"},
                        {"type": "null"},
                    ]
                },
                "expires": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                "partition": {"$ref": "#/$defs/SetCookieParam/$defs/Partition"},
            },
            "required": ["name", "value"],
            "$defs": {"Partition": {"type": "object", "properties": {"key": {"type": "string"}}}},
        }
    },
}
# zod-to-json-schema (TypeScript MCP servers): $schema, refs into properties, const
# discriminators in oneOf, numeric enums, type lists, allOf.
ZOD: Any = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "actions": {"type": "array", "items": {"$ref": "#/properties/headers"}},
        "retries": {"type": "integer", "enum": [0, 1, 3, 5]},
        "ratio": {"type": ["number", "string"]},
        "tree": {"$ref": "#/definitions/Node"},
        "target": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"kind": {"const": "page"}, "id": {"type": "string"}},
                    "required": ["kind", "id"],
                },
                {
                    "type": "object",
                    "properties": {"kind": {"const": "block"}, "depth": {"const": 2}},
                    "required": ["kind"],
                },
            ]
        },
        "flags": {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "boolean"}}},
                {"properties": {"b": {"type": "boolean", "const": True}}, "required": ["b"]},
            ]
        },
    },
    "required": ["actions", "target"],
    "definitions": {
        "Node": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}},
        }
    },
}


def _tool(name: str, schema: Any) -> Any:
    return {"type": "function", "function": {"name": name, "parameters": schema}}


async def test_mcp_schemas_go_to_gemini_as_full_json_schema(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: call_chunk([("fetch", {"url": "https://a"})], "c2ln")
    reply = await gw.client().chat.completions.create(
        model="gemini-3-pro-preview",
        messages=[{"role": "user", "content": "Fetch it"}],
        tools=[_tool("fetch", FASTMCP), _tool("act", ZOD)],
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    fetch, act = gemini.last.json["tools"][0]["functionDeclarations"]  # the fake validated both
    assert "parameters" not in fetch and "parameters" not in act
    cookies = fetch["parametersJsonSchema"]["properties"]["cookies"]
    cookie = cookies["anyOf"][0]["items"]
    assert cookies["anyOf"][1] == {"type": "null"}
    assert cookie["required"] == ["name", "value"]
    assert cookie["properties"]["partition"]["properties"] == {"key": {"type": "string"}}
    full = act["parametersJsonSchema"]
    assert "$schema" not in full and "$defs" not in json.dumps(full)
    assert full["properties"]["actions"]["items"]["additionalProperties"] == {"type": "string"}
    assert full["properties"]["retries"] == {"type": "integer", "enum": [0, 1, 3, 5]}
    assert full["properties"]["ratio"] == {"type": ["number", "string"]}
    page, block = full["properties"]["target"]["anyOf"]
    assert page["properties"]["kind"] == {"enum": ["page"]}
    assert block["properties"]["depth"] == {"enum": [2]}
    flags = full["properties"]["flags"]
    assert flags["properties"]["b"] == {"type": "boolean"} and flags["required"] == ["b"]
    tree = full["properties"]["tree"]["properties"]["children"]["items"]  # recursion, cut
    assert tree["properties"]["children"]["items"] == {"type": "object"}


async def test_older_models_keep_the_cleaned_parameters(gw: Gateway, gemini: FakeGemini) -> None:
    gemini.models.append("gemini-2.0-flash")
    await gw.client().chat.completions.create(
        model="gemini-2.0-flash",
        messages=[{"role": "user", "content": "Fetch it"}],
        tools=[_tool("fetch", FASTMCP), _tool("act", ZOD)],
    )
    fetch, act = gemini.last.json["tools"][0]["functionDeclarations"]
    assert "parametersJsonSchema" not in fetch
    assert fetch["parameters"]["properties"]["cookies"]["nullable"] is True
    assert act["parameters"]["properties"]["retries"]["description"] == "(one of: 0, 1, 3, 5)"


def test_json_schema_is_only_sent_where_the_api_and_model_take_it() -> None:
    assert accepts_json_schema("gemini-2.5-flash", "v1beta")
    assert accepts_json_schema("gemini-3.1-pro-preview", "v1alpha")
    assert accepts_json_schema("gemini-flash-latest", "")
    assert not accepts_json_schema("gemini-2.5-flash", "v1")
    assert not accepts_json_schema("gemini-2.0-flash", "v1beta")
    assert not accepts_json_schema("tunedModels/my-model", "v1beta")


async def test_unresolvable_ref_is_a_clear_400(gw: Gateway) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}
    with pytest.raises(openai.BadRequestError) as err:
        await gw.client().chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "x"}],
            tools=[_tool("f", schema)],
        )
    assert "https://example.com/a.json" in err.value.message
    assert "only local" in err.value.message


async def test_a_tool_result_that_is_a_json_schema_reaches_gemini_3(
    gw: Gateway, gemini: FakeGemini
) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        if "functionResponse" in body["contents"][-1]["parts"][0]:
            return text_chunks(["It takes a url."])
        return call_chunk([("tool_describe", {"name": "fetch"})], "c2ln")

    gemini.reply = reply
    client = gw.client()
    messages: list[Any] = [{"role": "user", "content": "Describe fetch"}]
    tools = [_tool("tool_describe", {"type": "object", "properties": {"name": {"type": "string"}}})]
    first = await client.chat.completions.create(
        model="gemini-3-pro-preview", messages=messages, tools=tools
    )
    call = (first.choices[0].message.tool_calls or [])[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(FASTMCP)})
    raw = await client.chat.completions.with_raw_response.create(
        model="gemini-3-pro-preview", messages=messages, tools=tools
    )
    assert strict_chat(raw.http_response.json(), "gemini-3-pro-preview").choices[0].message.content
    sent = gemini.last.json["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert sent == {"result": json.dumps(FASTMCP)}  # the text, so Gemini does not chase $refs


def test_the_fake_refuses_a_structured_result_with_refs_as_gemini_3_does() -> None:
    """What the gateway sent before: the parsed schema as the response object."""
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "Describe fetch"}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "d", "args": {}}, "thoughtSignature": "c2ln"}],
            },
            {"role": "user", "parts": [{"functionResponse": {"name": "d", "response": FASTMCP}}]},
        ]
    }
    with pytest.raises(Invalid, match="SetCookieParam"):
        validate_generate(body, "gemini-3-pro-preview")
    validate_generate(body, "gemini-2.5-flash")  # 2.5 takes it as data


# --------------------------------------------------------------------------- properties

_names = st.sampled_from(["a", "b", "Node", "x y", "~0"])
_leaf = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["string", "integer", "number", "boolean", "null", "object"])
        | st.lists(st.sampled_from(["string", "null", "integer", "bogus"]), max_size=3),
        "enum": st.lists(st.none() | st.booleans() | st.integers() | st.text(max_size=3)),
        "const": st.none() | st.booleans() | st.integers() | st.text(max_size=3),
        "format": st.sampled_from(["uri", "date-time", "int64"]),
        "description": st.text(max_size=5),
        "pattern": st.just("^a+$"),
        "minimum": st.integers() | st.booleans(),
        "default": st.integers(),
        "$ref": st.sampled_from(["#/$defs/a", "#/$defs/Node", "#/properties/a", "#", "#/$defs/zz"]),
    },
)


def _schemas() -> st.SearchStrategy[Any]:
    return st.recursive(
        _leaf,
        lambda inner: st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["object", "array"]),
                "properties": st.dictionaries(_names, inner, max_size=3),
                "required": st.lists(_names, max_size=3),
                "items": inner | st.lists(inner, max_size=2),
                "anyOf": st.lists(inner, max_size=3),
                "oneOf": st.lists(inner, max_size=2),
                "allOf": st.lists(inner, max_size=2),
                "additionalProperties": st.booleans() | inner,
                "$defs": st.dictionaries(_names, inner, max_size=3),
                "not": inner,
            },
        ),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas())
def test_any_json_schema_becomes_one_gemini_accepts_or_a_clean_400(schema: Any) -> None:
    try:
        params = json_schema(schema)
        response = json_schema(schema, object_root=False)
    except RequestError as exc:
        assert "reference" in exc.message or "schema nodes" in exc.message
        return
    if params is not None:
        validate_json_schema(params, "parameters", root_object=True)
    assert response is not None
    validate_json_schema(response, "response", root_object=False)
