"""Responses request -> chat request: one test per mapping rule of spec responses.md §6a/§6b."""

from __future__ import annotations

import re
from typing import Any

import pytest

from aoa_proxy.bridges.responses import ToolName, flat_name, to_chat
from aoa_proxy.errors import RequestError


def chat(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return to_chat({"model": "gpt-5", **body}, **kw).chat


def refused(body: dict[str, Any], **kw: Any) -> RequestError:
    with pytest.raises(RequestError) as info:
        to_chat({"model": "gpt-5", **body}, **kw)
    assert info.value.status == 400
    return info.value


def fn_tool(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "function", "name": name, "parameters": {"type": "object"}, **extra}


def call(call_id: str, name: str = "add", args: str = "{}", **extra: Any) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": args, **extra}


def output(call_id: str, out: Any = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": out}


# --------------------------------------------------------------------------- messages


def test_string_input_is_one_user_message():
    assert chat({"input": "hello"})["messages"] == [{"role": "user", "content": "hello"}]


def test_instructions_come_first_as_a_system_message():
    got = chat({"instructions": "be brief", "input": [{"role": "user", "content": "hi"}]})
    assert got["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


def test_system_and_developer_messages_stay_in_place_in_order():
    items = [
        {"role": "developer", "content": "d1"},
        {"type": "message", "role": "user", "content": "u1"},
        {"role": "system", "content": [{"type": "input_text", "text": "s1"}]},
        {
            "role": "developer",
            "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
        },
    ]
    assert chat({"instructions": "i", "input": items})["messages"] == [
        {"role": "system", "content": "i"},
        {"role": "system", "content": "d1"},
        {"role": "user", "content": "u1"},
        {"role": "system", "content": "s1"},
        {
            "role": "system",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
    ]


def test_user_parts_map_to_chat_parts():
    parts = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "original"},
        {"type": "input_image", "image_url": "https://x/y.png"},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,AA"},
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
    ]
    assert chat({"input": [{"role": "user", "content": parts}]})["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"},
        },
        {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}},
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_image", "file_id": "file-1"}, "input[0].content[0].file_id"),
        ({"type": "input_file", "file_id": "file-1"}, "input[0].content[0].file_id"),
        ({"type": "input_file", "file_url": "https://x/a.pdf"}, "input[0].content[0].file_url"),
        ({"type": "input_image"}, "input[0].content[0].image_url"),
        ({"type": "input_file", "filename": "a"}, "input[0].content[0].file_data"),
        ({"type": "input_image", "image_url": "u", "detail": "huge"}, "input[0].content[0].detail"),
        ({"type": "input_video", "url": "u"}, "input[0].content[0].type"),
        ({"type": "input_text"}, "input[0].content[0].text"),
        ("just text", "input[0].content[0]"),
    ],
)
def test_user_parts_chat_cannot_carry_are_refused_by_path(part: Any, param: str):
    err = refused({"input": [{"role": "user", "content": [part]}]})
    assert err.param == param


def test_file_ids_are_refused_as_unsupported():
    err = refused(
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}
    )
    assert err.code == "unsupported_parameter"


def test_assistant_output_text_is_joined_and_refusal_kept():
    content = [
        {"type": "output_text", "text": "Hi ", "annotations": []},
        {"type": "output_text", "text": "there"},
        {"type": "refusal", "refusal": "no"},
    ]
    msg = chat(
        {"input": [{"role": "assistant", "content": content, "status": "completed", "id": "msg_x"}]}
    )
    assert msg["messages"] == [{"role": "assistant", "content": "Hi there", "refusal": "no"}]


def test_image_in_a_system_message_is_refused():
    err = refused(
        {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "u"}]}]}
    )
    assert err.param == "input[0].content[0].type"


# --------------------------------------------------------------------------- calls and outputs


def test_assistant_message_and_following_calls_become_one_turn_with_same_ids():
    items = [
        {"role": "user", "content": "add"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me."}],
        },
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
        call("call_a", args='{"a":1}'),
        {"type": "reasoning", "summary": [], "content": None, "encrypted_content": "gBBB"},
        call("call_b", args='{"b":2}', id="fc_9", status="completed"),
        output("call_a", "1"),
        output("call_b", "2"),
        {"role": "user", "content": "thanks"},
    ]
    assert chat({"input": items})["messages"] == [
        {"role": "user", "content": "add"},
        {
            "role": "assistant",
            "content": "Let me.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a":1}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"b":2}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "1"},
        {"role": "tool", "tool_call_id": "call_b", "content": "2"},
        {"role": "user", "content": "thanks"},
    ]


def test_calls_after_tool_outputs_start_a_new_assistant_turn():
    items = [call("c1"), output("c1"), call("c2"), output("c2")]
    messages = chat({"input": items})["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant", "tool"]
    assert messages[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "add", "arguments": "{}"}}
        ],
    }


def test_reasoning_items_are_dropped():
    items = [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "plan"}],
            "encrypted_content": "x",
        },
        {"role": "user", "content": "hi"},
    ]
    assert chat({"input": items})["messages"] == [{"role": "user", "content": "hi"}]


def test_orphan_function_call_output_is_a_clear_400():
    err = refused({"input": [{"role": "user", "content": "x"}, output("call_missing")]})
    assert err.param == "input[1].call_id"
    assert "call_missing" in err.message


def test_output_before_its_call_is_an_orphan():
    err = refused({"input": [output("c1"), call("c1")]})
    assert err.param == "input[0].call_id"


def test_output_parts_become_text_and_images_a_user_message_after_the_tool_run():
    items = [
        call("c1", "view_image"),
        call("c2", "view_image"),
        output(
            "c1",
            [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "data:i"}],
        ),
        output("c2", [{"type": "input_text", "text": "b"}, {"type": "input_text", "text": "c"}]),
    ]
    messages = chat({"input": items})["messages"]
    assert messages[1:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "tool", "tool_call_id": "c2", "content": "b\nc"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image returned by tool call c1."},
                {"type": "image_url", "image_url": {"url": "data:i"}},
            ],
        },
    ]


def test_custom_tool_calls_and_outputs_replay_as_functions():
    items = [
        {"type": "custom_tool_call", "call_id": "c9", "name": "apply_patch", "input": "*** Begin"},
        {"type": "custom_tool_call_output", "call_id": "c9", "output": "Done"},
    ]
    messages = chat({"input": items})["messages"]
    assert messages[0]["tool_calls"][0]["function"] == {
        "name": "apply_patch",
        "arguments": '{"input": "*** Begin"}',
    }
    assert messages[1] == {"role": "tool", "tool_call_id": "c9", "content": "Done"}


def test_replayed_namespaced_call_uses_the_flat_name():
    tools = [
        {"type": "namespace", "name": "agents", "description": "d", "tools": [fn_tool("spawn")]}
    ]
    items = [call("c1", "spawn", namespace="agents"), output("c1")]
    got = chat({"tools": tools, "input": items})
    assert got["messages"][0]["tool_calls"][0]["function"]["name"] == "agents__spawn"


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "item_reference", "id": "msg_1"}, "input[0]"),
        ({"type": "web_search_call", "id": "ws_1", "status": "completed"}, "input[0].type"),
        ({"type": "computer_call_output", "call_id": "c"}, "input[0].type"),
        ({"type": "telepathy"}, "input[0].type"),
        ({"content": "no type, no role"}, "input[0].type"),
        ({"type": 5}, "input[0].type"),
        ("a string item", "input[0]"),
        ({"role": "robot", "content": "x"}, "input[0].role"),
        ({"role": "user", "content": 5}, "input[0].content"),
        ({"type": "function_call", "name": "f", "arguments": "{}"}, "input[0].call_id"),
        ({"type": "function_call", "call_id": "c", "arguments": "{}"}, "input[0].name"),
        (
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": 5},
            "input[0].arguments",
        ),
        ({"type": "function_call_output", "output": "x"}, "input[0].call_id"),
    ],
)
def test_unknown_or_malformed_items_are_refused_by_path(item: Any, param: str):
    assert refused({"input": [item]}).param == param


def test_malformed_output_is_refused_by_path():
    assert refused({"input": [call("c"), output("c", 5)]}).param == "input[1].output"


# --------------------------------------------------------------------------- tools


def test_function_tools_become_chat_functions():
    tool = fn_tool("add", description="adds", strict=True)
    assert chat({"input": "x", "tools": [tool]})["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "adds",
                "parameters": {"type": "object"},
                "strict": True,
            },
        }
    ]


def test_namespace_children_get_flat_names_and_the_map_leads_back():
    tools = [
        fn_tool("top"),
        {
            "type": "namespace",
            "name": "ns",
            "description": "d",
            "tools": [fn_tool("a"), fn_tool("b")],
        },
    ]
    bridged = to_chat({"model": "m", "input": "x", "tools": tools})
    assert [t["function"]["name"] for t in bridged.chat["tools"]] == ["top", "ns__a", "ns__b"]
    assert bridged.names == {
        "top": ToolName("top"),
        "ns__a": ToolName("a", "ns"),
        "ns__b": ToolName("b", "ns"),
    }


def test_long_or_odd_namespace_names_stay_valid_and_unique():
    long_ns = "n" * 70
    names = {flat_name(long_ns, "a"), flat_name(long_ns, "b"), flat_name("my.ns", "x")}
    assert len(names) == 3
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n) for n in names)


def test_a_child_clashing_with_a_plain_tool_moves_not_the_plain_tool():
    tools = [
        {"type": "namespace", "name": "ns", "description": "d", "tools": [fn_tool("a")]},
        fn_tool("ns__a"),
    ]
    bridged = to_chat({"model": "m", "input": "x", "tools": tools})
    names = dict(bridged.names)
    assert names.pop("ns__a") == ToolName("ns__a")
    [(flat, tool)] = names.items()
    assert tool == ToolName("a", "ns") and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", flat)


def test_custom_tools_take_one_input_string_and_describe_their_grammar():
    tool = {
        "type": "custom",
        "name": "apply_patch",
        "description": "Patch files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
    }
    bridged = to_chat({"model": "m", "input": "x", "tools": [tool]})
    fn = bridged.chat["tools"][0]["function"]
    assert fn["parameters"]["properties"] == {"input": {"type": "string"}}
    assert fn["description"].startswith("Patch files.") and "start: x" in fn["description"]
    assert bridged.names["apply_patch"] == ToolName("apply_patch", None, custom=True)


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "file_search", "vector_store_ids": ["vs"]},
        {
            "type": "computer_use_preview",
            "display_width": 1,
            "display_height": 1,
            "environment": "linux",
        },
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "image_generation"},
        {"type": "mcp", "server_label": "x"},
        {"type": "web_search_preview"},
        {"type": "web_search_2025_08_26"},
        {"type": "web_search", "filters": {"allowed_domains": ["a.b"]}},
        {"type": "local_shell"},
    ],
)
def test_built_in_tools_the_provider_cannot_run_are_refused(tool: dict[str, Any]):
    err = refused({"input": "x", "tools": [fn_tool("f"), tool]})
    assert err.param == "tools[1].type"
    assert err.code == "unsupported_parameter"
    assert tool["type"] in err.message


def test_codex_default_web_search_is_dropped_quietly():
    for tool in ({"type": "web_search", "external_web_access": False}, {"type": "web_search"}):
        bridged = to_chat({"model": "m", "input": "x", "tools": [fn_tool("f"), tool]})
        assert [t["function"]["name"] for t in bridged.chat["tools"]] == ["f"]
        assert "tools[type=web_search]" in bridged.dropped
        assert bridged.context.echo["tools"] == [fn_tool("f")]


def test_only_codex_web_search_leaves_no_tools_and_no_tool_choice():
    got = chat(
        {
            "input": "x",
            "tools": [{"type": "web_search", "external_web_access": False}],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
    )
    assert "tools" not in got and "tool_choice" not in got and "parallel_tool_calls" not in got


def test_namespace_with_a_built_in_child_is_refused():
    tools = [{"type": "namespace", "name": "ns", "description": "d", "tools": [{"type": "mcp"}]}]
    assert refused({"input": "x", "tools": tools}).param == "tools[0].tools[0].type"


# --------------------------------------------------------------------------- tool_choice


NS_TOOLS = [
    fn_tool("add"),
    {"type": "namespace", "name": "ns", "description": "d", "tools": [fn_tool("spawn")]},
]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", "none"),
        ("auto", "auto"),
        ("required", "required"),
        ({"type": "function", "name": "add"}, {"type": "function", "function": {"name": "add"}}),
        (
            {"type": "function", "name": "spawn"},
            {"type": "function", "function": {"name": "ns__spawn"}},
        ),
    ],
)
def test_tool_choice_maps(choice: Any, expected: Any):
    assert chat({"input": "x", "tools": NS_TOOLS, "tool_choice": choice})["tool_choice"] == expected


def test_allowed_tools_narrow_the_tools_and_keep_the_mode():
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "spawn"}],
    }
    got = chat({"input": "x", "tools": NS_TOOLS, "tool_choice": choice})
    assert [t["function"]["name"] for t in got["tools"]] == ["ns__spawn"]
    assert got["tool_choice"] == "required"


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "web_search_preview"},
        {"type": "mcp", "server_label": "x"},
        {"type": "function", "name": "nope"},
        "sometimes",
        {"type": "allowed_tools", "mode": "sometimes", "tools": []},
    ],
)
def test_bad_tool_choice_is_refused(choice: Any):
    assert refused({"input": "x", "tools": NS_TOOLS, "tool_choice": choice}).param == "tool_choice"


def test_required_tool_choice_without_tools_is_refused():
    assert refused({"input": "x", "tool_choice": "required"}).param == "tool_choice"


def test_parallel_tool_calls_goes_with_tools():
    got = chat({"input": "x", "tools": NS_TOOLS, "parallel_tool_calls": False})
    assert got["parallel_tool_calls"] is False


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {
                "type": "json_schema",
                "name": "p",
                "schema": {"type": "object"},
                "strict": True,
                "description": "d",
            },
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "p",
                    "schema": {"type": "object"},
                    "strict": True,
                    "description": "d",
                },
            },
        ),
    ],
)
def test_text_format_becomes_response_format(fmt: Any, expected: Any):
    assert chat({"input": "x", "text": {"format": fmt}}).get("response_format") == expected


@pytest.mark.parametrize(
    ("fmt", "param"),
    [
        ({"type": "json_schema", "schema": {}}, "text.format.name"),
        ({"type": "json_schema", "name": "p", "schema": "x"}, "text.format.schema"),
        ({"type": "yaml"}, "text.format.type"),
    ],
)
def test_bad_text_format_is_refused(fmt: Any, param: str):
    assert refused({"input": "x", "text": {"format": fmt}}).param == param


def test_sampling_and_limits_map():
    got = chat(
        {
            "input": "x",
            "temperature": 0.2,
            "top_p": 0.9,
            "user": "u1",
            "max_output_tokens": 100,
            "reasoning": {"effort": "low", "summary": "auto"},
        }
    )
    assert {
        k: got[k]
        for k in ("temperature", "top_p", "user", "max_completion_tokens", "reasoning_effort")
    } == {
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u1",
        "max_completion_tokens": 100,
        "reasoning_effort": "low",
    }


@pytest.mark.parametrize(
    ("effort", "upstream_openai", "sent"),
    [
        ("xhigh", False, "high"),
        ("max", False, "high"),
        ("xhigh", True, "xhigh"),
        ("none", False, "none"),
    ],
)
def test_reasoning_effort_beyond_high_is_high_off_openai(
    effort: str, upstream_openai: bool, sent: str
):
    got = chat({"input": "x", "reasoning": {"effort": effort}}, upstream_openai=upstream_openai)
    assert got["reasoning_effort"] == sent


def test_unknown_reasoning_effort_is_refused():
    assert refused({"input": "x", "reasoning": {"effort": "extreme"}}).param == "reasoning.effort"


def test_openai_only_fields_go_only_to_openai_upstreams():
    body = {
        "input": "x",
        "service_tier": "flex",
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "text": {"verbosity": "low"},
    }
    plain = to_chat({"model": "m", **body})
    assert (
        not {"service_tier", "prompt_cache_key", "safety_identifier", "verbosity"}
        & plain.chat.keys()
    )
    assert {"service_tier", "prompt_cache_key", "safety_identifier", "text.verbosity"} <= set(
        plain.dropped
    )
    openai = chat(body, upstream_openai=True)
    assert openai["service_tier"] == "flex" and openai["prompt_cache_key"] == "k"
    assert openai["safety_identifier"] == "s" and openai["verbosity"] == "low"


def test_fields_chat_cannot_carry_are_dropped_and_named():
    bridged = to_chat(
        {
            "model": "m",
            "input": "x",
            "store": True,
            "metadata": {"a": "b"},
            "truncation": "auto",
            "max_tool_calls": 3,
            "stream_options": {"include_obfuscation": False},
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_retention": "24h",
        }
    )
    assert set(bridged.chat) == {"model", "messages"}
    assert set(bridged.dropped) == {
        "store",
        "metadata",
        "truncation",
        "max_tool_calls",
        "stream_options",
        "prompt_cache_retention",
        "include[reasoning.encrypted_content]",
    }


def test_stream_asks_for_usage():
    got = chat({"input": "x", "stream": True})
    assert got["stream"] is True and got["stream_options"] == {"include_usage": True}
    assert "stream" not in chat({"input": "x", "stream": False})


def test_logprobs_are_asked_for_when_included():
    got = chat({"input": "x", "include": ["message.output_text.logprobs"], "top_logprobs": 3})
    assert got["logprobs"] is True and got["top_logprobs"] == 3
    assert "logprobs" not in chat({"input": "x"})


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"background": True}, "background", "unsupported_parameter"),
        ({"conversation": "conv_1"}, "conversation", "unsupported_parameter"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt", "unsupported_parameter"),
        ({"previous_response_id": "resp_1"}, "previous_response_id", "previous_response_not_found"),
        (
            {"previous_response_id": "resp_1", "conversation": "c"},
            "previous_response_id",
            "mutually_exclusive_parameters",
        ),
        ({"temperature": "hot"}, "temperature", "invalid_type"),
        ({"stream": "yes"}, "stream", "invalid_type"),
        ({"max_output_tokens": 1.5}, "max_output_tokens", "invalid_type"),
        ({"max_output_tokens": True}, "max_output_tokens", "invalid_type"),
        ({"tools": {"type": "function"}}, "tools", "invalid_type"),
        ({"input": 5}, "input", "invalid_type"),
        ({"include": [1]}, "include", None),
    ],
)
def test_unmappable_requests_are_400s_naming_the_field(
    extra: dict[str, Any], param: str, code: str | None
):
    err = refused({"input": "x", **extra})
    assert (err.param, err.code) == (param, code)


def test_background_false_is_fine():
    assert chat({"input": "x", "background": False})["messages"]


def test_missing_input_is_refused():
    assert refused({}).param == "input"


def test_previous_response_items_come_after_instructions_before_input():
    previous = [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "add 1 and 2"}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "c1",
            "name": "add",
            "arguments": "{}",
            "status": "completed",
        },
    ]
    got = chat(
        {"previous_response_id": "resp_1", "instructions": "sys", "input": [output("c1", "3")]},
        previous=previous,
    )
    assert [m["role"] for m in got["messages"]] == ["system", "user", "assistant", "tool"]
    assert got["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "3"}


def test_the_context_echoes_what_the_response_repeats():
    bridged = to_chat(
        {
            "model": "gpt-5",
            "input": "x",
            "instructions": "i",
            "temperature": 0.5,
            "metadata": {"k": "v"},
            "store": True,
            "tools": [fn_tool("f")],
        },
        stored=False,
    )
    echo = bridged.context.echo
    assert echo["instructions"] == "i" and echo["temperature"] == 0.5
    assert echo["metadata"] == {"k": "v"} and echo["tools"] == [fn_tool("f")]
    assert echo["store"] is False  # what aoa did, not what was asked
    assert bridged.context.model == "gpt-5"
