"""The gateway's one middleware: admission, errors in the route's dialect (OpenAI's; Anthropic's
under /v1/messages), the access log and live view, and the drain's count of requests in flight."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from aoa_proxy.accesslog import log_request
from aoa_proxy.admission import admit
from aoa_proxy.appkeys import CORS, RECORD, RUNTIME
from aoa_proxy.config import Settings
from aoa_proxy.doors.messages import PATH_PREFIX as MESSAGES_PATH
from aoa_proxy.doors.messages import messages_error_response
from aoa_proxy.drain import DRAIN, PROBES
from aoa_proxy.errors import AoaError, MethodNotAllowed, NotFound
from aoa_proxy.hardening import loggable
from aoa_proxy.intake import too_large
from aoa_proxy.runtime import RequestRecord, Runtime

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host/origin/token checks, CORS, OpenAI-format errors and the access log, in one pass;
    and the drain's count of requests in flight (drain.py). One middleware, not two: aiohttp
    wraps the handler anew for each middleware on every request."""
    if request.path in PROBES:
        return await _serve(request, handler)
    drain = request.app[DRAIN]
    drain.enter()
    try:
        response = await _serve(request, handler)
        if drain.draining:
            response.force_close()  # no keep-alive: the client's next request goes elsewhere
        return response
    finally:
        drain.leave()


async def _serve(request: web.Request, handler: Handler) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    settings = rt.settings
    started = time.perf_counter()
    rec = RequestRecord(request.method, request.path)
    request[RECORD] = rec
    flight = rt.in_flight
    if flight is not None:  # /metrics is on: it counts the streams open now
        flight[id(rec)] = rec
    origin = request.headers.get("Origin")
    response: web.StreamResponse | None
    try:
        response = admit(request, rt, settings, origin)
        if response is None:
            response = await handler(request)
    except AoaError as exc:
        response = _render(request, exc)
        rec.error = exc.message
    except web.HTTPException as exc:
        response = _render(request, _from_http_exception(request, exc, settings))
        rec.error = exc.reason
    except (asyncio.CancelledError, ConnectionResetError):
        rec.status = 499  # client went away
        _done(rec, rt, settings, started)
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, loggable(request.path))
        response = _render(request, AoaError("The gateway hit an unexpected error; see its log"))
        rec.error = "internal error"
    if origin is not None:
        cors = request.get(CORS)
        if cors and not response.prepared:
            response.headers.update(cors)
    rec.status = rec.status or response.status
    _done(rec, rt, settings, started)
    return response


def _done(rec: RequestRecord, rt: Runtime, settings: Settings, started: float) -> None:
    """The access-log line, and the live view's record for API calls."""
    rec.duration_ms = (time.perf_counter() - started) * 1000
    if rt.in_flight is not None:
        rt.in_flight.pop(id(rec), None)
    log_request(rec, settings)
    if rec.path.startswith("/v1/"):  # the live view shows API calls, not page traffic
        rt.record(rec)


def _from_http_exception(
    request: web.Request, exc: web.HTTPException, settings: Settings
) -> AoaError:
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
        return too_large(settings.max_body_bytes)
    return AoaError(exc.reason or "request failed", status=exc.status, code=None)


def _render(request: web.Request, exc: AoaError) -> web.Response:
    """The error in the client's dialect: Anthropic's for the Messages routes, else OpenAI's."""
    if request.path == MESSAGES_PATH or request.path.startswith(MESSAGES_PATH + "/"):
        return messages_error_response(exc)
    return error_response(exc)


def error_response(exc: AoaError) -> web.Response:
    headers = {**exc.headers, "Content-Type": "application/json"}
    return web.Response(status=exc.status, body=exc.body(), headers=headers)
