"""The Responses front door: POST /v1/responses, and GET/DELETE of the responses it stored.

A provider that speaks Responses itself (Endpoint.RESPONSES in its `endpoints`: the openai
provider, Azure on its v1 API) gets the client's bytes with only the model changed, its stream
relayed event by event, exactly as chat is (chat.openai_door). Every other provider is bridged
(bridges/responses.py): the request becomes a chat request, the provider's own chat path runs
(pass-through, translated or local), and its answer or chunk stream becomes a Response or the
Responses event stream. Bridged responses with `store` not false are kept in the bounded
in-memory store (response_store.py) for `previous_response_id` and the GET/DELETE routes.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web

from aoa_proxy.appkeys import CORS, RECORD, RUNTIME
from aoa_proxy.bridges.responses import (
    BridgedRequest,
    Response,
    ResponseStream,
    sse_event,
    to_chat,
    to_response,
)
from aoa_proxy.chat_chunks import answer_as_chunks, one_event, parse_chat_stream
from aoa_proxy.dispatch import direct_call, note_refusal, relay_attempts
from aoa_proxy.doors.chat import openai_door
from aoa_proxy.errors import AoaError, NotFound, UpstreamError, UpstreamUnreachable
from aoa_proxy.hardening import redact
from aoa_proxy.intake import key_or_empty, parse_body, read_body, validate
from aoa_proxy.jsonutil import dumps
from aoa_proxy.providers import Call, Endpoint, Provider, ProviderKind
from aoa_proxy.relay import error_for, open_upstream, pass_headers
from aoa_proxy.response_store import ResponseStore, Stored, input_items
from aoa_proxy.runtime import RequestRecord, Runtime
from aoa_proxy.schema import AnswerChunk
from aoa_proxy.sse import iter_data
from aoa_proxy.streaming import note_usage
from aoa_proxy.upstream import (
    FAULTS,
    Stage,
    failure,
    read_answer,
    read_error_body,
    redacted,
)

log = logging.getLogger(__name__)

STORE = web.AppKey("response_store", ResponseStore)
# Upstreams whose chat takes OpenAI-only fields (service_tier, verbosity, every effort); an
# `openai` provider is bridged only when its host turned out to lack /responses.
_OPENAI_CHAT = frozenset({"azure"})
# What an OpenAI-compatible host without a /responses route answers there.
_NO_ROUTE = frozenset({404, 405, 501})
# Providers (instances: one per unchanged settings) whose host has no /responses.
_CHAT_ONLY: weakref.WeakSet[Provider] = weakref.WeakSet()

_native = openai_door(Endpoint.RESPONSES)


async def create_response(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses: passed through where the provider speaks it, else bridged."""
    rt = request.app[RUNTIME]
    snap = rt.snapshot
    raw = await read_body(request)
    body = parse_body(raw)
    validate(Endpoint.RESPONSES, body)
    route = snap.router.route(body["model"])
    provider = snap.providers[route.provider]
    if Endpoint.RESPONSES in provider.endpoints and provider not in _CHAT_ONLY:
        try:
            return await _native(request)  # reads the cached body again, routes the same way
        except UpstreamError as exc:
            # An OpenAI-compatible host without /responses (DeepSeek, older Ollama, vLLM):
            # bridge this request, and every later one while these settings last.
            if exc.status not in _NO_ROUTE or exc.code == "model_not_found":
                raise
            _CHAT_ONLY.add(provider)
            log.info(
                "%s answered HTTP %s for /responses: bridging Responses to its chat",
                provider.label,
                exc.status,
            )
    if snap.settings.several:
        rt.maybe_refresh()
    store = request.app[STORE]
    rid = body.get("previous_response_id")
    previous = store.get(rid) if isinstance(rid, str) else None
    keep = body.get("store") is not False
    bridged = to_chat(
        body,
        previous=previous.history if previous else None,
        upstream_openai=provider.name in _OPENAI_CHAT,
        stored=keep,
    )
    bridge = _Bridge(bridged, store if keep else None, input_items(body.get("input")), previous)
    chat = bridged.chat
    rec = request[RECORD]
    call = direct_call(snap, route, Endpoint.CHAT, chat, dumps(chat), request.headers, rec)
    if call is None:  # a key pool or a failover chain
        return await relay_attempts(
            request, rt, snap, route, Endpoint.CHAT, chat, dumps(chat), rec, bridge.answer
        )
    try:
        return await bridge.answer(request, rt, provider, call, rec, None)
    except UpstreamError as exc:
        note_refusal(snap, call, provider, exc)
        raise


async def get_response(request: web.Request) -> web.Response:
    """GET /v1/responses/{id}: a stored bridged response, else the native upstream's."""
    stored = await _stored(request, "")
    return stored if isinstance(stored, web.Response) else _json(stored.response)


async def list_input_items(request: web.Request) -> web.Response:
    """GET /v1/responses/{id}/input_items: its input, newest first unless `order=asc`."""
    stored = await _stored(request, "/input_items")
    if isinstance(stored, web.Response):
        return stored
    items = list(stored.input_items)
    if request.query.get("order", "desc") != "asc":
        items.reverse()
    return _json(
        {
            "object": "list",
            "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": False,
        }
    )


async def delete_response(request: web.Request) -> web.Response:
    """DELETE /v1/responses/{id}."""
    rid = request.match_info["response_id"]
    if request.app[STORE].delete(rid):
        return _json({"id": rid, "object": "response.deleted", "deleted": True})
    upstream = await _from_upstream(request, "")
    if upstream is None:
        raise _not_found(rid)
    return upstream


async def _stored(request: web.Request, suffix: str) -> Stored | web.Response:
    """The stored response, else the native upstream's answer for it, else a 404."""
    rid = request.match_info["response_id"]
    stored = request.app[STORE].get(rid)
    if stored is not None:
        return stored
    upstream = await _from_upstream(request, suffix)
    if upstream is None:
        raise _not_found(rid)
    return upstream


async def _from_upstream(request: web.Request, suffix: str) -> web.Response | None:
    """The same call on the provider that speaks Responses natively (it stored its own
    responses), or None when no enabled provider does."""
    rt = request.app[RUNTIME]
    snap = rt.snapshot
    provider = next(
        (
            p
            for p in snap.providers.values()
            if Endpoint.RESPONSES in p.endpoints and p not in _CHAT_ONLY
        ),
        None,
    )
    if provider is None:
        return None
    pool = snap.pools.get(provider.name)
    own = provider is snap.default
    key = (
        pool.peek()
        if pool is not None
        else key_or_empty(provider, request.headers, snap.settings, own=own)
    )
    rid = quote(request.match_info["response_id"], safe="")
    query = f"?{request.query_string}" if request.query_string else ""
    method = "GET" if request.method == "HEAD" else request.method  # aiohttp drops the body
    ureq = provider.stored_response_request(method, f"{rid}{suffix}{query}", key)
    if ureq is None:
        return None
    session = rt.session(provider)
    keys = (*provider.server_keys, key)
    try:
        async with session.request(ureq.method, ureq.url, headers=ureq.headers) as upstream:
            passed = pass_headers(upstream.headers)
            if upstream.status >= 400:
                error_body = await read_error_body(upstream, provider.label)
                error = provider.translate_error(
                    None, upstream.status, redact(error_body, keys), passed
                )
                raise redacted(error, keys) if isinstance(error, UpstreamError) else error
            payload = await read_answer(upstream, provider.label)
    except FAULTS as exc:
        raise failure(exc, provider.label, Stage.OPEN) from None
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON") from None
    return web.Response(body=payload, headers={**passed, "Content-Type": "application/json"})


def _not_found(rid: str) -> NotFound:
    return NotFound(
        f"Response with id '{rid}' not found. This gateway keeps only the most recent stored "
        "responses, in memory: it may have been evicted, deleted, sent with store: false, or "
        "kept by a gateway that has restarted since.",
        param="response_id",
        code="not_found",
    )


def _json(obj: Any) -> web.Response:
    return web.Response(body=dumps(obj), content_type="application/json")


# --------------------------------------------------------------------------- the bridged answer


class _Bridge:
    """One bridged request's answer side: the chat answer -> a Response or its event stream."""

    def __init__(
        self,
        bridged: BridgedRequest,
        store: ResponseStore | None,
        items: list[dict[str, Any]],
        previous: Stored | None,
    ) -> None:
        self.bridged = bridged
        self.store = store
        self.items = items
        self.previous = previous

    def keep(self, response: Response) -> None:
        if self.store is not None:
            self.store.put(dict(response), self.items, self.previous)

    async def answer(
        self,
        request: web.Request,
        rt: Runtime,
        provider: Provider,
        call: Call,
        rec: RequestRecord,
        upstream: aiohttp.ClientResponse | None,
    ) -> web.StreamResponse:
        """relay.relay's counterpart for a bridged call (dispatch.Relay's signature)."""
        if provider.kind is ProviderKind.LOCAL:
            if call.stream:
                return await self._stream(request, provider.respond_stream(call), {}, rec, ())
            return self._whole(dict(provider.respond(call)), rec)
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
                    return await self.answer(request, rt, provider, retry, rec, None)
                raise error_for(provider, call, upstream.status, error_body, passed, keys)
            is_sse = upstream.content_type == "text/event-stream"
            translating = provider.kind is ProviderKind.TRANSLATING or call.translated
            if call.stream and is_sse:
                events = iter_data(upstream.content)
                chunks: AsyncIterator[Mapping[str, Any]]
                if translating:
                    chunks = provider.translate_stream(call, events)
                else:
                    chunks = parse_chat_stream(events)
                return await self._stream(request, chunks, passed, rec, keys, provider.label)
            payload = await read_answer(upstream, provider.label)
            try:
                parsed = orjson.loads(payload)
            except orjson.JSONDecodeError:
                raise UpstreamUnreachable(
                    f"{provider.label} sent an answer that is not JSON"
                ) from None
            if call.stream and translating:  # answered whole: one event for its translator
                chunks = provider.translate_stream(call, one_event(payload))
                return await self._stream(request, chunks, passed, rec, keys, provider.label)
            completion = provider.translate_response(call, parsed) if translating else parsed
            if not isinstance(completion, Mapping):
                raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON")
            if call.stream:  # a chat upstream that ignored `stream`: its answer as one chunk
                return await self._stream(
                    request, answer_as_chunks(completion), passed, rec, keys, provider.label
                )
            return self._whole(dict(completion), rec, passed)
        except UpstreamError as exc:
            raise redacted(exc, keys) from None
        finally:
            upstream.close()

    def _whole(
        self, completion: dict[str, Any], rec: RequestRecord, headers: Mapping[str, str] = {}
    ) -> web.Response:
        note_usage(rec, completion.get("usage"))
        response = to_response(completion, self.bridged.context)
        self.keep(response)
        return web.Response(
            body=dumps(response), headers={**headers, "Content-Type": "application/json"}
        )

    async def _stream(
        self,
        request: web.Request,
        chunks: AsyncIterator[AnswerChunk] | AsyncIterator[dict[str, Any]],
        headers: Mapping[str, str],
        rec: RequestRecord,
        keys: tuple[str, ...],
        label: str = "",
    ) -> web.StreamResponse:
        """The event stream; an error before the first chunk is still an HTTP error answer."""
        stream = ResponseStream(self.bridged.context)
        iterator = aiter(chunks)
        try:
            first: Any = await anext(iterator)
        except StopAsyncIteration:
            first = None
        except FAULTS as exc:
            raise failure(exc, label, Stage.BODY) from None
        response = web.StreamResponse(
            status=200,
            headers={
                **headers,
                **request.get(CORS, {}),
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            },
        )
        rec.status = 200
        await response.prepare(request)
        out = stream.start()
        try:
            if first is not None:
                out += self._feed(stream, first, rec)
                await response.write(b"".join(sse_event(e) for e in out))
                async for chunk in iterator:
                    events = self._feed(stream, chunk, rec)
                    if events:
                        await response.write(b"".join(sse_event(e) for e in events))
                out = stream.finish()
            else:
                out += stream.finish()
        except AoaError as exc:
            if isinstance(exc, UpstreamError):
                exc = redacted(exc, keys)
            rec.error = exc.message
            out = stream.fail(exc)
        except FAULTS as exc:
            rec.error = "stream cut"
            out = stream.fail(failure(exc, label, Stage.TRANSLATED_STREAM))
        except ConnectionResetError:
            raise  # the client went away: nobody to tell
        except Exception:
            log.exception("responses stream from %s failed", label)
            rec.error = "internal error"
            out = stream.fail(AoaError("The gateway hit an unexpected error mid-stream"))
        if stream.response is not None and stream.response["status"] == "failed":
            rec.error = rec.error or "response failed"
        await response.write(b"".join(sse_event(e) for e in out))
        if stream.response is not None:
            self.keep(stream.response)
        await response.write_eof()
        return response

    @staticmethod
    def _feed(stream: ResponseStream, chunk: Any, rec: RequestRecord) -> list[Any]:
        if isinstance(chunk, Mapping) and chunk.get("usage"):
            note_usage(rec, chunk["usage"])
        return list(stream.feed(chunk))
