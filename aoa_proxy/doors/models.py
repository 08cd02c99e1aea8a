"""GET /v1/models and /v1/models/{model}: the provider's list plus the configured names."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aoa_proxy.appkeys import RUNTIME
from aoa_proxy.errors import ModelNotFound
from aoa_proxy.intake import key_or_empty
from aoa_proxy.jsonutil import dumps
from aoa_proxy.providers import ProviderKind, UpstreamRequest
from aoa_proxy.schema import ModelObject
from aoa_proxy.upstream import fetch_json


async def list_models(request: web.Request) -> web.Response:
    models = await _models(request)
    return _json({"object": "list", "data": models})


async def get_model(request: web.Request) -> web.Response:
    wanted = request.match_info["model"]
    for entry in await _models(request):
        if entry["id"] == wanted:
            return _json(entry)
    raise ModelNotFound(f"The model {wanted!r} does not exist", param="model")


async def _models(request: web.Request) -> list[ModelObject]:
    rt = request.app[RUNTIME]
    provider = rt.provider
    key = key_or_empty(provider, request.headers, rt.settings)
    local = provider.kind is ProviderKind.LOCAL
    fetch = _no_upstream if local else fetch_json(rt.session(provider), provider.name)
    return await provider.list_models(fetch, key)


async def _no_upstream(req: UpstreamRequest) -> tuple[int, Any]:
    raise AssertionError("a local provider has no upstream to ask")


def _json(obj: Any) -> web.Response:
    return web.Response(body=dumps(obj), content_type="application/json")
