"""Several providers at once (AOA_PROVIDERS), through the official openai SDK against fake Azure,
Gemini and OpenAI-compatible upstreams on loopback: each routing rule, the merged model list,
the 404 for a disabled provider's prefix, and where a client's own key may go."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletionMessageParam

from tests.conftest import Gateway
from tests.fakes import FakeUpstream, Received
from tests.reliability.conftest import async_wait_until
from tests.several import GEMINI_KEY, OPENAI_KEY, Fakes, StartAt, three_env

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


async def ask(gw: Gateway, model: str, **kw: Any) -> Any:
    return await gw.client().chat.completions.create(model=model, messages=HI, **kw)


def last_route(gw: Gateway) -> str:
    return gw.runtime.recent[-1].route


# ------------------------------------------------------------------ the routing order


async def test_a_provider_prefix_picks_that_provider(fakes: Fakes, gateway: StartAt) -> None:
    gw = await gateway(three_env(fakes))
    reply = await ask(gw, "gemini/gemini-2.5-pro")
    assert reply.choices[0].message.content
    assert fakes.gemini.posts[-1].path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert fakes.gemini.posts[-1].headers["x-goog-api-key"] == GEMINI_KEY
    assert last_route(gw) == "gemini/gemini-2.5-pro → gemini/gemini-2.5-pro"
    await ask(gw, "openai/gpt-4o")
    assert fakes.openai.last.json["model"] == "gpt-4o"
    assert fakes.openai.last.headers["Authorization"] == f"Bearer {OPENAI_KEY}"


async def test_an_alias_of_any_enabled_provider_routes_there(
    fakes: Fakes, gateway: StartAt
) -> None:
    gw = await gateway(three_env(fakes, OPENAI_MODEL_ALIAS="fast:gpt-4o-mini"))
    await ask(gw, "fast")
    assert fakes.openai.last.json["model"] == "gpt-4o-mini"
    assert last_route(gw) == "fast → openai/gpt-4o-mini"
    assert [r for r in fakes.azure.received if r.method == "POST"] == []


async def test_a_glob_alias_routes_names_it_matches(fakes: Fakes, gateway: StartAt) -> None:
    env = three_env(fakes, GEMINI_MODEL_ALIAS="claude-*-haiku*:gemini-2.5-flash")
    gw = await gateway(env)
    reply = await ask(gw, "claude-3-5-haiku-latest")
    assert fakes.gemini.posts[-1].path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert reply.model == "claude-3-5-haiku-latest"  # the first target answers as asked
    assert last_route(gw) == "claude-3-5-haiku-latest → gemini/gemini-2.5-flash"


async def test_a_model_another_provider_lists_goes_there(fakes: Fakes, gateway: StartAt) -> None:
    gw = await gateway(three_env(fakes))
    # The lists are fetched in the background when the gateway starts; a request never waits.
    assert await async_wait_until(lambda: "upstream-model" in gw.runtime.models("openai"))
    await ask(gw, "upstream-model")
    assert fakes.openai.last.json["model"] == "upstream-model"
    assert last_route(gw) == "upstream-model → openai/upstream-model"


async def test_anything_else_goes_to_the_default_provider(fakes: Fakes, gateway: StartAt) -> None:
    gw = await gateway(three_env(fakes, AOA_TYPE="azure"))
    await ask(gw, "gpt-3.5-turbo")
    assert fakes.azure.last.path == "/openai/deployments/gpt-35-turbo/chat/completions"
    assert last_route(gw) == "gpt-3.5-turbo → azure/gpt-35-turbo"


async def test_aoa_type_is_the_default_whatever_the_order(fakes: Fakes, gateway: StartAt) -> None:
    gw = await gateway(three_env(fakes, AOA_TYPE="openai"))
    await ask(gw, "some-model")
    assert fakes.openai.last.json["model"] == "some-model"
    assert gw.runtime.recent[-1].provider == "openai"


async def test_embeddings_and_completions_are_routed_too(fakes: Fakes, gateway: StartAt) -> None:
    gw = await gateway(three_env(fakes))
    client = gw.client()
    emb = await client.embeddings.create(model="gemini/gemini-embedding-001", input=["a", "b"])
    assert len(emb.data) == 2 and ":batchEmbedContents" in fakes.gemini.posts[-1].path
    await client.completions.create(model="openai/davinci-002", prompt="p")
    assert fakes.openai.last.path == "/v1/completions"
    assert fakes.openai.last.json["model"] == "davinci-002"


async def test_a_disabled_providers_prefix_is_a_404_listing_the_enabled_ones(
    fakes: Fakes, gateway: StartAt
) -> None:
    gw = await gateway(three_env(fakes))
    with pytest.raises(openai.NotFoundError) as err:
        await ask(gw, "yi/yi-large")
    body = err.value.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "type", "param", "code"}
    assert body["code"] == "model_not_found" and body["param"] == "model"
    assert "'yi'" in body["message"] and "azure, gemini, openai" in body["message"]
    with pytest.raises(openai.NotFoundError):
        await gw.client().models.retrieve("yi/yi-large")


async def test_the_access_log_names_the_route(
    fakes: Fakes, gateway: StartAt, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aoa.access")
    gw = await gateway(three_env(fakes, OPENAI_MODEL_ALIAS="fast:gpt-4o-mini"))
    await ask(gw, "fast")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "aoa.access"]
    assert line.startswith("POST /v1/chat/completions openai fast → openai/gpt-4o-mini 200 ")


# ------------------------------------------------------------------ one /v1/models


async def test_the_model_list_merges_every_provider_first_one_winning(
    fakes: Fakes, gateway: StartAt
) -> None:
    async def openai_lists(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "GET":  # also lists a model Gemini has: Gemini is listed first
            data = [{"id": i, "object": "model", "created": 1, "owned_by": "x"} for i in OWN]
            return web.json_response({"object": "list", "data": data})
        return await fakes.openai.default(request, rec)

    OWN = ["gemini-2.5-pro", "gpt-4o"]
    fakes.openai.responder = openai_lists
    env = three_env(
        fakes,
        AZURE_MODEL_ALIAS="gpt-4:my-gpt4",
        GEMINI_MODEL_ALIAS="claude-*:gemini-2.5-flash,pro:gemini-2.5-pro",
    )
    gw = await gateway(env)
    models = [m async for m in await gw.client().models.list()]
    ids = [m.id for m in models]
    assert len(ids) == len(set(ids))
    owner = {m.id: m.owned_by for m in models}
    assert owner["gpt35"] == owner["gpt-4"] == owner["gpt-3.5-turbo"] == "azure"
    assert owner["gemini-2.5-pro"] == owner["pro"] == owner["gemini-3-pro-preview"] == "gemini"
    assert owner["gpt-4o"] == "openai"
    assert not [i for i in ids if "*" in i]  # a glob is a pattern, not a model
    assert ids.index("gpt35") < ids.index("gemini-2.5-flash") < ids.index("gpt-4o")


async def test_one_listing_failing_and_one_hanging_leave_the_others(
    fakes: Fakes, gateway: StartAt, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aoa_proxy.doors.models.LIST_TIMEOUT", 0.5)
    release = asyncio.Event()

    async def azure_hangs(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "GET":
            await release.wait()
        return await fakes.azure.default(request, rec)

    async def openai_fails(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "GET":
            return web.json_response({"error": {"message": "down"}}, status=500)
        return await fakes.openai.default(request, rec)

    fakes.azure.responder, fakes.openai.responder = azure_hangs, openai_fails
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS="gpt-4:my-gpt4"))
    try:
        models = [m async for m in await gw.client().models.list()]
    finally:
        release.set()
    owner = {m.id: m.owned_by for m in models}
    # Gemini's whole list; the others' configured names (AZURE_MODEL and the alias).
    assert {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"} <= set(owner)
    assert owner["gpt-4"] == owner["gpt-3.5-turbo"] == "azure" and "gpt35" not in owner
    assert "upstream-model" not in owner


async def test_a_failed_listing_keeps_the_list_the_router_had(
    fakes: Fakes, gateway: StartAt
) -> None:
    gw = await gateway(three_env(fakes))
    assert await async_wait_until(lambda: "upstream-model" in gw.runtime.models("openai"))
    fakes.openai.responder = _fail_listing(fakes.openai)
    await gw.client().models.list()
    assert "upstream-model" in gw.runtime.models("openai")
    await ask(gw, "upstream-model")
    assert fakes.openai.last.json["model"] == "upstream-model"


def _fail_listing(fake: FakeUpstream) -> Any:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "GET":
            return web.Response(status=503)
        return await fake.default(request, rec)

    return respond


async def test_retrieving_a_model_resolves_with_the_router(fakes: Fakes, gateway: StartAt) -> None:
    env = three_env(fakes, GEMINI_MODEL_ALIAS="claude-*-haiku*:gemini-2.5-flash")
    gw = await gateway(env)
    client = gw.client()
    assert (await client.models.retrieve("gemini-2.5-pro")).owned_by == "gemini"
    assert (await client.models.retrieve("gemini/gemini-2.5-pro")).owned_by == "gemini"
    assert (await client.models.retrieve("claude-3-haiku")).owned_by == "gemini"
    assert (await client.models.retrieve("upstream-model")).owned_by == "openai"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gemini/no-such-model")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")


# ------------------------------------------------------------------ keys


async def test_a_clients_own_key_never_reaches_a_provider_but_the_default(
    fakes: Fakes, gateway: StartAt
) -> None:
    env = three_env(fakes, providers="openai,gemini,azure")
    del env["OPENAI_API_KEY"]  # the default passes the client's key on, as it always did
    gw = await gateway(env)
    client = gw.client(api_key="sk-client-own-secret-key")
    await client.chat.completions.create(model="m", messages=HI)
    assert fakes.openai.last.headers["Authorization"] == "Bearer sk-client-own-secret-key"
    await client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=HI)
    await client.chat.completions.create(model="azure/dep", messages=HI)
    await client.models.list()
    for fake in (fakes.gemini, fakes.azure):
        assert fake.received
        for got in fake.received:
            assert "sk-client-own-secret-key" not in str(got.headers)
