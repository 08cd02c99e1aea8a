"""The `openai` SDK against aoa with AOA_TYPE=anthropic: chat translated to Messages and back.

The fake Anthropic upstream refuses what Anthropic refuses (alternation, max_tokens, tool_result
placement, thinking limits), so each test also proves the translated request is one Anthropic
takes; the assertions look at what it received and at what the SDK got.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import openai
import pytest

from tests.anthropic_provider.conftest import claude_gw
from tests.anthropic_provider.fake_anthropic import FakeAnthropic, error_body, message
from tests.conftest import StartGateway

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


async def test_chat_is_sent_as_messages_with_key_version_and_default_max_tokens(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    completion = await gw.client().chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": "there"},
        ],
        temperature=1.5,
    )
    assert completion.choices[0].message.content == "Hello from Claude"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "claude-sonnet-4-5"
    assert completion.usage is not None and completion.usage.prompt_tokens == 11
    got = claude.last
    assert got.path == "/v1/messages"
    assert got.headers["x-api-key"] == "server-key"
    assert got.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in got.headers
    body = got.json
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 4096  # Anthropic requires it; the client sent none
    assert body["temperature"] == 1.0  # Anthropic's maximum
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}],
        }
    ]


async def test_openai_model_names_go_to_anthropic_model_and_aliases_apply(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(
        start_gateway,
        claude,
        ANTHROPIC_MODEL="claude-haiku-4-5",
        ANTHROPIC_MODEL_ALIAS="smart:claude-opus-4-6",
        ANTHROPIC_VERSION="2099-01-01",
    )
    client = gw.client()
    await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a"}]
    )
    assert claude.last.json["model"] == "claude-haiku-4-5"
    assert claude.last.headers["anthropic-version"] == "2099-01-01"
    done = await client.chat.completions.create(
        model="smart", messages=[{"role": "user", "content": "b"}]
    )
    assert claude.last.json["model"] == "claude-opus-4-6"
    assert done.model == "smart"  # answers carry the name the client asked for


async def test_stream_comes_back_as_chat_chunks_with_usage(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    stream = await gw.client().chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Claude"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert claude.last.json["stream"] is True
    assert claude.last.headers["Accept"] == "text/event-stream"


async def test_tool_use_over_two_turns(start_gateway: StartGateway, claude: FakeAnthropic) -> None:
    def reply(body: dict[str, Any]) -> dict[str, Any]:
        if body["messages"][-1]["content"][0]["type"] == "tool_result":
            return message([{"type": "text", "text": "It is sunny."}])
        call = {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Oslo"}}
        return message([{"type": "text", "text": "Let me look."}, call], stop="tool_use")

    claude.reply = reply
    gw = await claude_gw(start_gateway, claude)
    client = gw.client()
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    first = await client.chat.completions.create(
        model="claude-sonnet-4-5", messages=messages, tools=tools, tool_choice="required"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id == "toolu_01" and json.loads(call.function.arguments) == {"city": "Oslo"}
    sent = claude.last.json
    assert sent["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert sent["tool_choice"] == {"type": "any"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21 C"},
        {"role": "user", "content": "Thanks"},
    ]
    second = await client.chat.completions.create(
        model="claude-sonnet-4-5", messages=messages, tools=tools
    )
    assert second.choices[0].message.content == "It is sunny."
    turns = claude.last.json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"][-1] == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "weather",
        "input": {"city": "Oslo"},
    }
    # the result opens the next user turn, the user's words follow it in the same turn
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny, 21 C"},
        {"type": "text", "text": "Thanks"},
    ]
    assert claude.problems == []


async def test_images_go_as_base64_and_url_sources(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    await gw.client().chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            }
        ],
    )
    blocks = claude.last.json["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }


async def test_an_image_claude_cannot_read_is_a_400_before_any_upstream_call(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(
            model="claude-sonnet-4-5",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}}
                    ],
                }
            ],
        )
    assert "image/bmp" in str(caught.value)
    assert claude.posts == []


SCHEMA: Any = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


async def test_json_schema_uses_structured_outputs_on_models_that_have_them(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    claude.reply = lambda body: message([{"type": "text", "text": '{"n": 3}'}])
    gw = await claude_gw(start_gateway, claude)
    completion = await gw.client().chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "three"}],
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}},
    )
    assert json.loads(completion.choices[0].message.content or "") == {"n": 3}
    assert claude.last.json["output_config"] == {
        "format": {"type": "json_schema", "schema": SCHEMA}
    }


async def test_json_schema_on_older_models_is_a_forced_tool_whose_input_is_the_answer(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    use = {"type": "tool_use", "id": "toolu_j", "name": "json_tool_call", "input": {"n": 3}}
    claude.reply = lambda body: message([use], stop="tool_use")
    gw = await claude_gw(start_gateway, claude)
    completion = await gw.client().chat.completions.create(
        model="claude-3-7-sonnet-20250219",
        messages=[{"role": "user", "content": "three"}],
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}},
    )
    choice = completion.choices[0]
    assert json.loads(choice.message.content or "") == {"n": 3}
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    sent = claude.last.json
    assert sent["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    assert sent["tools"][0]["input_schema"] == SCHEMA


async def test_reasoning_effort_becomes_a_thinking_budget_and_thinking_comes_back(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    claude.reply = lambda body: message(
        [
            {"type": "thinking", "thinking": "Two and two...", "signature": "sig1"},
            {"type": "text", "text": "4"},
        ]
    )
    gw = await claude_gw(start_gateway, claude)
    completion = await gw.client().chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "2+2?"}],
        reasoning_effort="high",
        temperature=0.2,
    )
    msg = completion.choices[0].message
    assert msg.content == "4"  # thinking is never answer text
    assert (msg.model_extra or {})["reasoning_content"] == "Two and two..."
    sent = claude.last.json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert sent["max_tokens"] == 4096 + 16384
    assert "temperature" not in sent  # Anthropic refuses sampling settings while thinking


async def test_reasoning_effort_on_adaptive_models_sets_the_effort(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    await gw.client().chat.completions.create(
        model="claude-opus-4-6",
        messages=[{"role": "user", "content": "think"}],
        reasoning_effort="medium",
    )
    sent = claude.last.json
    assert sent["thinking"] == {"type": "adaptive"}
    assert sent["output_config"] == {"effort": "medium"}


@pytest.mark.parametrize(
    ("status", "kind", "expected", "error_class"),
    [
        (401, "authentication_error", 401, openai.AuthenticationError),
        (429, "rate_limit_error", 429, openai.RateLimitError),
        (529, "overloaded_error", 503, openai.InternalServerError),
        (400, "invalid_request_error", 400, openai.BadRequestError),
    ],
)
async def test_upstream_errors_map_to_openai_errors(
    start_gateway: StartGateway,
    claude: FakeAnthropic,
    status: int,
    kind: str,
    expected: int,
    error_class: type[openai.APIStatusError],
) -> None:
    claude.error = (status, error_body(kind, f"upstream says {kind}"), {"retry-after": "7"})
    gw = await claude_gw(start_gateway, claude)
    with pytest.raises(error_class) as caught:
        await gw.client().chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
        )
    err = caught.value
    assert err.status_code == expected
    body = err.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert body["message"].startswith(f"upstream says {kind}")
    assert err.response.headers["retry-after"] == "7"


async def test_a_wrong_key_is_a_401_that_never_shows_the_key(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude, ANTHROPIC_API_KEY="sk-ant-wrong-key-1234")
    with pytest.raises(openai.AuthenticationError) as caught:
        await gw.client().chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert "sk-ant-wrong" not in caught.value.response.text


async def test_an_error_event_mid_stream_ends_the_chat_stream_with_an_error_frame(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    from tests.anthropic_provider.fake_anthropic import sse_bytes

    start = message([])
    start["stop_reason"] = None
    claude.raw_stream = [
        sse_bytes([{"type": "message_start", "message": start}]),
        sse_bytes(
            [{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]
        ),
    ]
    gw = await claude_gw(start_gateway, claude)
    async with aiohttp.ClientSession() as session:
        body = {
            "model": "claude-sonnet-4-5",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with session.post(f"{gw.url}/v1/chat/completions", json=body) as r:
            text = (await r.read()).decode()
    frames = [f.removeprefix("data: ") for f in text.strip().split("\n\n")]
    assert "[DONE]" not in frames
    last = json.loads(frames[-1])
    assert last["error"]["message"] == "Overloaded" and last["error"]["type"] == "server_error"


async def test_models_come_from_anthropics_paged_list(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude, ANTHROPIC_MODEL="my-foundry-deployment")
    models = [m async for m in gw.client().models.list()]
    ids = [m.id for m in models]
    assert ids == [
        "claude-opus-4-6",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "my-foundry-deployment",
    ]
    assert models[0].owned_by == "anthropic" and models[0].created == 1770249600
    listed = [r for r in claude.received if r.method == "GET"]
    assert listed[-1].query["after_id"] == "claude-opus-4-6"
    assert listed[-1].headers["x-api-key"] == "server-key"


async def test_embeddings_are_a_404_naming_the_provider(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    with pytest.raises(openai.NotFoundError) as caught:
        await gw.client().embeddings.create(model="claude-sonnet-4-5", input="hi")
    assert "Anthropic has no embeddings endpoint" in str(caught.value)
    with pytest.raises(openai.NotFoundError) as legacy:
        await gw.client().completions.create(model="claude-sonnet-4-5", prompt="hi")
    assert "Anthropic has no completions endpoint" in str(legacy.value)
    assert claude.received == []
