"""The aiohttp application: routes, the one middleware, and the upstream relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from aoa_proxy import __version__
from aoa_proxy.accesslog import log_request
from aoa_proxy.config import Settings
from aoa_proxy.errors import (
    AoaError,
    AuthError,
    ForbiddenError,
    MethodNotAllowed,
    ModelNotFound,
    NotFound,
    RequestError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from aoa_proxy.hardening import harden, loggable, redact, redact_text
from aoa_proxy.intake import build_call, key_or_empty, read_body, too_large
from aoa_proxy.jsonutil import dumps, loads
from aoa_proxy.providers import Call, Endpoint, LocalProvider, Provider, UpstreamRequest
from aoa_proxy.runtime import RequestRecord, Runtime
from aoa_proxy.security import bearer_token, host_allowed, origin_allowed, token_matches
from aoa_proxy.sse import DONE, EventGate, frame, iter_data

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
RECORD = web.RequestKey("record", RequestRecord)
# CORS approval the middleware worked out, for responses prepared inside handlers (streams).
CORS = web.RequestKey("cors", dict)
# Path prefixes whose routes guard themselves (the desktop app's settings page): the gateway's
# CORS grants and origin refusals are for API clients, and would lock the page out of its own
# origin when AOA_CORS_ORIGINS is set.
SELF_GUARDED = web.AppKey("self_guarded", tuple[str, ...])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Upstream response headers worth passing back to clients (rate limits, request ids).
_PASS_HEADERS = frozenset(
    {
        "x-request-id",
        "retry-after",
        "retry-after-ms",
        "apim-request-id",
        "openai-processing-ms",
        "openai-version",
        "x-ms-region",
        "azureml-model-deployment",
    }
)
_CORS_METHODS = "GET, POST, OPTIONS"
_CORS_HEADERS = (
    "Authorization, Content-Type, X-Requested-With, api-key, OpenAI-Organization, "
    "OpenAI-Project, X-Stainless-Arch, X-Stainless-Lang, X-Stainless-OS, "
    "X-Stainless-Package-Version, "
    "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout"
)
_COMPRESS_MIN = 1400
# What a 2xx non-stream answer may call itself: JSON, or the loose types some OpenAI-compatible
# servers send (aiohttp reports a missing Content-Type as application/octet-stream). The client
# always gets application/json; an HTML (or any other) answer is an error, never relayed.
_JSON_TYPES = frozenset({"application/json", "text/json", "text/plain", "application/octet-stream"})
_ERROR_BODY_LIMIT = 1 << 20


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
    session = None if provider.local else rt.session(provider)

    async def fetch(req: UpstreamRequest) -> tuple[int, Any]:
        assert session is not None
        try:
            async with session.request(
                req.method, req.url, headers=req.headers, data=req.body
            ) as r:
                body = await r.read()
                if r.status != 200:
                    log.warning("model list from %s: HTTP %s", provider.name, r.status)
                    return r.status, None
                return r.status, orjson.loads(body)
        except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError) as exc:
            log.warning("model list from %s failed: %s", provider.name, type(exc).__name__)
            return 0, None

    return await provider.list_models(fetch, key)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type="application/json")


# --------------------------------------------------------------------------- the relay


def _endpoint(endpoint: Endpoint) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await relay(request, endpoint)

    handler.__name__ = f"relay_{endpoint.name.lower()}"
    return handler


async def relay(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    """Read, check, map the model, call the upstream and stream its answer back."""
    rt = request.app[RUNTIME]
    settings, provider = rt.settings, rt.provider  # snapshot: a switch mid-request is harmless
    rec: RequestRecord = request[RECORD]
    rec.provider = provider.name
    call = build_call(endpoint, await read_body(request), provider, request.headers, settings)
    rec.model, rec.upstream_model, rec.stream = call.model, call.upstream_model, call.stream
    if isinstance(provider, LocalProvider):
        return await _serve_local(request, provider, call, rec)

    session = rt.session(provider)
    await provider.prepare(call, _fetch_bytes(session))
    ureq = provider.build_request(call)
    try:
        upstream = await session.request(
            ureq.method, ureq.url, headers=ureq.headers, data=ureq.body
        )
    except asyncio.TimeoutError:
        raise UpstreamTimeout(f"{provider.label} did not answer in time") from None
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(f"Could not reach {provider.label}: {_describe(exc)}") from None
    # Keys an upstream error could echo back: ours, and the client's when it is forwarded.
    keys = (provider.server_key, call.key)
    try:
        passed = {k: v for k, v in upstream.headers.items() if _pass_header(k)}
        if upstream.status >= 400:
            error_body = redact(await _read_capped(upstream, provider), keys)
            raise provider.translate_error(call, upstream.status, error_body, passed)
        content_type = upstream.content_type
        is_sse = content_type == "text/event-stream"
        if not is_sse and content_type not in _JSON_TYPES and not content_type.endswith("+json"):
            raise UpstreamUnreachable(
                f"{provider.label} answered with {_shown_type(content_type)}, not JSON; "
                "check the endpoint (a web page or a login portal answers like this)"
            )
        if provider.passthrough:
            if is_sse:
                return await _relay_stream(request, upstream, passed, rec)
            payload = await _read_body(upstream, provider)
            parsed = _json_answer(payload, provider)
            if isinstance(parsed, dict):
                _note_usage_obj(rec, parsed.get("usage"))
            return _bytes_response(request, payload, upstream.status, "application/json", passed)
        if call.stream and is_sse:
            return await _translate_stream(request, provider, call, upstream, passed, rec, keys)
        payload = await _read_body(upstream, provider)
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON") from None
        if call.stream:  # upstream answered whole: its stream translator takes it as one event
            chunks = provider.translate_stream(call, _one_event(payload))
            return await _write_chunks(request, chunks, passed, rec, provider.label, keys)
        out = provider.translate_response(call, parsed)
        _note_usage_obj(rec, out.get("usage"))
        return _bytes_response(request, dumps(out), 200, "application/json", passed)
    except UpstreamError as exc:  # also an error inside a 200 answer (Gemini)
        raise _redacted(exc, keys) from None
    finally:
        upstream.close()


def _redacted(exc: UpstreamError, keys: tuple[str, ...]) -> UpstreamError:
    """The error with any echo of `keys` masked in what the client, the record and the log see."""
    exc.message = redact_text(exc.message, keys)
    exc.args = (exc.message,)
    if exc.raw is not None:
        exc.raw = redact(exc.raw, keys)
    return exc


def _shown_type(content_type: str) -> str:
    """An upstream's Content-Type, short and printable, for an error message."""
    return loggable(content_type[:60]) or "no content type"


async def _one_event(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _json_answer(payload: bytes, provider: Provider) -> Any:
    """A 200 whose body is not JSON (empty, cut, an HTML page) would break the client's parser."""
    try:
        return loads(payload)
    except ValueError:
        raise UpstreamUnreachable(f"{provider.label} sent an answer that is not JSON") from None


def _pass_header(name: str) -> bool:
    lower = name.lower()
    return lower in _PASS_HEADERS or lower.startswith("x-ratelimit-")


def _describe(exc: BaseException) -> str:
    """A short reason for a connection failure that never includes a URL query or a key."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return type(exc).__name__


async def _read_capped(upstream: aiohttp.ClientResponse, provider: Provider) -> bytes:
    try:
        return await upstream.content.read(_ERROR_BODY_LIMIT)
    except asyncio.TimeoutError:
        raise UpstreamTimeout(f"{provider.label} stopped sending its error answer") from None
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(f"{provider.label}: {_describe(exc)}") from None


async def _read_body(upstream: aiohttp.ClientResponse, provider: Provider) -> bytes:
    try:
        return await upstream.read()
    except asyncio.TimeoutError:
        raise UpstreamTimeout(
            f"{provider.label} stopped sending in the middle of its answer"
        ) from None
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(f"{provider.label}: {_describe(exc)}") from None


def _bytes_response(
    request: web.Request, body: bytes, status: int, content_type: str, headers: dict[str, str]
) -> web.Response:
    response = web.Response(
        body=body, status=status, headers={**headers, "Content-Type": content_type}
    )
    if len(body) >= _COMPRESS_MIN and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression()
    return response


def _note_usage_obj(rec: RequestRecord, usage: Any) -> None:
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        rec.prompt_tokens = prompt if isinstance(prompt, int) else None
        rec.completion_tokens = completion if isinstance(completion, int) else None


def _sse_response(request: web.Request, status: int, headers: dict[str, str]) -> web.StreamResponse:
    """A stream's response; it is prepared before the middleware sees it, so CORS goes on here."""
    response = web.StreamResponse(
        status=status,
        headers={
            **headers,
            **request.get(CORS, {}),
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )
    return response


async def _relay_stream(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    headers: dict[str, str],
    rec: RequestRecord,
) -> web.StreamResponse:
    """Forward each upstream SSE event, bytes unchanged, the moment it is complete; end with an
    error event if the stream is cut off, malformed or unfinished."""
    response = _sse_response(request, upstream.status, headers)
    rec.status = upstream.status
    await response.prepare(request)
    gate = EventGate()
    try:
        async for data in upstream.content.iter_any():
            ready, problem = gate.feed(data)
            if ready:
                await response.write(ready)
            if problem:
                await _write_stream_error(response, gate.tail, problem)
                rec.error = "malformed stream"
                return response
        ready, problem = gate.finish()
        if ready:
            await response.write(ready)
    except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
        reason = "stopped sending" if isinstance(exc, asyncio.TimeoutError) else _describe(exc)
        await _write_stream_error(response, gate.tail, f"The upstream stream broke off: {reason}")
        rec.error = "stream cut"
        return response
    if problem or not gate.done:
        await _write_stream_error(
            response, gate.tail, problem or "The upstream stream ended before [DONE]"
        )
        rec.error = "stream ended early"
    else:
        _note_stream_usage(rec, gate.tail)
    await response.write_eof()
    return response


async def _write_stream_error(response: web.StreamResponse, tail: bytes, message: str) -> None:
    err = UpstreamUnreachable(message)
    lead = b"" if not tail or tail.endswith(b"\n\n") else b"\n\n"
    with contextlib.suppress(ConnectionResetError):
        await response.write(lead + frame(err.payload()))


def _note_stream_usage(rec: RequestRecord, tail: bytes) -> None:
    """The include_usage chunk sits just before [DONE]: read tokens from the stream's tail."""
    at = tail.rfind(b'"usage":{')
    if at < 0:
        return
    start = tail.rfind(b"data: ", 0, at)
    end = tail.find(b"\n", at)
    if start >= 0 and end > 0:
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            _note_usage_obj(rec, orjson.loads(tail[start + 6 : end]).get("usage"))


async def _translate_stream(
    request: web.Request,
    provider: Provider,
    call: Call,
    upstream: aiohttp.ClientResponse,
    headers: dict[str, str],
    rec: RequestRecord,
    keys: tuple[str, ...],
) -> web.StreamResponse:
    events = iter_data(upstream.content)
    return await _write_chunks(
        request, provider.translate_stream(call, events), headers, rec, provider.label, keys
    )


async def _write_chunks(
    request: web.Request,
    chunks: AsyncIterator[dict[str, Any]],
    headers: dict[str, str],
    rec: RequestRecord,
    label: str,
    keys: tuple[str, ...] = (),
) -> web.StreamResponse:
    """Write OpenAI chunk objects as SSE, then [DONE]; an error mid-way ends with an error event."""
    response = _sse_response(request, 200, headers)
    rec.status = 200
    await response.prepare(request)
    try:
        async for chunk in chunks:
            if chunk.get("usage"):
                _note_usage_obj(rec, chunk["usage"])
            await response.write(frame(chunk))
    except AoaError as exc:
        if isinstance(exc, UpstreamError):  # the upstream's own words (an error event)
            exc = _redacted(exc, keys)
        rec.error = exc.message
        await response.write(frame(exc.payload()))
        return response
    except asyncio.TimeoutError:
        rec.error = "stream stalled"
        await response.write(frame(UpstreamTimeout(f"{label} stopped sending").payload()))
        return response
    except aiohttp.ClientError as exc:
        rec.error = "stream cut"
        msg = f"The upstream stream broke off: {_describe(exc)}"
        await response.write(frame(UpstreamUnreachable(msg).payload()))
        return response
    except ConnectionResetError:
        raise  # the client went away: nobody to tell
    except Exception:
        # The status line is sent: a second response would corrupt the stream, so end it
        # with an error event instead (a translator bug must not look like a clean answer).
        log.exception("stream from %s failed", label)
        rec.error = "internal error"
        err = AoaError("The gateway hit an unexpected error mid-stream; see its log")
        await response.write(frame(err.payload()))
        return response
    await response.write(DONE)
    await response.write_eof()
    return response


async def _serve_local(
    request: web.Request, provider: LocalProvider, call: Call, rec: RequestRecord
) -> web.StreamResponse:
    if call.stream and call.endpoint is not Endpoint.EMBEDDINGS:
        return await _write_chunks(request, provider.respond_stream(call), {}, rec, provider.label)
    out = provider.respond(call)
    _note_usage_obj(rec, out.get("usage"))
    return _bytes_response(request, dumps(out), 200, "application/json", {})


def _safe_url(url: str) -> str:
    """A URL fit for an error message or a log: no query (presigned tokens), no user info."""
    try:
        parts = urlsplit(url)
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    except ValueError:
        return "the image URL"
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _fetch_bytes(
    session: aiohttp.ClientSession,
) -> Callable[[str, int], Awaitable[tuple[str, bytes]]]:
    """A capped, time-limited GET through the provider's session (and so its proxy)."""

    async def fetch(url: str, limit: int) -> tuple[str, bytes]:
        timeout = aiohttp.ClientTimeout(total=30, sock_connect=10)
        try:
            async with session.get(url, timeout=timeout) as r:
                if r.status != 200:
                    raise RequestError(
                        f"Could not fetch {_safe_url(url)}: HTTP {r.status}",
                        code="invalid_image_url",
                    )
                data = await r.content.read(limit + 1)
                if len(data) > limit:
                    raise RequestError(
                        f"{_safe_url(url)} is larger than {limit} bytes", code="invalid_image_url"
                    )
                return r.content_type, data
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RequestError(
                f"Could not fetch {_safe_url(url)}: {_describe(exc)}", code="invalid_image_url"
            ) from None

    return fetch
