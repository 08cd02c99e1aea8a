"""GET /health (liveness: status, provider, version), GET /ready (readiness), / and /ping.

/health answers 200 while the process serves, draining included: a liveness probe that failed
during a drain would get the process killed mid-stream. /ready answers 503 while draining, so
a load balancer or Kubernetes Service stops sending new requests (see drain.py).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from aoa_proxy import __version__
from aoa_proxy.appkeys import RUNTIME
from aoa_proxy.drain import DRAIN


async def health(request: web.Request) -> web.Response:
    if request.path != "/health":
        return web.Response(status=200)
    rt = request.app[RUNTIME]
    status = "paused" if rt.paused else "ok"
    if request.app[DRAIN].draining:
        status = "draining"
    body = {"status": status, "provider": rt.provider.name, "version": __version__}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    drain = request.app[DRAIN]
    if drain.draining:
        body = {"status": "draining", "inflight": drain.inflight}
        return web.Response(status=503, body=orjson.dumps(body), content_type="application/json")
    return web.Response(body=b'{"status":"ready"}', content_type="application/json")
