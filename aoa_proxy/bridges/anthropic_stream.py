"""Anthropic Messages stream events -> chat stream chunks, one state machine per request.

Wire reference: https://docs.anthropic.com/en/docs/build-with-claude/streaming. Text and
thinking go out as they arrive (`content`, `reasoning_content`); a tool call goes out whole, in
one chunk, when its block stops, as aoa's other translated streams send calls (so a client
never holds half a JSON object). The route adds `data: [DONE]`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aoa_proxy.bridges.anthropic_request import JSON_TOOL, AnthropicCall
from aoa_proxy.bridges.anthropic_response import (
    ReasoningDelta,
    chat_usage,
    error_from_event,
    finish_reason,
    remember_thinking,
    tool_call,
)
from aoa_proxy.bridges.messages_response import tool_input
from aoa_proxy.errors import UpstreamUnreachable
from aoa_proxy.schema import ChatCompletionChunk, ChunkChoice, Delta, Usage


@dataclass
class _Block:
    type: str
    start: dict[str, Any]
    text: list[str] = field(default_factory=list)  # thinking text or tool input JSON
    signature: str = ""


class ChatStream:
    """Turns one Anthropic event stream into chat chunks: `feed`* then `finish`.

    `feed(event)` takes one parsed `data:` payload and returns the chunks it makes; an `error`
    event raises its UpstreamError (the route ends the client's stream with it). `finish()`
    gives the closing usage chunk (when the client asked for usage) and raises if the
    upstream stopped before message_delta said why it ended.
    """

    def __init__(self, call: AnthropicCall) -> None:
        self.call = call
        self.id = "chatcmpl-anthropic"
        self.created = int(time.time())
        self._blocks: dict[int, _Block] = {}
        self._done_blocks: list[dict[str, Any]] = []  # for the thinking cache
        self._tools = 0  # tool calls sent so far (their chat index)
        self._usage: dict[str, Any] = {}
        self._finished = False

    def feed(self, event: Any) -> list[ChatCompletionChunk]:
        if not isinstance(event, Mapping):
            raise UpstreamUnreachable("Anthropic sent a stream event that is not a JSON object")
        kind = event.get("type")
        if kind == "error":
            raise error_from_event(event)
        if kind == "message_start":
            return self._start(event.get("message"))
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_delta":
            return self._message_delta(event)
        return []  # ping, message_stop and event types added later

    def finish(self) -> list[ChatCompletionChunk]:
        if not self._finished:
            raise UpstreamUnreachable("Anthropic's stream ended before the answer was complete")
        remember_thinking(self.call, self._done_blocks)
        if not self.call.include_usage:
            return []
        return [self._chunk([], chat_usage(self._usage))]

    # ------------------------------------------------------------------- events

    def _start(self, message: Any) -> list[ChatCompletionChunk]:
        if isinstance(message, Mapping):
            if isinstance(message.get("id"), str):
                self.id = f"chatcmpl-{message['id']}"
            if isinstance(message.get("usage"), Mapping):
                self._usage.update(message["usage"])
        return [self._delta({"role": "assistant", "content": ""})]

    def _block_start(self, event: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        block = event.get("content_block")
        block = dict(block) if isinstance(block, Mapping) else {}
        index = event.get("index")
        state = _Block(str(block.get("type", "")), block)
        self._blocks[index if isinstance(index, int) else len(self._blocks)] = state
        if state.type == "text" and isinstance(block.get("text"), str) and block["text"]:
            return [self._delta({"content": block["text"]})]
        if state.type == "thinking" and isinstance(block.get("thinking"), str):
            state.text.append(block["thinking"])
        return []

    def _block_delta(self, event: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        index = event.get("index")
        state = self._blocks.get(index) if isinstance(index, int) else None
        delta = event.get("delta")
        if state is None or not isinstance(delta, Mapping):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            return [self._delta({"content": delta["text"]})]
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            state.text.append(delta["thinking"])
            reasoning: ReasoningDelta = {"reasoning_content": delta["thinking"]}
            return [self._delta(reasoning)] if delta["thinking"] else []
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            state.signature += delta["signature"]
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            piece = delta["partial_json"]
            state.text.append(piece)
            if self._is_json_tool(state) and piece:
                return [self._delta({"content": piece})]  # the forced tool's input is the answer
        return []

    def _block_stop(self, event: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        index = event.get("index")
        state = self._blocks.pop(index, None) if isinstance(index, int) else None
        if state is None:
            return []
        if state.type == "thinking":
            thinking = "".join(state.text) or str(state.start.get("thinking", ""))
            self._done_blocks.append(
                {"type": "thinking", "thinking": thinking, "signature": state.signature}
            )
        elif state.type == "redacted_thinking":
            self._done_blocks.append(state.start)
        elif state.type == "tool_use" and not self._is_json_tool(state):
            block = {**state.start, "input": tool_input("".join(state.text))}
            self._done_blocks.append(block)
            call = tool_call(block)
            index, self._tools = self._tools, self._tools + 1
            if self.call.legacy:
                if index == 0:  # the legacy format has room for one call only
                    return [self._delta({"function_call": {**call["function"]}})]
                return []
            return [self._delta({"tool_calls": [{"index": index, **call}]})]
        return []

    def _message_delta(self, event: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        if isinstance(event.get("usage"), Mapping):
            self._usage.update(event["usage"])  # cumulative: later counts replace earlier ones
        delta = event.get("delta")
        stop = delta.get("stop_reason") if isinstance(delta, Mapping) else None
        if stop is None:
            return []
        self._finished = True
        reason = finish_reason(stop, self.call)
        if self.call.legacy and reason == "tool_calls":
            reason = "function_call"
        choice: ChunkChoice = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}
        return [self._chunk([choice])]

    # ------------------------------------------------------------------- chunks

    def _is_json_tool(self, state: _Block) -> bool:
        return self.call.json_tool and state.start.get("name") == JSON_TOOL

    def _delta(self, delta: Delta) -> ChatCompletionChunk:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

    def _chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
        chunk: ChatCompletionChunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.call.model,
            "choices": choices,
        }
        if self.call.include_usage:
            chunk["usage"] = usage
        return chunk
