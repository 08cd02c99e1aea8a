"""A fake Anthropic API on loopback that checks requests the way Anthropic does.

POST /v1/messages refuses a body Anthropic would refuse (tests/anthropic/support.py
`anthropic_rules`: the SDK's request types, alternation, tool_result placement, thinking
limits) with Anthropic's 400, and a bad key with its 401; otherwise it answers from `reply`
(request body -> a Message), as a Message or, for `stream: true`, as the SSE events that carry
it. `raw` / `raw_stream` send exact bytes instead (the native pass-through tests compare them);
`error` answers with an Anthropic error. GET /v1/models serves two pages; count_tokens counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from aoa_proxy.providers.anthropic import message_events
from tests.anthropic.support import anthropic_rules
from tests.fakes import Received, RecordingServer

GOOD_KEYS = {"server-key", "client-anthropic-key"}
MODELS = [
    {"type": "model", "id": "claude-opus-4-6", "display_name": "Claude Opus 4.6",
     "created_at": "2026-02-05T00:00:00Z"},
    {"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
     "created_at": "2025-09-29T00:00:00Z"},
    {"type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5",
     "created_at": "2025-10-01T00:00:00Z"},
]  # fmt: skip


def message(
    blocks: list[dict[str, Any]] | None = None,
    *,
    stop: str = "end_turn",
    model: str = "claude-sonnet-4-5",
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    """An Anthropic Message (text "Hello from Claude" unless `blocks` are given)."""
    return {
        "id": "msg_fake1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks
        if blocks is not None
        else [{"type": "text", "text": "Hello from Claude"}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 11, "output_tokens": 4},
    }


def error_body(kind: str, text: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_up1"}


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    """Events framed as Anthropic frames them: `event:` line, `data:` line, blank line."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


@dataclass
class FakeAnthropic(RecordingServer):
    reply: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: message()
    raw: bytes | None = None  # a whole answer sent byte for byte
    raw_stream: list[bytes] | None = None  # stream pieces sent byte for byte
    hold: asyncio.Event | None = None  # raw_stream waits for it after its first piece
    error: tuple[int, dict[str, Any], dict[str, str]] | None = None
    problems: list[str] = field(default_factory=list)  # why requests were refused
    keys: set[str] = field(default_factory=lambda: set(GOOD_KEYS))  # the keys it accepts
    strict: bool = True  # check bodies with anthropic_rules (off for beta-only shapes)

    @property
    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if request.headers.get("x-api-key") not in self.keys:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        if request.method == "GET" and request.path == "/v1/models":
            return _models(request)
        if request.method != "POST" or request.path not in (
            "/v1/messages",
            "/v1/messages/count_tokens",
        ):
            return _error(404, "not_found_error", f"no route {request.path}")
        if self.error is not None:
            status, body, headers = self.error
            headers = {"request-id": "req_up1", **headers}
            return web.json_response(body, status=status, headers=headers)
        body = json.loads(rec.body)
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": 42})
        try:
            if self.strict:
                anthropic_rules(body)
        except (AssertionError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            self.problems.append(str(exc))
            return _error(400, "invalid_request_error", str(exc)[:500])
        headers = {"request-id": "req_up1", "anthropic-ratelimit-requests-remaining": "99"}
        if body.get("stream"):
            return await self._stream(request, body, headers)
        if self.raw is not None:
            return web.Response(body=self.raw, content_type="application/json", headers=headers)
        return web.json_response(self.reply(body), headers=headers)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], headers: dict[str, str]
    ) -> web.StreamResponse:
        pieces = self.raw_stream or [sse_bytes(message_events(self.reply(body)))]
        response = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for i, piece in enumerate(pieces):
            await response.write(piece)
            if i == 0 and self.hold is not None:
                await self.hold.wait()
        await response.write_eof()
        return response


def _error(status: int, kind: str, text: str) -> web.Response:
    return web.json_response(
        error_body(kind, text), status=status, headers={"request-id": "req_up1"}
    )


def _models(request: web.Request) -> web.Response:
    """Two pages: the first model, then the rest (after_id), as Anthropic pages its list."""
    after = request.query.get("after_id")
    page = MODELS[:1] if after is None else MODELS[1:]
    return web.json_response(
        {
            "data": page,
            "has_more": after is None,
            "first_id": page[0]["id"],
            "last_id": page[-1]["id"],
        }
    )
