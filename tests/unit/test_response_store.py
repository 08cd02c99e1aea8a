"""The bounded Responses store: count and byte limits, LRU order, chained history, input items."""

from __future__ import annotations

from typing import Any

from aoa_proxy.jsonutil import dumps
from aoa_proxy.response_store import ResponseStore, input_items


def response(rid: str, text: str = "hi") -> dict[str, Any]:
    item = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }
    return {"id": rid, "object": "response", "output": [item]}


def test_the_oldest_is_evicted_past_the_count() -> None:
    store = ResponseStore(max_count=2)
    for rid in ("a", "b", "c"):
        store.put(response(rid), [])
    assert store.get("a") is None and store.get("b") and store.get("c")
    assert len(store) == 2


def test_a_read_keeps_a_response_longer() -> None:
    store = ResponseStore(max_count=2)
    store.put(response("a"), [])
    store.put(response("b"), [])
    assert store.get("a") is not None  # a is now the most recent
    store.put(response("c"), [])
    assert store.get("b") is None and store.get("a") is not None


def test_the_byte_budget_evicts_and_a_too_big_one_is_not_kept() -> None:
    probe = ResponseStore()
    probe.put(response("p", "x" * 1000), [])
    size = probe.get("p").size  # type: ignore[union-attr]
    store = ResponseStore(max_bytes=int(size * 2.5))
    for rid in ("a", "b", "c"):
        store.put(response(rid, "x" * 1000), [])
    assert [store.get(r) is not None for r in ("a", "b", "c")] == [False, True, True]
    store.put(response("huge", "x" * size * 3), [])
    assert store.get("huge") is None and store.get("c") is not None
    assert size >= len(dumps(response("p", "x" * 1000)))


def test_history_chains_previous_input_and_output() -> None:
    store = ResponseStore()
    first_in = input_items("My name is Ada.")
    store.put(response("r1", "Hello Ada"), first_in)
    previous = store.get("r1")
    second_in = input_items([{"role": "user", "content": "Name?"}])
    store.put(response("r2", "Ada"), second_in, previous)
    history = store.get("r2").history  # type: ignore[union-attr]
    texts = [i["content"][0]["text"] for i in history]
    assert texts == ["My name is Ada.", "Hello Ada", "Name?", "Ada"]
    assert store.get("r2").input_items == second_in  # type: ignore[union-attr]


def test_delete_and_input_item_ids() -> None:
    store = ResponseStore()
    items = input_items(
        [
            {"role": "user", "content": "x"},
            {"type": "function_call_output", "call_id": "c", "output": "o"},
            {"type": "message", "role": "user", "content": [], "id": "msg_keep"},
            "not an item",
        ]
    )
    assert [i["id"][:4] for i in items] == ["msg_", "fco_", "msg_"]
    assert items[2]["id"] == "msg_keep"
    assert items[0] == {
        **items[0],
        "type": "message",
        "content": [{"type": "input_text", "text": "x"}],
    }
    store.put(response("r"), items)
    assert store.delete("r") is True and store.delete("r") is False
    assert len(store) == 0
