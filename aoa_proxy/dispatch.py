"""A routed request's tries: which key and which target, and moving on before the first byte.

A front door routes the model (routing.Router), then asks `direct_call` for the Call. A route
with one target whose provider has at most one key (every setup without pools and chains,
so every setup from before issue 14) gets its Call at once and goes straight to relay.relay:
no attempt loop, nothing allocated beyond what a request always cost. Anything else goes
through `relay_attempts`, which walks failover.Attempts: the next key on a 429 or a refused
key, the next target on a 429, 5xx, timeout or connection error, until an upstream answers
well. Only then does relay.relay write anything to the client, so a stream that has started
always finishes where it started.

Both paths let the provider adjust the call (`Provider.prepare`: what Azure learned about a
deployment) and, on an error answer, send a changed call instead (`Provider.retry_call`: a
field the deployment refuses, a chat call it serves only through /responses), still before
anything reaches the client. Providers with nothing to adjust cost one method call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from aoa_proxy.credentials import retry_after_seconds, should_cool
from aoa_proxy.errors import UpstreamError
from aoa_proxy.failover import Attempt, Attempts
from aoa_proxy.intake import check_endpoint, forwarded, pick_key
from aoa_proxy.providers import Call, Endpoint, Provider, ProviderKind
from aoa_proxy.relay import error_for, pass_headers, relay
from aoa_proxy.routing import ARROW, Route
from aoa_proxy.runtime import RequestRecord, Runtime, Snapshot
from aoa_proxy.upstream import FAULTS, Stage, failure, fetch_bytes, read_error_body

# relay.relay's signature: what answers the client once an upstream is chosen (and maybe open).
Relay = Callable[
    [web.Request, Runtime, Provider, Call, RequestRecord, aiohttp.ClientResponse | None],
    Awaitable[web.StreamResponse],
]


def direct_call(
    snap: Snapshot,
    route: Route,
    endpoint: Endpoint,
    body: dict[str, Any],
    raw: bytes,
    headers: Mapping[str, str],
    rec: RequestRecord,
) -> Call | None:
    """The Call when the route needs no attempt loop (one target, at most one key), else None.

    Fills the request's record either way.
    """
    provider = snap.providers[route.provider]
    check_endpoint(endpoint, provider)
    model: str = body["model"]
    rec.model, rec.stream = model, body.get("stream") is True
    rec.provider, rec.upstream_model = route.provider, route.model
    rec.route = route.describe(model)
    if route.fallbacks:
        return None
    pool = snap.pools.get(route.provider)
    if pool is None:
        key = pick_key(provider, headers, snap.settings, own=provider is snap.default)
    elif len(pool.keys) == 1:
        key = pool.keys[0]
    else:
        return None
    rec.key_hint = key_hint(key)
    return provider.prepare(
        Call(endpoint, body, raw, model, route.model, rec.stream, key, forwarded(endpoint, headers))
    )


def key_hint(key: str) -> str:
    """A key's last 4 characters for the usage history, as security.mask shows them ("" when
    the key is too short to show any of it)."""
    return key[-4:] if len(key) >= 12 else ""


def note_refusal(snap: Snapshot, call: Call, provider: Provider, exc: UpstreamError) -> None:
    """A lone key's refusal still shows as a cool-down in the tray (it is never held back)."""
    pool = snap.pools.get(provider.name)
    if pool is None:
        return
    body = exc.raw or exc.message
    why = should_cool(exc.status, body)
    if why is not None:
        pool.cool_down(call.key, retry_after_seconds(exc.status, exc.headers, body), why)


async def relay_attempts(
    request: web.Request,
    rt: Runtime,
    snap: Snapshot,
    route: Route,
    endpoint: Endpoint,
    body: dict[str, Any],
    raw: bytes,
    rec: RequestRecord,
    answer: Relay = relay,
) -> web.StreamResponse:
    """Try the route's keys and targets in turn until one answers; relay that answer.

    Every target but the first answers under its own model name, so the client sees which
    model served it. RateLimited (429, soonest retry-after) when every key is cooling.
    `answer` writes the chosen upstream's answer (a bridge door passes its own).
    """
    attempts = Attempts(_servable(route, snap, endpoint), snap.pools)
    attempt: Attempt | None = attempts.first()
    model: str = body["model"]
    forward = forwarded(endpoint, request.headers)
    retry: Call | None = None  # the provider's changed call for the same attempt
    while attempt is not None:
        target = attempt.target
        provider = snap.providers[target.provider]
        key = attempt.key
        if key is None:  # no pool: the client's own key, and only for the default provider
            key = pick_key(provider, request.headers, snap.settings, own=provider is snap.default)
        answer_as = model if target == route.target else target.model
        call = retry or provider.prepare(
            Call(endpoint, body, raw, answer_as, target.model, rec.stream, key, forward)
        )
        retry = None
        rec.provider, rec.upstream_model = provider.name, target.model
        rec.key_hint = key_hint(key)
        rec.route = f"{model} {ARROW} {target}"
        rec.moved = "; ".join(attempts.reasons)
        if provider.kind is ProviderKind.LOCAL:
            return await answer(request, rt, provider, call, rec, None)
        session = rt.session(provider)
        ureq = await provider.build_request(call, fetch_bytes(session))
        try:
            upstream = await session.request(
                ureq.method, ureq.url, headers=ureq.headers, data=ureq.body
            )
        except FAULTS as exc:
            attempt = attempts.after(attempt, error=exc)
            if attempt is None:
                rec.moved = "; ".join(attempts.reasons)
                raise failure(exc, provider.label, Stage.OPEN) from None
            continue
        if upstream.status < 400:
            attempts.succeeded(attempt)
            return await answer(request, rt, provider, call, rec, upstream)
        try:
            error_body = await read_error_body(upstream, provider.label)
        finally:
            upstream.close()
        status, headers = upstream.status, upstream.headers
        retry = provider.retry_call(call, status, error_body)
        if retry is not None:
            continue
        attempt = attempts.after(attempt, status=status, headers=headers, body=error_body)
        if attempt is None:
            rec.moved = "; ".join(attempts.reasons)
            keys = (*provider.server_keys, call.key)
            raise error_for(provider, call, status, error_body, pass_headers(headers), keys)
    raise AssertionError("Attempts.first() never returns None")  # pragma: no cover


def _servable(route: Route, snap: Snapshot, endpoint: Endpoint) -> Route:
    """The route without fallbacks whose provider lacks this endpoint (a chat-only upstream)."""
    fallbacks = tuple(
        t for t in route.fallbacks if endpoint in snap.providers[t.provider].endpoints
    )
    if fallbacks == route.fallbacks:
        return route
    return dataclasses.replace(route, fallbacks=fallbacks)
