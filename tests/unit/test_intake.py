"""The front doors' intake on plain data: body reading, parsing, checks and the key to send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import StreamReader, web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict

from aoa_proxy.config import ProviderSettings, Settings
from aoa_proxy.errors import AuthError, NotFound, RequestError
from aoa_proxy.intake import (
    MAX_JSON_DEPTH,
    check_endpoint,
    checked_body,
    key_or_empty,
    parse_body,
    pick_key,
    read_body,
    too_large,
    validate,
)
from aoa_proxy.providers import Endpoint, get_provider
from aoa_proxy.providers.openai_compat import OpenAICompatProvider

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def openai(key: str = "", **kw: Any) -> OpenAICompatProvider:
    provider = get_provider(ProviderSettings("openai", api_key=key, **kw))
    assert isinstance(provider, OpenAICompatProvider)
    return provider


# ------------------------------------------------------------------ reading


class Protocol:
    """The little of a connection a StreamReader calls back."""

    def pause_reading(self, *args: object, **kwargs: object) -> None: ...

    def resume_reading(self, *args: object, **kwargs: object) -> None: ...


def request_with(*chunks: bytes, error: BaseException | None = None, limit: int = 1024):
    """A request whose body arrives as these chunks, then ends (or fails with `error`)."""
    payload = StreamReader(Protocol(), 2**16, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    for chunk in chunks:
        payload.feed_data(chunk)
    if error is None:
        payload.feed_eof()
    else:
        payload.set_exception(error)
    return make_mocked_request(
        "POST", "/v1/chat/completions", payload=payload, client_max_size=limit
    )


async def test_read_body_returns_the_bytes_as_sent():
    assert await read_body(request_with(b'{"a"', b":1}")) == b'{"a":1}'


async def test_read_body_stops_at_the_size_cap():
    with pytest.raises(web.HTTPRequestEntityTooLarge):
        await read_body(request_with(b"x" * 600, b"x" * 600, limit=1000))
    assert too_large(1000).status == 413
    assert "1000 bytes (AOA_MAX_BODY_BYTES)" in too_large(1000).message


async def test_a_body_that_cannot_be_decoded_is_a_400_that_says_why():
    cause = RequestPayloadError("x")
    cause.__cause__ = type("Bad", (Exception,), {"message": "bad gzip header"})()
    with pytest.raises(RequestError, match="could not be read: bad gzip header"):
        await read_body(request_with(b"{", error=cause))


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "The request body is empty; send a JSON object"),
        (b" \n\t", "The request body is empty; send a JSON object"),
        (b'{"a": "\xff"}', "The request body is not valid UTF-8"),
        (b'{"model": ', "The request body is not valid JSON: "),
        (b"[1, 2]", "The request body must be a JSON object, not list"),
        (b'"hi"', "The request body must be a JSON object, not str"),
    ],
)
def test_parse_body_says_what_is_wrong(raw, message):
    with pytest.raises(RequestError) as err:
        parse_body(raw)
    assert err.value.message.startswith(message)
    assert err.value.status == 400


def test_parse_body_takes_json_only_the_stdlib_reads():
    assert parse_body(b'{"temperature": NaN, "model": "m"}')["model"] == "m"


def test_nesting_is_capped_at_the_limit_but_many_shallow_brackets_pass():
    def nested(depth: int) -> bytes:
        return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    assert parse_body(nested(MAX_JSON_DEPTH))
    with pytest.raises(RequestError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        parse_body(nested(MAX_JSON_DEPTH + 1))
    wide = b'{"a": [' + b",".join([b"{}"] * (MAX_JSON_DEPTH * 2)) + b"]}"
    assert len(parse_body(wide)["a"]) == MAX_JSON_DEPTH * 2


# ------------------------------------------------------------------ checks


@pytest.mark.parametrize(
    ("endpoint", "body", "param", "message"),
    [
        (Endpoint.CHAT, {"messages": []}, "model", "You must provide a model parameter"),
        (Endpoint.CHAT, {**CHAT, "model": 3}, "model", "'model' must be a string"),
        (Endpoint.CHAT, {"model": "m"}, "messages", "Missing required parameter: 'messages'"),
        (Endpoint.CHAT, {**CHAT, "messages": []}, "messages", "'messages' must be a non-empty"),
        (Endpoint.CHAT, {**CHAT, "messages": [{}]}, "messages[0]", "messages[0] must be an obj"),
        (Endpoint.CHAT, {**CHAT, "stream": "yes"}, "stream", "'stream' must be a boolean"),
        (Endpoint.EMBEDDINGS, {"model": "m"}, "input", "Missing required parameter: 'input'"),
    ],
)
def test_validate_refuses_what_every_upstream_would(endpoint, body, param, message):
    with pytest.raises(RequestError) as err:
        validate(endpoint, body)
    assert err.value.param == param
    assert err.value.message.startswith(message)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        (Endpoint.CHAT, {**CHAT, "stream": True, "anything": {"else": 1}}),
        (Endpoint.COMPLETIONS, {"model": "m"}),
        (Endpoint.EMBEDDINGS, {"model": "m", "input": "x"}),
    ],
)
def test_validate_leaves_the_rest_to_the_upstream(endpoint, body):
    validate(endpoint, body)


# ------------------------------------------------------------------ the key


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


def test_the_server_key_wins_and_the_clients_is_ignored():
    given = headers(Authorization="Bearer sk-client")
    assert pick_key(openai("sk-server"), given, Settings()) == "sk-server"


@pytest.mark.parametrize(
    "given",
    [
        headers(Authorization="Bearer sk-client"),
        headers(authorization="bearer   sk-client "),
        headers(api_key=" sk-client"),
        headers(x_goog_api_key="sk-client"),
    ],
)
def test_without_a_server_key_the_clients_own_key_goes_upstream(given):
    assert pick_key(openai(), given, Settings()) == "sk-client"


def test_with_an_access_token_the_clients_bearer_is_never_sent_upstream():
    settings = Settings(access_token="our-token")
    given = headers(Authorization="Bearer our-token")
    assert key_or_empty(openai(), given, settings) == ""
    with pytest.raises(AuthError) as err:
        pick_key(openai(), given, settings)
    assert err.value.message.startswith("No API key for openai: set OPENAI_API_KEY")
    assert "Authorization" not in err.value.message  # no hint to send a key the gateway ignores


def test_no_key_anywhere_names_the_fix():
    with pytest.raises(AuthError, match="or send 'Authorization: Bearer <key>'"):
        pick_key(openai(), headers(), Settings())


def test_a_local_provider_needs_no_key():
    assert pick_key(get_provider(ProviderSettings("demo")), headers(), Settings()) == ""


# ------------------------------------------------------------------ the Call


class ChatOnly(OpenAICompatProvider):
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})


def test_checked_body_parses_and_validates_for_the_endpoint():
    raw = b'{"model": "fast", "stream": true, "messages": [{"role": "user"}]}'
    assert checked_body(Endpoint.CHAT, raw)["model"] == "fast"
    with pytest.raises(RequestError, match="Missing required parameter: 'input'"):
        checked_body(Endpoint.EMBEDDINGS, b'{"model": "m"}')


def test_an_endpoint_the_provider_lacks_is_a_404():
    provider = ChatOnly(ProviderSettings("openai", api_key="sk-server"))
    check_endpoint(Endpoint.CHAT, provider)
    with pytest.raises(NotFound) as err:
        check_endpoint(Endpoint.EMBEDDINGS, provider)
    assert err.value.code == "unsupported_endpoint"


def test_a_provider_other_than_the_default_never_gets_the_clients_key():
    given = headers(Authorization="Bearer sk-client")
    assert key_or_empty(openai(), given, Settings(), own=False) == ""
    with pytest.raises(AuthError) as err:
        pick_key(openai(), given, Settings(), own=False)
    assert "Authorization" not in err.value.message
    assert pick_key(openai("sk-a, sk-b"), given, Settings(), own=False) == "sk-a"
