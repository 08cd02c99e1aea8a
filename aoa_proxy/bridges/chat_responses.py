"""Chat -> Responses and back: for a deployment that serves only the Responses API.

The opposite direction of bridges/responses.py, kept small: a chat client talks to a
Responses-only Azure deployment (codex class). `to_responses` maps the chat request,
`to_completion` a whole Response back to a chat completion, and `ChunkStream` the Responses
event stream to chat chunks (each tool call sent whole, as aoa's translated streams do).

Mapping (wire: https://platform.openai.com/docs/api-reference/responses/create and
https://platform.openai.com/docs/api-reference/chat/create; table in docs/azure.md):
messages -> `input` items (tool calls -> `function_call`, tool answers -> `function_call_output`),
`tools`/`tool_choice` flattened, `max_(completion_)tokens` -> `max_output_tokens`,
`reasoning_effort` -> `reasoning.effort`, `response_format`/`verbosity` -> `text`. Sampling knobs
Responses lacks (`stop`, penalties, `seed`, `logprobs`, `logit_bias`) are left out: the models
behind this route refuse them anyway. `n` > 1 cannot map and is a RequestError.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError, UpstreamError
from aoa_proxy.schema import (
    ChatCompletion,
    ChatCompletionChunk,
    Delta,
    Message,
    ToolCall,
    Usage,
)

# chat field -> Responses field, same value.
SAME: Final = {
    "temperature": "temperature",
    "top_p": "top_p",
    "user": "user",
    "metadata": "metadata",
    "parallel_tool_calls": "parallel_tool_calls",
    "service_tier": "service_tier",
    "store": "store",
    "stream": "stream",
    "prompt_cache_key": "prompt_cache_key",
    "safety_identifier": "safety_identifier",
}
# Left out (Responses has no such field); everything else unknown is left out too.
DROPPED: Final = frozenset(
    {"stop", "presence_penalty", "frequency_penalty", "seed", "logprobs", "top_logprobs",
     "logit_bias", "stream_options", "n", "modalities", "audio", "prediction"}
)  # fmt: skip
# chat content part type -> Responses input part type.
_PARTS: Final = {"text": "input_text", "image_url": "input_image", "file": "input_file"}
# Response incomplete reason -> chat finish_reason.
_INCOMPLETE: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}


def to_responses(body: Mapping[str, Any], deployment: str) -> dict[str, Any]:
    """A chat request body -> the Responses request for `deployment`."""
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise RequestError(
            f"This Azure deployment answers only through the Responses API, which has no n={n}; "
            "send n=1",
            param="n",
        )
    out: dict[str, Any] = {"model": deployment, "input": _items(body.get("messages") or [])}
    for chat, resp in SAME.items():
        if body.get(chat) is not None:
            out[resp] = body[chat]
    out.setdefault("store", False)  # chat completions are not stored; keep it that way
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int):
        out["max_output_tokens"] = limit
    if isinstance(body.get("reasoning_effort"), str):
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    text = _text(body.get("response_format"), body.get("verbosity"))
    if text:
        out["text"] = text
    if isinstance(body.get("tools"), list):
        out["tools"] = [_tool(t) for t in body["tools"] if isinstance(t, Mapping)]
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        out["tool_choice"] = choice
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        out["tool_choice"] = {"type": "function", "name": choice["function"].get("name")}
    return out


def _items(messages: Iterable[Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for msg in messages:
        if not isinstance(msg, Mapping):
            continue
        role = msg.get("role")
        if role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": msg.get("tool_call_id"),
                    "output": _plain(msg.get("content")),
                }
            )
            continue
        content = msg.get("content")
        if role == "assistant":
            if content:
                items.append({"role": "assistant", "content": _plain(content)})
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") or {} if isinstance(call, Mapping) else {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id"),
                        "name": fn.get("name"),
                        "arguments": fn.get("arguments") or "",
                    }
                )
            continue
        parts = content if isinstance(content, list) else None
        items.append(
            {
                "role": role,
                "content": [_part(p) for p in parts] if parts is not None else content or "",
            }
        )
    return items


def _plain(content: Any) -> str:
    """Text content as one string (tool outputs and assistant turns)."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


def _part(part: Any) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        out = {"type": "input_image", "image_url": url}
        if isinstance(image, Mapping) and image.get("detail"):
            out["detail"] = image["detail"]
        return out
    if kind == "file":
        file = part.get("file") if isinstance(part.get("file"), Mapping) else {}
        return {"type": "input_file", **{k: v for k, v in file.items() if v is not None}}
    raise RequestError(
        f"A {kind!r} content part cannot go to this Azure deployment: it answers only through "
        "the Responses API, which takes text, images and files",
        param="messages",
    )


def _text(response_format: Any, verbosity: Any) -> dict[str, Any]:
    text: dict[str, Any] = {}
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind == "json_schema" and isinstance(response_format.get("json_schema"), Mapping):
            text["format"] = {"type": "json_schema", **response_format["json_schema"]}
        elif kind in ("json_object", "text"):
            text["format"] = {"type": kind}
    if isinstance(verbosity, str):
        text["verbosity"] = verbosity
    return text


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    fn = tool.get("function")
    if tool.get("type") != "function" or not isinstance(fn, Mapping):
        return dict(tool)  # a Responses-style tool already
    return {"type": "function", **fn}


# --------------------------------------------------------------------------- the answer


def to_completion(response: Mapping[str, Any], model: str) -> ChatCompletion:
    """A whole Response -> the chat completion a chat client expects."""
    _raise_failed(response)
    text, refusal, calls = _output(response.get("output"))
    message: Message = {"role": "assistant", "content": text or None, "refusal": refusal}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": _chat_id(response),
        "object": "chat.completion",
        "created": _int(response.get("created_at")) or int(time.time()),
        "model": str(response.get("model") or model),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish(response, bool(calls)),
            }
        ],
        "usage": usage(response.get("usage")),
    }


def _output(output: Any) -> tuple[str, str | None, list[ToolCall]]:
    text, refusal, calls = "", None, []
    for item in output if isinstance(output, list) else []:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    text += str(part.get("text", ""))
                elif part.get("type") == "refusal":
                    refusal = (refusal or "") + str(part.get("refusal", ""))
        elif item.get("type") == "function_call":
            calls.append(_tool_call(item))
    return text, refusal, calls


def _tool_call(item: Mapping[str, Any]) -> ToolCall:
    return {
        "id": str(item.get("call_id") or item.get("id") or ""),
        "type": "function",
        "function": {
            "name": str(item.get("name", "")),
            "arguments": str(item.get("arguments", "")),
        },
    }


def _finish(response: Mapping[str, Any], calls: bool) -> str:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return _INCOMPLETE.get(str(reason), "length")
    return "tool_calls" if calls else "stop"


def usage(raw: Any) -> Usage:
    """Responses usage -> chat usage (cached and reasoning tokens kept)."""
    raw = raw if isinstance(raw, Mapping) else {}
    prompt, completion = _int(raw.get("input_tokens")), _int(raw.get("output_tokens"))
    out: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _int(raw.get("total_tokens")) or prompt + completion,
    }
    cached = (raw.get("input_tokens_details") or {}).get("cached_tokens")
    if isinstance(cached, int):
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    reasoning = (raw.get("output_tokens_details") or {}).get("reasoning_tokens")
    if isinstance(reasoning, int):
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


def _raise_failed(response: Mapping[str, Any]) -> None:
    if response.get("status") != "failed":
        return
    error = response.get("error")
    error = error if isinstance(error, Mapping) else {}
    raise UpstreamError(
        str(error.get("message") or "Azure reported the response as failed"),
        status=500,
        code=str(error["code"]) if error.get("code") else None,
    )


def _chat_id(response: Mapping[str, Any]) -> str:
    rid = str(response.get("id") or "")
    return "chatcmpl-" + (rid.removeprefix("resp_") or "azure")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --------------------------------------------------------------------------- the stream


class ChunkStream:
    """Responses stream events -> chat chunks, one object per request."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = "chatcmpl-azure"
        self.created = int(time.time())
        self.started = False
        self.tools = 0  # tool calls sent so far (their chat index)
        self.done = False  # the response's last event came

    def feed(self, event: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        """The chunks one event adds (none for most events)."""
        kind = event.get("type")
        if kind is None and event.get("object") == "response":  # answered whole
            return self._whole(event)
        response = event.get("response")
        if isinstance(response, Mapping) and kind == "response.created":
            self.id = _chat_id(response)
            self.created = _int(response.get("created_at")) or self.created
            self.model = str(response.get("model") or self.model)
        out = self._start()
        if kind == "response.output_text.delta":
            out.append(self._chunk({"content": str(event.get("delta", ""))}))
        elif kind == "response.refusal.delta":
            out.append(self._chunk({"refusal": str(event.get("delta", ""))}))
        elif kind == "response.output_item.done":
            item = event.get("item")
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                call = _tool_call(item)
                delta: Delta = {"tool_calls": [{"index": self.tools, **call}]}
                self.tools += 1
                out.append(self._chunk(delta))
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            out += self._end(response if isinstance(response, Mapping) else {})
        elif kind == "error":
            raise UpstreamError(
                str(event.get("message") or "Azure's Responses stream reported an error"),
                status=500,
                code=str(event["code"]) if event.get("code") else None,
            )
        return out

    def _start(self) -> list[ChatCompletionChunk]:
        if self.started:
            return []
        self.started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _end(self, response: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        _raise_failed(response)
        self.done = True
        out = [self._chunk({}, _finish(response, self.tools > 0))]
        if self.include_usage:
            last = self._chunk({})
            last["choices"] = []
            last["usage"] = usage(response.get("usage"))
            out.append(last)
        return out

    def _whole(self, response: Mapping[str, Any]) -> list[ChatCompletionChunk]:
        completion = to_completion(response, self.model)
        self.id, self.created = completion["id"], completion["created"]
        message = completion["choices"][0]["message"]
        out = self._start()
        if message["content"]:
            out.append(self._chunk({"content": message["content"]}))
        for call in message.get("tool_calls", []):
            out.append(self._chunk({"tool_calls": [{"index": self.tools, **call}]}))
            self.tools += 1
        return out + self._end(response)

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
