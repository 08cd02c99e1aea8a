"""/v1/responses beyond one provider: routing across several (native and bridged side by side),
key pools on a bridged route, reasoning and parallel calls, the demo, and a native stream cut."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, sse
from tests.gemini.fake_gemini import text_chunks
from tests.integration.test_responses_door import NATIVE, raw_events
from tests.responses.support import check_stream, sdk_response
from tests.several import AZURE_KEY, Fakes, StartAt, three_env


async def test_one_gateway_serves_native_and_bridged_routes(fakes: Fakes, gateway: StartAt) -> None:
    async def native(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.path.endswith("/responses"):
            return web.json_response(NATIVE)
        return await fakes.openai.default(request, rec)

    fakes.openai.responder = native
    fakes.gemini.reply = lambda body, model: text_chunks(["from ", "gemini"])
    gw = await gateway(three_env(fakes, providers="openai,azure,gemini"))
    client = gw.client()
    first = await client.responses.create(model="gpt-5", input="hi")  # the default: openai
    assert first.id == "resp_upstream" and fakes.openai.last.path == "/v1/responses"
    second = await client.responses.create(model="gemini/gemini-2.5-flash", input="hi")
    assert second.output_text == "from gemini" and second.model == "gemini/gemini-2.5-flash"
    assert fakes.gemini.posts[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent"
    third = await client.responses.create(model="azure/gpt-5", input="hi")
    assert third.output_text == "Hello!"
    assert fakes.azure.last.headers["api-key"] == AZURE_KEY
    routes = [r.route for r in list(gw.runtime.recent)[-3:]]
    assert routes[1] == "gemini/gemini-2.5-flash → gemini/gemini-2.5-flash"


async def test_a_bridged_route_moves_to_the_next_pool_key_on_a_429(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.headers.get("api-key") == "az-key-1":
            error = {"error": {"message": "Rate limit reached", "code": "429"}}
            return web.json_response(error, status=429, headers={"retry-after": "20"})
        return await upstream.default(request, rec)

    upstream.responder = answer
    gw = await start_gateway(
        {
            "AOA_TYPE": "azure",
            "AZURE_ENDPOINT": upstream.url,
            "AZURE_API_KEY": "az-key-1, az-key-2",
            "AZURE_MODEL": "gpt-5",
        }
    )
    status, events = await raw_events(gw.url, {"model": "gpt-5", "input": "x", "stream": True})
    assert status == 200
    assert check_stream(events)["output"][0]["content"][0]["text"] == "Hello"
    assert [r.headers["api-key"] for r in upstream.received] == ["az-key-1", "az-key-2"]


async def test_reasoning_and_parallel_calls_stream_as_items(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def call(i: int, cid: str | None, name: str | None, args: str) -> dict[str, Any]:
        fn: dict[str, Any] = {"arguments": args}
        if name:
            fn["name"] = name
        out: dict[str, Any] = {"index": i, "function": fn}
        if cid:
            out.update(id=cid, type="function")
        return out

    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        usage = {
            "prompt_tokens": 8,
            "completion_tokens": 20,
            "total_tokens": 28,
            "completion_tokens_details": {"reasoning_tokens": 12},
            "prompt_tokens_details": {"cached_tokens": 4},
        }
        return await sse(
            request,
            [
                chunk({"role": "assistant", "reasoning_content": "Two cities, "}),
                chunk({"reasoning_content": "two calls."}),
                chunk({"tool_calls": [call(0, "call_a", "weather", '{"city":')]}),
                chunk({"tool_calls": [call(1, "call_b", "weather", '{"city":"Rome"}')]}),
                chunk({"tool_calls": [call(0, None, None, '"Oslo"}')]}),
                chunk({}, "tool_calls"),
                {**base, "choices": [], "usage": usage},
            ],
        )

    upstream.responder = answer
    gw = await start_gateway(
        {"AOA_TYPE": "azure", "AZURE_ENDPOINT": upstream.url, "AZURE_API_KEY": "k"}
    )
    tool = {"type": "function", "name": "weather", "parameters": {"type": "object"}}
    body = {
        "model": "o4",
        "input": "Weather in Oslo and Rome?",
        "tools": [tool],
        "reasoning": {"effort": "high", "summary": "auto"},
        "stream": True,
    }
    status, events = await raw_events(gw.url, body)
    final = check_stream(events)
    sdk_response(final)
    assert [i["type"] for i in final["output"]] == ["reasoning", "function_call", "function_call"]
    assert final["output"][0]["summary"][0]["text"] == "Two cities, two calls."
    calls = {i["call_id"]: json.loads(i["arguments"]) for i in final["output"][1:]}
    assert calls == {"call_a": {"city": "Oslo"}, "call_b": {"city": "Rome"}}
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 12
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert upstream.last.json["reasoning_effort"] == "high"


async def test_the_demo_answers_through_the_bridge(start_gateway: StartGateway) -> None:
    gw = await start_gateway({"AOA_TYPE": "demo"})
    client = gw.client()
    whole = await client.responses.create(model="demo", input="hello")
    assert whole.status == "completed" and whole.output_text
    async with client.responses.stream(model="demo", input="hello") as stream:
        final = await stream.get_final_response()
    assert final.status == "completed" and final.output_text


async def test_a_native_stream_cut_ends_with_response_failed(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        created = {"type": "response.created", "sequence_number": 0, "response": NATIVE}
        await resp.write(f"event: response.created\ndata: {json.dumps(created)}\n\n".encode())
        assert request.transport is not None
        request.transport.close()
        return resp

    upstream.responder = answer
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    stream = await gw.client().responses.create(model="gpt-5", input="x", stream=True)
    events = [event async for event in stream]
    assert [e.type for e in events] == ["response.created", "response.failed"]
    failed = events[-1]
    assert failed.type == "response.failed"  # built from the relayed tail: id, next number
    assert failed.sequence_number == 1 and failed.response.id == NATIVE["id"]
    assert failed.response.status == "failed" and failed.response.error is not None
    assert failed.response.error.code == "server_error"
    assert "broke off" in failed.response.error.message


async def test_a_gemini_error_before_the_first_event_keeps_its_status(
    fakes: Fakes, gateway: StartAt
) -> None:
    fakes.gemini.fail = (
        400,
        {"error": {"code": 400, "message": "bad thing", "status": "INVALID_ARGUMENT"}},
    )
    gw = await gateway(three_env(fakes, providers="gemini"))
    with pytest.raises(openai.BadRequestError) as caught:
        await gw.client().responses.create(model="gemini-2.5-flash", input="x", stream=True)
    assert "bad thing" in caught.value.message


async def test_a_host_without_responses_is_bridged_from_then_on(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.path.endswith("/responses"):
            return web.Response(status=404, text="404 page not found")
        return await upstream.default(request, rec)

    upstream.responder = answer
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url + "/v1"})
    client = gw.client()
    first = await client.responses.create(model="deepseek-chat", input="hi")
    assert first.output_text == "Hello!"
    second = await client.responses.create(model="deepseek-chat", input="again")
    assert second.output_text == "Hello!"
    paths = [r.path for r in upstream.received if r.method == "POST"]
    assert paths == ["/v1/responses", "/v1/chat/completions", "/v1/chat/completions"]


async def test_an_unknown_model_on_a_native_host_stays_its_404(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        error = {
            "error": {
                "message": "The model `nope` does not exist",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        }
        return web.json_response(error, status=404)

    upstream.responder = answer
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    with pytest.raises(openai.NotFoundError) as caught:
        await gw.client().responses.create(model="nope", input="hi")
    assert caught.value.code == "model_not_found"
    assert [r.path for r in upstream.received] == ["/responses"]
