"""The chat front door: POST /v1/chat/completions, the dialect every provider speaks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from aoa_proxy.appkeys import RECORD, RUNTIME
from aoa_proxy.dispatch import direct_call, note_refusal, relay_attempts
from aoa_proxy.errors import UpstreamError
from aoa_proxy.intake import checked_body, read_body
from aoa_proxy.providers import Endpoint
from aoa_proxy.relay import relay

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def openai_door(endpoint: Endpoint) -> Handler:
    """The handler for an OpenAI route: read and check the body, route it, relay it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        rt = request.app[RUNTIME]
        snap = rt.snapshot  # one generation of settings for the whole request
        rec = request[RECORD]
        raw = await read_body(request)
        body = checked_body(endpoint, raw)
        if snap.settings.several:
            rt.maybe_refresh()  # the listed models (routing rule 4), in the background
        route = snap.router.route(body["model"])
        call = direct_call(snap, route, endpoint, body, raw, request.headers, rec)
        if call is None:  # a key pool or a failover chain
            return await relay_attempts(request, rt, snap, route, endpoint, body, raw, rec)
        provider = snap.providers[route.provider]
        try:
            return await relay(request, rt, provider, call, rec)
        except UpstreamError as exc:
            note_refusal(snap, call, provider, exc)
            raise

    handler.__name__ = handler.__qualname__ = f"door_{endpoint.name.lower()}"
    return handler


chat_completions = openai_door(Endpoint.CHAT)
