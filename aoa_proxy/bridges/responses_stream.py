"""Chat stream chunks -> the Responses event stream, one state machine per request.

All index bookkeeping lives here: `sequence_number` counts every event from 0; `output_index`
is the order items open in; `content_index` the part within a message; `item_id` the item's id.
Reasoning and message items are written one after the other (opening any item closes them);
function calls stay open until the choice's finish_reason, so a provider that interleaves the
argument fragments of parallel calls is still followed exactly. Custom tool calls are buffered
and their input sent whole, since it sits inside chat's JSON arguments.

Spec responses.md §4 and §6c; https://platform.openai.com/docs/api-reference/responses-streaming
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aoa_proxy.bridges.responses_answer import (
    ResponseContext,
    call_item,
    content_text,
    convert_annotations,
    convert_logprobs,
    convert_usage,
    failure,
    finish_status,
    mark_incomplete,
    message_item,
    new_call_id,
    output_text,
    reasoning_item,
    reasoning_text,
    response_object,
    tool_for,
)
from aoa_proxy.bridges.responses_events import Events, Lifecycle
from aoa_proxy.bridges.responses_tools import ToolName
from aoa_proxy.bridges.responses_types import (
    Logprob,
    MessagePart,
    OutputItem,
    ReasoningText,
    Response,
    ResponseStatus,
    ResponseUsage,
    StreamEvent,
    UrlCitation,
)
from aoa_proxy.errors import UpstreamUnreachable

log = logging.getLogger(__name__)

PartKind = Literal["output_text", "refusal"]


@dataclass
class _Reasoning:
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    final: OutputItem | None = None


@dataclass
class _Part:
    kind: PartKind
    text: list[str] = field(default_factory=list)
    annotations: list[UrlCitation] = field(default_factory=list)
    logprobs: list[Logprob] = field(default_factory=list)

    def build(self) -> MessagePart:
        if self.kind == "refusal":
            return {"type": "refusal", "refusal": "".join(self.text)}
        return output_text("".join(self.text), list(self.annotations), list(self.logprobs))


@dataclass
class _Message:
    index: int
    id: str
    parts: list[_Part] = field(default_factory=list)
    part_open: bool = False
    final: OutputItem | None = None


@dataclass
class _Call:
    index: int
    id: str
    call_id: str
    tool: ToolName
    args: list[str] = field(default_factory=list)
    final: OutputItem | None = None


@dataclass
class _Waiting:
    """A tool call whose name has not arrived yet; its fragments wait here."""

    call_id: str = ""
    name: str = ""
    args: list[str] = field(default_factory=list)


_Item = _Reasoning | _Message | _Call


class ResponseStream:
    """Turns one request's chat chunks into Responses events.

    Call `start()` once the upstream has answered 200 (or let the first `feed` do it), `feed`
    each parsed chunk, then `finish()` when the upstream stream ends cleanly (`[DONE]`), or
    `fail(error)` when it breaks: exactly one terminal event (`response.completed`,
    `.incomplete` or `.failed`) ends every stream, and later calls return nothing. `response`
    holds the final Response afterwards (for a store).
    """

    def __init__(self, context: ResponseContext) -> None:
        self.context = context
        self.response: Response | None = None
        self._events = Events()
        self._started = False
        self._items: list[_Item] = []  # by output_index
        self._text: _Reasoning | _Message | None = None  # the open reasoning or message item
        self._calls: dict[int, _Call] = {}  # chat tool_call index -> call
        self._waiting: dict[int, _Waiting] = {}
        self._finish: str | None = None
        self._usage: ResponseUsage | None = None

    @property
    def done(self) -> bool:
        """True once the terminal event has been emitted."""
        return self.response is not None

    def start(self) -> list[StreamEvent]:
        """`response.created` and `response.in_progress` (once)."""
        if self._started or self.done:
            return []
        self._started = True
        snapshot = self._snapshot("in_progress", [])
        return [
            self._events.lifecycle("response.created", snapshot),
            self._events.lifecycle("response.in_progress", snapshot),
        ]

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        """The events one chat chunk gives (a chunk carrying `error` fails the stream)."""
        if self.done:
            return []
        out = self.start()
        if not isinstance(chunk, Mapping):
            return out
        error = chunk.get("error")
        if isinstance(error, Mapping) or (isinstance(error, str) and error):
            return out + self.fail(error if isinstance(error, Mapping) else {"message": error})
        usage = convert_usage(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            # aoa never asks for n > 1; other choices (if any) are not this response's
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                out += self._choice(choice)
        return out

    def finish(self) -> list[StreamEvent]:
        """The end of a clean upstream stream: close what is open, then the terminal event."""
        if self.done:
            return []
        out = self.start()
        if self._finish is None:
            # A stream without a finish_reason was cut short, whatever its last line said.
            cut = UpstreamUnreachable("The upstream stream ended before the answer was finished")
            return out + self.fail(cut)
        out += self._close_all()
        status, reason = finish_status(self._finish)
        self.response = self._snapshot(status, self._finished_items(), incomplete=reason)
        kind: Lifecycle = "response.incomplete" if status == "incomplete" else "response.completed"
        return [*out, self._events.lifecycle(kind, self.response)]

    def fail(self, error: BaseException | Mapping[str, Any] | None = None) -> list[StreamEvent]:
        """`response.failed` with the finished items; no `.done` events for unfinished ones."""
        if self.done:
            return []
        out = self.start()
        self.response = self._snapshot("failed", self._finished_items(), error=failure(error))
        return [*out, self._events.lifecycle("response.failed", self.response)]

    # --------------------------------------------------------------------- chunk parts

    def _choice(self, choice: Mapping[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        delta = choice.get("delta")
        delta = delta if isinstance(delta, Mapping) else {}
        thought = reasoning_text(delta)
        if thought:
            out += self._reason(thought)
        text = content_text(delta.get("content"))
        if text:
            logprobs = convert_logprobs(choice.get("logprobs")) if self.context.logprobs else []
            out += self._say("output_text", text, logprobs)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            out += self._say("refusal", refusal, [])
        annotations = convert_annotations(delta.get("annotations"))
        if annotations:
            out += self._annotate(annotations)
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else []):
            if isinstance(call, Mapping):
                out += self._tool(call, position)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._finish = reason
            out += self._close_all()
        return out

    def _reason(self, text: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        item = self._text
        summary = self.context.summary
        if not isinstance(item, _Reasoning):
            out += self._close_text()
            item = _Reasoning(len(self._items), self.context.ids("rs"))
            self._items.append(item)
            self._text = item
            added = reasoning_item(item.id, "", summary)
            added["summary"] = []
            if "content" in added:
                added["content"] = []
            out.append(self._events.item("added", item.index, added))
            if summary:
                out.append(self._events.summary_part("added", item.id, item.index, ""))
            else:
                empty: ReasoningText = {"type": "reasoning_text", "text": ""}
                out.append(self._events.part("added", item.id, item.index, 0, empty))
        item.text.append(text)
        if summary:
            out.append(self._events.summary_delta(item.id, item.index, text))
        else:
            out.append(self._events.reasoning_delta(item.id, item.index, text))
        return out

    def _say(self, kind: PartKind, text: str, logprobs: list[Logprob]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        item = self._text
        if not isinstance(item, _Message):
            out += self._close_text()
            item = _Message(len(self._items), self.context.ids("msg"))
            self._items.append(item)
            self._text = item
            added = message_item(item.id, [], "in_progress")
            out.append(self._events.item("added", item.index, added))
        if not item.part_open or item.parts[-1].kind != kind:
            out += self._close_part(item)
            item.parts.append(_Part(kind))
            item.part_open = True
            part = item.parts[-1].build()
            out.append(self._events.part("added", item.id, item.index, len(item.parts) - 1, part))
        part_state = item.parts[-1]
        part_state.text.append(text)
        part_state.logprobs += logprobs
        content_index = len(item.parts) - 1
        if kind == "refusal":
            out.append(self._events.refusal_delta(item.id, item.index, content_index, text))
        else:
            out.append(self._events.text_delta(item.id, item.index, content_index, text, logprobs))
        return out

    def _annotate(self, annotations: list[UrlCitation]) -> list[StreamEvent]:
        item = self._text
        if not isinstance(item, _Message) or not item.part_open:
            return []  # a citation needs text to point into
        part = item.parts[-1]
        if part.kind != "output_text":
            return []
        out: list[StreamEvent] = []
        content_index = len(item.parts) - 1
        for annotation in annotations:
            out.append(
                self._events.annotation(
                    item.id, item.index, content_index, len(part.annotations), annotation
                )
            )
            part.annotations.append(annotation)
        return out

    def _tool(self, delta: Mapping[str, Any], position: int) -> list[StreamEvent]:
        index = delta.get("index")
        key = index if isinstance(index, int) and not isinstance(index, bool) else position
        fn = delta.get("function")
        fn = fn if isinstance(fn, Mapping) else {}
        raw = fn.get("arguments")
        fragment = raw if isinstance(raw, str) else ""
        call = self._calls.get(key)
        if call is not None:
            if call.final is not None:
                log.warning("responses bridge: arguments for a finished tool call; dropped")
                return []
            call.args.append(fragment)
            return self._arguments_delta(call, fragment)
        waiting = self._waiting.setdefault(key, _Waiting())
        if isinstance(delta.get("id"), str) and delta["id"]:
            waiting.call_id = delta["id"]
        if isinstance(fn.get("name"), str) and fn["name"]:
            waiting.name = fn["name"]
        waiting.args.append(fragment)
        if not waiting.name:
            return []
        return self._open_call(key)

    def _open_call(self, key: int) -> list[StreamEvent]:
        waiting = self._waiting.pop(key)
        out = self._close_text()
        tool = tool_for(self.context, waiting.name)
        item_id = self.context.ids("ctc" if tool.custom else "fc")
        call = _Call(len(self._items), item_id, waiting.call_id or new_call_id(), tool)
        self._items.append(call)
        self._calls[key] = call
        added = call_item(tool, call.id, call.call_id, "", "in_progress")
        out.append(self._events.item("added", call.index, added))
        fragment = "".join(waiting.args)
        call.args.append(fragment)
        return out + self._arguments_delta(call, fragment)

    def _arguments_delta(self, call: _Call, fragment: str) -> list[StreamEvent]:
        if not fragment or call.tool.custom:  # custom input is sent whole when the call closes
            return []
        return [self._events.arguments_delta(call.id, call.index, fragment)]

    # --------------------------------------------------------------------- closing

    def _close_all(self) -> list[StreamEvent]:
        """At finish_reason: close the open text item and every call, in output order."""
        out = self._close_text()
        for key in sorted(self._waiting):  # a call whose name never came: kept, nameless
            out += self._open_call(key)
        for call in sorted(self._calls.values(), key=lambda c: c.index):
            if call.final is None:
                out += self._close_call(call)
        return out

    def _close_text(self) -> list[StreamEvent]:
        item, self._text = self._text, None
        if isinstance(item, _Reasoning):
            return self._close_reasoning(item)
        if not isinstance(item, _Message):
            return []
        out = self._close_part(item)
        parts = [p.build() for p in item.parts]
        item.final = self._cut(message_item(item.id, parts, "completed"), item.index)
        out.append(self._events.item("done", item.index, item.final))
        return out

    def _close_reasoning(self, item: _Reasoning) -> list[StreamEvent]:
        text = "".join(item.text)
        out: list[StreamEvent]
        if self.context.summary:
            out = [
                self._events.summary_done(item.id, item.index, text),
                self._events.summary_part("done", item.id, item.index, text),
            ]
        else:
            done: ReasoningText = {"type": "reasoning_text", "text": text}
            out = [
                self._events.reasoning_done(item.id, item.index, text),
                self._events.part("done", item.id, item.index, 0, done),
            ]
        item.final = reasoning_item(item.id, text, self.context.summary)
        out.append(self._events.item("done", item.index, item.final))
        return out

    def _close_part(self, item: _Message) -> list[StreamEvent]:
        if not item.part_open:
            return []
        item.part_open = False
        part = item.parts[-1]
        text = "".join(part.text)
        index = len(item.parts) - 1
        done: StreamEvent
        if part.kind == "refusal":
            done = self._events.refusal_done(item.id, item.index, index, text)
        else:
            done = self._events.text_done(item.id, item.index, index, text, list(part.logprobs))
        return [done, self._events.part("done", item.id, item.index, index, part.build())]

    def _close_call(self, call: _Call) -> list[StreamEvent]:
        arguments = "".join(call.args)
        item = call_item(call.tool, call.id, call.call_id, arguments, "completed")
        call.final = self._cut(item, call.index)
        out: list[StreamEvent] = []
        if item["type"] == "custom_tool_call":
            if item["input"]:
                out.append(self._events.custom_delta(call.id, call.index, item["input"]))
            out.append(self._events.custom_done(call.id, call.index, item["input"]))
        else:
            out.append(self._events.arguments_done(call.id, call.index, call.tool.name, arguments))
        out.append(self._events.item("done", call.index, call.final))
        return out

    def _cut(self, item: OutputItem, index: int) -> OutputItem:
        """The last item of an answer cut off (length, content_filter) is incomplete."""
        status, _ = finish_status(self._finish)
        if self._finish and status == "incomplete" and index == len(self._items) - 1:
            mark_incomplete(item)
        return item

    def _finished_items(self) -> list[OutputItem]:
        return [item.final for item in self._items if item.final is not None]

    def _snapshot(self, status: ResponseStatus, output: list[OutputItem], **kw: Any) -> Response:
        usage = self._usage if status != "in_progress" else None
        return response_object(self.context, status=status, output=output, usage=usage, **kw)
