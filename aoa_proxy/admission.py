"""Who may use the gateway, request by request: Host, access token, CORS and preflights.

security.py holds the checks on plain values (host names, origins, tokens); this applies them to
a request in the order that matters. A refusal is raised; the CORS headers a browser origin
earned are left on the request (appkeys.CORS) for the middleware and for streams.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from aoa_proxy.appkeys import CORS, SELF_GUARDED
from aoa_proxy.config import Settings
from aoa_proxy.errors import AuthError, ForbiddenError, NotFound, ServiceUnavailable
from aoa_proxy.runtime import Runtime
from aoa_proxy.security import bearer_token, host_allowed, origin_allowed, token_matches

_CORS_METHODS: Final = "GET, POST, OPTIONS"
_CORS_HEADERS: Final = (
    "Authorization, Content-Type, X-Requested-With, api-key, OpenAI-Organization, "
    "OpenAI-Project, X-Stainless-Arch, X-Stainless-Lang, X-Stainless-OS, "
    "X-Stainless-Package-Version, "
    "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout"
)
METRICS_PATH: Final = "/metrics"  # metrics.PATH (not imported: prometheus-client loads lazily)
_NO_CORS: Final[dict[str, str]] = {}  # shared, never changed: most requests have no Origin


def admit(
    request: web.Request, rt: Runtime, settings: Settings, origin: str | None
) -> web.Response | None:
    """Raise if the gateway must not serve this request; the answer to a CORS preflight, or None
    when the route should run."""
    if not host_allowed(settings, request.headers.get("Host")):
        raise ForbiddenError(
            "Host not allowed: this gateway listens on loopback and only answers loopback "
            "host names (set AOA_HOST to serve other addresses)",
            code="host_not_allowed",
        )
    # Anthropic clients send their key as x-api-key: it counts as the bearer token does.
    presented = (
        bearer_token(request.headers.get("Authorization"))
        or request.headers.get("x-api-key", "").strip()
    )
    token_ok = token_matches(settings.access_token, presented)
    own_rules = _self_guarded(request)
    cors = _NO_CORS
    if origin is not None and not own_rules:
        cors = request[CORS] = cors_headers(rt, settings, origin, token_ok)
    if request.method == "OPTIONS" and not own_rules:
        return _preflight(request, settings, origin, cors)
    if origin is not None and not cors and not own_rules:
        raise ForbiddenError(
            f"Origin {origin} may not use this gateway's key; add it to AOA_CORS_ORIGINS "
            "or send the access token",
            code="origin_not_allowed",
        )
    if request.path.startswith("/v1/"):
        if settings.access_token and not token_ok:
            raise AuthError(
                "Missing or wrong access token: send it as 'Authorization: Bearer <token>'"
            )
        if rt.paused:
            raise ServiceUnavailable("aoa is paused; resume it from the tray menu")
    elif request.path == METRICS_PATH and settings.access_token and not token_ok:
        raise AuthError("Missing or wrong access token: send it as 'Authorization: Bearer <token>'")
    return None


def _self_guarded(request: web.Request) -> bool:
    path = request.path
    return any(path == p or path.startswith(p + "/") for p in request.app.get(SELF_GUARDED, ()))


def cors_headers(rt: Runtime, settings: Settings, origin: str, token_ok: bool) -> dict[str, str]:
    """CORS approval for this origin, or {} when it must not use the gateway."""
    if not rt.snapshot.holds_key and not settings.access_token:
        # Pass-through: the page spends its own key, as with the original (CORS *).
        return {"Access-Control-Allow-Origin": "*"}
    if origin_allowed(settings, origin) or token_ok:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _preflight(
    request: web.Request, settings: Settings, origin: str | None, cors: dict[str, str]
) -> web.Response:
    if origin is not None and not cors:
        # A preflight carries no credentials: with an access token the real request is checked.
        if not settings.access_token:
            raise ForbiddenError(f"Origin {origin} is not allowed", code="origin_not_allowed")
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    headers = {
        **cors,
        "Access-Control-Allow-Methods": _CORS_METHODS,
        "Access-Control-Allow-Headers": request.headers.get(
            "Access-Control-Request-Headers", _CORS_HEADERS
        ),
        "Access-Control-Max-Age": "600",
        "Allow": _CORS_METHODS,
    }
    if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        headers["Access-Control-Allow-Private-Network"] = "true"
    if (
        request.match_info.http_exception is not None
        and request.match_info.http_exception.status == 404
    ):
        raise NotFound(f"Invalid URL (OPTIONS {request.path})")
    return web.Response(status=204, headers=headers)
