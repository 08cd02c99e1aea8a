"""The Messages door's streams: chat chunks in, Anthropic's events out, with pings.

`write_stream` feeds one MessagesStream (bridges/messages_stream.py) and writes its events as
SSE; a pinger task writes `ping` while the upstream is silent; a failure after the start ends
the stream with one `error` event (echoed keys masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from aoa_proxy.appkeys import CORS
from aoa_proxy.bridges.messages_request import MessagesCall
from aoa_proxy.bridges.messages_response import new_request_id
from aoa_proxy.bridges.messages_stream import MessagesStream, encode_event
from aoa_proxy.errors import AoaError
from aoa_proxy.hardening import redact
from aoa_proxy.runtime import RequestRecord
from aoa_proxy.streaming import note_usage
from aoa_proxy.upstream import FAULTS, Stage, failure

log = logging.getLogger(__name__)

# A `ping` event goes out after this many seconds without one from the upstream, so clients
# and proxies do not time out an answer that is thinking (Anthropic sends them too).
PING_INTERVAL: float = 10.0


async def write_stream(
    request: web.Request,
    chunks: AsyncIterator[Any],
    mcall: MessagesCall,
    passed: dict[str, str],
    rec: RequestRecord,
    label: str,
    keys: tuple[str, ...] = (),
) -> web.StreamResponse:
    """Messages events for a chat stream, a `ping` whenever the upstream is silent a while;
    a failure after the start ends the stream with an `error` event."""
    response = web.StreamResponse(
        status=200,
        headers={
            **passed,
            **request.get(CORS, {}),
            "request-id": new_request_id(),
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )
    rec.status = 200
    await response.prepare(request)
    stream = MessagesStream(mcall)
    await response.write(_frames(stream.start(), keys))
    loop = asyncio.get_running_loop()
    last_write = [loop.time()]
    # One pinger per stream (not a timer per chunk): it writes a ping when nothing went out for
    # PING_INTERVAL. Frames never interleave: each write hands the transport a whole frame.
    pinger = asyncio.ensure_future(_ping(response, stream, last_write))
    events: list[dict[str, Any]] = []
    try:
        async for chunk in chunks:
            if isinstance(chunk, dict) and chunk.get("usage"):
                note_usage(rec, chunk["usage"])
            events = stream.feed(chunk)
            if events:
                last_write[0] = loop.time()
                await response.write(_frames(events, keys))
            if stream.done:  # an error chunk ended it
                break
        else:
            events = stream.finish()
            await response.write(_frames(events, keys))
    except AoaError as exc:
        rec.error = exc.message
        await _write_failure(response, stream, exc, keys)
        return response
    except FAULTS as exc:
        err = failure(exc, label or "The upstream", Stage.TRANSLATED_STREAM)
        rec.error = "stream stalled" if isinstance(exc, asyncio.TimeoutError) else "stream cut"
        await _write_failure(response, stream, err)
        return response
    except ConnectionResetError:
        raise  # the client went away: nobody to tell
    except Exception:
        log.exception("messages stream from %s failed", label or "the provider")
        rec.error = "internal error"
        await _write_failure(response, stream, AoaError("The gateway hit an unexpected error"))
        return response
    finally:
        pinger.cancel()
    if events and events[-1]["type"] == "error":
        rec.error = str(events[-1]["error"].get("message", "error"))
    await response.write_eof()
    return response


async def _ping(response: web.StreamResponse, stream: MessagesStream, last: list[float]) -> None:
    """Write a `ping` whenever nothing was written for PING_INTERVAL, until the stream ends."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ConnectionResetError):
        while not stream.done:
            wait = last[0] + PING_INTERVAL - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            last[0] = loop.time()
            await response.write(encode_event(stream.ping()))


async def _write_failure(
    response: web.StreamResponse, stream: MessagesStream, exc: AoaError, keys: tuple[str, ...] = ()
) -> None:
    with contextlib.suppress(ConnectionResetError):
        await response.write(_frames(stream.fail(exc), keys))


def _frames(events: list[dict[str, Any]], keys: tuple[str, ...]) -> bytes:
    """The events as SSE; an error event (the upstream's own words) has any echoed key masked."""
    data = b"".join(encode_event(e) for e in events)
    return redact(data, keys) if keys and events[-1]["type"] == "error" else data
