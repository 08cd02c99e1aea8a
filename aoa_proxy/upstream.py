"""Talking to the upstream: reading its answers, the fetches providers get, and its failures.

`failure` is the one place an upstream's timeout or broken connection becomes the error the
client sees; every site that does upstream I/O catches FAULTS and asks it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson

from aoa_proxy.errors import (
    AoaError,
    RequestError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from aoa_proxy.hardening import redact, redact_text
from aoa_proxy.providers import UpstreamRequest

log = logging.getLogger(__name__)

# What upstream I/O raises when the upstream is slow or the connection breaks.
FAULTS: Final = (asyncio.TimeoutError, aiohttp.ClientError)
ERROR_BODY_LIMIT: Final = 1 << 20


class Stage(enum.Enum):
    """Where an exchange failed: (error class on a timeout, its message, message otherwise).

    `{label}` is the provider's name, `{reason}` says what broke (never a URL or a key).
    """

    OPEN = (UpstreamTimeout, "{label} did not answer in time", "Could not reach {label}: {reason}")
    ERROR_BODY = (UpstreamTimeout, "{label} stopped sending its error answer", "{label}: {reason}")
    BODY = (
        UpstreamTimeout,
        "{label} stopped sending in the middle of its answer",
        "{label}: {reason}",
    )
    # Mid-stream the status line is out: these become the stream's final error event.
    RELAYED_STREAM = (
        UpstreamUnreachable,
        "The upstream stream broke off: stopped sending",
        "The upstream stream broke off: {reason}",
    )
    TRANSLATED_STREAM = (
        UpstreamTimeout,
        "{label} stopped sending",
        "The upstream stream broke off: {reason}",
    )


def failure(exc: BaseException, label: str, stage: Stage) -> AoaError:
    """The client's error for one of FAULTS raised by upstream I/O at `stage`."""
    on_timeout, timeout_message, message = stage.value
    if isinstance(exc, asyncio.TimeoutError):  # before ClientError: ServerTimeoutError is both
        error: AoaError = on_timeout(timeout_message.format(label=label))
        return error
    return UpstreamUnreachable(message.format(label=label, reason=describe(exc)))


def redacted(exc: UpstreamError, keys: tuple[str, ...]) -> UpstreamError:
    """The error with any echo of `keys` masked in what the client, the record and the log see."""
    exc.message = redact_text(exc.message, keys)
    exc.args = (exc.message,)
    if exc.raw is not None:
        exc.raw = redact(exc.raw, keys)
    return exc


def describe(exc: BaseException) -> str:
    """A short reason for a connection failure that never includes a URL query or a key."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    return type(exc).__name__


async def read_answer(upstream: aiohttp.ClientResponse, label: str) -> bytes:
    """A whole (2xx) answer body."""
    try:
        return await upstream.read()
    except FAULTS as exc:
        raise failure(exc, label, Stage.BODY) from None


async def read_error_body(upstream: aiohttp.ClientResponse, label: str) -> bytes:
    """An error answer's body, at most ERROR_BODY_LIMIT bytes of it."""
    try:
        return await upstream.content.read(ERROR_BODY_LIMIT)
    except FAULTS as exc:
        raise failure(exc, label, Stage.ERROR_BODY) from None


def fetch_json(
    session: aiohttp.ClientSession, name: str
) -> Callable[[UpstreamRequest], Awaitable[tuple[int, Any]]]:
    """The FetchJson a provider's list_models gets: a failure is logged, never raised."""

    async def fetch(req: UpstreamRequest) -> tuple[int, Any]:
        try:
            async with session.request(
                req.method, req.url, headers=req.headers, data=req.body
            ) as r:
                body = await r.read()
                if r.status != 200:
                    log.warning("model list from %s: HTTP %s", name, r.status)
                    return r.status, None
                return r.status, orjson.loads(body)
        except (*FAULTS, orjson.JSONDecodeError) as exc:
            log.warning("model list from %s failed: %s", name, type(exc).__name__)
            return 0, None

    return fetch


def fetch_bytes(
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
        except (*FAULTS, ValueError) as exc:
            # The media is the client's to fix, not the upstream's: a 400, not a 502.
            raise RequestError(
                f"Could not fetch {_safe_url(url)}: {describe(exc)}", code="invalid_image_url"
            ) from None

    return fetch


def _safe_url(url: str) -> str:
    """A URL fit for an error message or a log: no query (presigned tokens), no user info."""
    try:
        parts = urlsplit(url)
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    except ValueError:
        return "the image URL"
    return shown if len(shown) <= 120 else shown[:117] + "..."
