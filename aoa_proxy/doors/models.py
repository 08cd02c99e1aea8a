"""GET /v1/models and /v1/models/{model}: every enabled provider's models, one list.

With one provider the list is its own, as always (the upstream's entries plus the configured
names). With several, each provider is listed at once (listing.py, each within a few seconds:
a failing or slow one shows only its configured names), each id once, the first provider in
AOA_PROVIDERS order winning a clash, and `owned_by` names the provider that serves it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aoa_proxy.appkeys import RUNTIME
from aoa_proxy.errors import ModelNotFound
from aoa_proxy.intake import key_or_empty
from aoa_proxy.jsonutil import dumps
from aoa_proxy.listing import LIST_TIMEOUT, Listing, list_models, merged
from aoa_proxy.providers import Provider
from aoa_proxy.routing import Rule
from aoa_proxy.runtime import Runtime, Snapshot
from aoa_proxy.schema import ModelObject


async def list_all(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    snap = rt.snapshot
    listings = await _listings(request, rt, snap, list(snap.providers.values()))
    models = merged(listings) if snap.settings.several else listings[0].models
    return _json({"object": "list", "data": models})


async def get_model(request: web.Request) -> web.Response:
    """The model as the router resolves it: listed by the provider it routes to, or a name
    the settings send there explicitly (an alias, a glob, `provider/model`)."""
    rt = request.app[RUNTIME]
    snap = rt.snapshot
    wanted = request.match_info["model"]
    several = snap.settings.several
    snap.router.route(wanted)  # a disabled provider's prefix: 404 naming the enabled ones
    # With several providers all are listed first: that refreshes the router's lists, so a
    # model one of them lists (rule 4) resolves even before the background refresh ran.
    wanted_from = list(snap.providers.values()) if several else [snap.default]
    listings = {lst.provider.name: lst for lst in await _listings(request, rt, snap, wanted_from)}
    route = snap.router.route(wanted)
    provider = snap.providers[route.provider]
    models = listings[provider.name].models
    for entry in models:
        if entry["id"] == wanted:
            return _json({**entry, "owned_by": provider.name} if several else entry)
    explicit = route.rule in (Rule.ALIAS, Rule.GLOB) or (
        route.rule is Rule.PREFIX and any(e["id"] == route.model for e in models)
    )
    if several and explicit:
        return _json({"id": wanted, "object": "model", "created": 0, "owned_by": provider.name})
    raise ModelNotFound(f"The model {wanted!r} does not exist", param="model")


async def _listings(
    request: web.Request, rt: Runtime, snap: Snapshot, providers: list[Provider]
) -> list[Listing]:
    """Listings of `providers`, each with a server key, or the default's with the client's."""
    keys = {name: pool.peek() for name, pool in snap.pools.items()}
    for provider in providers:
        if provider.name not in keys:
            own = provider is snap.default
            keys[provider.name] = key_or_empty(provider, request.headers, snap.settings, own=own)
    several = snap.settings.several  # one provider waits for its list, as it always did
    return await list_models(rt, providers, keys, LIST_TIMEOUT if several else None)


def _json(obj: Any) -> web.Response:
    return web.Response(body=dumps(obj), content_type="application/json")


__all__ = ["ModelObject", "get_model", "list_all"]
