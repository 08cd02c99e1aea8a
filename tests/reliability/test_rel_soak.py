"""Soak: thousands of mixed requests (streaming and not, some failing on purpose) with bounded
concurrency through `python -m aoa_proxy` as a real subprocess. RSS and open descriptors are read
from /proc at the start and the end; every answer must be the one expected for its kind.

Normal runs do a short bounded soak; AOA_SOAK=long (the CI soak job) runs a long one."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes import FakeUpstream, Received, chat_chunks, sse
from tests.reliability.conftest import ACCESS_TOKEN, SERVER_KEY, ProcGateway, provider_env

LONG = os.environ.get("AOA_SOAK") == "long"
REQUESTS = 120_000 if LONG else 10_000
WARMUP = 400
CONCURRENCY = 16
RSS_GROWTH_KIB = 24 * 1024  # allowed growth after warm-up
FD_GROWTH = 4

# kind -> (method, path, body, expected status, streams?)
MIX: list[tuple[str, str, str, dict[str, Any] | None, int, bool]] = [
    (
        "chat",
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        200,
        False,
    ),
    (
        "chat-stream",
        "POST",
        "/v1/chat/completions",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        200,
        True,
    ),
    ("embeddings", "POST", "/v1/embeddings", {"model": "e", "input": ["a", "b"]}, 200, False),
    ("models", "GET", "/v1/models", None, 200, False),
    ("completions", "POST", "/v1/completions", {"model": "m", "prompt": "p"}, 200, False),
    ("injected-400", "POST", "/v1/chat/completions", {"model": "m"}, 400, False),
    (
        "injected-500",
        "POST",
        "/v1/chat/completions",
        {"model": "fail-500", "messages": [{"role": "user", "content": "hi"}]},
        500,
        False,
    ),
    (
        "injected-cut",
        "POST",
        "/v1/chat/completions",
        {"model": "cut", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        200,
        True,
    ),
    (
        "messages",
        "POST",
        "/v1/messages",
        {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]},
        200,
        False,
    ),
    (
        "messages-stream",
        "POST",
        "/v1/messages",
        {
            "model": "m",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
        200,
        True,
    ),
    (
        "messages-cut",
        "POST",
        "/v1/messages",
        {
            "model": "cut",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
        200,
        True,
    ),
]


async def _responder(upstream: FakeUpstream) -> Any:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if b'"fail-500"' in rec.body:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if b'"cut"' in rec.body:
            return await sse(request, chat_chunks(["a", "b"]), done=False)
        return await upstream.default(request, rec)

    return respond


async def _one(
    s: aiohttp.ClientSession, url: str, item: tuple[str, str, str, dict[str, Any] | None, int, bool]
) -> str:
    kind, method, path, body, want, streams = item
    async with s.request(method, url + path, json=body) as r:
        data = await r.read()
    if r.status != want:
        return f"{kind}: status {r.status}: {data[:200]!r}"
    if b"Traceback" in data:
        return f"{kind}: traceback"
    if streams and kind.startswith("messages"):  # Anthropic's events, not chat chunks
        last = data.rstrip().rsplit(b"\n\n", 1)[-1]
        want_last = b"event: error\n" if kind == "messages-cut" else b"event: message_stop\n"
        if not last.startswith(want_last):
            return f"{kind}: stream ended with {last[:80]!r}"
    elif streams:
        if kind == "injected-cut":
            if b'"error"' not in data.rsplit(b"data: ", 1)[-1] or b"data: [DONE]" in data:
                return f"{kind}: no error event"
        elif not data.endswith(b"data: [DONE]\n\n"):
            return f"{kind}: stream did not end with [DONE]"
    elif want == 200:
        json.loads(data)
    else:
        err = json.loads(data)["error"]
        if not {"message", "type", "param", "code"} <= set(err):
            return f"{kind}: malformed error {err}"
    return "ok"


async def _run(url: str, count: int, offset: int) -> Counter[str]:
    results: Counter[str] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(offset, offset + count):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as s:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                item = MIX[i % len(MIX)]
                try:
                    outcome = await _one(s, url, item)
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    outcome = f"{item[0]}: {type(exc).__name__}"
                results[item[0] if outcome == "ok" else outcome] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


@pytest.mark.timeout(900 if LONG else 120)
async def test_soak_mixed_requests_bounded_memory_and_descriptors(
    upstream: FakeUpstream, proc_gateway: Any
) -> None:
    upstream.responder = await _responder(upstream)
    env = {
        **provider_env("openai", upstream.url),
        "AOA_ACCESS_TOKEN": ACCESS_TOKEN,
        "AOA_LOG_LEVEL": "INFO",
    }
    gw: ProcGateway = proc_gateway(env)
    warm = await _run(gw.url, WARMUP, 0)
    assert set(warm) <= {m[0] for m in MIX}, warm
    rss0, fds0 = gw.rss_kib(), gw.open_fds()
    got = await _run(gw.url, REQUESTS, WARMUP)
    await asyncio.sleep(0.2)  # let the last connections finish closing before counting
    rss1, fds1 = gw.rss_kib(), gw.open_fds()
    errors = {k: v for k, v in got.items() if k not in {m[0] for m in MIX}}
    print(
        f"\nsoak: {sum(got.values())} requests, {dict(got)}; RSS {rss0} -> {rss1} KiB; "
        f"fds {fds0} -> {fds1}"
    )
    assert errors == {}
    assert sum(got.values()) == REQUESTS
    assert rss1 - rss0 < RSS_GROWTH_KIB, (rss0, rss1)
    assert fds1 <= fds0 + FD_GROWTH, (fds0, fds1)
    assert gw.alive()
    log = gw.stderr()
    assert "Traceback" not in log and "unexpected error" not in log
    assert SERVER_KEY not in log and ACCESS_TOKEN not in log
    # One access-log line per request, injected failures included.
    assert log.count("POST /v1/chat/completions") >= got["injected-500"] + got["chat"]
