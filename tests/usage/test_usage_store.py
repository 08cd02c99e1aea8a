"""The usage history: real requests through the gateway into a real SQLite file."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from aoa_proxy.runtime import RequestRecord
from aoa_proxy.usage import UsageStore
from tests.fakes import Received, sse
from tests.support import wait_for


def _rows(path: Path, want: int) -> list[dict[str, Any]]:
    """The history's rows once `want` of them are written (the writer is a thread)."""

    def read() -> list[dict[str, Any]] | None:
        if not path.exists():
            return None
        db = sqlite3.connect(path)
        db.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in db.execute("SELECT * FROM requests ORDER BY time")]
        except sqlite3.DatabaseError:  # not made yet, or the corrupt file not yet set aside
            return None
        finally:
            db.close()
        return rows if len(rows) >= want else None

    return wait_for(f"{want} usage rows in {path}", read, timeout=10)


def _env(upstream_url: str, db: Path, **more: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream_url,
        "OPENAI_API_KEY": "sk-server-key-abcd9876",
        "AOA_USAGE_DB": str(db),
        **more,
    }


async def test_each_model_call_becomes_one_row_without_bodies_or_keys(
    upstream, start_gateway, tmp_path
):
    db = tmp_path / "data" / "usage.sqlite3"
    gw = await start_gateway(_env(upstream.url, db))
    client = gw.client()
    await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "secret prompt"}]
    )
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for _ in stream:
        pass
    await client.models.list()  # a listing is not a model call: no row
    rows = _rows(db, 2)
    assert len(rows) == 2
    whole, streamed = rows
    assert whole["door"] == "chat" and whole["provider"] == "openai"
    assert (whole["model"], whole["upstream_model"], whole["status"]) == ("gpt-4o", "gpt-4o", 200)
    assert (whole["prompt_tokens"], whole["completion_tokens"]) == (9, 3)
    assert whole["key_last4"] == "9876"
    assert (streamed["stream"], streamed["prompt_tokens"], streamed["completion_tokens"]) == (
        1,
        5,
        2,
    )
    assert whole["duration_ms"] > 0
    raw = db.read_bytes() + (
        db.with_name(db.name + "-wal").read_bytes()
        if db.with_name(db.name + "-wal").exists()
        else b""
    )
    assert b"secret prompt" not in raw and b"sk-server-key" not in raw
    if os.name == "posix":
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        assert db.with_name(db.name + "-wal").exists()  # WAL mode


async def test_cached_and_reasoning_tokens_are_kept(upstream, start_gateway, tmp_path):
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": "o3",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 40,
                    "total_tokens": 140,
                    "prompt_tokens_details": {"cached_tokens": 64},
                    "completion_tokens_details": {"reasoning_tokens": 32},
                },
            }
        )

    upstream.responder = answer
    db = tmp_path / "usage.sqlite3"
    gw = await start_gateway(_env(upstream.url, db))
    await gw.client().chat.completions.create(
        model="o3", messages=[{"role": "user", "content": "x"}]
    )
    (row,) = _rows(db, 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (100, 40)
    assert (row["cached_tokens"], row["reasoning_tokens"]) == (64, 32)


async def test_responses_stream_usage_is_read_from_its_last_event(
    upstream, start_gateway, tmp_path
):
    """A native Responses stream carries usage inside response.completed, after a long output."""
    long_text = "word " * 2000  # the completed event's start is far past the stream's tail

    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        completed = {
            "type": "response.completed",
            "sequence_number": 1,
            "response": {
                "id": "resp_1",
                "object": "response",
                "status": "completed",
                "model": "gpt-5",
                "output": [
                    {"type": "message", "content": [{"type": "output_text", "text": long_text}]}
                ],
                "usage": {
                    "input_tokens": 11,
                    "output_tokens": 22,
                    "total_tokens": 33,
                    "input_tokens_details": {"cached_tokens": 5},
                    "output_tokens_details": {"reasoning_tokens": 7},
                },
            },
        }
        created = {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1"}}
        return await sse(request, [created, completed], done=False)

    upstream.responder = answer
    db = tmp_path / "usage.sqlite3"
    gw = await start_gateway(_env(upstream.url, db))
    stream = await gw.client().responses.create(model="gpt-5", input="hi", stream=True)
    async for _ in stream:
        pass
    (row,) = _rows(db, 1)
    assert row["door"] == "responses"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (11, 22)
    assert (row["cached_tokens"], row["reasoning_tokens"]) == (5, 7)


async def test_failed_requests_are_rows_with_their_status(upstream, start_gateway, tmp_path):
    async def refuse(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response({"error": {"message": "no", "type": "server_error"}}, status=503)

    upstream.responder = refuse
    db = tmp_path / "usage.sqlite3"
    gw = await start_gateway(_env(upstream.url, db))
    with pytest.raises(Exception):  # noqa: B017 - the SDK's error class does not matter here
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    (row,) = _rows(db, 1)
    assert row["status"] == 503 and row["prompt_tokens"] is None


async def test_a_locked_database_does_not_stop_serving_and_is_logged_once(
    upstream, start_gateway, tmp_path, caplog
):
    db = tmp_path / "usage.sqlite3"
    store = UsageStore(db)
    store.add(RequestRecord("POST", "/v1/chat/completions", status=200))
    store.close()  # the file exists with its table
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    caplog.set_level(logging.WARNING, "aoa_proxy.usage")
    try:
        gw = await start_gateway(_env(upstream.url, db))
        gw.runtime.usage.busy_ms = 50
        client = gw.client()
        for _ in range(3):
            answer = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
            assert answer.choices[0].message.content == "Hello!"
        usage = gw.runtime.usage
        assert usage is not None
        wait_for("the locked write to fail", lambda: "locked" in usage.problem or None)
        await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "y"}]
        )
        usage.close()
    finally:
        holder.rollback()
        holder.close()
    said = [r for r in caplog.records if "usage history" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert "locked" in said[0].getMessage()


async def test_a_corrupt_database_is_set_aside_and_serving_goes_on(
    upstream, start_gateway, tmp_path, caplog
):
    db = tmp_path / "usage.sqlite3"
    db.write_bytes(b"this is not a database " * 200)
    caplog.set_level(logging.WARNING, "aoa_proxy.usage")
    gw = await start_gateway(_env(upstream.url, db))
    client = gw.client()
    for _ in range(2):
        answer = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert answer.choices[0].message.content == "Hello!"
    rows = _rows(db, 2)
    assert len(rows) == 2  # a new file took the rows
    aside = list(tmp_path.glob("usage.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    said = [r for r in caplog.records if "usage history" in r.getMessage()]
    assert len(said) == 1 and "not a usable usage history" in said[0].getMessage()


def test_rows_older_than_the_retention_are_dropped(tmp_path):
    db = tmp_path / "usage.sqlite3"
    now = time.time()
    store = UsageStore(db, retention_days=7, clock=lambda: now)
    for age_days in (30, 8, 6, 0):
        store.add(RequestRecord("POST", "/v1/chat/completions", started=now - age_days * 86400))
    store.close()
    store.add(RequestRecord("POST", "/v1/chat/completions", started=now))  # opens and prunes
    store.close()
    ages = sorted(round((now - r["time"]) / 86400) for r in _rows(db, 3))
    assert ages == [0, 0, 6]


async def test_no_history_is_kept_unless_asked(upstream, start_gateway, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert gw.runtime.usage is None
    assert list(tmp_path.iterdir()) == []
