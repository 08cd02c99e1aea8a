"""Azure's v1 API through the gateway (openai SDK -> aoa -> a fake Azure on loopback): routes,
the deployment as the body's model, api-version, Responses passed through, and /v1/models."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aoa_proxy.config import load_settings
from aoa_proxy.providers import Call, Endpoint, get_provider
from tests.azure_fake import RESPONSE_TEXT, FakeAzure
from tests.conftest import StartGateway


@pytest.fixture
async def azure() -> AsyncIterator[FakeAzure]:
    fake = await FakeAzure().start()
    yield fake
    await fake.close()


def v1_env(azure: FakeAzure, endpoint_path: str = "/", **extra: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": azure.url + endpoint_path,
        "AZURE_API_KEY": "server-key",
        "AZURE_API_VER": "v1",
        **extra,
    }


async def test_v1_chat_sends_the_deployment_as_model_without_api_version(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure, AZURE_MODEL_ALIAS="gpt-4:gpt-4o"))
    reply = await gw.client().chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}], max_tokens=7
    )
    assert reply.choices[0].message.content == "Hello!"
    got = azure.last
    assert got.path == "/openai/v1/chat/completions"
    assert got.query == {}
    assert got.json["model"] == "gpt-4o"  # the alias's deployment, in the body
    assert got.json["max_tokens"] == 7
    assert got.headers["api-key"] == "server-key"


async def test_v1_body_is_the_clients_bytes_when_the_model_is_the_deployment(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure))
    await gw.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=0.25
    )
    assert azure.last.json == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.25,
    }


async def test_v1_stream_passes_through(azure: FakeAzure, start_gateway: StartGateway) -> None:
    gw = await start_gateway(v1_env(azure))
    stream = await gw.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello"
    assert azure.last.path == "/openai/v1/chat/completions"


async def test_preview_sends_api_version_preview(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure, AZURE_API_VER="preview"))
    await gw.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert azure.last.path == "/openai/v1/chat/completions"
    assert azure.last.query == {"api-version": "preview"}


async def test_endpoint_ending_in_openai_v1_selects_v1_whatever_the_api_version(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    env = v1_env(azure, "/openai/v1/")
    del env["AZURE_API_VER"]  # the default, 2023-05-15: never sent on v1
    gw = await start_gateway(env)
    await gw.client().embeddings.create(model="text-embedding-3-small", input="hi")
    got = azure.last
    assert got.path == "/openai/v1/embeddings"
    assert got.query == {}
    assert got.json["model"] == "text-embedding-3-small"


async def test_v1_embeddings(azure: FakeAzure, start_gateway: StartGateway) -> None:
    gw = await start_gateway(v1_env(azure, AZURE_MODEL_ALIAS="emb:my-embedder"))
    out = await gw.client().embeddings.create(model="emb", input="hi")
    assert out.data[0].embedding == [0.5, 0.25]
    assert azure.last.path == "/openai/v1/embeddings"
    assert azure.last.json["model"] == "my-embedder"


async def test_v1_responses_pass_through_natively(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure, AZURE_MODEL_ALIAS="coder:codex"))
    client = gw.client()
    response = await client.responses.create(model="coder", input="hi", reasoning={"effort": "low"})
    assert response.output_text == RESPONSE_TEXT
    got = azure.last
    assert got.path == "/openai/v1/responses"
    assert got.query == {}
    assert got.json == {"model": "codex", "input": "hi", "reasoning": {"effort": "low"}}
    events = [
        e.type async for e in await client.responses.create(model="coder", input="x", stream=True)
    ]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert azure.count("codex chat/completions") == 0  # never bridged to chat


async def test_v1_stored_response_is_read_from_azure(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure, AZURE_API_VER="preview"))
    response = await gw.client().responses.retrieve("resp_abc123")
    assert response.output_text == RESPONSE_TEXT
    assert azure.last.method == "GET"
    assert azure.last.path == "/openai/v1/responses/resp_abc123"
    assert azure.last.query == {"api-version": "preview"}
    assert azure.last.headers["api-key"] == "server-key"


async def test_v1_legacy_completions_use_the_classic_route(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure))
    await gw.client().completions.create(model="instruct", prompt="hi")
    assert azure.last.path == "/openai/deployments/instruct/completions"
    assert azure.last.query == {"api-version": "2024-10-21"}


async def test_v1_models_lists_deployments_not_the_catalogue(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure, AZURE_MODEL="gpt-4o", AZURE_MODEL_ALIAS="gpt-4:gpt-4o"))
    ids = [m.id async for m in await gw.client().models.list()]
    assert ids == ["gpt-4o", "o3", "gpt-4"]
    got = azure.last
    assert got.path == "/openai/deployments"
    assert got.query == {"api-version": "2023-03-15-preview"}
    assert not any(r.path.endswith("/openai/v1/models") for r in azure.received)


async def test_project_endpoint_keeps_its_path(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(v1_env(azure, "/api/projects/proj/openai/v1"))
    await gw.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert azure.last.path == "/api/projects/proj/openai/v1/chat/completions"


async def test_classic_layout_stays_the_default(
    azure: FakeAzure, start_gateway: StartGateway
) -> None:
    env = v1_env(azure)
    del env["AZURE_API_VER"]
    gw = await start_gateway(env)
    await gw.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert azure.last.path == "/openai/deployments/gpt-4o/chat/completions"
    assert azure.last.query == {"api-version": "2023-05-15"}


# --------------------------------------------------------------------------- Foundry hosts


@pytest.mark.parametrize(
    ("endpoint", "version", "url"),
    [
        (
            "https://res.services.ai.azure.com/",
            "v1",
            "https://res.services.ai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://res.services.ai.azure.com/openai/v1/",
            "2023-05-15",
            "https://res.services.ai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://res.cognitiveservices.azure.com",
            "preview",
            "https://res.cognitiveservices.azure.com/openai/v1/chat/completions?api-version=preview",
        ),
        (
            "https://res.openai.azure.com/openai/deployments/x/",
            "v1",
            "https://res.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://res.services.ai.azure.com/",
            "2024-10-21",
            "https://res.services.ai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        ),
    ],
)
async def test_foundry_and_ai_services_hosts_are_accepted_and_routed(
    endpoint: str, version: str, url: str
) -> None:
    settings = load_settings(
        {"AOA_TYPE": "azure", "AZURE_ENDPOINT": endpoint, "AZURE_API_VER": version}
    )
    assert not settings.warnings
    provider = get_provider(settings.active)
    body = {"model": "gpt-4o", "messages": []}
    call = Call(Endpoint.CHAT, body, b"{}", "gpt-4o", "gpt-4o", False, "k")

    async def no_fetch(url: str, limit: int) -> tuple[str, bytes]:
        raise AssertionError("no fetch")

    req = await provider.build_request(call, no_fetch)
    assert req.url == url
    listing = provider.models_request("k")
    assert listing is not None
    assert listing.url.endswith("/openai/deployments?api-version=2023-03-15-preview")
