"""AZURE_AUTH=entra through the gateway with the real azure-identity, offline.

The sources are the real library's: AzureCliCredential runs a fake `az` first on PATH, the
managed identity asks a loopback endpoint. The fake Azure records what reaches it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletionMessageParam

from aoa_proxy.config import load_settings
from aoa_proxy.errors import ConfigError
from tests.conftest import StartGateway
from tests.entra_fakes import FakeAz, ManagedIdentity, NoIdentityImds, entra_env, install_az
from tests.fakes import FakeUpstream, Received, Responder

SCOPE_RESOURCE = "https://cognitiveservices.azure.com"
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def entra(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": upstream.url + "/",
        "AZURE_AUTH": "entra",
        "AZURE_MODEL_ALIAS": "gpt-4o:my-gpt4o",
        **extra,
    }


@pytest.fixture
async def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    imds = await NoIdentityImds().start()
    entra_env(monkeypatch, tmp_path / "home", imds.url)
    yield tmp_path / "home"
    await imds.close()


@pytest.fixture
def az(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAz:
    return install_az(monkeypatch, tmp_path / "bin")


@pytest.fixture
async def identity(home: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ManagedIdentity]:
    server = await ManagedIdentity().start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", server.header)
    yield server
    await server.close()


def bearer_only(upstream: FakeUpstream) -> str:
    """The token the last request carried; fails unless it came as a Bearer with no api-key."""
    headers = {k.lower(): v for k, v in upstream.last.headers.items()}
    assert "api-key" not in headers
    scheme, _, token = headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


async def test_az_login_token_reaches_azure_as_bearer_and_client_key_never_does(
    upstream: FakeUpstream,
    start_gateway: StartGateway,
    az: FakeAz,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    gw = await start_gateway(entra(upstream))
    # Start-up checked the credential once and named its source (never the token).
    assert az.calls() == [f"account get-access-token --output json --resource {SCOPE_RESOURCE}"]
    assert "Azure CLI (az login)" in caplog.text
    reply = await gw.client(api_key="sk-client-own-key").chat.completions.create(
        model="gpt-4o", messages=HI
    )
    assert reply.choices[0].message.content == "Hello!"
    assert upstream.last.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert bearer_only(upstream) == "az-token-1"
    assert b"sk-client-own-key" not in repr(upstream.last.headers).encode()
    # The token is cached: more requests (a stream too) run `az` no more.
    stream = await gw.client().chat.completions.create(model="gpt-4o", messages=HI, stream=True)
    async for _ in stream:
        pass
    await gw.client().embeddings.create(model="gpt-4o", input="x")
    assert bearer_only(upstream) == "az-token-1"
    assert len(az.calls()) == 1


async def test_model_list_is_asked_with_the_token(
    upstream: FakeUpstream, start_gateway: StartGateway, az: FakeAz
) -> None:
    gw = await start_gateway(entra(upstream))
    await gw.client().models.list()
    assert upstream.last.path == "/openai/deployments"
    assert bearer_only(upstream) == "az-token-1"


async def test_not_logged_in_is_a_401_that_says_run_az_login(
    upstream: FakeUpstream,
    start_gateway: StartGateway,
    az: FakeAz,
    caplog: pytest.LogCaptureFixture,
) -> None:
    az.logged_out()
    gw = await start_gateway(entra(upstream))
    assert "run `az login`" in caplog.text  # start-up said it, and kept serving
    with pytest.raises(openai.AuthenticationError) as caught:
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    error = caught.value.body
    assert isinstance(error, dict)
    assert "run `az login`" in error["message"]
    assert error["code"] == "entra_token_unavailable"
    assert upstream.received == []  # nothing reached Azure, least of all the client's key
    # Once the person logs in, the next request just works.
    az.logged_in()
    await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert bearer_only(upstream).startswith("az-token-")


async def test_a_stream_without_a_token_is_a_401_before_any_byte(
    upstream: FakeUpstream, start_gateway: StartGateway, az: FakeAz
) -> None:
    az.logged_out()
    gw = await start_gateway(entra(upstream))
    with pytest.raises(openai.AuthenticationError, match="az login"):
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI, stream=True)


async def test_managed_identity_token_refreshed_when_it_expires(
    upstream: FakeUpstream,
    start_gateway: StartGateway,
    identity: ManagedIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    identity.lifetimes = [2.0, 3600.0]  # the first token lives two seconds
    gw = await start_gateway(entra(upstream))
    assert "managed identity" in caplog.text
    asked = identity.received[0]
    assert asked.path == "/msi/token"
    assert asked.query == {"api-version": "2019-08-01", "resource": SCOPE_RESOURCE}
    await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    first = bearer_only(upstream)
    assert first == identity.issued[0][0]
    assert len(identity.received) == 1  # start-up's token served the request
    # Wait for the condition itself: the first token's expiry passing.
    expiry = identity.issued[0][1]
    while time.time() < expiry + 0.05:
        await asyncio.sleep(0.05)
    await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    second = bearer_only(upstream)
    assert second != first
    assert second == identity.issued[1][0]
    await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert len(identity.received) == 2  # the long-lived second token is reused


async def test_no_token_in_logs_or_files(
    upstream: FakeUpstream,
    start_gateway: StartGateway,
    identity: ManagedIdentity,
    home: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the library's too, at its most talkative
    gw = await start_gateway(entra(upstream))
    await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    await gw.client().models.list()
    token = bearer_only(upstream) if upstream.received else identity.issued[0][0]
    assert token == identity.issued[0][0]
    assert token not in caplog.text
    out, err = capsys.readouterr()
    assert token not in out and token not in err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


async def test_a_server_key_and_entra_together_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "AOA_TYPE": "azure",
                "AZURE_ENDPOINT": "https://r.openai.azure.com/",
                "AZURE_API_KEY": "server-key",
                "AZURE_AUTH": "entra",
            }
        )
    assert [p.var for p in caught.value.problems] == ["AZURE_AUTH"]
    assert "server-key" not in str(caught.value)


def answer(status: int, body: bytes) -> Responder:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type="application/json")

    return respond


# Azure's exact bodies (shared/specs/azure-modern.md section 3).
EXPIRED = (
    b'{"statusCode":401,"message":"Unauthorized. Access token is missing, invalid, audience is '
    b'incorrect (https://cognitiveservices.azure.com), or have expired."}'
)
NO_ROLE = (
    b'{"error":{"code":"PermissionDenied","message":"Principal does not have access to '
    b'API/Operation."}}'
)
KEYS_OFF = (
    b'{"error":{"code":"AuthenticationTypeDisabled","message":"Key based authentication is '
    b'disabled for this resource."}}'
)


async def test_a_refused_token_is_asked_for_anew(
    upstream: FakeUpstream, start_gateway: StartGateway, az: FakeAz
) -> None:
    gw = await start_gateway(entra(upstream))
    upstream.responder = answer(401, EXPIRED)
    with pytest.raises(openai.AuthenticationError):
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert bearer_only(upstream) == "az-token-1"
    upstream.responder = None
    await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert bearer_only(upstream) == "az-token-2"


async def test_missing_role_names_the_role(
    upstream: FakeUpstream, start_gateway: StartGateway, az: FakeAz
) -> None:
    gw = await start_gateway(entra(upstream))
    upstream.responder = answer(401, NO_ROLE)
    with pytest.raises(openai.PermissionDeniedError, match="Cognitive Services OpenAI User"):
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI)


async def test_keys_disabled_on_the_resource_says_to_use_entra(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(
        {"AOA_TYPE": "azure", "AZURE_ENDPOINT": upstream.url + "/", "AZURE_API_KEY": "k"}
    )
    upstream.responder = answer(403, KEYS_OFF)
    with pytest.raises(openai.PermissionDeniedError, match="AZURE_AUTH=entra"):
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI)


async def test_a_foreign_web_page_cannot_spend_the_sign_in(
    upstream: FakeUpstream, start_gateway: StartGateway, az: FakeAz
) -> None:
    # Without a server key the gateway grants CORS to any page (the page spends its own key);
    # with Entra ID the sign-in is the gateway's, like a server key: no foreign origin may use it.
    gw = await start_gateway(entra(upstream))
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{gw.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": HI},
            headers={"Origin": "https://evil.example"},
        ) as r,
    ):
        assert r.headers.get("Access-Control-Allow-Origin") in (None, "")
        assert r.status == 403
    assert upstream.received == []


async def test_requests_waiting_on_a_refresh_share_it(
    upstream: FakeUpstream, start_gateway: StartGateway, az: FakeAz
) -> None:
    gw = await start_gateway(entra(upstream))
    assert len(az.calls()) == 1
    gw.runtime.forget_tokens()  # as after a sign-in change: the next requests must refresh
    client = gw.client()
    await asyncio.gather(
        *(client.chat.completions.create(model="gpt-4o", messages=HI) for _ in range(8))
    )
    assert len(az.calls()) == 2  # one `az` run for all eight
    assert {bearer_only_of(r) for r in upstream.received} == {"az-token-2"}


def bearer_only_of(rec: Received) -> str:
    assert "api-key" not in {k.lower() for k in rec.headers}
    return rec.headers["Authorization"].removeprefix("Bearer ")
