"""The anthropic provider as plain data: URLs, headers, model names, errors, whole answers."""

from __future__ import annotations

import json

import pytest

from aoa_proxy.bridges.anthropic_request import to_messages_request
from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import NativeError, UpstreamError
from aoa_proxy.intake import forwarded
from aoa_proxy.providers import Call, Endpoint
from aoa_proxy.providers.anthropic import AnthropicProvider, message_events
from tests.anthropic.support import check_events
from tests.anthropic_provider.fake_anthropic import error_body, message


def provider(endpoint: str = "", **kw: object) -> AnthropicProvider:
    return AnthropicProvider(ProviderSettings("anthropic", endpoint=endpoint, **kw))  # type: ignore[arg-type]


def call(endpoint: Endpoint = Endpoint.MESSAGES, **kw: object) -> Call:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}
    raw = json.dumps(body).encode()
    args: dict[str, object] = {
        "endpoint": endpoint,
        "body": body,
        "raw": raw,
        "model": "claude-sonnet-4-5",
        "upstream_model": "claude-sonnet-4-5",
        "stream": False,
        "key": "k",
        **kw,
    }
    return Call(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("", "https://api.anthropic.com/v1"),
        ("https://api.anthropic.com/", "https://api.anthropic.com/v1"),
        (
            "https://r.services.ai.azure.com/anthropic",
            "https://r.services.ai.azure.com/anthropic/v1",
        ),
        (
            "https://r.services.ai.azure.com/anthropic/v1/",
            "https://r.services.ai.azure.com/anthropic/v1",
        ),
    ],
)
def test_the_base_url_takes_the_endpoint_with_or_without_v1(endpoint: str, base: str) -> None:
    assert provider(endpoint).base_url == base


async def test_foundry_also_gets_the_key_as_api_key() -> None:
    foundry = await provider("https://r.services.ai.azure.com/anthropic").build_request(
        call(), _no_fetch
    )
    assert foundry.headers["x-api-key"] == foundry.headers["api-key"] == "k"
    direct = await provider().build_request(call(), _no_fetch)
    assert "api-key" not in direct.headers
    assert direct.url == "https://api.anthropic.com/v1/messages"


async def test_native_calls_keep_the_clients_bytes_and_anthropic_headers() -> None:
    client = (("anthropic-version", "2099-01-01"), ("anthropic-beta", "b1,b2"))
    native = call(forward=client)
    req = await provider(api_version="2023-06-01").build_request(native, _no_fetch)
    assert req.body == native.raw
    assert req.headers["anthropic-version"] == "2099-01-01"
    assert req.headers["anthropic-beta"] == "b1,b2"
    counted = await provider().build_request(call(Endpoint.COUNT_TOKENS), _no_fetch)
    assert counted.url.endswith("/v1/messages/count_tokens")


def test_only_anthropic_headers_are_forwarded_and_only_on_messages_routes() -> None:
    headers = {
        "Anthropic-Beta": "x",
        "anthropic-version": "v",
        "x-api-key": "secret",
        "Authorization": "Bearer t",
        "x-stainless-os": "Linux",
    }
    assert forwarded(Endpoint.MESSAGES, headers) == (
        ("anthropic-beta", "x"),
        ("anthropic-version", "v"),
    )
    assert forwarded(Endpoint.CHAT, headers) == ()


@pytest.mark.parametrize(
    ("asked", "sent"),
    [("", "claude-d"), ("gpt-4o", "claude-d"), ("o3-mini", "claude-d"), ("fast", "claude-h"),
     ("claude-opus-4-6", "claude-opus-4-6")],
)  # fmt: skip
def test_model_names(asked: str, sent: str) -> None:
    p = provider(model="claude-d", aliases={"fast": "claude-h"})
    assert p.resolve_model(asked) == sent


def test_a_native_error_keeps_anthropics_body_and_status() -> None:
    body = json.dumps(error_body("overloaded_error", "Overloaded")).encode()
    err = provider().translate_error(call(), 529, body, {"retry-after": "2"})
    assert isinstance(err, NativeError) and err.raw == body and err.status == 529
    chat = provider().translate_error(call(Endpoint.CHAT), 529, body, {})
    assert isinstance(chat, UpstreamError) and not isinstance(chat, NativeError)
    assert chat.status == 503
    page = provider().translate_error(call(), 502, b"<html>bad gateway</html>", {})
    assert not isinstance(page, NativeError) and page.status == 502


def test_a_whole_message_becomes_the_events_that_carry_it() -> None:
    original = message(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "s1"},
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1]}},
        ],
        stop="tool_use",
    )
    rebuilt = check_events(message_events(original))
    assert rebuilt.model_dump(exclude_none=True) == {
        k: v for k, v in original.items() if v is not None
    } | {"usage": rebuilt.usage.model_dump(exclude_none=True)}


def test_a_huge_integer_temperature_is_clamped_not_a_crash() -> None:
    translated = to_messages_request(
        {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "a"}],
         "temperature": 10**400}
    )  # fmt: skip
    assert translated.body["temperature"] == 1.0


async def _no_fetch(url: str, limit: int) -> tuple[str, bytes]:
    raise AssertionError("the anthropic provider fetches nothing")
