"""Chat streams as chunk objects, for the doors that bridge a chat answer into another dialect
(Responses, Anthropic Messages): one parser for a pass-through chat stream and one way to see a
whole answer as the stream it would have been, so every bridged door reads chat the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from aoa_proxy.errors import UpstreamUnreachable


async def parse_chat_stream(events: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """A chat upstream's SSE `data:` payloads as chunk objects, up to [DONE]. A stream that
    ends before [DONE] was cut: that raises, so the door ends its own stream as failed rather
    than passing a truncated answer off as complete."""
    async for data in events:
        payload = data.strip()
        if payload == b"[DONE]":
            return
        if not payload:
            continue
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamUnreachable("The upstream sent a stream event that is not JSON") from None
        if isinstance(chunk, dict):
            yield chunk
    raise UpstreamUnreachable("The upstream stream ended before [DONE]")


async def one_event(data: bytes) -> AsyncIterator[bytes]:
    """A whole answer as the single event a translator's stream reader expects."""
    yield data


async def answer_as_chunks(completion: Any) -> AsyncIterator[dict[str, Any]]:
    """A whole chat answer as one chunk: each message becomes its choice's delta (tool calls
    numbered as a stream numbers them), usage rides along. An answer without a finish_reason
    is taken as finished (`stop`): a whole answer cannot have been cut."""
    if not isinstance(completion, Mapping):
        raise UpstreamUnreachable("The upstream sent an answer that is no chat answer")
    choices = []
    for choice in completion.get("choices") or []:
        if not isinstance(choice, Mapping):
            continue
        delta = dict(choice.get("message") or {})
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            delta["tool_calls"] = [
                {**c, "index": i} for i, c in enumerate(calls) if isinstance(c, Mapping)
            ]
        choices.append(
            {**choice, "delta": delta, "finish_reason": choice.get("finish_reason") or "stop"}
        )
    yield {**completion, "choices": choices}
