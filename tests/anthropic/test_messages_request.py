"""Front door: Anthropic Messages request -> chat request, one mapping rule per test."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest

from aoa_proxy.bridges.messages_request import (
    MEDIA_TOKENS,
    MessagesCall,
    count_tokens,
    estimate_tokens,
    to_chat_request,
)
from aoa_proxy.errors import RequestError
from tests.anthropic.support import CAPTURE_NAMES, capture, valid_chat_request

PDF = "JVBERi0xLjQK"
PNG = "iVBORw0KGgo="


def translate(**fields: Any) -> MessagesCall:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    body.update(fields)
    call = to_chat_request(body)
    valid_chat_request(call.chat)
    return call


def messages(*turns: dict[str, Any], **fields: Any) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = translate(messages=list(turns), **fields).chat["messages"]
    return chat


def user(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def tool_use(call_id: str, name: str = "get_weather", **args: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


# --------------------------------------------------------------------------- system


def test_system_string_becomes_the_first_system_message() -> None:
    assert messages(user(text("Hi")), system="Be brief.")[0] == {
        "role": "system",
        "content": "Be brief.",
    }


def test_system_blocks_are_joined_and_cache_control_dropped() -> None:
    system = [text("One."), text("Two.", cache_control={"type": "ephemeral"})]
    assert messages(user(text("Hi")), system=system)[0] == {
        "role": "system",
        "content": "One.\n\nTwo.",
    }


def test_claude_code_attribution_line_is_stripped_from_the_system_prompt() -> None:
    line = "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch=71fea;"
    system = [text(line), text("You are Claude Code.")]
    assert messages(user(text("Hi")), system=system)[0]["content"] == "You are Claude Code."


def test_mid_conversation_system_message_stays_in_place() -> None:
    out = messages(
        user(text("Hi")),
        {"role": "system", "content": "Reminder."},
        assistant(text("Hello")),
        {"role": "system", "content": [{"type": "mid_conv_system", "content": [text("Two")]}]},
    )
    assert [(m["role"], m["content"]) for m in out] == [
        ("user", "Hi"),
        ("system", "Reminder."),
        ("assistant", "Hello"),
        ("system", "Two"),
    ]


def test_system_blocks_must_be_text() -> None:
    with pytest.raises(RequestError, match="only text blocks"):
        translate(system=[{"type": "image", "source": {}}])


# --------------------------------------------------------------------------- content


def test_text_only_user_turn_becomes_a_string() -> None:
    assert messages(user(text("a"), text("b")))[-1] == {"role": "user", "content": "a\n\nb"}


def test_base64_image_becomes_a_data_url() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert messages(user(text("What is it?"), image))[-1]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]


def test_url_image_keeps_its_url() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}
    assert messages(user(image))[-1]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    ]


def test_file_id_image_is_a_clear_error() -> None:
    image = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    with pytest.raises(RequestError, match="Files API") as info:
        translate(messages=[user(image)])
    assert info.value.status == 400


def test_pdf_document_becomes_a_chat_file_part() -> None:
    doc = {
        "type": "document",
        "title": "report.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
    }
    assert messages(user(doc, text("Summarise")))[-1]["content"] == [
        {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {"type": "text", "text": "Summarise"},
    ]


def test_untitled_pdf_is_named_document_pdf() -> None:
    doc = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
    }
    part = messages(user(doc))[-1]["content"][0]
    assert part["file"]["filename"] == "document.pdf"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"type": "text", "media_type": "text/plain", "data": "Body"}, "Notes\n\nBody"),
        ({"type": "content", "content": [text("Body")]}, "Notes\n\nBody"),
        ({"type": "content", "content": "Body"}, "Notes\n\nBody"),
        (
            {"type": "url", "url": "https://example.com/a.pdf"},
            "Notes\nDocument: https://example.com/a.pdf",
        ),
    ],
)
def test_text_content_and_url_documents_become_text(source: dict[str, Any], expected: str) -> None:
    doc = {"type": "document", "title": "Notes", "source": source}
    assert messages(user(doc))[-1]["content"] == expected


def test_non_pdf_base64_document_is_an_error() -> None:
    doc = {"type": "document", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    with pytest.raises(RequestError, match="application/pdf"):
        translate(messages=[user(doc)])


def test_search_result_becomes_text() -> None:
    result = {
        "type": "search_result",
        "source": "https://example.com",
        "title": "Example",
        "content": [text("First."), text("Second.")],
    }
    assert messages(user(result))[-1]["content"] == "[https://example.com] Example\nFirst.\nSecond."


# --------------------------------------------------------------------------- tools in history


def test_tool_use_and_result_become_tool_calls_and_a_tool_message_with_the_same_id() -> None:
    out = messages(
        user(text("Weather in Paris?")),
        assistant(text("Let me check."), tool_use("toolu_1", city="Paris")),
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}),
    )
    assert out[1] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert out[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"}


def test_assistant_with_only_tool_calls_has_null_content() -> None:
    out = messages(
        user(text("Go")),
        assistant(tool_use("toolu_1")),
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}),
    )
    assert out[1]["content"] is None


def test_tool_results_come_right_after_the_call_and_text_beside_them_keeps_its_order() -> None:
    out = messages(
        user(text("Go")),
        assistant(tool_use("toolu_1"), tool_use("toolu_2")),
        user(
            text("Before"),
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
            text("Between"),
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "two"},
            text("After"),
        ),
    )
    assert out[2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "one"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "two"},
        {"role": "user", "content": "Before\n\nBetween\n\nAfter"},
    ]


def test_tool_result_blocks_are_joined_and_images_follow_in_a_user_message() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    out = messages(
        user(text("Screenshot?")),
        assistant(tool_use("toolu_1", name="screenshot")),
        user(
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [text("Taken."), image, text("1024x768")],
            }
        ),
    )
    assert out[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "Taken.\n\n1024x768"}
    assert out[3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("No such city", "Error: No such city"),
        ([text("Timeout")], "Error: Timeout"),
        (None, "Error"),
    ],
)
def test_is_error_is_carried_as_an_error_prefix(content: Any, expected: str) -> None:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True}
    if content is not None:
        result["content"] = content
    out = messages(user(text("Go")), assistant(tool_use("toolu_1")), user(result))
    assert out[2]["content"] == expected


def test_empty_tool_result_is_an_empty_tool_message() -> None:
    result = {"type": "tool_result", "tool_use_id": "toolu_1"}
    out = messages(user(text("Go")), assistant(tool_use("toolu_1")), user(result))
    assert out[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": ""}


def test_thinking_blocks_never_become_text() -> None:
    out = messages(
        user(text("Hi")),
        assistant(
            {"type": "thinking", "thinking": "secret plan", "signature": "sig"},
            {"type": "redacted_thinking", "data": "abc"},
            text("Hello"),
        ),
        user(text("Again")),
    )
    assert out[1] == {"role": "assistant", "content": "Hello"}
    assert "secret plan" not in str(out)


def test_assistant_turn_of_only_thinking_is_dropped() -> None:
    out = messages(
        user(text("Hi")),
        assistant({"type": "thinking", "thinking": "hmm", "signature": "s"}),
        user(text("Again")),
    )
    assert [m["role"] for m in out] == ["user", "user"]


def test_server_tool_blocks_in_history_are_dropped() -> None:
    out = messages(
        user(text("Search")),
        assistant(
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            text("Found it."),
        ),
    )
    assert out[1] == {"role": "assistant", "content": "Found it."}


def test_tool_use_in_a_user_turn_is_an_error() -> None:
    with pytest.raises(RequestError, match="assistant turns"):
        translate(messages=[user(tool_use("toolu_1"))])


# --------------------------------------------------------------------------- tools


def test_custom_tool_becomes_a_function_without_the_schema_dialect() -> None:
    tool = {
        "name": "get_weather",
        "description": "Weather",
        "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"city": {"type": "string", "minLength": 1}},
            "additionalProperties": False,
        },
        "cache_control": {"type": "ephemeral"},
    }
    assert translate(tools=[tool]).chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "minLength": 1}},
                    "additionalProperties": False,
                },
            },
        }
    ]


def test_server_and_typed_tools_are_dropped_with_a_debug_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "code_execution_20250825", "name": "code_execution"},
        {"name": "WebSearch", "input_schema": {"type": "object", "properties": {}}},
    ]
    with caplog.at_level(logging.DEBUG, logger="aoa_proxy.bridges.messages_tools"):
        chat = translate(tools=tools).chat
    assert [t["function"]["name"] for t in chat["tools"]] == ["WebSearch"]
    assert "web_search_20250305" in caplog.text and "bash_20250124" in caplog.text


def test_only_server_tools_means_no_tools() -> None:
    chat = translate(tools=[{"type": "web_search_20250305", "name": "web_search"}]).chat
    assert "tools" not in chat and "tool_choice" not in chat


def test_empty_tools_omit_tools_and_tool_choice() -> None:
    chat = translate(tools=[], tool_choice={"type": "auto"}).chat
    assert "tools" not in chat and "tool_choice" not in chat


def test_long_tool_names_are_shortened_and_mapped_back() -> None:
    long = "mcp__some_server_with_a_long_name__a_tool_whose_name_is_long_too_really"
    assert len(long) > 64
    call = translate(
        tools=[{"name": long, "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": long},
        messages=[
            user(text("Go")),
            assistant(tool_use("toolu_1", name=long)),
            user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}),
        ],
    )
    short = call.chat["tools"][0]["function"]["name"]
    assert len(short) == 64 and short.startswith(long[:55])
    assert call.chat["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert call.chat["tool_choice"] == {"type": "function", "function": {"name": short}}
    assert call.tool_name(short) == long


WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        (
            {"type": "tool", "name": "get_weather"},
            {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        ),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"tool_choice": "auto", "parallel_tool_calls": False},
        ),
        (
            {"type": "any", "disable_parallel_tool_use": True},
            {"tool_choice": "required", "parallel_tool_calls": False},
        ),
        (None, {}),
    ],
)
def test_tool_choice_table(choice: Any, expected: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"tools": [WEATHER]}
    if choice is not None:
        fields["tool_choice"] = choice
    chat = translate(**fields).chat
    assert {k: chat[k] for k in ("tool_choice", "parallel_tool_calls") if k in chat} == expected


def test_tool_choice_naming_a_dropped_tool_is_an_error() -> None:
    tools = [WEATHER, {"type": "bash_20250124", "name": "bash"}]
    with pytest.raises(RequestError, match="'bash'"):
        translate(tools=tools, tool_choice={"type": "tool", "name": "bash"})


def test_forcing_a_tool_when_only_server_tools_remain_is_an_error() -> None:
    with pytest.raises(RequestError, match="server tools"):
        translate(
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "any"},
        )


# --------------------------------------------------------------------------- parameters


def test_missing_max_tokens_is_a_400() -> None:
    body = {"model": "claude-sonnet-4-6", "messages": [user(text("Hi"))]}
    with pytest.raises(RequestError, match="max_tokens: Field required") as info:
        to_chat_request(body)
    assert info.value.status == 400


@pytest.mark.parametrize("value", [0, -1, "64", 1.5, True])
def test_max_tokens_must_be_a_positive_integer(value: Any) -> None:
    with pytest.raises(RequestError, match="max_tokens"):
        translate(max_tokens=value)


def test_max_tokens_becomes_max_completion_tokens() -> None:
    assert translate(max_tokens=64000).chat["max_completion_tokens"] == 64000


def test_max_tokens_is_clamped_to_the_model_limit() -> None:
    body = {"model": "m", "max_tokens": 64000, "messages": [user(text("Hi"))]}
    assert to_chat_request(body, max_output_tokens=8192).chat["max_completion_tokens"] == 8192
    body["max_tokens"] = 100
    assert to_chat_request(body, max_output_tokens=8192).chat["max_completion_tokens"] == 100


def test_stop_sequences_become_stop() -> None:
    call = translate(stop_sequences=["END", "###"])
    assert call.chat["stop"] == ["END", "###"]
    assert call.stop_sequences == ("END", "###")


def test_sampling_keeps_temperature_and_top_p_and_drops_top_k() -> None:
    chat = translate(temperature=0.2, top_p=0.9, top_k=40).chat
    assert (chat["temperature"], chat["top_p"]) == (0.2, 0.9)
    assert "top_k" not in chat


def test_short_user_id_becomes_user() -> None:
    assert translate(metadata={"user_id": "alice"}).chat["user"] == "alice"


def test_long_user_id_becomes_a_64_character_digest() -> None:
    user_id = "u" * 150
    expected = hashlib.sha256(user_id.encode()).hexdigest()
    assert translate(metadata={"user_id": user_id}).chat["user"] == expected


@pytest.mark.parametrize(
    ("thinking", "effort", "expected"),
    [
        (None, None, None),
        ({"type": "disabled"}, None, None),
        ({"type": "disabled"}, "high", None),
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 4095}, None, "low"),
        ({"type": "enabled", "budget_tokens": 4096}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 16383}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 16384}, None, "high"),
        ({"type": "enabled", "budget_tokens": 60000}, None, "high"),
        ({"type": "adaptive"}, None, "high"),
        ({"type": "adaptive"}, "low", "low"),
        ({"type": "adaptive"}, "medium", "medium"),
        ({"type": "adaptive"}, "xhigh", "xhigh"),
        ({"type": "adaptive"}, "max", "xhigh"),
        (None, "low", "low"),
    ],
)
def test_thinking_and_effort_to_reasoning_effort_table(
    thinking: Any, effort: Any, expected: str | None
) -> None:
    fields: dict[str, Any] = {"max_tokens": 64000}
    if thinking is not None:
        fields["thinking"] = thinking
    if effort is not None:
        fields["output_config"] = {"effort": effort}
    assert translate(**fields).chat.get("reasoning_effort") == expected


def test_reasoning_effort_is_left_out_for_targets_that_do_not_reason() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "thinking": {"type": "adaptive"},
        "messages": [user(text("Hi"))],
    }
    assert "reasoning_effort" not in to_chat_request(body, reasoning=False).chat


@pytest.mark.parametrize(
    "fields",
    [
        {"thinking": {"type": "sometimes"}},
        {"thinking": {"type": "enabled"}},
        {"output_config": {"effort": "extreme"}},
    ],
)
def test_unknown_thinking_settings_are_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(RequestError):
        translate(**fields)


def test_stream_asks_for_usage() -> None:
    call = translate(stream=True)
    assert call.stream
    assert (call.chat["stream"], call.chat["stream_options"]) == (True, {"include_usage": True})
    assert "stream" not in translate(stream=False).chat


def test_output_format_becomes_a_json_schema_response_format() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    expected = {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    chat = translate(output_config={"format": {"type": "json_schema", "schema": schema}}).chat
    assert chat["response_format"] == expected
    legacy = translate(output_format={"type": "json_schema", "schema": schema}).chat
    assert legacy["response_format"] == expected


def test_one_m_suffix_is_stripped_for_routing_but_answers_echo_the_name() -> None:
    call = translate(model="claude-sonnet-4-6[1m]")
    assert call.chat["model"] == "claude-sonnet-4-6"
    assert call.model == "claude-sonnet-4-6[1m]"


def test_anthropic_only_fields_are_dropped() -> None:
    chat = translate(
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        service_tier="auto",
        container="c",
        inference_geo="us",
        cache_control={"type": "ephemeral"},
        mcp_servers=[],
    ).chat
    assert set(chat) == {"model", "messages", "max_completion_tokens"}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"max_tokens": 1, "messages": []},
        {"model": "m", "max_tokens": 1},
        {"model": "m", "max_tokens": 1, "messages": [{"role": "tool", "content": "x"}]},
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": 5}]},
        {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"text": "x"}]}]},
    ],
)
def test_malformed_bodies_are_400s(body: Any) -> None:
    with pytest.raises(RequestError) as info:
        to_chat_request(body)
    assert info.value.status == 400


# --------------------------------------------------------------------------- Claude Code


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_claude_code_requests_translate_into_valid_chat_requests(name: str) -> None:
    call = to_chat_request(capture(name))
    valid_chat_request(call.chat)
    assert call.stream and call.chat["stream_options"] == {"include_usage": True}
    assert call.chat["max_completion_tokens"] == 64000
    assert len(call.chat["user"]) == 64
    assert "context_management" not in call.chat


def test_claude_code_first_turn_keeps_its_shape() -> None:
    call = to_chat_request(capture("claude-code-2.1.197-first-turn"))
    roles = [m["role"] for m in call.chat["messages"]]
    assert roles == ["system", "user", "system"]  # the trailing system message stays last
    system = call.chat["messages"][0]["content"]
    assert len(system) == 74 + 2 + 62 + 2 + 5659  # three blocks joined by blank lines
    assert len(call.chat["tools"]) == 25
    assert all("$schema" not in t["function"]["parameters"] for t in call.chat["tools"])
    assert "WebSearch" in {t["function"]["name"] for t in call.chat["tools"]}
    assert call.chat["reasoning_effort"] == "high"


def test_claude_code_title_request_asks_for_json_without_reasoning() -> None:
    call = to_chat_request(capture("claude-code-2.1.197-title-request"))
    assert "tools" not in call.chat
    assert "reasoning_effort" not in call.chat  # thinking disabled wins over effort
    assert call.chat["response_format"]["json_schema"]["schema"]["required"] == ["title"]


# --------------------------------------------------------------------------- count_tokens


def test_count_tokens_needs_no_max_tokens_and_counts_tools() -> None:
    body: dict[str, Any] = {"model": "m", "messages": [user(text("Hello there"))]}
    plain = count_tokens(body)["input_tokens"]
    body["tools"] = [WEATHER | {"description": "x" * 400}]
    assert count_tokens(body)["input_tokens"] >= plain + 100


def test_estimate_counts_four_bytes_a_token_and_a_fixed_cost_per_image() -> None:
    chat = {"messages": [{"role": "user", "content": "x" * 4000}]}
    plain = estimate_tokens(chat)
    assert 1000 <= plain <= 1010
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100000}}
    with_image = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 4000}, image]}]
    }
    assert estimate_tokens(with_image) - plain == pytest.approx(MEDIA_TOKENS, abs=10)


def test_count_tokens_of_the_claude_code_capture_is_close_to_its_size() -> None:
    body = capture("claude-code-2.1.197-first-turn")
    tokens = count_tokens(body)["input_tokens"]
    assert 15000 < tokens < 30000  # 85 KB of JSON
