"""The Responses stream events, numbered as they are made, and their SSE framing.

Every event carries `sequence_number` (0, 1, 2, … in the order made); those inside an item carry
its `output_index` and `item_id`, those inside a part its `content_index` (`summary_index` for
a reasoning summary). Shapes: spec responses.md §4, SDK `response_*_event.py`,
https://platform.openai.com/docs/api-reference/responses-streaming
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from aoa_proxy.bridges.responses_types import (
    AnnotationAddedEvent,
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ContentPartEvent,
    CustomInputDeltaEvent,
    CustomInputDoneEvent,
    Logprob,
    OutputItem,
    OutputItemEvent,
    OutputText,
    ReasoningText,
    ReasoningTextDeltaEvent,
    ReasoningTextDoneEvent,
    Refusal,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    Response,
    ResponseEvent,
    StreamEvent,
    SummaryPartEvent,
    SummaryTextDeltaEvent,
    SummaryTextDoneEvent,
    TextDeltaEvent,
    TextDoneEvent,
    UrlCitation,
)
from aoa_proxy.providers.base import dumps

Lifecycle = Literal[
    "response.created",
    "response.in_progress",
    "response.completed",
    "response.incomplete",
    "response.failed",
]
Stage = Literal["added", "done"]


def sse_event(event: StreamEvent | Mapping[str, Any]) -> bytes:
    """One event as SSE: `event: <type>`, `data: <one-line JSON>`, a blank line (no [DONE])."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + dumps(event) + b"\n\n"


class Events:
    """Makes events with the next sequence number; one per stream."""

    def __init__(self) -> None:
        self._count = 0

    def _next(self) -> int:
        self._count += 1
        return self._count - 1

    def lifecycle(self, kind: Lifecycle, response: Response) -> ResponseEvent:
        return {"type": kind, "sequence_number": self._next(), "response": response}

    def item(self, stage: Stage, index: int, item: OutputItem) -> OutputItemEvent:
        return {
            "type": "response.output_item.added"
            if stage == "added"
            else "response.output_item.done",
            "sequence_number": self._next(),
            "output_index": index,
            "item": item,
        }

    def part(
        self,
        stage: Stage,
        item_id: str,
        index: int,
        content_index: int,
        part: OutputText | Refusal | ReasoningText,
    ) -> ContentPartEvent:
        return {
            "type": "response.content_part.added"
            if stage == "added"
            else "response.content_part.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "part": part,
        }

    def text_delta(
        self, item_id: str, index: int, content_index: int, delta: str, logprobs: list[Logprob]
    ) -> TextDeltaEvent:
        return {
            "type": "response.output_text.delta",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "delta": delta,
            "logprobs": logprobs,
        }

    def text_done(
        self, item_id: str, index: int, content_index: int, text: str, logprobs: list[Logprob]
    ) -> TextDoneEvent:
        return {
            "type": "response.output_text.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "text": text,
            "logprobs": logprobs,
        }

    def annotation(
        self,
        item_id: str,
        index: int,
        content_index: int,
        annotation_index: int,
        annotation: UrlCitation,
    ) -> AnnotationAddedEvent:
        return {
            "type": "response.output_text.annotation.added",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "annotation_index": annotation_index,
            "annotation": annotation,
        }

    def refusal_delta(
        self, item_id: str, index: int, content_index: int, delta: str
    ) -> RefusalDeltaEvent:
        return {
            "type": "response.refusal.delta",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "delta": delta,
        }

    def refusal_done(
        self, item_id: str, index: int, content_index: int, refusal: str
    ) -> RefusalDoneEvent:
        return {
            "type": "response.refusal.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": content_index,
            "refusal": refusal,
        }

    def arguments_delta(self, item_id: str, index: int, delta: str) -> ArgumentsDeltaEvent:
        return {
            "type": "response.function_call_arguments.delta",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "delta": delta,
        }

    def arguments_done(
        self, item_id: str, index: int, name: str, arguments: str
    ) -> ArgumentsDoneEvent:
        return {
            "type": "response.function_call_arguments.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "name": name,  # the SDK requires it though OpenAI's own wire omits it (spec §4)
            "arguments": arguments,
        }

    def custom_delta(self, item_id: str, index: int, delta: str) -> CustomInputDeltaEvent:
        return {
            "type": "response.custom_tool_call_input.delta",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "delta": delta,
        }

    def custom_done(self, item_id: str, index: int, text: str) -> CustomInputDoneEvent:
        return {
            "type": "response.custom_tool_call_input.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "input": text,
        }

    def summary_part(self, stage: Stage, item_id: str, index: int, text: str) -> SummaryPartEvent:
        return {
            "type": "response.reasoning_summary_part.added"
            if stage == "added"
            else "response.reasoning_summary_part.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "summary_index": 0,  # chat reasoning is one text: one summary part
            "part": {"type": "summary_text", "text": text},
        }

    def summary_delta(self, item_id: str, index: int, delta: str) -> SummaryTextDeltaEvent:
        return {
            "type": "response.reasoning_summary_text.delta",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "summary_index": 0,
            "delta": delta,
        }

    def summary_done(self, item_id: str, index: int, text: str) -> SummaryTextDoneEvent:
        return {
            "type": "response.reasoning_summary_text.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "summary_index": 0,
            "text": text,
        }

    def reasoning_delta(self, item_id: str, index: int, delta: str) -> ReasoningTextDeltaEvent:
        return {
            "type": "response.reasoning_text.delta",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
            "delta": delta,
        }

    def reasoning_done(self, item_id: str, index: int, text: str) -> ReasoningTextDoneEvent:
        return {
            "type": "response.reasoning_text.done",
            "sequence_number": self._next(),
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
            "text": text,
        }
