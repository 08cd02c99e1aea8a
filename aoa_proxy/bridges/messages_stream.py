"""Chat stream chunks -> Anthropic Messages stream events, one state machine per request.

Wire reference: https://docs.anthropic.com/en/docs/build-with-claude/streaming. Every event is
a dict whose `type` is its SSE event name; `encode_event` frames it. Order: message_start, then
per block (indexes from 0, one block open at a time) content_block_start, its deltas and
content_block_stop, then message_delta and message_stop; `ping` may come anywhere.

Blocks follow the chat deltas: reasoning -> a thinking block, content -> a text block, each tool
call -> its own tool_use block. Anthropic blocks cannot interleave, but chat's parallel tool
calls may (fragments of call 0 after call 1 began), so only the first call streams live; later
calls are kept and sent whole (start, one input_json_delta, stop) when the upstream ends, as is
any text or reasoning that arrives after the first call began. Nothing is lost or reordered
within a block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aoa_proxy.bridges.messages_request import MessagesCall
from aoa_proxy.bridges.messages_response import (
    error_event,
    message_usage,
    new_message_id,
    new_tool_id,
    reasoning_text,
    stop_reason,
)
from aoa_proxy.errors import UpstreamError, UpstreamUnreachable
from aoa_proxy.providers.base import dumps

Event = dict[str, Any]

_START_BLOCKS: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}
_DELTAS = {"text": ("text_delta", "text"), "thinking": ("thinking_delta", "thinking")}


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One SSE frame: `event: <type>` (clients dispatch on it) and `data: <json>`."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + dumps(event) + b"\n\n"


@dataclass
class _Tool:
    id: str = ""
    name: str = ""
    args: list[str] = field(default_factory=list)


class MessagesStream:
    """Turns one chat stream into Messages events: `start`, `feed`* then `finish` or `fail`.

    `start()` gives message_start (call it as soon as the answer begins; `feed` calls it too).
    `feed(chunk)` takes one parsed chat chunk; an `{"error": ...}` chunk ends the stream with
    an error event. `finish()` closes the message at the upstream's `[DONE]` or end; `fail()`
    ends it with an `error` event instead. After either, every call returns []. `ping()` is a
    keep-alive for the caller to send while nothing else goes out.
    """

    def __init__(self, call: MessagesCall) -> None:
        self.call = call
        self.id = new_message_id()
        self.started = False
        self.done = False
        self._index = 0  # index of the next block
        self._open: str | None = None  # kind of the open block: text, thinking, tool
        self._tools: dict[int, _Tool] = {}  # chat tool-call index -> call
        self._live: int | None = None  # the call streaming live (always the first)
        self._tail: list[tuple[str, str]] = []  # text/reasoning after the live call began
        self._finish: str | None = None
        self._matched: Any = None  # vLLM/SGLang's matched stop sequence
        self._refusal = ""
        self._text_seen = False
        self._usage: Any = None

    def start(self) -> list[Event]:
        if self.started or self.done:
            return []
        self.started = True
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.call.input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return [{"type": "message_start", "message": message}]

    def ping(self) -> Event:
        return {"type": "ping"}

    def feed(self, chunk: Any) -> list[Event]:
        if self.done:
            return []
        if not isinstance(chunk, Mapping):
            return self.fail(
                UpstreamUnreachable("The provider sent a stream chunk that is not JSON")
            )
        if isinstance(chunk.get("error"), Mapping):
            return self.fail(_chunk_error(chunk["error"]))
        out = self.start()
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                out += self._choice(choice)
        return out

    def finish(self) -> list[Event]:
        if self.done:
            return []
        out = self.start()
        out += self._close()
        for k, tool in self._tools.items():
            if k != self._live:
                out += self._tool_start(tool)
                if tool.args:
                    out.append(self._delta("input_json_delta", "partial_json", "".join(tool.args)))
                out += self._close()
        for kind, text in _merged(self._tail):
            out += self._open_block(kind)
            out.append(self._delta(*_DELTAS[kind], text))
            out += self._close()
        reason, sequence = stop_reason(
            {"finish_reason": self._finish, "stop_reason": self._matched},
            self.call,
            bool(self._tools),
        )
        if reason == "end_turn" and self._refusal and not self._text_seen:
            reason = "refusal"
        usage = message_usage(self._usage, self.call.input_tokens)
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": sequence},
                "usage": usage,
            }
        )
        out.append({"type": "message_stop"})
        self.done = True
        return out

    def fail(self, error: BaseException) -> list[Event]:
        """The `error` event that ends the stream (Anthropic sends no block stops before it)."""
        if self.done:
            return []
        self.done = True
        return [error_event(error)]

    # ------------------------------------------------------------------- one choice

    def _choice(self, choice: Mapping[str, Any]) -> list[Event]:
        out: list[Event] = []
        delta = choice.get("delta")
        delta = delta if isinstance(delta, Mapping) else {}
        thinking = reasoning_text(delta)
        if thinking:
            out += self._prose("thinking", thinking)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text_seen = True
            out += self._prose("text", content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refusal += refusal
            out += self._prose("text", refusal)
        calls = delta.get("tool_calls")
        for fragment in calls if isinstance(calls, list) else []:
            if isinstance(fragment, Mapping):
                out += self._tool_fragment(fragment)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self._finish = finish
            self._matched = choice.get("stop_reason") or choice.get("matched_stop")
        return out

    def _prose(self, kind: str, text: str) -> list[Event]:
        if self._live is not None:  # a tool block is streaming: this waits until the end
            self._tail.append((kind, text))
            return []
        out = self._open_block(kind)
        out.append(self._delta(*_DELTAS[kind], text))
        return out

    def _tool_fragment(self, fragment: Mapping[str, Any]) -> list[Event]:
        k = self._tool_key(fragment)
        tool = self._tools.setdefault(k, _Tool())
        given_id = fragment.get("id")
        if isinstance(given_id, str) and given_id and not tool.id:
            tool.id = given_id
        fn = fragment.get("function")
        fn = fn if isinstance(fn, Mapping) else {}
        if isinstance(fn.get("name"), str) and fn["name"] and not tool.name:
            tool.name = fn["name"]
        piece = fn.get("arguments")
        piece = piece if isinstance(piece, str) else ""
        if k == self._live:
            return [self._delta("input_json_delta", "partial_json", piece)] if piece else []
        if piece:
            tool.args.append(piece)
        if self._live is None and len(self._tools) == 1 and tool.name:
            # The first call streams live from the moment its name is known.
            self._live = k
            out = self._tool_start(tool)
            if tool.args:
                out.append(self._delta("input_json_delta", "partial_json", "".join(tool.args)))
                tool.args = []
            return out
        return []

    def _tool_key(self, fragment: Mapping[str, Any]) -> int:
        """The call a fragment belongs to: its index; without one, its id or the latest call."""
        index = fragment.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            return index
        given_id = fragment.get("id")
        if isinstance(given_id, str) and given_id:
            for k, tool in self._tools.items():
                if tool.id == given_id:
                    return k
            return max(self._tools, default=-1) + 1
        return max(self._tools, default=0)

    # ------------------------------------------------------------------- blocks

    def _tool_start(self, tool: _Tool) -> list[Event]:
        out = self._close()
        block = {
            "type": "tool_use",
            "id": tool.id or new_tool_id(),
            "name": self.call.tool_name(tool.name),
            "input": {},
        }
        out.append({"type": "content_block_start", "index": self._index, "content_block": block})
        self._open = "tool"
        return out

    def _open_block(self, kind: str) -> list[Event]:
        if self._open == kind:
            return []
        out = self._close()
        block = dict(_START_BLOCKS[kind])
        out.append({"type": "content_block_start", "index": self._index, "content_block": block})
        self._open = kind
        return out

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        self._index += 1
        return [{"type": "content_block_stop", "index": self._index - 1}]

    def _delta(self, kind: str, key: str, value: str) -> Event:
        return {
            "type": "content_block_delta",
            "index": self._index,
            "delta": {"type": kind, key: value},
        }


def _merged(tail: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive pieces of the same kind -> one block's text."""
    out: list[tuple[str, str]] = []
    for kind, text in tail:
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return out


def _chunk_error(err: Mapping[str, Any]) -> UpstreamError:
    """An OpenAI-style error frame in the middle of a chat stream."""
    message = err.get("message")
    code = err.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    kind = err.get("type")
    if status == 500 and kind in ("rate_limit_error", "rate_limit_exceeded"):
        status = 429
    return UpstreamError(
        str(message or "The provider failed mid-stream"),
        status=status,
        code=code if isinstance(code, str) else None,
    )
