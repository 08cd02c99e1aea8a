"""Azure through the gateway, driven by the official openai SDK against a fake Azure on loopback."""

from __future__ import annotations

import json

import openai
import pytest
from aiohttp import web

from tests.fakes import FakeUpstream, Received


def azure_env(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {"AOA_TYPE": "azure", "AZURE_ENDPOINT": upstream.url + "/", **extra}


async def test_alias_maps_to_its_deployment_and_server_key_wins(upstream, start_gateway):
    gw = await start_gateway(
        azure_env(
            upstream,
            AZURE_API_KEY="server-key",
            AZURE_MODEL_ALIAS="gpt-4:my-gpt4, gpt-3.5-turbo:gpt35",
        )
    )
    reply = await gw.client(api_key="ignored-client-key").chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello!"
    got = upstream.last
    assert got.path == "/openai/deployments/my-gpt4/chat/completions"
    assert got.query == {"api-version": "2023-05-15"}
    assert got.headers["api-key"] == "server-key"
    assert "Authorization" not in got.headers


async def test_client_key_passes_through_as_api_key_without_server_key(upstream, start_gateway):
    gw = await start_gateway(azure_env(upstream))
    await gw.client(api_key="client-own-key").chat.completions.create(
        model="gpt35", messages=[{"role": "user", "content": "hi"}]
    )
    assert upstream.last.headers["api-key"] == "client-own-key"


@pytest.mark.parametrize(
    ("model", "deployment"),
    [
        ("gpt-3.5-turbo", "gpt-35-turbo"),
        ("", "default-dep"),
        ("default-dep", "default-dep"),
        ("gpt-4o", "gpt-4o"),
    ],
)
async def test_model_to_deployment_without_alias(upstream, start_gateway, model, deployment):
    gw = await start_gateway(azure_env(upstream, AZURE_MODEL="default-dep", AZURE_API_KEY="k"))
    await gw.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}]
    )
    assert upstream.last.path == f"/openai/deployments/{deployment}/chat/completions"


async def test_every_client_field_reaches_azure_byte_for_byte(upstream, start_gateway):
    gw = await start_gateway(azure_env(upstream, AZURE_API_KEY="k", AZURE_API_VER="2024-10-21"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "w",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    await gw.client().chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "be brief", "name": "sys"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "high"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        ],
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_object"},
        seed=7,
        n=2,
        stop=["END"],
        logprobs=True,
        top_logprobs=2,
        user="u-1",
        temperature=0,
        top_p=0,
        max_tokens=0,
        presence_penalty=0,
        frequency_penalty=0.5,
        logit_bias={"50256": -100},
        parallel_tool_calls=False,
        extra_body={"future_field": {"nested": [1, 2.5, None]}},
    )
    sent = upstream.last.json
    assert sent["tools"] == tools
    assert sent["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert sent["messages"][2]["content"] is None
    assert sent["messages"][0]["name"] == "sys"
    assert sent["messages"][1]["content"][1]["image_url"]["detail"] == "high"
    for field, value in {
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "seed": 7,
        "n": 2,
        "stop": ["END"],
        "logprobs": True,
        "top_logprobs": 2,
        "user": "u-1",
        "temperature": 0,
        "top_p": 0,
        "max_tokens": 0,
        "presence_penalty": 0,
        "frequency_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "parallel_tool_calls": False,
        "future_field": {"nested": [1, 2.5, None]},
    }.items():
        assert sent[field] == value, field


async def test_raw_body_is_forwarded_unchanged(upstream, start_gateway):
    gw = await start_gateway(azure_env(upstream, AZURE_API_KEY="k", AZURE_MODEL_ALIAS="gpt-4:dep"))
    raw = b'{ "model" : "gpt-4",\n "messages": [{"role":"user","content":"\\u00e9"}], "x": 1.0e2 }'
    import aiohttp

    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{gw.url}/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
        ) as r,
    ):
        assert r.status == 200
    assert upstream.last.body == raw


async def test_streaming_passes_every_event_and_done(upstream, start_gateway):
    gw = await start_gateway(azure_env(upstream, AZURE_API_KEY="k"))
    stream = await gw.client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7
    assert upstream.last.json["stream_options"] == {"include_usage": True}


async def test_azure_first_chunk_with_empty_choices_reaches_client(upstream, start_gateway):
    from tests.fakes import chat_chunks, sse

    first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return await sse(request, [first, *chat_chunks(["a", "b"])])

    upstream.responder = respond
    gw = await start_gateway(azure_env(upstream, AZURE_API_KEY="k"))
    stream = await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices == []
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ab"


async def test_deployment_not_found_is_a_404_listing_configured_models(upstream, start_gateway):
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response(
            {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            },
            status=404,
        )

    upstream.responder = respond
    gw = await start_gateway(
        azure_env(
            upstream, AZURE_API_KEY="k", AZURE_MODEL="gpt35", AZURE_MODEL_ALIAS="gpt-4:my-gpt4"
        )
    )
    with pytest.raises(openai.NotFoundError) as exc:
        await gw.client().chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert exc.value.code == "model_not_found"
    assert "gpt35" in exc.value.message and "gpt-4 -> my-gpt4" in exc.value.message


async def test_content_filter_error_passes_through_unchanged(upstream, start_gateway):
    body = {
        "error": {
            "message": "filtered",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {"hate": {"filtered": True, "severity": "high"}},
            },
        }
    }

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.Response(body=json.dumps(body), status=400, content_type="application/json")

    upstream.responder = respond
    gw = await start_gateway(azure_env(upstream, AZURE_API_KEY="k"))
    with pytest.raises(openai.BadRequestError) as exc:
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.body == body["error"]
    assert exc.value.code == "content_filter"


async def test_azure_401_with_string_code_is_completed_to_openai_shape(upstream, start_gateway):
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response({"error": {"code": "401", "message": "Access denied"}}, status=401)

    upstream.responder = respond
    gw = await start_gateway(azure_env(upstream))
    with pytest.raises(openai.AuthenticationError) as exc:
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.body == {
        "code": "401",
        "message": "Access denied",
        "type": "authentication_error",
        "param": None,
    }


async def test_models_list_deployments_and_aliases(upstream, start_gateway):
    gw = await start_gateway(
        azure_env(
            upstream,
            AZURE_API_KEY="k",
            AZURE_MODEL="gpt35",
            AZURE_MODEL_ALIAS="gpt-4:gpt35",
            AZURE_API_VER="2024-10-21",
        )
    )
    models = await gw.client().models.list()
    ids = [m.id async for m in models]
    assert ids == ["gpt35", "gpt-4"]
    assert upstream.last.path == "/openai/deployments"
    # The last api-version known to serve the listing (spec azure-modern.md §1), whatever is set.
    assert upstream.last.query == {"api-version": "2023-03-15-preview"}
    model = await gw.client().models.retrieve("gpt-4")
    assert model.object == "model"
    with pytest.raises(openai.NotFoundError):
        await gw.client().models.retrieve("nope")


async def test_models_list_survives_a_failing_lookup(upstream, start_gateway):
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response(
            {"error": {"code": "404", "message": "Resource not found"}}, status=404
        )

    upstream.responder = respond
    gw = await start_gateway(
        azure_env(upstream, AZURE_API_KEY="k", AZURE_MODEL="dep", AZURE_MODEL_ALIAS="a:b")
    )
    ids = [m.id async for m in await gw.client().models.list()]
    assert ids == ["dep", "a"]


async def test_completions_and_embeddings_use_their_deployment_paths(upstream, start_gateway):
    gw = await start_gateway(
        azure_env(upstream, AZURE_API_KEY="k", AZURE_MODEL_ALIAS="text-embedding-3-small:emb")
    )
    done = await gw.client().completions.create(model="davinci", prompt="Say")
    assert done.choices[0].text == "done"
    assert upstream.last.path == "/openai/deployments/davinci/completions"
    assert upstream.last.json["prompt"] == "Say"
    emb = await gw.client().embeddings.create(model="text-embedding-3-small", input="hello")
    assert emb.data[0].embedding == [pytest.approx(0.1), pytest.approx(0.2)]
    assert upstream.last.path == "/openai/deployments/emb/embeddings"
