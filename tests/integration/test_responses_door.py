"""POST /v1/responses through a real gateway, with the official `openai` SDK, against fake
upstreams: bridged to chat (OpenAI-compatible chat-only hosts, Azure, Gemini) and passed through
to an upstream that speaks Responses (AOA_TYPE=openai)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from pydantic import BaseModel

from aoa_proxy.doors.responses import STORE
from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse
from tests.gemini.fake_gemini import FakeGemini, call_chunk, text_chunks
from tests.responses.support import check_stream, sdk_response


def azure_env(fake: FakeUpstream) -> dict[str, str]:
    return {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": fake.url,
        "AZURE_API_KEY": "az-key",
        "AZURE_MODEL": "gpt-5",
    }


def gemini_env(fake: FakeGemini) -> dict[str, str]:
    return {"AOA_TYPE": "gemini", "GEMINI_ENDPOINT": fake.url, "GEMINI_API_KEY": "server-key"}


async def raw_events(url: str, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """POST a streaming request and parse every SSE event (event: line and data must agree)."""
    events: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/responses", json=body, headers={"Authorization": "Bearer k"}) as r,
    ):
        text = (await r.read()).decode()
        if r.status != 200:
            return r.status, [json.loads(text)]
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        event = json.loads(lines["data"])
        assert lines["event"] == event["type"]
        events.append(event)
    return r.status, events


# --------------------------------------------------------------------------- bridged: text


async def test_text_answer_is_a_response_built_from_the_chat_answer(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    resp = await gw.client().responses.create(
        model="gpt-5", instructions="Be brief.", input="Say hello", max_output_tokens=50
    )
    sent = upstream.last
    assert sent.path == "/openai/deployments/gpt-5/chat/completions"
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    assert sent.json["max_completion_tokens"] == 50
    assert resp.output_text == "Hello!"
    assert resp.status == "completed" and resp.model == "gpt-5"
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (
        9,
        3,
        12,
    )


async def test_stream_events_follow_the_grammar_strictly(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    status, events = await raw_events(gw.url, {"model": "gpt-5", "input": "hi", "stream": True})
    assert status == 200
    final = check_stream(events)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final["usage"]["output_tokens"] == 2  # the include_usage chunk the bridge asked for
    assert upstream.last.json["stream_options"] == {"include_usage": True}


async def test_sdk_stream_helper_accumulates_the_same_text(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    client = gw.client()
    deltas = []
    async with client.responses.stream(model="gpt-5", input="hi") as stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello"
    seen = [
        e.type async for e in await client.responses.create(model="gpt-5", input="x", stream=True)
    ]
    assert seen[0] == "response.created" and seen[-1] == "response.completed"


# --------------------------------------------------------------------------- tools over two turns


async def test_function_call_over_two_turns_keeps_the_call_id(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.json["messages"][-1]["role"] == "tool":
            return web.json_response(chat_completion("It is sunny in Paris."))
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        }
        body = chat_completion()
        body["choices"][0].update(message=message, finish_reason="tool_calls")
        return web.json_response(body)

    upstream.responder = answer
    gw = await start_gateway(azure_env(upstream))
    client = gw.client()
    tools: Any = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
            "strict": False,
        }
    ]
    first = await client.responses.create(model="gpt-5", input="Weather?", tools=tools, store=False)
    [call] = first.output
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "call_abc",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert upstream.last.json["tools"][0]["function"]["name"] == "get_weather"
    history: Any = [
        {"role": "user", "content": "Weather?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": "call_abc", "output": "sunny"},
    ]
    second = await client.responses.create(model="gpt-5", input=history, tools=tools, store=False)
    assert second.output_text == "It is sunny in Paris."
    messages = upstream.last.json["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_abc"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}


async def test_gemini_function_call_streams_and_round_trips(
    start_gateway: StartGateway,
) -> None:
    fake = await FakeGemini().start()
    try:

        def reply(body: dict[str, Any], model: str) -> list[Any]:
            last = body["contents"][-1]["parts"][0]
            if "functionResponse" in last:
                return text_chunks(["Sunny", " in Paris"])
            return call_chunk([("get_weather", {"city": "Paris"})], signature="sig1")

        fake.reply = reply
        gw = await start_gateway(gemini_env(fake))
        tools = [
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
        status, events = await raw_events(
            gw.url,
            {"model": "gemini-2.5-flash", "input": "Weather?", "tools": tools, "stream": True},
        )
        assert status == 200
        final = check_stream(events)
        [call] = final["output"]
        assert call["type"] == "function_call" and json.loads(call["arguments"]) == {
            "city": "Paris"
        }
        sdk_response(final)
        status, events = await raw_events(
            gw.url,
            {
                "model": "gemini-2.5-flash",
                "tools": tools,
                "stream": True,
                "input": [
                    {"role": "user", "content": "Weather?"},
                    call,
                    {"type": "function_call_output", "call_id": call["call_id"], "output": "sun"},
                ],
            },
        )
        final = check_stream(events)
        assert final["output"][0]["content"][0]["text"] == "Sunny in Paris"
        assert final["status"] == "completed"
    finally:
        await fake.close()


# --------------------------------------------------------------------------- formats, limits


class Weather(BaseModel):
    city: str
    celsius: int


async def test_parse_with_a_pydantic_text_format(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response(chat_completion('{"city":"Paris","celsius":21}'))

    upstream.responder = answer
    gw = await start_gateway(azure_env(upstream))
    parsed = await gw.client().responses.parse(model="gpt-5", input="x", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", celsius=21)
    fmt = upstream.last.json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Weather"
    assert fmt["json_schema"]["schema"]["properties"]["celsius"]["type"] == "integer"


async def test_length_finish_is_incomplete(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        body = chat_completion("Hel")
        body["choices"][0]["finish_reason"] = "length"
        return web.json_response(body)

    upstream.responder = answer
    gw = await start_gateway(azure_env(upstream))
    resp = await gw.client().responses.create(model="gpt-5", input="x", max_output_tokens=1)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"


# --------------------------------------------------------------------------- failures


async def test_upstream_error_keeps_its_status_in_openai_shape(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        error = {"error": {"message": "slow down", "type": "requests", "code": "429"}}
        return web.json_response(error, status=429, headers={"retry-after": "3"})

    upstream.responder = answer
    gw = await start_gateway(azure_env(upstream))
    with pytest.raises(openai.RateLimitError) as caught:
        await gw.client().responses.create(model="gpt-5", input="x")
    assert "slow down" in caught.value.message
    status, [body] = await raw_events(gw.url, {"model": "gpt-5", "input": "x", "stream": True})
    assert status == 429 and "slow down" in body["error"]["message"]


async def test_mid_stream_cut_ends_with_response_failed(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chat_chunks(["Hel", "lo"])[:2]:
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        assert request.transport is not None
        request.transport.close()  # the connection drops mid-answer
        return resp

    upstream.responder = answer
    gw = await start_gateway(azure_env(upstream))
    status, events = await raw_events(gw.url, {"model": "gpt-5", "input": "x", "stream": True})
    assert status == 200
    final = check_stream(events)
    assert events[-1]["type"] == "response.failed"
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"


async def test_stream_ending_without_done_is_failed_not_completed(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    """A chat stream that closes cleanly but never said [DONE] was cut somewhere upstream: the
    Responses stream must not call the partial answer completed (the Messages door agrees)."""

    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        return await sse(request, chat_chunks(["Hel", "lo"])[:2], done=False)

    upstream.responder = answer
    gw = await start_gateway(azure_env(upstream))
    status, events = await raw_events(gw.url, {"model": "gpt-5", "input": "x", "stream": True})
    assert status == 200
    final = check_stream(events)
    assert events[-1]["type"] == "response.failed"
    assert final["status"] == "failed" and "[DONE]" in final["error"]["message"]


async def test_bad_requests_are_clear_400s(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-5", input="x", background=True)
    assert caught.value.param == "background"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(
            model="gpt-5",
            input=[{"type": "function_call_output", "call_id": "nope", "output": "x"}],
        )
    assert caught.value.param == "input[0].call_id"
    assert upstream.received == []


# --------------------------------------------------------------------------- state


async def test_previous_response_id_get_input_items_and_delete(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    client = gw.client()
    first = await client.responses.create(model="gpt-5", input="My name is Ada.")
    second = await client.responses.create(
        model="gpt-5", input="What is my name?", previous_response_id=first.id
    )
    assert [m["role"] for m in upstream.last.json["messages"]] == ["user", "assistant", "user"]
    assert upstream.last.json["messages"][1]["content"] == "Hello!"
    assert second.previous_response_id == first.id

    got = await client.responses.retrieve(second.id)
    assert got.id == second.id and got.output_text == "Hello!"
    items = await client.responses.input_items.list(second.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == "What is my name?"  # type: ignore[union-attr,index]

    await client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.retrieve(second.id)
    assert "not found" in caught.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="gpt-5", input="again", previous_response_id=second.id)
    assert bad.value.code == "previous_response_not_found"


async def test_store_false_keeps_nothing(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    client = gw.client()
    resp = await client.responses.create(model="gpt-5", input="x", store=False)
    assert resp.to_dict()["store"] is False
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(resp.id)


async def test_streamed_response_is_stored_too(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    client = gw.client()
    async with client.responses.stream(model="gpt-5", input="hi") as stream:
        final = await stream.get_final_response()
    got = await client.responses.retrieve(final.id)
    assert got.output_text == "Hello"


# --------------------------------------------------------------------------- native pass-through


NATIVE = {
    "id": "resp_upstream",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-5-2025",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "native", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 1,
        "output_tokens": 1,
        "total_tokens": 2,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}


async def test_openai_provider_passes_responses_through(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    release = asyncio.Event()

    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        assert request.path == "/v1/responses"
        if not rec.json.get("stream"):
            return web.Response(body=json.dumps(NATIVE), content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        created = {"type": "response.created", "sequence_number": 0, "response": NATIVE}
        await resp.write(f"event: response.created\ndata: {json.dumps(created)}\n\n".encode())
        await release.wait()
        done = {"type": "response.completed", "sequence_number": 1, "response": NATIVE}
        await resp.write(f"event: response.completed\ndata: {json.dumps(done)}\n\n".encode())
        await resp.write_eof()
        return resp

    upstream.responder = answer
    gw = await start_gateway(
        {
            "AOA_TYPE": "openai",
            "OPENAI_ENDPOINT": upstream.url + "/v1",
            "OPENAI_MODEL_ALIAS": "gpt-5:gpt-5-2025",
        }
    )
    raw = b'{"model": "gpt-5",  "input": "hi", "store": false, "x_extra": [1, 2]}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gw.url}/v1/responses",
            data=raw,
            headers={"Content-Type": "application/json", "Authorization": "Bearer sk-x"},
        ) as r,
    ):
        assert r.status == 200
        assert json.loads(await r.read()) == NATIVE
    sent = upstream.last
    assert sent.headers["Authorization"] == "Bearer sk-x"
    assert json.loads(sent.body) == {**json.loads(raw), "model": "gpt-5-2025"}

    # The stream is relayed event by event: the first event arrives before the upstream ends.
    client = gw.client(api_key="sk-x")
    stream = await client.responses.create(model="gpt-5", input="hi", stream=True)
    first = await asyncio.wait_for(stream.__anext__(), 5)
    assert first.type == "response.created"
    release.set()
    rest = [e.type async for e in stream]
    assert rest == ["response.completed"]


async def test_unchanged_model_sends_the_clients_bytes(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response(NATIVE)

    upstream.responder = answer
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    raw = b'{"model":"gpt-5",   "input":"hi"}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gw.url}/v1/responses", data=raw, headers={"Authorization": "Bearer sk-x"}
        ) as r,
    ):
        assert r.status == 200
    assert upstream.last.body == raw
    assert upstream.last.path == "/responses"


async def test_gemini_text_usage_and_sse_helper(start_gateway: StartGateway) -> None:
    fake = await FakeGemini().start()
    try:
        gw = await start_gateway(gemini_env(fake))
        resp = await gw.client().responses.create(model="gemini-2.5-flash", input="ping")
        assert resp.output_text == "Echo: ping"
        assert resp.usage is not None and resp.usage.input_tokens == 7
        assert fake.last.path.endswith(":generateContent")
    finally:
        await fake.close()


async def test_an_evicted_response_is_a_404_that_says_so(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(azure_env(upstream))
    gw.server.app[STORE].max_count = 1
    client = gw.client()
    old = await client.responses.create(model="gpt-5", input="one")
    new = await client.responses.create(model="gpt-5", input="two")
    assert (await client.responses.retrieve(new.id)).id == new.id
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.retrieve(old.id)
    assert "evicted" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        await client.responses.input_items.list(old.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(old.id)


async def test_every_responses_route_needs_the_access_token(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway({**azure_env(upstream), "AOA_ACCESS_TOKEN": "tok-123456789"})
    routes = [
        ("POST", "/v1/responses"),
        ("GET", "/v1/responses/resp_1"),
        ("GET", "/v1/responses/resp_1/input_items"),
        ("DELETE", "/v1/responses/resp_1"),
    ]
    async with aiohttp.ClientSession() as session:
        for method, path in routes:
            body = {"model": "gpt-5", "input": "x"} if method == "POST" else None
            async with session.request(method, gw.url + path, json=body) as r:
                assert r.status == 401, (method, path)
                assert (await r.json())["error"]["message"]
    assert upstream.received == []
    authed = gw.client(api_key="tok-123456789")
    resp = await authed.responses.create(model="gpt-5", input="x")
    assert (await authed.responses.retrieve(resp.id)).id == resp.id


async def test_native_stored_responses_are_read_and_deleted_on_the_upstream(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.path == "/v1/responses/resp_upstream" and request.method == "GET":
            return web.json_response(NATIVE)
        if request.path == "/v1/responses/resp_upstream/input_items":
            item = {"id": "msg_in", "type": "message", "role": "user", "content": []}
            return web.json_response(
                {
                    "object": "list",
                    "data": [item],
                    "first_id": "msg_in",
                    "last_id": "msg_in",
                    "has_more": False,
                }
            )
        if request.path == "/v1/responses/resp_upstream" and request.method == "DELETE":
            return web.json_response(
                {"id": "resp_upstream", "object": "response.deleted", "deleted": True}
            )
        error = {
            "error": {
                "message": "No response found with id 'resp_gone'.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        return web.json_response(error, status=404)

    upstream.responder = answer
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url + "/v1", "OPENAI_API_KEY": "sk-srv"}
    )
    client = gw.client()
    got = await client.responses.retrieve("resp_upstream")
    assert got.id == "resp_upstream" and got.output_text == "native"
    assert upstream.last.headers["Authorization"] == "Bearer sk-srv"
    items = await client.responses.input_items.list("resp_upstream", order="asc")
    assert [i.id for i in items.data] == ["msg_in"]
    assert upstream.last.query == {"order": "asc"}
    await client.responses.delete("resp_upstream")
    assert upstream.last.method == "DELETE"
    with pytest.raises(openai.NotFoundError) as caught:
        await client.responses.retrieve("resp_gone")
    assert "No response found" in caught.value.message
