"""Server-sent events: the frames we write, and the one parser for upstream streams.

EventParser reads the SSE wire format; EventGate (relays whole events, bytes unchanged) and
iter_data (yields each event's data to a translator) are built on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

from aoa_proxy.jsonutil import dumps

DONE = b"data: [DONE]\n\n"


class ByteStream(Protocol):
    def iter_any(self) -> AsyncIterator[bytes]: ...


def frame(obj: Any) -> bytes:
    """One `data: <json>` event."""
    return b"data: " + dumps(obj) + b"\n\n"


async def iter_data(stream: ByteStream) -> AsyncIterator[bytes]:
    """Yield the `data` of each event as soon as its blank line arrives.

    A last event without its blank line is still yielded at EOF (some servers close right after
    the final event). Lines that are no SSE field at all (an upstream that gives up mid-stream
    and prints a bare, pretty-printed JSON error) are kept and yielded together at EOF, so the
    error's message is not lost.
    """
    events = _DataQueue()
    async for chunk in stream.iter_any():
        events.feed(chunk)
        if events.ready:
            for data in events.ready:
                yield data
            events.ready.clear()
    events.finish()
    for data in events.ready:
        yield data
    if events.stray:
        yield b"\n".join(events.stray)


# Field names other than `data`: such lines are SSE and skipped; any other line is stray text.
_FIELDS = (b":", b"event:", b"id:", b"retry:", b"event", b"id", b"retry")


class EventParser:
    """The one SSE parser: an event's `data:` lines joined with "\\n", ended by a blank line.

    Comments, `event:`, `id:` and `retry:` lines are skipped; CRLF and LF both end a line; a
    line may be any length. `_parse` hands each finished event's data to `event`, which a
    subclass defines; the bytes stay in `_buf` until the subclass takes or drops them.
    """

    def __init__(self, *, keep_stray: bool = False) -> None:
        self._buf = bytearray()
        self._scan = 0  # start of the next unread line in _buf
        self._data: list[bytes] = []  # data lines of the event being read
        self.stray: list[bytes] | None = [] if keep_stray else None  # lines that are no field

    def event(self, data: bytes) -> bool:
        """One event's data (may be empty); False stops the parse before this event."""
        raise NotImplementedError

    def _parse(self, chunk: bytes, cut: int = 0) -> int:
        """Add `chunk` and read its whole lines; the end of the last accepted event in `_buf`."""
        buf = self._buf
        buf += chunk
        while (nl := buf.find(b"\n", self._scan)) >= 0:
            line = bytes(buf[self._scan : nl]).rstrip(b"\r")
            self._scan = nl + 1
            if line:
                if line.startswith(b"data:"):
                    value = line[5:]
                    self._data.append(value[1:] if value.startswith(b" ") else value)
                elif self.stray is not None and not line.startswith(_FIELDS):
                    self.stray.append(line)
                continue
            if self._data:
                data, self._data = b"\n".join(self._data), []
                if not self.event(data):
                    return cut
            cut = self._scan
        return cut

    def _close(self) -> int:
        """At the end of the stream: a last line without its newline, and a last event without
        its blank line, still count."""
        cut = self._parse(b"\n") if self._scan < len(self._buf) else 0
        if self._data:  # never after a refused event: that cleared _data
            cut = self._parse(b"\n", cut)
        return cut

    def _drop(self, cut: int) -> bytes:
        """Remove and return the first `cut` bytes of the buffer."""
        out = bytes(self._buf[:cut])
        del self._buf[:cut]
        self._scan -= cut
        return out


class _DataQueue(EventParser):
    """Collects event data for iter_data."""

    def __init__(self) -> None:
        super().__init__(keep_stray=True)
        self.ready: list[bytes] = []

    def event(self, data: bytes) -> bool:
        self.ready.append(data)
        return True

    def feed(self, chunk: bytes) -> None:
        self._parse(chunk)
        del self._buf[: self._scan]  # every whole line is read: keep only the unfinished one
        self._scan = 0

    def finish(self) -> None:
        self._close()


class EventGate(EventParser):
    """Relays an SSE byte stream one whole event at a time, checking each event's data.

    Bytes pass through unchanged, but only up to the end of the last complete event, so a
    stream cut mid-event never hands the client half an event (which its JSON parser would
    choke on before it could see our error event). `feed` returns (bytes to forward, problem).
    """

    def __init__(self) -> None:
        super().__init__()
        self.done = False  # saw data: [DONE]
        self.tail = b""  # the last bytes forwarded (usage sits just before [DONE])
        self.problem: str | None = None

    def feed(self, chunk: bytes) -> tuple[bytes, str | None]:
        return self._take(self._parse(chunk)), self.problem

    def finish(self) -> tuple[bytes, str | None]:
        """At the end of the upstream: a last event without its blank line still counts."""
        return self._take(self._close()), self.problem

    def event(self, data: bytes) -> bool:
        if not data or self.done:
            return True
        if data == b"[DONE]":
            self.done = True
            return True
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            self.problem = "The upstream sent a stream event that is not JSON"
            return False
        return True

    def _take(self, cut: int) -> bytes:
        if not cut:
            return b""
        out = self._drop(cut)
        self.tail = (self.tail + out)[-4096:]
        return out
