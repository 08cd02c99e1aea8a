"""Helpers for the Responses bridge tests: deterministic contexts, a chat stream made from a
whole completion, the SDK's own validators, and a strict checker of the event grammar."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from aoa_proxy.bridges.responses import ResponseContext, ResponseStream, to_chat

# The first request Codex CLI 0.171 sent (long strings replaced by their length).
CAPTURE = Path(__file__).with_name("codex-cli-0.171-first-turn.json")
EVENT = TypeAdapter(ResponseStreamEvent)
TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def plain(obj: Any) -> Any:
    """`obj` as a client reads it: JSON and back (TypedDicts become plain dicts for the tests)."""
    return json.loads(json.dumps(obj))


def counter_ids() -> Callable[[str], str]:
    """Ids `prefix_1`, `prefix_2`, ... so two runs of one answer give equal objects."""
    count = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(count)}"


def context(body: Mapping[str, Any] | None = None, **kw: Any) -> ResponseContext:
    """The context to_chat makes for `body`, with counter ids and a fixed clock."""
    request = {"model": "gpt-5", "input": "hi", **(body or {})}
    return to_chat(request, ids=counter_ids(), clock=lambda: 1_700_000_000.0, **kw).context


def completion(
    *,
    content: str | None = None,
    reasoning: str = "",
    refusal: str | None = None,
    calls: Sequence[tuple[str, str, str]] = (),  # (id, flat name, arguments)
    finish: str | None = "stop",
    usage: Mapping[str, Any] | None = None,
    **message_extra: Any,
) -> dict[str, Any]:
    """A chat.completion with one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in calls
        ]
    message.update(message_extra)
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = dict(usage)
    return body


def chunk(delta: Mapping[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
    }


def split(text: str, cuts: Iterable[int]) -> list[str]:
    """`text` cut at the given positions (each taken modulo its length + 1)."""
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def run(ctx: ResponseContext, chunks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Feed every chunk, then finish; the events as plain dicts."""
    stream = ResponseStream(ctx)
    events: list[Any] = []
    for c in chunks:
        events += stream.feed(c)
    events += stream.finish()
    return [dict(e) for e in events]


def sdk_response(response: Mapping[str, Any]) -> Response:
    """The official SDK's model of a Response: raises if the object does not fit it."""
    return Response.model_validate(json.loads(json.dumps(response)))


def sdk_events(events: Sequence[Mapping[str, Any]]) -> Response | None:
    """Validate each event with the SDK's ResponseStreamEvent union, then accumulate them the
    way `client.responses.stream()` does; the SDK's final Response (None without a terminal)."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for raw in events:
        event = EVENT.validate_python(json.loads(json.dumps(raw)))
        for out in state.handle_event(event):
            if out.type in TERMINAL:
                final = getattr(out, "response", None)
    return final


def check_stream(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Assert the event grammar of spec §4 strictly; returns the terminal Response.

    created, in_progress, then per item: output_item.added (output_index 0, 1, ... in order),
    its parts opened in content_index order, deltas only into the open part, `.done` texts equal
    to the joined deltas, output_item.done with the same id and text; one terminal event last.
    """
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] in TERMINAL
    assert not any(e["type"] in TERMINAL for e in events[:-1])
    rid = events[0]["response"]["id"]
    assert events[1]["response"]["id"] == rid == events[-1]["response"]["id"]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == [] and events[0]["response"]["usage"] is None
    items: list[dict[str, Any]] = []  # by output_index: {"item", "parts", "open", "done", ...}
    for e in events[2:-1]:
        kind = e["type"]
        if kind == "response.output_item.added":
            assert e["output_index"] == len(items), "items must open in output_index order"
            item = e["item"]
            if item["type"] in ("message", "function_call", "custom_tool_call"):
                assert item["status"] == "in_progress"
            items.append({"item": item, "parts": [], "open": None, "args": "", "done": None})
            continue
        slot = items[e["output_index"]]
        assert slot["done"] is None, f"{kind} after its item was done"
        if "item_id" in e:
            assert e["item_id"] == slot["item"]["id"]
        if kind in ("response.content_part.added", "response.reasoning_summary_part.added"):
            assert slot["open"] is None, "a part opened while another is open"
            index = e.get("content_index", e.get("summary_index"))
            assert index == len(slot["parts"])
            assert e["part"].get("text", e["part"].get("refusal")) == ""
            slot["parts"].append({"type": e["part"]["type"], "text": "", "closed": False})
            slot["open"] = index
        elif kind in (
            "response.output_text.delta",
            "response.refusal.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_text.delta",
        ):
            index = e.get("content_index", e.get("summary_index"))
            assert slot["open"] == index, f"{kind} into a part that is not open"
            slot["parts"][index]["text"] += e["delta"]
        elif kind in (
            "response.output_text.done",
            "response.refusal.done",
            "response.reasoning_summary_text.done",
            "response.reasoning_text.done",
        ):
            index = e.get("content_index", e.get("summary_index"))
            assert slot["open"] == index
            assert e.get("text", e.get("refusal")) == slot["parts"][index]["text"]
            slot["parts"][index]["closed"] = True
        elif kind in ("response.content_part.done", "response.reasoning_summary_part.done"):
            index = e.get("content_index", e.get("summary_index"))
            part = slot["parts"][index]
            assert slot["open"] == index and part["closed"], "part done before its text done"
            assert e["part"].get("text", e["part"].get("refusal")) == part["text"]
            slot["open"] = None
        elif kind == "response.output_text.annotation.added":
            assert slot["open"] == e["content_index"]
        elif kind == "response.function_call_arguments.delta":
            assert slot["item"]["type"] == "function_call"
            slot["args"] += e["delta"]
        elif kind == "response.function_call_arguments.done":
            assert e["arguments"] == slot["args"] and e["name"] == slot["item"]["name"]
            slot["closed_args"] = True
        elif kind == "response.custom_tool_call_input.delta":
            slot["args"] += e["delta"]
        elif kind == "response.custom_tool_call_input.done":
            assert e["input"] == slot["args"]
            slot["closed_args"] = True
        elif kind == "response.output_item.done":
            assert slot["open"] is None, "item done with a part still open"
            done = e["item"]
            assert done["id"] == slot["item"]["id"] and done["type"] == slot["item"]["type"]
            _check_done_item(slot, done)
            slot["done"] = done
        else:
            raise AssertionError(f"unexpected event {kind}")
    final = dict(events[-1]["response"])
    if events[-1]["type"] == "response.failed":
        assert final["status"] == "failed" and final["error"]["message"]
        assert final["output"] == [s["done"] for s in items if s["done"] is not None]
    else:
        assert all(s["done"] is not None for s in items), "an item was never done"
        assert final["output"] == [s["done"] for s in items]
        assert final["status"] in ("completed", "incomplete")
        assert (final["completed_at"] is not None) == (final["status"] == "completed")
    return final


def _check_done_item(slot: Mapping[str, Any], done: Mapping[str, Any]) -> None:
    texts = [p["text"] for p in slot["parts"]]
    if done["type"] == "message":
        assert [c.get("text", c.get("refusal")) for c in done["content"]] == texts
    elif done["type"] == "reasoning":
        got = done["summary"] or done.get("content") or []
        assert [p["text"] for p in got] == texts
    elif done["type"] == "function_call":
        assert slot.get("closed_args") and done["arguments"] == slot["args"]
    elif done["type"] == "custom_tool_call":
        assert slot.get("closed_args") and done["input"] == slot["args"]
