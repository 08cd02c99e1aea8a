"""A fast fake upstream on loopback: Azure/OpenAI-style and Gemini-style JSON and SSE.

Written on a bare asyncio Protocol (uvloop when present) with canned answers, so one core serves
far more requests than any proxy in front of it: the benchmark's "direct" column measures it.

Routing is by path and body, never by configuration of the proxy in front:
- GET anything                          -> 200 {"status":"ok"}
- POST path with ":streamGenerateContent" -> Gemini SSE (\\r\\n\\r\\n separated, no [DONE])
- POST path with ":generateContent"       -> Gemini JSON
- POST with "stream": true in the body     -> OpenAI SSE chunks, then [DONE]
- POST path ending in "/responses"          -> an OpenAI Response (native Responses upstream)
- POST path ending in "/messages"           -> an Anthropic Message (native Messages upstream)
- any other POST                           -> an OpenAI chat.completion

Every streamed chunk's text is `ts:<CLOCK_MONOTONIC ns>` taken as it is written, so a client on the
same machine can tell how long each chunk spent in the proxy. Chunk count and gap are set at start.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from typing import cast

_STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')

_OPENAI_JSON = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,'
    b'"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"Hello from the mock upstream."},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}'
)
_GEMINI_JSON = (
    b'{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from the mock upstream."}]'
    b'},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,'
    b'"candidatesTokenCount":7,"totalTokenCount":16},"modelVersion":"gemini-2.0-flash",'
    b'"responseId":"bench"}'
)
_RESPONSE_JSON = (
    b'{"id":"resp_bench","object":"response","created_at":1700000000,"status":"completed",'
    b'"model":"gpt-4o-mini","output":[{"type":"message","id":"msg_bench","status":"completed",'
    b'"role":"assistant","content":[{"type":"output_text","text":"Hello from the mock upstream.",'
    b'"annotations":[]}]}],"usage":{"input_tokens":9,"output_tokens":7,"total_tokens":16}}'
)
_MESSAGE_JSON = (
    b'{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5",'
    b'"content":[{"type":"text","text":"Hello from the mock upstream."}],"stop_reason":"end_turn",'
    b'"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":7}}'
)
_HEALTH_JSON = b'{"status":"ok"}'


def _whole(body: bytes, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_RESP_OPENAI = _whole(_OPENAI_JSON)
_RESP_GEMINI = _whole(_GEMINI_JSON)
_RESP_RESPONSE = _whole(_RESPONSE_JSON)
_RESP_MESSAGE = _whole(_MESSAGE_JSON)
_RESP_HEALTH = _whole(_HEALTH_JSON)
_RESP_BAD = _whole(b'{"error":{"message":"bad request"}}', b"400 Bad Request")
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _chunked(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying `payload`."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def openai_event(text: str, first: bool) -> bytes:
    role = b'"role":"assistant",' if first else b""
    return (
        b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
        b'"model":"gpt-4o-mini","choices":[{"index":0,"delta":{'
        + role
        + b'"content":"'
        + text.encode()
        + b'"},"finish_reason":null}]}\n\n'
    )


_OPENAI_END = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def gemini_event(text: str, last: bool) -> bytes:
    finish = b',"finishReason":"STOP"' if last else b""
    return (
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"'
        + text.encode()
        + b'"}]}'
        + finish
        + b',"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,'
        b'"totalTokenCount":10},"modelVersion":"gemini-2.0-flash","responseId":"bench"}\r\n\r\n'
    )


class MockProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies; enough for wrk, aiohttp, httpx and nginx."""

    def __init__(self, chunks: int, gap: float) -> None:
        self.chunks, self.gap = chunks, gap
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.streaming = False
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but have the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.streaming:
            self._serve()

    def _serve(self) -> None:
        while self.transport is not None and not self.streaming:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            lower = head.lower()
            length = 0
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                length = int(lower[at + 17 : stop if stop > 0 else len(lower)])
            elif b"\r\ntransfer-encoding:" in lower:
                self.transport.write(_RESP_BAD)
                self.transport.close()
                return
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.close_after = b"\r\nconnection: close" in lower
            self._answer(head, body)
            if self.close_after and not self.streaming and self.transport is not None:
                self.transport.close()

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        if not line.startswith(b"POST "):
            self.transport.write(_RESP_HEALTH)
            return
        path = line.split(b" ", 2)[1]
        if b":streamGenerateContent" in path:
            self._start_stream(gemini=True)
        elif b":generateContent" in path:
            self.transport.write(_RESP_GEMINI)
        elif path.endswith(b"/responses"):
            self.transport.write(_RESP_RESPONSE)
        elif path.endswith(b"/messages"):
            self.transport.write(_RESP_MESSAGE)
        elif _STREAM_FLAG.search(body):
            self._start_stream(gemini=False)
        else:
            self.transport.write(_RESP_OPENAI)

    def _start_stream(self, gemini: bool) -> None:
        assert self.transport is not None
        self.streaming = True
        self.transport.write(_SSE_HEAD)
        asyncio.get_running_loop().create_task(self._stream(gemini))

    async def _stream(self, gemini: bool) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(self.chunks):
            if i:  # keep to the schedule even when a write or wake-up was late
                await asyncio.sleep(max(0.0, start + i * self.gap - loop.time()))
            if self.transport is None:
                return
            text = f"ts:{time.monotonic_ns()}"
            last = i == self.chunks - 1
            event = gemini_event(text, last) if gemini else openai_event(text, i == 0)
            if last and not gemini:
                event += _OPENAI_END
            self.transport.write(_chunked(event))
        if self.transport is None:
            return
        self.transport.write(b"0\r\n\r\n")
        self.streaming = False
        if self.close_after:
            self.transport.close()
        elif self.buf:
            self._serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fast fake Azure/Gemini upstream for bench/")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="time between chunks")
    args = parser.parse_args(argv)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: MockProtocol(args.chunks, args.gap_ms / 1000),
            args.host,
            args.port,
            backlog=1024,
        )
        async with server:
            await server.serve_forever()

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())


if __name__ == "__main__":
    main()
