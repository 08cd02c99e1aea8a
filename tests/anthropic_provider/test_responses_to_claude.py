"""The `openai` SDK's Responses API against aoa with AOA_TYPE=anthropic: bridged through chat.

Responses -> chat (bridges/responses) -> Messages (bridges/anthropic_request) and back; the fake
Anthropic upstream checks the Messages body as Anthropic would.
"""

from __future__ import annotations

import json
from typing import Any

from tests.anthropic_provider.conftest import claude_gw
from tests.anthropic_provider.fake_anthropic import FakeAnthropic, message
from tests.conftest import StartGateway


async def test_a_responses_call_reaches_claude_through_chat(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    response = await gw.client().responses.create(
        model="claude-sonnet-4-5", instructions="Be brief.", input="hi", max_output_tokens=300
    )
    assert response.status == "completed"
    assert response.output_text == "Hello from Claude"
    assert response.usage is not None and response.usage.input_tokens == 11
    sent = claude.last
    assert sent.path == "/v1/messages"
    body = sent.json
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 300
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


async def test_a_responses_stream_from_claude(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    stream = await gw.client().responses.create(model="claude-sonnet-4-5", input="hi", stream=True)
    events = [e async for e in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello from Claude"
    assert events[-1].type == "response.completed"
    assert claude.last.json["stream"] is True


async def test_a_responses_function_call_round_trip_with_claude(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    def reply(body: dict[str, Any]) -> dict[str, Any]:
        if body["messages"][-1]["content"][0]["type"] == "tool_result":
            return message([{"type": "text", "text": "Done: 5"}])
        use = {"type": "tool_use", "id": "toolu_9", "name": "add", "input": {"a": 2, "b": 3}}
        return message([use], stop="tool_use")

    claude.reply = reply
    gw = await claude_gw(start_gateway, claude)
    client = gw.client()
    tools: Any = [
        {
            "type": "function",
            "name": "add",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            },
        }
    ]
    first = await client.responses.create(model="claude-sonnet-4-5", input="2+3?", tools=tools)
    call = next(item for item in first.output if item.type == "function_call")
    assert call.call_id == "toolu_9" and json.loads(call.arguments) == {"a": 2, "b": 3}
    second = await client.responses.create(
        model="claude-sonnet-4-5",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "toolu_9", "output": "5"}],
        tools=tools,
    )
    assert second.output_text == "Done: 5"
    turns = claude.last.json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_9",
        "content": "5",
    }
    assert claude.problems == []
