"""Typed keys for what the gateway keeps on its app and on each request."""

from __future__ import annotations

from aiohttp import web

from aoa_proxy.runtime import RequestRecord, Runtime

RUNTIME = web.AppKey("runtime", Runtime)
RECORD = web.RequestKey("record", RequestRecord)
# CORS approval the middleware worked out, for responses prepared inside handlers (streams).
CORS = web.RequestKey("cors", dict)
# Path prefixes whose routes guard themselves (the desktop app's settings page): the gateway's
# CORS grants and origin refusals are for API clients, and would lock the page out of its own
# origin when AOA_CORS_ORIGINS is set.
SELF_GUARDED = web.AppKey("self_guarded", tuple[str, ...])
