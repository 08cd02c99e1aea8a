"""The two stream answer shapes, and the token counts the live view shows.

A relayed stream forwards the upstream's SSE bytes unchanged, one whole event at a time; a chunk
stream writes OpenAI chunk objects (translated or local) as SSE. Either way the status line is
out before the first event, so a failure becomes a final error event, never a second response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from aoa_proxy.appkeys import CORS
from aoa_proxy.errors import AoaError, UpstreamError, UpstreamUnreachable
from aoa_proxy.runtime import RequestRecord
from aoa_proxy.schema import AnswerChunk
from aoa_proxy.sse import DONE, RESPONSES_TERMINAL, EventGate, frame
from aoa_proxy.upstream import FAULTS, Stage, failure, redacted

log = logging.getLogger(__name__)


def _sse_response(request: web.Request, status: int, headers: dict[str, str]) -> web.StreamResponse:
    """A stream's response; it is prepared before the middleware sees it, so CORS goes on here."""
    return web.StreamResponse(
        status=status,
        headers={
            **headers,
            **request.get(CORS, {}),
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        },
    )


# (the stream's tail, the error) -> the last event, in the client's dialect.
Ending = Callable[[bytes, AoaError], bytes]


async def relay_stream(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    headers: dict[str, str],
    rec: RequestRecord,
    ending: Ending | None = None,
    terminal: frozenset[str] = RESPONSES_TERMINAL,
) -> web.StreamResponse:
    """Forward each upstream SSE event, bytes unchanged, the moment it is complete; end with an
    error event if the stream is cut off, malformed or unfinished (`ending` writes it in the
    client's dialect; chat's `data: {"error": ...}` otherwise). `terminal`: the event types
    that end a stream without [DONE] (Responses', or Messages')."""
    response = _sse_response(request, upstream.status, headers)
    rec.status = upstream.status
    await response.prepare(request)
    gate = EventGate(terminal)
    try:
        async for data in upstream.content.iter_any():
            ready = gate.feed(data)
            if ready:
                await response.write(ready)
            if gate.problem:
                await _write_stream_error(response, gate.tail, gate.problem, ending)
                rec.error = "malformed stream"
                return response
        ready = gate.finish()
        if ready:
            await response.write(ready)
    except FAULTS as exc:
        err = failure(exc, "", Stage.RELAYED_STREAM)
        await _write_stream_error(response, gate.tail, err, ending)
        rec.error = "stream cut"
        return response
    if gate.problem or not gate.done:
        await _write_stream_error(
            response,
            gate.tail,
            gate.problem or "The upstream stream ended before [DONE]",
            ending,
        )
        rec.error = "stream ended early"
    else:
        _note_stream_usage(rec, gate.tail)
    await response.write_eof()
    return response


async def _write_stream_error(
    response: web.StreamResponse, tail: bytes, error: str | AoaError, ending: Ending | None
) -> None:
    err = UpstreamUnreachable(error) if isinstance(error, str) else error
    lead = b"" if not tail or tail.endswith(b"\n\n") else b"\n\n"
    last = ending(tail, err) if ending is not None else frame(err.payload())
    with contextlib.suppress(ConnectionResetError):
        await response.write(lead + last)


async def write_chunks(
    request: web.Request,
    chunks: AsyncIterator[AnswerChunk],
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
                note_usage(rec, chunk["usage"])
            await response.write(frame(chunk))
    except AoaError as exc:
        if isinstance(exc, UpstreamError):  # the upstream's own words (an error event)
            exc = redacted(exc, keys)
        rec.error = exc.message
        await response.write(frame(exc.payload()))
        return response
    except FAULTS as exc:
        err = failure(exc, label, Stage.TRANSLATED_STREAM)
        rec.error = "stream stalled" if isinstance(exc, asyncio.TimeoutError) else "stream cut"
        await response.write(frame(err.payload()))
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


def note_usage(rec: RequestRecord, usage: Any) -> None:
    """Token counts from an answer's usage: chat's names, or Responses'/Anthropic's."""
    if not isinstance(usage, dict):
        return
    get = usage.get
    prompt, completion = get("prompt_tokens"), get("completion_tokens")
    if prompt is None and completion is None:  # Responses and Messages: input/output
        prompt, completion = get("input_tokens"), get("output_tokens")
    rec.prompt_tokens = prompt if isinstance(prompt, int) else None
    rec.completion_tokens = completion if isinstance(completion, int) else None
    details = get("prompt_tokens_details") or get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = get("cache_read_input_tokens")
    rec.cached_tokens = cached if isinstance(cached, int) else None
    details = get("completion_tokens_details") or get("output_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    rec.reasoning_tokens = reasoning if isinstance(reasoning, int) else None


def _note_stream_usage(rec: RequestRecord, tail: bytes) -> None:
    """The include_usage chunk sits just before [DONE] (Responses: inside response.completed,
    whose start may be past the tail): read the last usage object from the stream's tail, never
    the whole stream."""
    at = tail.rfind(b'"usage":')
    if at < 0:
        return
    start = at + 8
    while start < len(tail) and tail[start] in b" \t":  # some servers write `"usage": {`
        start += 1
    if tail[start : start + 1] != b"{":
        return
    depth = 0
    for end in range(start, len(tail)):  # usage holds numbers and small objects: no strings
        byte = tail[end]
        if byte == 0x7B:  # {
            depth += 1
        elif byte == 0x7D:  # }
            depth -= 1
            if depth == 0:
                with contextlib.suppress(orjson.JSONDecodeError):
                    note_usage(rec, orjson.loads(tail[start : end + 1]))
                return
