"""Fake upstreams on loopback: they record exactly what they receive and misbehave on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[web.Request, Received], Awaitable[web.StreamResponse]]


def chat_completion(content: str = "Hello!", model: str = "gpt-4o", **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake1",
        "object": "chat.completion",
        "created": 1718000000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        **extra,
    }


def chat_chunks(
    pieces: list[str], model: str = "gpt-4o", usage: bool = False
) -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-fake2",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": model,
    }
    out = [
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        }
    ]
    out += [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"content": p}, "logprobs": None, "finish_reason": None}
            ],
        }
        for p in pieces
    ]
    out.append(
        {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}
    )
    if usage:
        out.append(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": len(pieces),
                    "total_tokens": 5 + len(pieces),
                },
            }
        )
    return out


_Server = TypeVar("_Server", bound="RecordingServer")


@dataclass
class RecordingServer:
    """A server on 127.0.0.1 that records every request; subclasses answer in `handle`."""

    received: list[Received] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def last(self) -> Received:
        return self.received[-1]

    async def start(self: _Server) -> _Server:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        rec = Received(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        self.received.append(rec)
        return await self.handle(request, rec)

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        raise NotImplementedError


@dataclass
class FakeUpstream(RecordingServer):
    """An OpenAI-shaped upstream. Set `responder` to change what it answers."""

    responder: Responder | None = None

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if self.responder is not None:
            return await self.responder(request, rec)
        return await self.default(request, rec)

    async def default(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "GET" and request.path.endswith("/models"):
            return web.json_response(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": "upstream-model",
                            "object": "model",
                            "created": 1,
                            "owned_by": "fake",
                        }
                    ],
                }
            )
        if request.method == "GET" and request.path.endswith("/openai/deployments"):
            return web.json_response(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": "gpt35",
                            "model": "gpt-35-turbo",
                            "owner": "organization-owner",
                            "object": "deployment",
                            "created_at": 1677000000,
                            "status": "succeeded",
                        }
                    ],
                }
            )
        body = rec.json if rec.body else {}
        if request.path.endswith("/embeddings"):
            return web.json_response(
                {
                    "object": "list",
                    "model": body.get("model", "emb"),
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                    "usage": {"prompt_tokens": 2, "total_tokens": 2},
                }
            )
        if request.path.endswith("/completions") and "prompt" in body:
            return web.json_response(
                {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "created": 1718000000,
                    "model": body.get("model", "x"),
                    "choices": [
                        {"text": "done", "index": 0, "logprobs": None, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await sse(request, chat_chunks(["Hel", "lo"], usage=usage))
        return web.json_response(
            chat_completion(model=body.get("model", "gpt-4o")),
            headers={"x-request-id": "req-123", "x-ratelimit-remaining-requests": "99"},
        )


async def sse(
    request: web.Request, events: list[Any], gap: float = 0.0, done: bool = True, status: int = 200
) -> web.StreamResponse:
    """Send `events` as SSE frames, `gap` seconds apart."""
    resp = web.StreamResponse(status=status, headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for i, event in enumerate(events):
        if gap and i:
            await asyncio.sleep(gap)
        payload = event if isinstance(event, str) else json.dumps(event)
        await resp.write(f"data: {payload}\n\n".encode())
    if done:
        await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp
