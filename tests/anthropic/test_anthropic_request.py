"""Provider: chat request -> Anthropic Messages request, one mapping rule per test.

Every translated body also passes `anthropic_rules`: the official SDK's request types plus the
rules Anthropic's API enforces (alternation, tool_result placement, thinking limits).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from aoa_proxy.bridges.anthropic_messages import ThinkingCache
from aoa_proxy.bridges.anthropic_models import ModelTraits, traits
from aoa_proxy.bridges.anthropic_request import (
    DEFAULT_MAX_TOKENS,
    JSON_OBJECT_LINE,
    JSON_TOOL,
    THINKING_BUDGETS,
    AnthropicCall,
    to_messages_request,
)
from aoa_proxy.errors import RequestError
from tests.anthropic.support import anthropic_rules

PNG = "iVBORw0KGgo="


def translate(*messages: dict[str, Any], **fields: Any) -> AnthropicCall:
    chat: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "messages": list(messages) or [user("Hi")],
    }
    chat.update(fields)
    call = to_messages_request(chat)
    anthropic_rules(call.body)
    return call


def body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = translate(*messages, **fields).body
    return out


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any = None, *calls: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def call(call_id: str, name: str = "get_weather", arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


# --------------------------------------------------------------------------- messages


def test_system_and_developer_messages_anywhere_are_hoisted() -> None:
    out = body(
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        {"role": "developer", "content": [text("Use French.")]},
        assistant("Salut"),
        user("Again"),
    )
    assert out["system"] == "Be brief.\nUse French."
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]


def test_user_string_becomes_a_text_block() -> None:
    assert body(user("Hi"))["messages"] == [{"role": "user", "content": [text("Hi")]}]


def test_data_url_image_becomes_a_base64_image() -> None:
    part = {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"},
    }
    assert body(user([text("What?"), part]))["messages"][0]["content"] == [
        text("What?"),
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]


def test_http_image_becomes_a_url_image() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    assert body(user([part]))["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}
    ]


@pytest.mark.parametrize(
    "url", ["data:image/bmp;base64,Qk0=", "ftp://example.com/a.png", "data:image/png,raw"]
)
def test_images_claude_cannot_read_are_400s(url: str) -> None:
    with pytest.raises(RequestError) as info:
        translate(user([{"type": "image_url", "image_url": {"url": url}}]))
    assert info.value.status == 400


def test_pdf_file_becomes_a_document() -> None:
    part = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
    }
    assert body(user([part, text("Summarise")]))["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        },
        text("Summarise"),
    ]


def test_text_file_becomes_a_text_document() -> None:
    data = base64.b64encode("héllo".encode()).decode()
    part = {"type": "file", "file": {"file_data": f"data:text/markdown;base64,{data}"}}
    assert body(user([part]))["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
        }
    ]


@pytest.mark.parametrize(
    "file",
    [
        {"file_id": "file-abc"},
        {"file_data": "data:application/zip;base64,UEs="},
        {"file_data": "JVBERi0="},
    ],
)
def test_files_claude_cannot_take_are_400s(file: dict[str, Any]) -> None:
    with pytest.raises(RequestError):
        translate(user([{"type": "file", "file": file}]))


def test_audio_is_dropped() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    assert body(user([text("Listen"), audio]))["messages"][0]["content"] == [text("Listen")]


def test_empty_and_blank_text_is_dropped() -> None:
    out = body(user([text(""), text("  "), text("Hi")]))
    assert out["messages"][0]["content"] == [text("Hi")]


def test_tool_calls_become_tool_use_blocks_and_results_one_user_turn() -> None:
    out = body(
        user("Weather in Paris and Rome?"),
        assistant(
            "Checking.",
            call("c1", arguments='{"city":"Paris"}'),
            call("c2", arguments='{"city":"Rome"}'),
        ),
        tool("c1", "Sunny"),
        tool("c2", [text("Rain")]),
        user("Thanks"),
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            text("Checking."),
            {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "c2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "Sunny"},
            {"type": "tool_result", "tool_use_id": "c2", "content": [text("Rain")]},
            text("Thanks"),
        ],
    }


def test_tool_results_move_before_user_text_in_the_same_turn() -> None:
    out = body(user("Go"), assistant(None, call("c1")), user("Also this"), tool("c1", "done"))
    assert [b["type"] for b in out["messages"][2]["content"]] == ["tool_result", "text"]


def test_empty_tool_result_has_no_content() -> None:
    out = body(user("Go"), assistant(None, call("c1")), tool("c1", ""))
    assert out["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c1"}]


def test_unparsable_replayed_arguments_become_an_empty_input() -> None:
    out = body(user("Go"), assistant(None, call("c1", arguments="{oops")), tool("c1", "x"))
    assert out["messages"][1]["content"][0]["input"] == {}


def test_same_role_runs_are_merged() -> None:
    out = body(user("a"), user("b"), assistant("c"), assistant("d"), user("e"))
    assert out["messages"] == [
        {"role": "user", "content": [text("a"), text("b")]},
        {"role": "assistant", "content": [text("c"), text("d")]},
        {"role": "user", "content": [text("e")]},
    ]


def test_a_conversation_opening_with_the_assistant_gets_a_user_turn_first() -> None:
    out = body(assistant("Hello, how can I help?"), user("Hi"))
    assert out["messages"][0] == {"role": "user", "content": [text(".")]}


def test_only_a_system_message_still_sends_a_user_turn() -> None:
    out = body({"role": "system", "content": "Say hi."})
    assert out["system"] == "Say hi."
    assert out["messages"] == [{"role": "user", "content": [text(".")]}]


def test_trailing_assistant_is_dropped_for_models_without_prefill() -> None:
    out = body(user("Hi"), assistant("Well, "), model="claude-opus-4-6")
    assert [m["role"] for m in out["messages"]] == ["user"]


def test_trailing_assistant_is_a_prefill_without_trailing_space_on_older_models() -> None:
    out = body(user("Hi"), assistant("Well, "), model="claude-sonnet-4-5")
    assert out["messages"][-1] == {"role": "assistant", "content": [text("Well,")]}


def test_legacy_function_messages_become_tool_use_and_results() -> None:
    out = body(
        user("Go"),
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "f", "arguments": '{"a":1}'},
        },
        {"role": "function", "name": "f", "content": "done"},
        functions=[{"name": "f", "parameters": {"type": "object"}}],
    )
    use = out["messages"][1]["content"][0]
    assert (use["name"], use["input"]) == ("f", {"a": 1})
    assert out["messages"][2]["content"][0]["tool_use_id"] == use["id"]


@pytest.mark.parametrize(
    "messages",
    [[], "hi", [{"role": "robot", "content": "x"}], [{"role": "tool", "content": "x"}], [5]],
)
def test_malformed_messages_are_400s(messages: Any) -> None:
    with pytest.raises(RequestError):
        to_messages_request({"model": "claude-sonnet-4-5", "messages": messages})


# --------------------------------------------------------------------------- parameters


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert body(max_completion_tokens=100, max_tokens=50)["max_tokens"] == 100
    assert body(max_tokens=50)["max_tokens"] == 50


def test_missing_max_tokens_gets_the_documented_default() -> None:
    assert body()["max_tokens"] == DEFAULT_MAX_TOKENS == 4096
    out = to_messages_request({"model": "m", "messages": [user("x")]}, default_max_tokens=1000).body
    assert out["max_tokens"] == 1000


def test_default_max_tokens_leaves_room_for_thinking() -> None:
    out = body(reasoning_effort="high", model="claude-sonnet-4-5")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS + 16384


def test_a_budget_above_max_tokens_is_lowered() -> None:
    out = body(reasoning_effort="high", max_tokens=8000, model="claude-sonnet-4-5")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 4000}


def test_thinking_is_left_out_when_max_tokens_has_no_room_for_it() -> None:
    out = body(reasoning_effort="low", max_tokens=1024, model="claude-sonnet-4-5")
    assert "thinking" not in out


def test_temperature_is_capped_at_one_and_wins_over_top_p() -> None:
    out = body(temperature=1.7, top_p=0.5)
    assert out["temperature"] == 1.0 and "top_p" not in out
    assert body(top_p=0.5)["top_p"] == 0.5


def test_sampling_is_dropped_while_thinking() -> None:
    out = body(temperature=0.2, top_p=0.5, top_k=5, reasoning_effort="low", model="claude-opus-4-6")
    assert not {"temperature", "top_p", "top_k"} & set(out)


@pytest.mark.parametrize(
    ("stop", "expected"), [("END", ["END"]), (["A", " ", "\n", "B"], ["A", "B"]), ([" "], None)]
)
def test_stop_becomes_stop_sequences_without_blank_ones(
    stop: Any, expected: list[str] | None
) -> None:
    assert body(stop=stop).get("stop_sequences") == expected


def test_n_above_one_is_a_400() -> None:
    with pytest.raises(RequestError, match="'n' must be 1"):
        translate(n=2)
    assert "n" not in body(n=1)


def test_user_becomes_metadata_user_id() -> None:
    assert body(user="alice")["metadata"] == {"user_id": "alice"}


def test_openai_only_fields_are_dropped() -> None:
    out = body(
        logprobs=True,
        top_logprobs=2,
        logit_bias={"1": 2},
        presence_penalty=0.5,
        frequency_penalty=0.5,
        seed=3,
        store=True,
        metadata={"k": "v"},
        service_tier="auto",
    )
    assert set(out) == {"model", "messages", "max_tokens", "stream"}


def test_stream_follows_the_body_unless_the_provider_says() -> None:
    chat = {
        "model": "m",
        "messages": [user("x")],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    call_ = to_messages_request(chat)
    assert call_.body["stream"] is True and call_.include_usage
    assert to_messages_request({**chat, "stream": False}, stream=True).body["stream"] is True


def test_upstream_model_is_sent_and_answers_keep_the_clients_name() -> None:
    call_ = to_messages_request(
        {"model": "gpt-4o", "messages": [user("x")]}, upstream_model="claude-opus-4-6"
    )
    assert call_.body["model"] == "claude-opus-4-6"
    assert call_.model == "gpt-4o"


# --------------------------------------------------------------------------- tools


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


def test_function_tools_become_anthropic_tools() -> None:
    assert body(tools=[WEATHER])["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        }
    ]


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    out = body(tools=[{"type": "function", "function": {"name": "now"}}])
    assert out["tools"] == [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]


def test_non_function_tools_are_400s() -> None:
    with pytest.raises(RequestError, match="function tools"):
        translate(tools=[{"type": "custom", "custom": {"name": "x"}}])


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (None, None, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice_table(choice: Any, parallel: Any, expected: Any) -> None:
    fields: dict[str, Any] = {"tools": [WEATHER]}
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    assert body(**fields).get("tool_choice") == expected


def test_tool_choice_without_tools_is_left_out() -> None:
    assert "tool_choice" not in body(tool_choice="auto")


def test_legacy_functions_and_function_call() -> None:
    out = body(functions=[WEATHER["function"]], function_call={"name": "get_weather"})
    assert out["tools"][0]["name"] == "get_weather"
    assert out["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert translate(functions=[WEATHER["function"]]).legacy


# --------------------------------------------------------------------------- output formats

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "t", "schema": SCHEMA, "strict": True},
}


def test_json_schema_uses_structured_outputs_where_the_model_has_them() -> None:
    call_ = translate(response_format=JSON_SCHEMA, model="claude-sonnet-4-5")
    assert call_.body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert not call_.json_tool


def test_json_schema_is_a_forced_tool_on_older_models() -> None:
    call_ = translate(
        response_format=JSON_SCHEMA, model="claude-sonnet-4-20250514", reasoning_effort="high"
    )
    assert call_.json_tool
    assert call_.body["tools"][-1]["name"] == JSON_TOOL
    assert call_.body["tools"][-1]["input_schema"] == SCHEMA
    assert call_.body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert "thinking" not in call_.body  # a forced tool cannot think


def test_json_object_adds_a_system_line() -> None:
    out = body(
        {"role": "system", "content": "Be terse."},
        user("Hi"),
        response_format={"type": "json_object"},
    )
    assert out["system"] == f"Be terse.\n{JSON_OBJECT_LINE}"


def test_text_format_changes_nothing_and_unknown_formats_are_400s() -> None:
    assert "output_config" not in body(response_format={"type": "text"})
    with pytest.raises(RequestError):
        translate(response_format={"type": "yaml"})


# --------------------------------------------------------------------------- thinking


@pytest.mark.parametrize(
    ("model", "effort", "thinking", "level"),
    [
        ("claude-opus-4-6", "minimal", {"type": "adaptive"}, "low"),
        ("claude-opus-4-6", "low", {"type": "adaptive"}, "low"),
        ("claude-opus-4-6", "medium", {"type": "adaptive"}, "medium"),
        ("claude-opus-4-6", "high", {"type": "adaptive"}, "high"),
        ("claude-opus-4-6", "xhigh", {"type": "adaptive"}, "max"),
        ("claude-opus-4-8", "max", {"type": "adaptive"}, "max"),
        ("claude-sonnet-4-6", "max", {"type": "adaptive"}, "high"),
        ("my-foundry-deployment", "medium", {"type": "adaptive"}, "medium"),
        ("claude-sonnet-4-5", "low", {"type": "enabled", "budget_tokens": 1024}, None),
        ("claude-sonnet-4-5", "medium", {"type": "enabled", "budget_tokens": 4096}, None),
        ("claude-3-7-sonnet-20250219", "high", {"type": "enabled", "budget_tokens": 16384}, None),
        ("claude-opus-4-6", "none", None, None),
    ],
)
def test_reasoning_effort_table(model: str, effort: str, thinking: Any, level: str | None) -> None:
    out = body(model=model, reasoning_effort=effort)
    assert out.get("thinking") == thinking
    assert out.get("output_config", {}).get("effort") == level


def test_unknown_reasoning_effort_is_a_400() -> None:
    with pytest.raises(RequestError, match="reasoning_effort"):
        translate(reasoning_effort="extreme")


def test_anthropic_thinking_field_passes_through() -> None:
    out = body(thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=4096)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_thinking_is_dropped_when_a_tool_is_forced() -> None:
    out = body(
        tools=[WEATHER], tool_choice="required", reasoning_effort="high", model="claude-opus-4-6"
    )
    assert "thinking" not in out and "output_config" not in out


def test_thinking_is_dropped_when_the_last_tool_turn_lost_its_thinking() -> None:
    out = body(
        user("Go"),
        assistant(None, call("c1")),
        tool("c1", "done"),
        tools=[WEATHER],
        reasoning_effort="high",
        model="claude-opus-4-6",
    )
    assert "thinking" not in out


def test_remembered_thinking_is_put_back_and_thinking_stays_on() -> None:
    cache = ThinkingCache()
    blocks = [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "redacted_thinking", "data": "x"},
    ]
    cache.remember(["c1"], blocks)
    chat = {
        "model": "claude-opus-4-6",
        "messages": [user("Go"), assistant(None, call("c1")), tool("c1", "done")],
        "tools": [WEATHER],
        "reasoning_effort": "high",
    }
    out = to_messages_request(chat, thinking=cache).body
    anthropic_rules(out)
    assert out["messages"][1]["content"][:2] == blocks
    assert out["thinking"] == {"type": "adaptive"}


def test_thinking_cache_is_bounded() -> None:
    cache = ThinkingCache(size=2)
    for i in range(3):
        cache.remember([f"c{i}"], [{"type": "thinking", "thinking": str(i), "signature": "s"}])
    assert cache.get("c0") is None and cache.get("c2") is not None


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-opus-4-8", ModelTraits(True, True, False, True)),
        ("claude-opus-4-6", ModelTraits(True, True, False, True)),
        ("claude-sonnet-4-6", ModelTraits(True, True, False, False)),
        ("claude-sonnet-5", ModelTraits(True, True, False, False)),
        ("claude-fable-5", ModelTraits(True, True, False, True)),
        ("claude-mythos-preview", ModelTraits(True, True, False, True)),
        ("claude-sonnet-4-5-20250929", ModelTraits(False, True, True, False)),
        ("claude-haiku-4-5", ModelTraits(False, True, True, False)),
        ("claude-opus-4-1", ModelTraits(False, True, True, False)),
        ("claude-opus-4-20250514", ModelTraits(False, False, True, False)),
        ("claude-sonnet-4-20250514", ModelTraits(False, False, True, False)),
        ("claude-3-7-sonnet-20250219", ModelTraits(False, False, True, False)),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", ModelTraits(False, False, True, False)),
        ("prod-claude", ModelTraits(True, True, False, True)),
    ],
)
def test_model_traits_from_names(model: str, expected: ModelTraits) -> None:
    assert traits(model) == expected


def test_thinking_budgets_are_at_least_anthropics_minimum() -> None:
    assert min(THINKING_BUDGETS.values()) >= 1024
