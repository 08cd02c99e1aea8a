"""The aiohttp application: routes and the one middleware; the relay is relay.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from aoa_proxy import __version__
from aoa_proxy.accesslog import log_request
from aoa_proxy.appkeys import CORS, RECORD, RUNTIME, SELF_GUARDED
from aoa_proxy.config import Settings
from aoa_proxy.errors import (
    AoaError,
    AuthError,
    ForbiddenError,
    MethodNotAllowed,
    ModelNotFound,
    NotFound,
    ServiceUnavailable,
)
from aoa_proxy.hardening import harden, loggable
from aoa_proxy.intake import build_call, key_or_empty, read_body, too_large
from aoa_proxy.jsonutil import dumps
from aoa_proxy.providers import Endpoint, UpstreamRequest
from aoa_proxy.relay import relay
from aoa_proxy.runtime import RequestRecord, Runtime
from aoa_proxy.security import bearer_token, host_allowed, origin_allowed, token_matches
from aoa_proxy.upstream import fetch_json

log = logging.getLogger(__name__)

__all__ = ["CORS", "RECORD", "RUNTIME", "SELF_GUARDED", "create_app", "error_response"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CORS_METHODS = "GET, POST, OPTIONS"
_CORS_HEADERS = (
    "Authorization, Content-Type, X-Requested-With, api-key, OpenAI-Organization, "
    "OpenAI-Project, X-Stainless-Arch, X-Stainless-Lang, X-Stainless-OS, "
    "X-Stainless-Package-Version, "
    "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout"
)


def create_app(settings: Settings, runtime: Runtime | None = None) -> web.Application:
    """The gateway app. Pass a Runtime to share it (the desktop app switches providers on it)."""
    app = web.Application(middlewares=[gateway_middleware], client_max_size=settings.max_body_bytes)
    app[RUNTIME] = runtime or Runtime(settings)
    for path in ("/", "/health", "/ping"):
        app.router.add_get(path, health)
    app.router.add_post("/v1/chat/completions", _endpoint(Endpoint.CHAT))
    app.router.add_post("/v1/completions", _endpoint(Endpoint.COMPLETIONS))
    app.router.add_post("/v1/embeddings", _endpoint(Endpoint.EMBEDDINGS))
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    app.on_response_prepare.append(harden)
    app.on_cleanup.append(_close_runtime)
    return app


async def _close_runtime(app: web.Application) -> None:
    await app[RUNTIME].close()


# --------------------------------------------------------------------------- middleware


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host/origin/token checks, CORS, OpenAI-format errors and the access log, in one pass."""
    rt = request.app[RUNTIME]
    settings = rt.settings
    started = time.perf_counter()
    rec = RequestRecord(request.method, request.path)
    request[RECORD] = rec
    origin = request.headers.get("Origin")
    cors: dict[str, str] = {}
    response: web.StreamResponse
    try:
        if not host_allowed(settings, request.headers.get("Host")):
            raise ForbiddenError(
                "Host not allowed: this gateway listens on loopback and only answers loopback "
                "host names (set AOA_HOST to serve other addresses)",
                code="host_not_allowed",
            )
        token_ok = token_matches(
            settings.access_token, bearer_token(request.headers.get("Authorization"))
        )
        own_rules = _self_guarded(request)
        if origin is not None and not own_rules:
            cors = _cors_headers(rt, settings, origin, token_ok)
            request[CORS] = cors
        if request.method == "OPTIONS" and not own_rules:
            response = _preflight(request, origin, cors)
        else:
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
            response = await handler(request)
    except AoaError as exc:
        response = error_response(exc)
        rec.error = exc.message
    except web.HTTPException as exc:
        response = error_response(_from_http_exception(request, exc))
        rec.error = exc.reason
    except (asyncio.CancelledError, ConnectionResetError):
        rec.status = 499  # client went away
        rec.duration_ms = (time.perf_counter() - started) * 1000
        log_request(rec, settings)
        if rec.path.startswith("/v1/"):
            rt.record(rec)
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, loggable(request.path))
        response = error_response(AoaError("The gateway hit an unexpected error; see its log"))
        rec.error = "internal error"
    if cors and not response.prepared:
        response.headers.update(cors)
    rec.status = rec.status or response.status
    rec.duration_ms = (time.perf_counter() - started) * 1000
    log_request(rec, settings)
    if rec.path.startswith("/v1/"):  # the live view shows API calls, not page traffic
        rt.record(rec)
    return response


def _self_guarded(request: web.Request) -> bool:
    path = request.path
    return any(path == p or path.startswith(p + "/") for p in request.app.get(SELF_GUARDED, ()))


def _cors_headers(rt: Runtime, settings: Settings, origin: str, token_ok: bool) -> dict[str, str]:
    """CORS approval for this origin, or {} when it must not use the gateway."""
    holds_key = bool(rt.provider.server_key) and not rt.provider.local
    if not holds_key and not settings.access_token:
        # Pass-through: the page spends its own key, as with the original (CORS *).
        return {"Access-Control-Allow-Origin": "*"}
    if origin_allowed(settings, origin) or token_ok:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _preflight(request: web.Request, origin: str | None, cors: dict[str, str]) -> web.Response:
    if origin is not None and not cors:
        rt = request.app[RUNTIME]
        # A preflight carries no credentials: with an access token the real request is checked.
        if not rt.settings.access_token:
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


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> AoaError:
    if exc.status == 404:
        return NotFound(f"Invalid URL ({request.method} {request.path})")
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return MethodNotAllowed(
            f"Method {request.method} is not allowed on {request.path}"
            + (f" (use {allowed})" if allowed else ""),
            headers={"Allow": allowed} if allowed else None,
        )
    if exc.status == 413:
        return too_large(request.app[RUNTIME].settings.max_body_bytes)
    return AoaError(exc.reason or "request failed", status=exc.status, code=None)


def error_response(exc: AoaError) -> web.Response:
    headers = {**exc.headers, "Content-Type": "application/json"}
    return web.Response(status=exc.status, body=exc.body(), headers=headers)


# --------------------------------------------------------------------------- simple routes


async def health(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    if request.path != "/health":
        return web.Response(status=200)
    body = {
        "status": "paused" if rt.paused else "ok",
        "provider": rt.provider.name,
        "version": __version__,
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def list_models(request: web.Request) -> web.Response:
    models = await _models(request)
    return _json({"object": "list", "data": models})


async def get_model(request: web.Request) -> web.Response:
    wanted = request.match_info["model"]
    for entry in await _models(request):
        if entry["id"] == wanted:
            return _json(entry)
    raise ModelNotFound(f"The model {wanted!r} does not exist", param="model")


async def _models(request: web.Request) -> list[dict[str, Any]]:
    rt = request.app[RUNTIME]
    provider = rt.provider
    key = key_or_empty(provider, request.headers, rt.settings)
    fetch = _no_upstream if provider.local else fetch_json(rt.session(provider), provider.name)
    return await provider.list_models(fetch, key)


async def _no_upstream(req: UpstreamRequest) -> tuple[int, Any]:
    raise AssertionError("a local provider has no upstream to ask")


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


# --------------------------------------------------------------------------- the API routes


def _endpoint(endpoint: Endpoint) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        """Read, check, map the model, and relay the call to the provider."""
        rt = request.app[RUNTIME]
        settings, provider = rt.settings, rt.provider  # snapshot: a switch mid-request is harmless
        rec = request[RECORD]
        rec.provider = provider.name
        call = build_call(endpoint, await read_body(request), provider, request.headers, settings)
        rec.model, rec.upstream_model, rec.stream = call.model, call.upstream_model, call.stream
        return await relay(request, rt, provider, call, rec)

    handler.__name__ = f"relay_{endpoint.name.lower()}"
    return handler
