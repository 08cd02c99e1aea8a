"""The Responses API bridge: what the /v1/responses front door calls for a chat-only provider.

    bridged = to_chat(body, previous=None, upstream_openai=False, stored=False)
        -> BridgedRequest(chat=<chat request body>, context=ResponseContext, dropped=(...))
    to_response(chat_completion, bridged.context) -> Response          (stream: false)
    stream = ResponseStream(bridged.context)                           (stream: true)
        stream.start() / stream.feed(chat_chunk) / stream.finish() / stream.fail(error)
        -> list of events; sse_event(event) -> the bytes to write

Modules: responses_request (fields), responses_items (input items -> messages),
responses_parts (content parts), responses_tools (tools, tool_choice, flat names),
responses_answer (chat completion -> Response), responses_stream (chunks -> events),
responses_events (event shapes, numbering, SSE),
responses_types (TypedDicts). Mapping tables: docs/responses.md.
"""

from __future__ import annotations

from aoa_proxy.bridges.responses_answer import ResponseContext, failure, to_response
from aoa_proxy.bridges.responses_events import sse_event
from aoa_proxy.bridges.responses_request import BridgedRequest, to_chat
from aoa_proxy.bridges.responses_stream import ResponseStream
from aoa_proxy.bridges.responses_tools import ToolName, flat_name
from aoa_proxy.bridges.responses_types import OutputItem, Response, StreamEvent

__all__ = [
    "BridgedRequest",
    "OutputItem",
    "Response",
    "ResponseContext",
    "ResponseStream",
    "StreamEvent",
    "ToolName",
    "failure",
    "flat_name",
    "sse_event",
    "to_chat",
    "to_response",
]
