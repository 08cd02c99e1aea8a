"""Tool calling through the gateway: declarations, choice, round trips, thought signatures."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conftest import Gateway
from tests.gemini.conftest import strict_chat
from tests.gemini.fake_gemini import FakeGemini, call_chunk, text_chunks

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "strict": True,
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "city": {"type": "string", "title": "City"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
                "days": {"type": "integer", "enum": [1, 3], "exclusiveMinimum": 0},
                "when": {"type": "string", "format": "date"},
                "kind": {"const": "forecast"},
            },
            "required": ["city", "unit", "days", "when", "kind", "ghost"],
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


def _answer_after_tools(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """Call tools on the first turn; once results are back, answer with them."""
    last = body["contents"][-1]["parts"]
    results = [p["functionResponse"] for p in last if "functionResponse" in p]
    if results:
        return text_chunks([json.dumps([r["response"] for r in results])])
    return call_chunk(
        [("get_weather", {"city": "Paris", "days": 1}), ("get_time", {})], signature="c2lnLTE="
    )


async def test_gemini_full_tool_round_trip_with_parallel_calls(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = _answer_after_tools
    client = gw.client()
    messages: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]
    raw = await client.chat.completions.with_raw_response.create(
        model="gemini-3-pro-preview", messages=messages, tools=[WEATHER, TIME]
    )
    first = strict_chat(raw.http_response.json(), "gemini-3-pro-preview")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "days": 1}  # type: ignore[union-attr]
    assert len({c.id for c in calls}) == 2

    declared = gemini.last.json["tools"][0]["functionDeclarations"]
    full = declared[0]["parametersJsonSchema"]  # Gemini 3 on v1beta: full JSON Schema
    assert full["required"] == ["city", "unit", "days", "when", "kind"]
    assert full["properties"]["days"]["enum"] == [1, 3]  # numbers stay numbers
    assert declared[1] == {"name": "get_time"}  # no-argument function: no parameters

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'})
    messages.append({"role": "tool", "tool_call_id": calls[1].id, "content": "12:00"})
    raw = await client.chat.completions.with_raw_response.create(
        model="gemini-3-pro-preview", messages=messages, tools=[WEATHER, TIME]
    )
    final = strict_chat(raw.http_response.json(), "gemini-3-pro-preview")
    assert json.loads(final.choices[0].message.content or "") == [{"temp": 21}, {"result": "12:00"}]
    contents = gemini.last.json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    replayed = contents[1]["parts"]
    # The signature Gemini gave comes back on the first call, none on the second.
    assert replayed[0]["thoughtSignature"] == "c2lnLTE=" and "thoughtSignature" not in replayed[1]
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == [
        "get_weather",
        "get_time",
    ]


async def test_gemini_signatures_outlive_a_switch_to_another_provider_and_back(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = _answer_after_tools
    client = gw.client()
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await client.chat.completions.create(
        model="gemini-3-pro-preview", messages=messages, tools=[WEATHER, TIME]
    )
    calls = first.choices[0].message.tool_calls or []
    gw.runtime.switch("demo")  # the tray menu, away and back
    gw.runtime.switch("gemini")
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls]
    await client.chat.completions.create(
        model="gemini-3-pro-preview", messages=messages, tools=[WEATHER, TIME]
    )
    assert gemini.last.json["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnLTE="


async def test_gemini_history_from_elsewhere_gets_the_documented_dummy_signature(
    gw: Gateway, gemini: FakeGemini
) -> None:
    data = await gw.client().chat.completions.create(
        model="gemini-3-pro-preview",
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_from_openai",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_from_openai", "content": "cold"},
        ],
    )
    assert data.choices[0].message.content == "Echo: Weather?"
    model_turn = gemini.last.json["contents"][1]["parts"]
    assert model_turn[0] == {"text": "Checking."}
    assert model_turn[1]["thoughtSignature"] == "skip_thought_signature_validator"
    assert model_turn[1]["functionCall"] == {"name": "get_weather", "args": {"city": "Oslo"}}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
async def test_gemini_tool_choice_maps_to_function_calling_config(
    gw: Gateway, gemini: FakeGemini, choice: Any, config: dict[str, Any]
) -> None:
    await gw.client().chat.completions.create(
        model="gemini-2.5-flash",
        tools=[WEATHER, TIME],
        tool_choice=choice,
        messages=[{"role": "user", "content": "x"}],
    )
    assert gemini.last.json["toolConfig"] == {"functionCallingConfig": config}


async def test_gemini_tool_choice_naming_an_unknown_function_is_a_400(gw: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(
            model="gemini-2.5-flash",
            tools=[TIME],
            tool_choice={"type": "function", "function": {"name": "nope"}},
            messages=[{"role": "user", "content": "x"}],
        )
    assert info.value.param == "tool_choice"


async def test_gemini_legacy_functions_answer_with_function_call(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: call_chunk([("get_time", {"tz": "UTC"})])
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gemini-2.5-flash",
        functions=[TIME["function"]],
        function_call={"name": "get_time"},
        messages=[{"role": "user", "content": "time?"}],
    )
    data = raw.http_response.json()
    strict_chat(data, "gemini-2.5-flash")
    choice = data["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {"name": "get_time", "arguments": '{"tz":"UTC"}'}
    assert "tool_calls" not in choice["message"]
    assert gemini.last.json["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
    }


async def test_gemini_legacy_function_result_goes_back_by_name(
    gw: Gateway, gemini: FakeGemini
) -> None:
    await gw.client().chat.completions.create(
        model="gemini-2.5-flash",
        functions=[TIME["function"]],
        messages=[
            {"role": "user", "content": "time?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_time", "arguments": "{}"},
            },
            {"role": "function", "name": "get_time", "content": "[1, 2]"},
        ],
    )
    parts = gemini.last.json["contents"][2]["parts"]
    assert parts == [{"functionResponse": {"name": "get_time", "response": {"result": [1, 2]}}}]


async def test_gemini_tool_result_for_an_unknown_call_id_is_a_400(
    gw: Gateway, gemini: FakeGemini
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(
            model="gemini-2.5-flash",
            tools=[TIME],
            messages=[
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "call_nobody_made", "content": "1"},
            ],
        )
    assert info.value.param == "messages[1].tool_call_id"
    assert not gemini.posts


async def test_gemini_streamed_tool_calls_accumulate_in_the_sdk(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: (
        [
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "Checking. "}]}, "index": 0}
                ]
            }
        ]
        + call_chunk([("get_weather", {"city": "Rome"}), ("get_time", {})], text=None)
    )
    async with gw.client().chat.completions.stream(
        model="gemini-2.5-flash",
        tools=[WEATHER, TIME],
        messages=[{"role": "user", "content": "Rome?"}],
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking. "
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Rome"}),
        ("get_time", {}),
    ]


async def test_gemini_own_call_ids_go_back_on_the_call_and_its_result(
    gw: Gateway, gemini: FakeGemini
) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        if "functionResponse" in body["contents"][-1]["parts"][0]:
            return text_chunks(["done"])
        return call_chunk([("get_time", {}), ("get_time", {"tz": "UTC"})], ids=["fc-a", "fc-b"])

    gemini.reply = reply
    client = gw.client()
    messages: list[Any] = [{"role": "user", "content": "Two times"}]
    first = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=messages, tools=[TIME]
    )
    calls = first.choices[0].message.tool_calls or []
    # Gemini's ids, marked as Gemini's (no signature follows: 2.5 without thinking sent none).
    assert [c.id for c in calls] == ["fc-a__gsign_", "fc-b__gsign_"]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "noon"} for c in calls]
    final = await client.chat.completions.create(
        model="gemini-2.5-flash", messages=messages, tools=[TIME]
    )
    assert final.choices[0].message.content == "done"
    contents = gemini.last.json["contents"]
    assert [p["functionCall"]["id"] for p in contents[1]["parts"]] == ["fc-a", "fc-b"]
    assert [p["functionResponse"]["id"] for p in contents[2]["parts"]] == ["fc-a", "fc-b"]
