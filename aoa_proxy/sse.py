"""Server-sent events: frames we write and a parser for upstream streams (no line-length limit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from aoa_proxy.providers.base import dumps

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
    is still yielded at EOF (some servers close right after the final event).
    """
    buffer = b""
    data: list[bytes] = []
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
    tail = buffer.rstrip(b"\r")
    if tail.startswith(b"data:"):
        value = tail[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)
