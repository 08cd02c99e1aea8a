"""The chat front door: POST /v1/chat/completions, the dialect every provider speaks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from aoa_proxy.appkeys import RECORD, RUNTIME
from aoa_proxy.intake import build_call, read_body
from aoa_proxy.providers import Endpoint
from aoa_proxy.relay import relay

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def openai_door(endpoint: Endpoint) -> Handler:
    """The handler for an OpenAI route: read and check the body, relay it to the provider."""

    async def handler(request: web.Request) -> web.StreamResponse:
        rt = request.app[RUNTIME]
        # The router, for now: the active provider (a snapshot: a switch mid-request is harmless)
        settings, provider = rt.settings, rt.provider
        rec = request[RECORD]
        rec.provider = provider.name
        call = build_call(endpoint, await read_body(request), provider, request.headers, settings)
        rec.model, rec.upstream_model, rec.stream = call.model, call.upstream_model, call.stream
        return await relay(request, rt, provider, call, rec)

    handler.__name__ = handler.__qualname__ = f"door_{endpoint.name.lower()}"
    return handler


chat_completions = openai_door(Endpoint.CHAT)
