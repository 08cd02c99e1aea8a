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
RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
# An Anthropic Messages stream ends with message_stop, or with an error event.
MESSAGES_TERMINAL = frozenset({"message_stop", "error"})


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
    line may be any length. A subclass defines `event` (each finished event's data) and
    `_release` (what to do with the bytes read so far); `feed` and `finish` return the latter.
    """

    def __init__(self, *, keep_stray: bool = False) -> None:
        self._buf = bytearray()
        self._scan = 0  # start of the next unread line in _buf
        self._data: list[bytes] = []  # data lines of the event being read
        self.stray: list[bytes] | None = [] if keep_stray else None  # lines that are no field

    def event(self, data: bytes) -> bool:
        """One event's data (may be empty); False stops the parse before this event."""
        raise NotImplementedError

    def _release(self, cut: int) -> bytes:
        """`_buf[:cut]` holds whole accepted events only, and is no longer needed."""
        raise NotImplementedError

    def feed(self, chunk: bytes) -> bytes:
        """Read `chunk`'s whole lines."""
        buf = self._buf
        buf += chunk
        cut = 0
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
                    break
            cut = self._scan
        return self._release(cut)

    def finish(self) -> bytes:
        """At the end of the stream: a last line without its newline, and a last event without
        its blank line, still count."""
        out = self.feed(b"\n") if self._scan < len(self._buf) else b""
        if self._data:  # never after a refused event: that cleared _data
            out += self.feed(b"\n")
        return out


class _DataQueue(EventParser):
    """Collects event data for iter_data."""

    def __init__(self) -> None:
        super().__init__(keep_stray=True)
        self.ready: list[bytes] = []

    def event(self, data: bytes) -> bool:
        self.ready.append(data)
        return True

    def _release(self, cut: int) -> bytes:
        del self._buf[: self._scan]  # every whole line is read: keep only the unfinished one
        self._scan = 0
        return b""


class EventGate(EventParser):
    """Relays an SSE byte stream one whole event at a time, checking each event's data.

    Bytes pass through unchanged, but only up to the end of the last complete event, so a
    stream cut mid-event never hands the client half an event (which its JSON parser would
    choke on before it could see our error event). `feed` and `finish` return the bytes to
    forward; once `problem` is set, nothing after it is forwarded.
    """

    def __init__(self, terminal: frozenset[str] = RESPONSES_TERMINAL) -> None:
        super().__init__()
        self.terminal = terminal  # event types that end a stream without [DONE]
        self.done = False  # saw data: [DONE] (or a terminal event)
        self.tail = b""  # the last bytes forwarded (usage sits just before [DONE])
        self.problem: str | None = None

    def event(self, data: bytes) -> bool:
        if not data or self.done:
            return True
        if data == b"[DONE]":
            self.done = True
            return True
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.problem = "The upstream sent a stream event that is not JSON"
            return False
        # Responses and Messages streams have no [DONE]: their terminal event ends them.
        if isinstance(obj, dict) and obj.get("type") in self.terminal:
            self.done = True
        return True

    def _release(self, cut: int) -> bytes:
        if not cut:
            return b""
        out = bytes(self._buf[:cut])
        del self._buf[:cut]
        self._scan -= cut
        self.tail = (self.tail + out)[-4096:]
        return out
