"""The Anthropic Messages front door: POST /v1/messages and /v1/messages/count_tokens.

Claude Code and the `anthropic` SDKs reach any provider through chat, the hub: the Messages
body becomes a chat request (bridges/messages_request.py), the router picks the provider as
for chat, and the provider's chat answer (its bytes parsed, or its translator's chunks) becomes
a Message or Anthropic's stream events (bridges/messages_response.py; the stream writer,
with its pings, is doors/messages_stream.py).
A provider that speaks Messages itself (`native`: the anthropic provider) gets the client's bytes
with only the model changed and its anthropic-* headers, and its answer, stream and errors come
back unchanged, as the Responses door passes Responses through to OpenAI.
Errors, including those raised before this handler, are rendered in Anthropic's shape by the
middleware (`messages_error_response`, chosen by path).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web

from aoa_proxy.appkeys import RECORD, RUNTIME
from aoa_proxy.bridges.messages_request import MessagesCall, count_tokens, to_chat_request
from aoa_proxy.bridges.messages_response import new_request_id, to_anthropic_error, to_message
from aoa_proxy.chat_chunks import answer_as_chunks, parse_chat_stream
from aoa_proxy.dispatch import direct_call, note_refusal, relay_attempts
from aoa_proxy.doors.messages_stream import write_stream
from aoa_proxy.errors import (
    AoaError,
    NativeError,
    RequestError,
    UpstreamError,
    UpstreamUnreachable,
)
from aoa_proxy.intake import parse_body, pick_key, read_body
from aoa_proxy.jsonutil import dumps
from aoa_proxy.providers import Call, Endpoint, Provider, ProviderKind
from aoa_proxy.relay import error_for, open_upstream, pass_headers, relay
from aoa_proxy.routing import Route, Rule
from aoa_proxy.runtime import RequestRecord, Runtime, Snapshot
from aoa_proxy.sse import iter_data
from aoa_proxy.streaming import note_usage
from aoa_proxy.upstream import (
    FAULTS,
    fetch_bytes,
    read_answer,
    read_error_body,
    redacted,
)

log = logging.getLogger(__name__)

PATH_PREFIX: Final = "/v1/messages"
# Upstream model names that take `reasoning_effort`; others (gpt-4o, llama...) refuse it with a
# 400, so the bridge leaves it out for them. Gemini's provider maps it for every model itself.
_REASONING_MODEL: Final = re.compile(
    r"(^|[-_/.])(o[1-9]|gpt-5|gpt-oss)|deepseek-r|reason|think|qwq|magistral", re.IGNORECASE
)
# Output-token ceilings of common chat models that refuse a larger max_tokens with a 400 (Claude
# Code asks for 32000-64000). Searched anywhere in the upstream name, so Azure deployments such
# as `prod-gpt4o` count; first match wins; unknown models get the client's number. Sources: the
# OpenAI and Azure model pages, Google's Gemini model pages.
_OUTPUT_LIMITS: Final = (
    (re.compile(r"gpt-?4o|gpt-?4\.?5", re.IGNORECASE), 16384),
    (re.compile(r"gpt-?4\.?1", re.IGNORECASE), 32768),
    (re.compile(r"gpt-?35|gpt-?3\.5|gpt-?4-turbo|gpt-?4-\d{4}|gpt-?4-32k", re.IGNORECASE), 4096),
    (re.compile(r"gemini-(1\.5|2\.0)|deepseek-chat", re.IGNORECASE), 8192),
)
_CLAUDE: Final = "claude-"
# What an Anthropic-compatible host without count_tokens answers there.
_NO_COUNT_ROUTE: Final = frozenset({404, 405, 501})
_ONE_M: Final = "[1m]"


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages: a Messages request answered by whichever provider the router picks."""
    rt = request.app[RUNTIME]
    snap = rt.snapshot
    rec = request[RECORD]
    raw = await read_body(request)
    body = parse_body(raw)
    route = _route(snap, _model_of(body))
    provider = snap.providers[route.provider]
    if Endpoint.MESSAGES in provider.native:
        return await _native(request, rt, snap, route, Endpoint.MESSAGES, body, raw)
    mcall = to_chat_request(
        body,
        reasoning=_reasons(provider, route.model),
        max_output_tokens=_output_limit(route.model),
    )
    chat = mcall.chat
    raw = dumps(chat)
    if snap.settings.several:
        rt.maybe_refresh()

    async def answer(
        request: web.Request,
        rt: Runtime,
        provider: Provider,
        call: Call,
        rec: RequestRecord,
        upstream: aiohttp.ClientResponse | None = None,
    ) -> web.StreamResponse:
        return await _answer(request, rt, provider, call, rec, mcall, upstream)

    call = direct_call(snap, route, Endpoint.CHAT, chat, raw, request.headers, rec)
    if call is None:  # a key pool or a failover chain
        return await relay_attempts(
            request, rt, snap, route, Endpoint.CHAT, chat, raw, rec, answer=answer
        )
    try:
        return await answer(request, rt, provider, call, rec)
    except UpstreamError as exc:
        note_refusal(snap, call, provider, exc)
        raise


async def count(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages/count_tokens: the upstream's own where it speaks Messages (Anthropic),
    the provider's own counter when it has one (Gemini's countTokens), else (or when that call
    fails) the documented estimate (docs/anthropic.md).

    Never a 404: Claude Code calls it before large requests and to decide when to compact.
    """
    rt = request.app[RUNTIME]
    snap = rt.snapshot
    raw = await read_body(request)
    body = parse_body(raw)
    route = _route(snap, _model_of(body))
    if Endpoint.COUNT_TOKENS in snap.providers[route.provider].native:
        try:
            return await _native(request, rt, snap, route, Endpoint.COUNT_TOKENS, body, raw)
        except UpstreamError as exc:
            # A host without the route (Foundry may lack it): estimate rather than a 404.
            if exc.status not in _NO_COUNT_ROUTE:
                raise
            log.info("the upstream has no count_tokens (HTTP %s); estimating", exc.status)
    estimate = count_tokens(body)  # also checks the body: a 400 for what Anthropic refuses
    provider = snap.providers[route.provider]
    counted = await _upstream_count(request, rt, snap, provider, route, body)
    result = estimate if counted is None else {"input_tokens": counted}
    return web.json_response(result, headers={"request-id": new_request_id()})


async def _native(
    request: web.Request,
    rt: Runtime,
    snap: Snapshot,
    route: Route,
    endpoint: Endpoint,
    body: dict[str, Any],
    raw: bytes,
) -> web.StreamResponse:
    """The request passed through to a provider that speaks Messages: the client's bytes (the
    model name aside) and anthropic-* headers; the answer's bytes, stream events and errors
    relayed unchanged (relay.relay, as chat's pass-through)."""
    rec = request[RECORD]
    if snap.settings.several:
        rt.maybe_refresh()
    call = direct_call(snap, route, endpoint, body, raw, request.headers, rec)
    if call is None:  # a key pool or a failover chain (of providers that speak Messages)
        return await relay_attempts(request, rt, snap, route, endpoint, body, raw, rec)
    provider = snap.providers[route.provider]
    try:
        return await relay(request, rt, provider, call, rec)
    except UpstreamError as exc:
        note_refusal(snap, call, provider, exc)
        raise


async def _upstream_count(
    request: web.Request,
    rt: Runtime,
    snap: Snapshot,
    provider: Provider,
    route: Route,
    body: dict[str, Any],
) -> int | None:
    """The provider's count for the request as it would be sent; None without one or on failure."""
    if provider.kind is not ProviderKind.TRANSLATING:
        return None  # OpenAI-speaking and local providers have no count endpoint
    try:
        mcall = to_chat_request({**body, "max_tokens": 1}, reasoning=False)
        pool = snap.pools.get(provider.name)
        own = provider is snap.default
        key = pool.peek() if pool else pick_key(provider, request.headers, snap.settings, own=own)
        chat = mcall.chat
        call = Call(Endpoint.CHAT, chat, dumps(chat), mcall.model, route.model, False, key)
        session = rt.session(provider)
        ureq = await provider.count_request(call, fetch_bytes(session))
        if ureq is None:
            return None
        method, url, headers = ureq.method, ureq.url, ureq.headers
        async with session.request(method, url, headers=headers, data=ureq.body) as r:
            answer = await r.json(content_type=None) if r.status == 200 else None
    except (*FAULTS, AoaError, ValueError) as exc:
        log.debug("counting tokens upstream failed (%s); estimating", type(exc).__name__)
        return None
    return provider.count_answer(answer)


def messages_error_response(exc: AoaError) -> web.Response:
    """An error in Anthropic's shape, with a `request-id` (and `retry-after` when we have one).

    A native upstream's error (already Anthropic's) goes back as it came, status included.
    """
    if isinstance(exc, NativeError) and exc.raw is not None:
        headers = {
            "request-id": new_request_id(),
            **exc.headers,
            "Content-Type": "application/json",
        }
        return web.Response(status=exc.status, body=exc.raw, headers=headers)
    request_id = new_request_id()
    err = to_anthropic_error(exc, request_id=request_id)
    headers = {**err.headers, "request-id": request_id, "Content-Type": "application/json"}
    # As AoaError.body: `<`, `>` and `&` escaped (the same JSON) so no bytes read as markup.
    body = dumps(err.body).replace(b"<", b"\\u003c").replace(b">", b"\\u003e")
    return web.Response(status=err.status, body=body.replace(b"&", b"\\u0026"), headers=headers)


# ------------------------------------------------------------------ routing


def _model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: Field required", param="model")
    return model[: -len(_ONE_M)] if model.endswith(_ONE_M) else model


def _route(snap: Snapshot, model: str) -> Route:
    """The router's route; a `claude-*` name no rule maps goes to the default provider's model,
    as Gemini sends `gpt-*` names to GEMINI_MODEL (Claude Code asks for its own names); a
    provider that speaks Messages (Anthropic) knows those names and keeps them."""
    route = snap.router.route(model)
    if (
        route.rule is Rule.DEFAULT
        and model.startswith(_CLAUDE)
        and Endpoint.MESSAGES not in snap.providers[route.provider].native
    ):
        default_model = snap.providers[route.provider].settings.model
        if default_model:
            return dataclasses.replace(route, model=default_model)
    return route


def _reasons(provider: Provider, upstream_model: str) -> bool:
    """Whether to send `reasoning_effort`: Gemini maps it for any model; others by name."""
    return provider.name == "gemini" or bool(_REASONING_MODEL.search(upstream_model))


def _output_limit(upstream_model: str) -> int | None:
    """The model's output-token ceiling when it is a known one (max_tokens is clamped to it)."""
    return next((limit for name, limit in _OUTPUT_LIMITS if name.search(upstream_model)), None)


# ------------------------------------------------------------------ the answer


async def _answer(
    request: web.Request,
    rt: Runtime,
    provider: Provider,
    call: Call,
    rec: RequestRecord,
    mcall: MessagesCall,
    upstream: aiohttp.ClientResponse | None,
) -> web.StreamResponse:
    """The provider's chat answer to `call`, written back as a Message or Messages events."""
    if provider.kind is ProviderKind.LOCAL:
        if call.stream:
            return await write_stream(request, provider.respond_stream(call), mcall, {}, rec, "")
        return _message(provider.respond(call), mcall, {}, rec)
    if upstream is None:
        upstream = await open_upstream(rt, provider, call)
    keys = (*provider.server_keys, call.key)
    try:
        passed = pass_headers(upstream.headers)
        if upstream.status >= 400:
            error_body = await read_error_body(upstream, provider.label)
            retry = provider.retry_call(call, upstream.status, error_body)
            if retry is not None:  # nothing is written yet: send the changed call instead
                upstream.close()
                return await _answer(request, rt, provider, retry, rec, mcall, None)
            raise error_for(provider, call, upstream.status, error_body, passed, keys)
        relayed = provider.kind is ProviderKind.PASSTHROUGH and not call.translated
        is_sse = upstream.content_type == "text/event-stream"
        if call.stream and is_sse:
            chunks: AsyncIterator[Mapping[str, Any]]
            if relayed:
                chunks = parse_chat_stream(iter_data(upstream.content))
            else:
                chunks = provider.translate_stream(call, iter_data(upstream.content))
            return await write_stream(request, chunks, mcall, passed, rec, provider.label, keys)
        payload = await read_answer(upstream, provider.label)
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON") from None
        if not relayed:
            parsed = provider.translate_response(call, parsed)
        if call.stream:  # the upstream answered whole: one chunk-like pass through the stream
            chunks = answer_as_chunks(parsed)
            return await write_stream(request, chunks, mcall, passed, rec, "", keys)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("choices"), list):
            raise UpstreamUnreachable(f"{provider.label} sent an answer that is no chat answer")
        return _message(parsed, mcall, passed, rec)
    except UpstreamError as exc:  # also an error inside a 200 answer (Gemini)
        raise redacted(exc, keys) from None
    finally:
        upstream.close()


def _message(
    completion: Any, mcall: MessagesCall, passed: dict[str, str], rec: RequestRecord
) -> web.Response:
    note_usage(rec, completion.get("usage") if isinstance(completion, dict) else None)
    headers = {**passed, "request-id": new_request_id()}
    return web.json_response(to_message(completion, mcall), headers=headers)


__all__ = ["PATH_PREFIX", "count", "messages", "messages_error_response"]
