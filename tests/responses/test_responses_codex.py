"""Codex CLI 0.171's real first request (shared/captures) and the turns that follow it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aoa_proxy.bridges.responses import ToolName, to_chat, to_response
from tests.responses.support import (
    CAPTURE,
    check_stream,
    chunk,
    completion,
    counter_ids,
    plain,
    run,
    sdk_events,
)


@pytest.fixture
def codex() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(CAPTURE.read_text())["body"]
    return body


def test_first_turn_translates(codex: dict[str, Any]):
    bridged = to_chat(codex)
    chat = bridged.chat
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "system", "user", "user"]  # both developer messages, in order
    assert chat["messages"][0]["content"] == codex["input"][0]["content"][0]["text"]
    assert chat["messages"][1]["content"] == [
        {"type": "text", "text": part["text"]} for part in codex["input"][1]["content"]
    ]
    assert chat["model"] == "gpt-5" and chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    assert "reasoning_effort" not in chat  # Codex sent a summary, no effort
    for key in ("store", "include", "prompt_cache_key", "reasoning", "input"):
        assert key not in chat


def test_first_turn_tools_are_flattened_and_web_search_dropped(codex: dict[str, Any]):
    bridged = to_chat(codex)
    names = [t["function"]["name"] for t in bridged.chat["tools"]]
    children = ["close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"]
    assert names == [
        "exec_command",
        "write_stdin",
        "request_user_input",
        "view_image",
        "get_goal",
        "create_goal",
        "update_goal",
        *[f"multi_agent_v1__{c}" for c in children],
    ]
    for child in children:
        assert bridged.names[f"multi_agent_v1__{child}"] == ToolName(child, "multi_agent_v1")
    get_goal = bridged.chat["tools"][names.index("get_goal")]["function"]
    assert get_goal["parameters"]["properties"] == {} and get_goal["strict"] is False
    assert set(bridged.dropped) == {
        "tools[type=web_search]",
        "store",
        "prompt_cache_key",
        "include[reasoning.encrypted_content]",
    }
    assert all(t["type"] != "web_search" for t in bridged.context.echo["tools"])


def test_first_turn_reasoning_and_include_are_handled(codex: dict[str, Any]):
    context = to_chat(codex).context
    assert context.summary is True  # reasoning.summary "auto": reasoning text becomes a summary
    assert context.echo["store"] is False
    assert context.echo["reasoning"] == {"summary": "auto"}


def test_namespaced_call_streams_back_under_codexs_names(codex: dict[str, Any]):
    context = to_chat(codex, ids=counter_ids(), clock=lambda: 1.0).context
    events = run(
        context,
        [
            chunk({"role": "assistant", "content": "", "reasoning_content": "I should spawn."}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_abc",
                            "type": "function",
                            "function": {
                                "name": "multi_agent_v1__spawn_agent",
                                "arguments": '{"message":',
                            },
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"go"}'}}]}),
            chunk({}, "tool_calls"),
            {
                "choices": [],
                "usage": {"prompt_tokens": 9000, "completion_tokens": 20, "total_tokens": 9020},
            },
        ],
    )
    final = check_stream(events)
    # Codex takes items only from output_item.done and needs id + integer usage on completed.
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done[0]["type"] == "reasoning" and done[0]["summary"][0]["text"] == "I should spawn."
    assert done[1] == {
        "id": "fc_3",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_abc",
        "name": "spawn_agent",
        "arguments": '{"message":"go"}',
        "namespace": "multi_agent_v1",
    }
    assert final["id"] and final["usage"]["input_tokens"] == 9000
    assert all(
        isinstance(final["usage"][k], int)
        for k in ("input_tokens", "output_tokens", "total_tokens")
    )
    assert sdk_events(events) is not None


def test_second_turn_replays_history_with_paired_ids(codex: dict[str, Any]):
    """Codex resends everything: reasoning (no id, content null), calls and their outputs."""
    first = to_chat(codex, ids=counter_ids(), clock=lambda: 1.0)
    answer = completion(
        content="Running it.",
        reasoning="Need ls.",
        calls=[
            ("call_1", "exec_command", '{"cmd":"ls"}'),
            ("call_2", "multi_agent_v1__wait_agent", '{"targets":[]}'),
        ],
        finish="tool_calls",
    )
    output = plain(to_response(answer, first.context))["output"]
    replayed = [
        {k: v for k, v in item.items() if k != "id"} if item["type"] == "reasoning" else item
        for item in output
    ]
    replayed[0]["content"] = None
    replayed[0]["encrypted_content"] = "gAAAAB-not-ours"
    second = {
        **codex,
        "input": [
            *codex["input"],
            *replayed,
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt\nb.txt"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "done"}],
            },
        ],
    }
    messages = to_chat(second).chat["messages"]
    assert [m["role"] for m in messages] == [
        "system",
        "system",
        "user",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assert messages[4] == {
        "role": "assistant",
        "content": "Running it.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "multi_agent_v1__wait_agent", "arguments": '{"targets":[]}'},
            },
        ],
    }
    assert messages[5:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt\nb.txt"},
        {"role": "tool", "tool_call_id": "call_2", "content": "done"},
    ]


def test_view_image_output_reaches_the_model_as_an_image(codex: dict[str, Any]):
    second = {
        **codex,
        "input": [
            *codex["input"],
            {
                "type": "function_call",
                "call_id": "call_v",
                "name": "view_image",
                "arguments": '{"path":"a.png"}',
            },
            {
                "type": "function_call_output",
                "call_id": "call_v",
                "output": [{"type": "input_image", "image_url": "data:image/png;base64,iVBO"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "what is it?"}],
            },
        ],
    }
    messages = to_chat(second).chat["messages"]
    assert [m["role"] for m in messages[4:]] == ["assistant", "tool", "user", "user"]
    assert messages[6]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBO"},
    }
