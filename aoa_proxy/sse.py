"""Server-sent events: frames we write and a parser for upstream streams (no line-length limit)."""

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

    Multi-line data fields are joined with "\\n" as the SSE spec says; comments, `event:` and
    `id:` lines are skipped; CRLF and LF line ends both work. A last event without its blank line
    is still yielded at EOF (some servers close right after the final event). Lines that are no
    SSE field at all (an upstream that gives up mid-stream and prints a bare, pretty-printed JSON
    error) are kept and yielded together at EOF, so the error's message is not lost.
    """
    buffer = b""
    data: list[bytes] = []
    stray: list[bytes] = []
    async for chunk in stream.iter_any():
        buffer += chunk
        while True:
            nl = buffer.find(b"\n")
            if nl < 0:
                break
            line = buffer[:nl].rstrip(b"\r")
            buffer = buffer[nl + 1 :]
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif not line.startswith(_FIELDS):
                stray.append(line)
    tail = buffer.rstrip(b"\r")
    if tail.startswith(b"data:"):
        value = tail[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    elif tail and not tail.startswith(_FIELDS):
        stray.append(tail)
    if data:
        yield b"\n".join(data)
    if stray:
        yield b"\n".join(stray)


_FIELDS = (b":", b"event:", b"id:", b"retry:", b"event", b"id", b"retry")


class EventGate:
    """Relays an SSE byte stream one whole event at a time, checking each event's data.

    Bytes pass through unchanged, but only up to the end of the last complete event, so a
    stream cut mid-event never hands the client half an event (which its JSON parser would
    choke on before it could see our error event). `feed` returns (bytes to forward, problem).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # start of the next unread line in _buf
        self._data: list[bytes] = []  # data lines of the event being read
        self.done = False  # saw data: [DONE]
        self.tail = b""  # the last bytes forwarded (usage sits just before [DONE])

    def feed(self, chunk: bytes) -> tuple[bytes, str | None]:
        self._buf += chunk
        cut = 0
        while (nl := self._buf.find(b"\n", self._scan)) >= 0:
            line = bytes(self._buf[self._scan : nl]).rstrip(b"\r")
            self._scan = nl + 1
            if line:
                if line.startswith(b"data:"):
                    value = line[5:]
                    self._data.append(value[1:] if value.startswith(b" ") else value)
                continue
            problem = self._event_done()
            if problem:
                return self._take(cut), problem
            cut = self._scan
        return self._take(cut), None

    def finish(self) -> tuple[bytes, str | None]:
        """At the end of the upstream: a last event without its blank line still counts."""
        out, problem = b"", None
        if self._scan < len(self._buf):
            out, problem = self.feed(b"\n")
        if self._data and not problem:
            more, problem = self.feed(b"\n")
            out += more
        return out, problem

    def _event_done(self) -> str | None:
        data, self._data = b"\n".join(self._data), []
        if not data or self.done:
            return None
        if data == b"[DONE]":
            self.done = True
            return None
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            return "The upstream sent a stream event that is not JSON"
        return None

    def _take(self, cut: int) -> bytes:
        out = bytes(self._buf[:cut])
        del self._buf[:cut]
        self._scan -= cut
        if out:
            self.tail = (self.tail + out)[-4096:]
        return out
