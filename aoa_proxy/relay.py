"""The relay: a checked Call goes to its provider, and the answer comes back in one of four shapes.

    whole answer    a pass-through JSON answer relayed as bytes, or a translated one re-encoded
    relayed stream  pass-through SSE, bytes unchanged, one whole event at a time (sse.EventGate)
    chunk stream    a translating provider's chunks written as SSE, then [DONE]
    local answer    a provider that answers in-process (demo), whole or as a chunk stream

The streams are streaming.py's; upstream I/O and its failures are upstream.py's. Every call into
the provider sits in one small function here, so a change to the provider interface touches
one place each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web

from aoa_proxy.bridges.messages_response import error_event
from aoa_proxy.bridges.messages_stream import encode_event
from aoa_proxy.bridges.responses_answer import failed_event
from aoa_proxy.bridges.responses_events import sse_event
from aoa_proxy.credentials import is_rate_limit_header
from aoa_proxy.errors import AoaError, UpstreamError, UpstreamUnreachable
from aoa_proxy.hardening import loggable, redact
from aoa_proxy.jsonutil import dumps, loads
from aoa_proxy.providers import Call, Endpoint, Provider, ProviderKind
from aoa_proxy.runtime import RequestRecord, Runtime
from aoa_proxy.schema import AnswerChunk
from aoa_proxy.sse import MESSAGES_TERMINAL, iter_data
from aoa_proxy.streaming import Ending, note_usage, relay_stream, write_chunks
from aoa_proxy.upstream import (
    FAULTS,
    Stage,
    failure,
    fetch_bytes,
    read_answer,
    read_error_body,
    redacted,
)

# Upstream response headers worth passing back to clients (request ids; the rate-limit ones,
# every spelling, are credentials.is_rate_limit_header's).
_PASS_HEADERS: Final = frozenset(
    {
        "x-request-id",
        "apim-request-id",
        "openai-processing-ms",
        "openai-version",
        "x-ms-region",
        "azureml-model-deployment",
        "request-id",  # Anthropic's
    }
)
_COMPRESS_MIN: Final = 1400
# What a 2xx non-stream answer may call itself: JSON, or the loose types some OpenAI-compatible
# servers send (aiohttp reports a missing Content-Type as application/octet-stream). The client
# always gets application/json; an HTML (or any other) answer is an error, never relayed.
_JSON_TYPES: Final = frozenset(
    {"application/json", "text/json", "text/plain", "application/octet-stream"}
)


async def relay(
    request: web.Request,
    rt: Runtime,
    provider: Provider,
    call: Call,
    rec: RequestRecord,
    upstream: aiohttp.ClientResponse | None = None,
) -> web.StreamResponse:
    """Send `call` to `provider` and its answer to the client.

    `upstream`: an answer already opened for this call (dispatch.py's attempt loop opens them
    itself to decide on failover); this function closes it.
    """
    if provider.kind is ProviderKind.LOCAL:
        return await _serve_local(request, provider, call, rec)
    if upstream is None:
        session = rt.session(provider)
        ureq = await provider.build_request(call, fetch_bytes(session))
        try:  # inline, not a helper: one coroutine less per request on the hot path
            upstream = await session.request(
                ureq.method, ureq.url, headers=ureq.headers, data=ureq.body
            )
        except FAULTS as exc:
            raise failure(exc, provider.label, Stage.OPEN) from None
    # Keys an upstream error could echo back: ours, and the client's when it is forwarded.
    keys = (*provider.server_keys, call.key)
    try:
        passed = pass_headers(upstream.headers)
        if upstream.status >= 400:
            body = await read_error_body(upstream, provider.label)
            retry = provider.retry_call(call, upstream.status, body)
            if retry is not None:  # nothing is written yet: send the changed call instead
                upstream.close()
                return await relay(request, rt, provider, retry, rec)
            raise error_for(provider, call, upstream.status, body, passed, keys)
        content_type = upstream.content_type
        is_sse = content_type == "text/event-stream"
        if not is_sse and content_type not in _JSON_TYPES and not content_type.endswith("+json"):
            raise UpstreamUnreachable(
                f"{provider.label} answered with {_shown_type(content_type)}, not JSON; "
                "check the endpoint (a web page or a login portal answers like this)"
            )
        if (provider.kind is ProviderKind.PASSTHROUGH and not call.translated) or (
            provider.native and call.endpoint in provider.native
        ):
            if is_sse:
                if call.endpoint is Endpoint.MESSAGES:
                    return await relay_stream(
                        request, upstream, passed, rec, _messages_ending, MESSAGES_TERMINAL
                    )
                ending = _responses_ending(call) if call.endpoint is Endpoint.RESPONSES else None
                return await relay_stream(request, upstream, passed, rec, ending)
            payload = await read_answer(upstream, provider.label)
            return _passthrough_answer(request, payload, upstream.status, passed, rec, provider)
        if call.stream_answer and is_sse:
            chunks = _translated_chunks(provider, call, iter_data(upstream.content))
            return await write_chunks(request, chunks, passed, rec, provider.label, keys)
        payload = await read_answer(upstream, provider.label)
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON") from None
        if call.stream_answer:  # upstream answered whole: its translator takes it as one event
            chunks = _translated_chunks(provider, call, _one_event(payload))
            return await write_chunks(request, chunks, passed, rec, provider.label, keys)
        return _translated_answer(request, provider, call, parsed, passed, rec)
    except UpstreamError as exc:  # also an error inside a 200 answer (Gemini)
        raise redacted(exc, keys) from None
    finally:
        upstream.close()


# ------------------------------------------------------------------ the provider's part


async def open_upstream(rt: Runtime, provider: Provider, call: Call) -> aiohttp.ClientResponse:
    """Send `call` to its provider; an unreachable upstream is our error. For the bridged front
    doors (relay() keeps its own copy inline: one coroutine less on the hot path)."""
    session = rt.session(provider)
    ureq = await provider.build_request(call, fetch_bytes(session))
    try:
        return await session.request(ureq.method, ureq.url, headers=ureq.headers, data=ureq.body)
    except FAULTS as exc:
        raise failure(exc, provider.label, Stage.OPEN) from None


def error_for(
    provider: Provider,
    call: Call,
    status: int,
    body: bytes,
    passed: Mapping[str, str],
    keys: tuple[str, ...],
) -> AoaError:
    """The client's error for an upstream error answer; `keys` are masked in the body before
    the provider sees it, and in what it makes of it."""
    error = provider.translate_error(call, status, redact(body, keys), passed)
    return redacted(error, keys) if isinstance(error, UpstreamError) else error


def _translated_chunks(
    provider: Provider, call: Call, events: AsyncIterator[bytes]
) -> AsyncIterator[AnswerChunk]:
    """The provider's OpenAI chunks for the upstream's stream events."""
    return provider.translate_stream(call, events)


async def _one_event(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _translated_answer(
    request: web.Request,
    provider: Provider,
    call: Call,
    parsed: Any,
    passed: dict[str, str],
    rec: RequestRecord,
) -> web.Response:
    """The whole answer shape for a translating provider: its OpenAI object as JSON."""
    out = provider.translate_response(call, parsed)
    note_usage(rec, out.get("usage"))
    return _bytes_response(request, dumps(out), 200, passed)


async def _serve_local(
    request: web.Request, provider: Provider, call: Call, rec: RequestRecord
) -> web.StreamResponse:
    """The local answer shape: the provider answers in-process."""
    if call.stream_answer:
        return await write_chunks(request, provider.respond_stream(call), {}, rec, provider.label)
    out = provider.respond(call)
    note_usage(rec, out.get("usage"))
    return _bytes_response(request, dumps(out), 200, {})


# ------------------------------------------------------------------ whole answers


def _passthrough_answer(
    request: web.Request,
    payload: bytes,
    status: int,
    passed: dict[str, str],
    rec: RequestRecord,
    provider: Provider,
) -> web.Response:
    """The upstream's bytes; a 2xx that is not JSON (empty, cut, an HTML page) would break the
    client's parser, so it is a 502 instead."""
    try:
        parsed = loads(payload)
    except ValueError:
        raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON") from None
    if isinstance(parsed, dict):
        note_usage(rec, parsed.get("usage"))
    return _bytes_response(request, payload, status, passed)


def _bytes_response(
    request: web.Request, body: bytes, status: int, headers: dict[str, str]
) -> web.Response:
    response = web.Response(
        body=body, status=status, headers={**headers, "Content-Type": "application/json"}
    )
    if len(body) >= _COMPRESS_MIN and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()
    return response


# ------------------------------------------------------------------ small helpers


def pass_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream answer's headers a client gets: request ids and every rate-limit spelling."""
    return {k: v for k, v in headers.items() if _pass_header(k)}


def _pass_header(name: str) -> bool:
    return name.lower() in _PASS_HEADERS or is_rate_limit_header(name)


def _shown_type(content_type: str) -> str:
    """An upstream's Content-Type, short and printable, for an error message."""
    return loggable(content_type[:60]) or "no content type"


def _responses_ending(call: Call) -> Ending:
    """A native Responses stream ends in its own dialect: `response.failed`, never chat's frame."""

    def ending(tail: bytes, error: AoaError) -> bytes:
        return sse_event(failed_event(tail, error, call.upstream_model))

    return ending


def _messages_ending(tail: bytes, error: AoaError) -> bytes:
    """A native Messages stream ends in its own dialect: an `error` event."""
    return encode_event(error_event(error))
