"""GET /health (status, provider, version) and the bare liveness probes / and /ping."""

from __future__ import annotations

import orjson
from aiohttp import web

from aoa_proxy import __version__
from aoa_proxy.appkeys import RUNTIME


async def health(request: web.Request) -> web.Response:
    if request.path != "/health":
        return web.Response(status=200)
    rt = request.app[RUNTIME]
    body = {
        "status": "paused" if rt.paused else "ok",
        "provider": rt.provider.name,
        "version": __version__,
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")
