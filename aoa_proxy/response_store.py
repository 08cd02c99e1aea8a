"""The bounded, in-memory store of bridged Responses: what `previous_response_id`, GET and
DELETE /v1/responses/{id} read.

Per process and per gateway app, never on disk: the last `max_count` responses, at most
`max_bytes` of them (their JSON size), the oldest evicted first. Replicas behind a load
balancer do not share it; a client that needs that sends the whole history (`store: false`,
as Codex does).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aoa_proxy.jsonutil import dumps

MAX_COUNT: Final = 200
MAX_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Stored:
    response: Mapping[str, Any]  # the Response object as the client got it
    input_items: Sequence[Mapping[str, Any]]  # this request's input, as items with ids
    history: Sequence[Mapping[str, Any]]  # every item up to and including the output
    size: int


class ResponseStore:
    """An LRU of Responses by id, bounded by count and bytes."""

    def __init__(self, max_count: int = MAX_COUNT, max_bytes: int = MAX_BYTES) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Stored] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the desktop app may read it from its own thread

    def __len__(self) -> int:
        return len(self._items)

    def put(
        self,
        response: Mapping[str, Any],
        input_items: Sequence[Mapping[str, Any]],
        previous: Stored | None = None,
    ) -> None:
        """Keep `response`; a response bigger than the whole budget is not kept at all."""
        output = response.get("output") or []
        history = [*(previous.history if previous else ()), *input_items, *output]
        size = len(dumps(response)) + len(dumps(input_items)) + len(dumps(history))
        if size > self.max_bytes:
            return
        rid = str(response["id"])
        with self._lock:
            self._drop(rid)
            self._items[rid] = Stored(response, list(input_items), history, size)
            self._bytes += size
            while len(self._items) > self.max_count or self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def get(self, rid: str) -> Stored | None:
        with self._lock:
            stored = self._items.get(rid)
            if stored is not None:
                self._items.move_to_end(rid)
            return stored

    def delete(self, rid: str) -> bool:
        with self._lock:
            return self._drop(rid)

    def _drop(self, rid: str) -> bool:
        stored = self._items.pop(rid, None)
        if stored is None:
            return False
        self._bytes -= stored.size
        return True


def input_items(value: Any) -> list[dict[str, Any]]:
    """A request's `input` as the list of items GET …/input_items shows, each with an id."""
    if isinstance(value, str):
        items: list[Any] = [{"type": "message", "role": "user", "content": value}]
    else:
        items = list(value) if isinstance(value, list) else []
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        entry = dict(item)
        if "type" not in entry and "role" in entry:
            entry["type"] = "message"
        if entry.get("type") == "message" and isinstance(entry.get("content"), str):
            kind = "output_text" if entry.get("role") == "assistant" else "input_text"
            entry["content"] = [{"type": kind, "text": entry["content"]}]
        if not entry.get("id"):
            entry["id"] = f"{_PREFIX.get(str(entry.get('type')), 'item')}_{uuid.uuid4().hex}"
        out.append(entry)
    return out


_PREFIX: Final = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
