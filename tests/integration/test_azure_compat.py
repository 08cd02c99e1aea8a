"""Deployments that need help (azure_compat.py), driven by the openai SDK against a fake Azure
that refuses what real reasoning and Responses-only deployments refuse, with the spec's bodies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from tests.azure_fake import (
    MAX_TOKENS_UNSUPPORTED,
    OPERATION_NOT_SUPPORTED,
    RESPONSE_TEXT,
    FakeAzure,
)
from tests.conftest import StartGateway


@pytest.fixture
async def azure() -> AsyncIterator[FakeAzure]:
    fake = await FakeAzure().start()
    yield fake
    await fake.close()


def env(azure: FakeAzure, **extra: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": azure.url,
        "AZURE_API_KEY": "server-key",
        "AZURE_API_VER": "2024-10-21",
        **extra,
    }


HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


# --------------------------------------------------------------------------- Responses-only


async def test_operation_not_supported_goes_through_responses_and_back_to_chat(
    azure: FakeAzure, start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await start_gateway(env(azure))
    with caplog.at_level(logging.INFO, logger="aoa_proxy.azure_compat"):
        reply = await gw.client().chat.completions.create(
            model="codex", messages=HI, max_tokens=50, temperature=0.2
        )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == RESPONSE_TEXT
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens == 17
    assert [r.path for r in azure.received] == [
        "/openai/deployments/codex/chat/completions",
        "/openai/v1/responses",
    ]
    sent = azure.last.json
    assert sent["model"] == "codex"
    assert sent["input"] == [{"role": "user", "content": "hi"}]
    assert sent["max_output_tokens"] == 50
    assert sent["store"] is False
    assert "api-version" not in azure.last.query
    changes = [r.getMessage() for r in caplog.records if r.name == "aoa_proxy.azure_compat"]
    assert len(changes) == 1 and "'codex'" in changes[0] and "/responses" in changes[0]


async def test_remembered_responses_only_deployment_skips_the_failing_try(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    client = gw.client()
    for _ in range(3):
        reply = await client.chat.completions.create(model="codex", messages=HI)
        assert reply.choices[0].message.content == RESPONSE_TEXT
    assert azure.count("codex chat/completions") == 1  # only the first request tried chat
    assert azure.count("codex responses") == 3


async def test_operation_not_supported_stream_is_bridged_back_to_chat_chunks(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    stream = await gw.client().chat.completions.create(
        model="codex", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == RESPONSE_TEXT
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert azure.count("codex chat/completions") == 1
    assert azure.last.json["stream"] is True


async def test_a_responses_stream_cut_short_ends_the_chat_stream_with_an_error(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    azure.cut_responses_stream = True
    gw = await start_gateway(env(azure))
    stream = await gw.client().chat.completions.create(model="codex", messages=HI, stream=True)
    text = ""
    with pytest.raises(openai.APIError, match="ended before it finished"):
        async for chunk in stream:
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text == RESPONSE_TEXT  # what came before the cut was delivered


async def test_a_field_the_responses_route_refuses_is_left_out_too(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    azure.responses_refuse_temperature = ("codex",)  # pattern of the spec's chat wording
    gw = await start_gateway(env(azure))
    client = gw.client()
    reply = await client.chat.completions.create(model="codex", messages=HI, temperature=0.7)
    assert reply.choices[0].message.content == RESPONSE_TEXT
    assert [r.path.rsplit("/", 1)[-1] for r in azure.received] == [
        "completions",
        "responses",
        "responses",
    ]
    assert "temperature" not in azure.last.json
    await client.chat.completions.create(model="codex", messages=HI, temperature=0.7)
    assert azure.count("codex responses") == 3  # remembered: one try, without temperature
    assert azure.count("codex chat/completions") == 1


async def test_foundry_wording_of_unsupported_operation_is_recognised(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure, AZURE_API_VER="v1"))
    reply = await gw.client().chat.completions.create(model="foundry-codex", messages=HI)
    assert reply.choices[0].message.content == RESPONSE_TEXT
    assert [r.path for r in azure.received] == [
        "/openai/v1/chat/completions",
        "/openai/v1/responses",
    ]


async def test_tool_calls_come_back_as_chat_tool_calls(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    tools: list[ChatCompletionFunctionToolParam] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    reply = await gw.client().chat.completions.create(
        model="codex",
        messages=HI,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "call_42" and call.type == "function"
    assert call.function.name == "get_weather"
    sent = azure.last.json
    assert sent["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert sent["tool_choice"] == {"type": "function", "name": "get_weather"}


async def test_responses_client_on_classic_azure_reaches_a_responses_only_deployment(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))  # classic: /v1/responses is bridged to chat first
    client = gw.client()
    response = await client.responses.create(model="codex", input="hi")
    assert response.output_text == RESPONSE_TEXT
    events = [
        e.type async for e in await client.responses.create(model="codex", input="x", stream=True)
    ]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert azure.count("codex chat/completions") == 1
    assert azure.count("codex responses") == 2


async def test_anthropic_client_on_a_responses_only_deployment(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gw.url}/v1/messages",
            json={"model": "codex", "max_tokens": 64, "messages": HI},
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        ) as resp,
    ):
        assert resp.status == 200
        message = await resp.json()
    assert message["content"] == [{"type": "text", "text": RESPONSE_TEXT}]
    assert azure.last.path == "/openai/v1/responses"


# --------------------------------------------------------------------------- reasoning parameters


async def test_max_tokens_is_resent_as_max_completion_tokens(
    azure: FakeAzure, start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gw = await start_gateway(env(azure))
    with caplog.at_level(logging.INFO, logger="aoa_proxy.azure_compat"):
        reply = await gw.client().chat.completions.create(model="o3", messages=HI, max_tokens=64)
    assert reply.choices[0].message.content == "Hello!"
    first, second = azure.received
    assert first.json["max_tokens"] == 64
    assert "max_tokens" not in second.json and second.json["max_completion_tokens"] == 64
    assert second.json["messages"] == HI
    changes = [r.getMessage() for r in caplog.records if r.name == "aoa_proxy.azure_compat"]
    assert changes == [
        "Azure deployment 'o3' rejects max_tokens: "
        "sending max_completion_tokens instead from now on"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 0.2), ("top_p", 0.9), ("stop", ["\n"]), ("presence_penalty", 0.5)],
)
async def test_refused_sampling_field_is_left_out(
    azure: FakeAzure, start_gateway: StartGateway, field: str, value: object
) -> None:
    gw = await start_gateway(env(azure))
    await gw.client().chat.completions.create(model="o3", messages=HI, extra_body={field: value})
    first, second = azure.received
    assert first.json[field] == value
    assert field not in second.json


async def test_a_chat_ui_default_request_needs_several_fixes_then_none(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    client = gw.client()
    reply = await client.chat.completions.create(
        model="o3", messages=HI, max_tokens=100, temperature=0.2, top_p=1, stop=["END"]
    )
    assert reply.choices[0].message.content == "Hello!"
    assert azure.count("o3 chat/completions") == 5  # four refusals, one answer
    assert azure.last.json == {"model": "o3", "messages": HI, "max_completion_tokens": 100}
    await client.chat.completions.create(
        model="o3", messages=HI, max_tokens=100, temperature=0.2, top_p=1, stop=["END"]
    )
    assert azure.count("o3 chat/completions") == 6  # remembered: straight to the fixed body
    assert azure.last.json == {"model": "o3", "messages": HI, "max_completion_tokens": 100}


async def test_a_learned_deployment_gets_the_clients_bytes_when_nothing_applies(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    await gw.client().chat.completions.create(model="o3", messages=HI, max_tokens=10)
    raw = b'{ "model" : "o3",\n  "messages": [{"role": "user", "content": "hi"}] }'
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gw.url}/v1/chat/completions",
            data=raw,
            headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
        ) as resp,
    ):
        assert resp.status == 200
    assert azure.last.body == raw


async def test_remembered_fixes_work_for_streams_and_other_deployments_are_untouched(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    client = gw.client()
    await client.chat.completions.create(model="o3", messages=HI, max_tokens=10)
    stream = await client.chat.completions.create(
        model="o3", messages=HI, max_tokens=10, stream=True
    )
    assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "Hello"
    assert azure.count("o3 chat/completions") == 3
    await client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=10)
    assert azure.last.json["max_tokens"] == 10  # a plain deployment keeps its fields


async def test_the_first_stream_request_is_fixed_before_any_byte(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure))
    stream = await gw.client().chat.completions.create(
        model="o3", messages=HI, max_tokens=10, temperature=0.2, stream=True
    )
    assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "Hello"
    assert azure.count("o3 chat/completions") == 3


async def test_fixes_apply_with_a_key_pool(azure: FakeAzure, start_gateway: StartGateway) -> None:
    gw = await start_gateway(env(azure, AZURE_API_KEY="key-a,key-b"))
    reply = await gw.client().chat.completions.create(model="o3", messages=HI, max_tokens=5)
    assert reply.choices[0].message.content == "Hello!"
    reply = await gw.client().chat.completions.create(model="codex", messages=HI)
    assert reply.choices[0].message.content == RESPONSE_TEXT


# --------------------------------------------------------------------------- AZURE_COMPAT=off


async def test_compat_off_leaves_azures_errors_unchanged(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(env(azure, AZURE_COMPAT="off"))
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="o3", messages=HI, max_tokens=64)
    assert caught.value.response.content == MAX_TOKENS_UNSUPPORTED
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="codex", messages=HI, stream=True)
    assert caught.value.code == "OperationNotSupported"
    assert b"gpt-5.1-codex" in caught.value.response.content
    assert caught.value.response.content.startswith(OPERATION_NOT_SUPPORTED[:40])
    assert azure.count("o3 chat/completions") == 1
    assert azure.count("codex chat/completions") == 1
    assert azure.count("codex responses") == 0


async def test_an_error_that_names_no_fixable_field_is_passed_on(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    azure.reasoning_refuses = ("seed",)  # refused, but not a field aoa leaves out
    gw = await start_gateway(env(azure))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().chat.completions.create(model="o3", messages=HI, seed=1)
    assert caught.value.param == "seed"
    assert azure.count("o3 chat/completions") == 1
