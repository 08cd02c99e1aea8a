"""The OpenAI Agents SDK (`openai-agents`) running an agent with one function tool through aoa,
on its Responses model, to fake Gemini and fake Azure."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Gateway, StartGateway
from tests.fakes import FakeUpstream, Received, chat_completion
from tests.gemini.fake_gemini import FakeGemini, call_chunk, text_chunks

agents = pytest.importorskip("agents", reason="openai-agents is not installed (dev extras)")


def weather_agent(gw: Gateway, model: str) -> Any:
    """An agent on aoa's /v1/responses (the gateway's SDK client, closed with the gateway)."""
    agents.set_tracing_disabled(True)

    @agents.function_tool  # type: ignore[untyped-decorator]
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    client = gw.client()
    return agents.Agent(
        name="Weather",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model=model, openai_client=client),
    )


async def test_agent_with_a_tool_on_gemini(start_gateway: StartGateway) -> None:
    fake = await FakeGemini().start()
    try:

        def reply(body: dict[str, Any], model: str) -> list[Any]:
            last = body["contents"][-1]["parts"][0]
            if "functionResponse" in last:
                answer = last["functionResponse"]["response"]
                return text_chunks(["The tool says: ", json.dumps(answer)])
            return call_chunk([("get_weather", {"city": "Paris"})], signature="sig1")

        fake.reply = reply
        gw = await start_gateway(
            {"AOA_TYPE": "gemini", "GEMINI_ENDPOINT": fake.url, "GEMINI_API_KEY": "server-key"}
        )
        agent = weather_agent(gw, "gemini-2.5-flash")
        result = await agents.Runner.run(agent, "Weather in Paris?")
        assert "sunny in Paris" in result.final_output
        posts = fake.posts
        assert len(posts) == 2
        declared = posts[0].json["tools"][0]["functionDeclarations"][0]
        assert declared["name"] == "get_weather"
        second = posts[1].json["contents"]
        assert second[-1]["parts"][0]["functionResponse"]["name"] == "get_weather"
    finally:
        await fake.close()


async def test_agent_with_a_tool_on_azure_streamed(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        messages = rec.json["messages"]
        if messages[-1]["role"] == "tool":
            body = chat_completion(f"Done: {messages[-1]['content']}")
        else:
            body = chat_completion()
            body["choices"][0]["message"] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            }
            body["choices"][0]["finish_reason"] = "tool_calls"
        return web.json_response(body)

    upstream.responder = answer
    gw = await start_gateway(
        {
            "AOA_TYPE": "azure",
            "AZURE_ENDPOINT": upstream.url,
            "AZURE_API_KEY": "az-key",
            "AZURE_MODEL": "gpt-5",
        }
    )
    agent = weather_agent(gw, "gpt-5")
    result = agents.Runner.run_streamed(agent, "Weather in Oslo?")
    async for _ in result.stream_events():
        pass
    assert result.final_output == "Done: sunny in Oslo"
    assert len(upstream.received) == 2
