"""Client faults: a client that disconnects mid-stream (or while the gateway still waits for the
upstream) cancels the upstream request at once, and nothing leaks: asyncio tasks and open file
descriptors return to their baseline. A slow reader applies backpressure all the way upstream."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks
from tests.reliability.conftest import async_wait_until, open_fds, provider_env

CHAT = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


class Watch:
    """An upstream that streams one event (or nothing) and then holds the connection open,
    noting when the gateway lets go of it."""

    def __init__(self) -> None:
        self.open = 0
        self.closed = 0

    async def respond(self, request: web.Request, rec: Received) -> web.StreamResponse:
        self.open += 1
        try:
            if b"before-headers" not in rec.body:
                resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await resp.prepare(request)
                await resp.write(f"data: {json.dumps(chat_chunks(['a'])[0])}\n\n".encode())
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")
        finally:  # cancelled when the gateway closes its upstream connection
            self.closed += 1


async def _disconnect_after_first_event(url: str, model: str) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.post(url + CHAT, json={**BODY, "model": model})
        if model != "before-headers":
            assert resp.status == 200
            line = await resp.content.readline()
            assert line.startswith(b"data: ")
        resp.close()  # drop the connection mid-stream


async def _baseline(gw_url: str) -> tuple[int, int]:
    async with aiohttp.ClientSession() as s, s.get(gw_url + "/health") as r:
        assert r.status == 200
    await asyncio.sleep(0)
    return len(asyncio.all_tasks()), open_fds()


@pytest.mark.parametrize("kind", ["openai", "azure", "yi"])
async def test_client_disconnect_cancels_upstream_at_once(
    upstream: FakeUpstream, start_gateway: StartGateway, kind: str
) -> None:
    watch = Watch()
    upstream.responder = watch.respond
    gw = await start_gateway(provider_env(kind, upstream.url))
    for n, model in enumerate(["m", "before-headers"], start=1):
        task = asyncio.ensure_future(_disconnect_after_first_event(gw.url, model))
        if model == "before-headers":  # the client leaves while the gateway awaits headers
            assert await async_wait_until(lambda n=n: watch.open == n, timeout=5)
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # "At once": the upstream sees its connection close without any timeout firing
        # (the gateway's read timeout is 600 s here).
        assert await async_wait_until(lambda n=n: watch.closed == n, timeout=5), watch.closed
    rec = gw.runtime.recent[-1]
    assert rec.status == 499


async def test_disconnects_leak_no_tasks_or_descriptors(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    watch = Watch()
    upstream.responder = watch.respond
    gw = await start_gateway(provider_env("openai", upstream.url))
    demo = await start_gateway({"AOA_TYPE": "demo"})
    await _disconnect_after_first_event(gw.url, "m")  # warm up pools and lazy imports
    assert await async_wait_until(lambda: watch.closed == 1, timeout=5)
    tasks0, fds0 = await _baseline(gw.url)
    rounds = 40
    for i in range(rounds):
        model = "before-headers" if i % 4 == 3 else "m"
        if model == "before-headers":
            task = asyncio.ensure_future(_disconnect_after_first_event(gw.url, model))
            assert await async_wait_until(lambda: watch.open == watch.closed + 1, timeout=5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            await _disconnect_after_first_event(gw.url, model)
        await _disconnect_after_first_event(demo.url, "demo-echo")
    assert await async_wait_until(lambda: watch.closed == rounds + 1, timeout=10)

    async def settled() -> bool:
        tasks, fds = len(asyncio.all_tasks()), open_fds()
        return tasks <= tasks0 + 2 and fds <= fds0 + 4

    ok = False
    for _ in range(250):  # wait (bounded) for closing sockets to finish closing
        if ok := await settled():
            break
        await asyncio.sleep(0.02)
    assert ok, (tasks0, len(asyncio.all_tasks()), fds0, open_fds())


class Firehose:
    """An upstream that streams as fast as the gateway takes it and counts what it sent."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0
        self.finished = False

    async def respond(self, request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        event = chat_chunks(["x" * 16000])[1]
        frame = f"data: {json.dumps(event)}\n\n".encode()
        while self.sent < self.total:
            await resp.write(frame)  # blocks while the gateway does not read
            self.sent += len(frame)
        await resp.write(b"data: [DONE]\n\n")
        self.finished = True
        await resp.write_eof()
        return resp


async def test_slow_reader_pushes_back_to_the_upstream(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    total = 256 * 1024 * 1024
    hose = Firehose(total)
    upstream.responder = hose.respond
    gw = await start_gateway(provider_env("openai", upstream.url))
    conn = aiohttp.TCPConnector()
    async with aiohttp.ClientSession(connector=conn) as s:
        resp = await s.post(gw.url + CHAT, json=BODY)
        assert resp.status == 200
        first = await resp.content.readline()
        # The reader stops. Wait until the upstream stops making progress, then check it was
        # held back: only socket buffers and bounded read-ahead sit between the two ends.
        last = -1
        while hose.sent != last:
            last = hose.sent
            await asyncio.sleep(0.3)
        assert hose.sent < 48 * 1024 * 1024, hose.sent
        print(f"upstream bytes sent while the reader paused: {hose.sent}")
        assert not hose.finished
        # Now read slowly to the end: everything arrives, in order, ending with [DONE].
        got = len(first)
        tail = b""
        async for chunk in resp.content.iter_chunked(1 << 20):
            got += len(chunk)
            tail = (tail + chunk)[-64:]
        assert tail.endswith(b"data: [DONE]\n\n")
        assert got >= total
        resp.release()


async def test_messages_stream_disconnect_cancels_upstream_and_its_pinger(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    """A Claude Code stream dropped mid-answer: the upstream connection closes at once and
    the stream's pinger task goes with it (tasks back to the baseline), logged as 499."""
    watch = Watch()
    upstream.responder = watch.respond
    gw = await start_gateway(provider_env("openai", upstream.url))
    tasks0, fds0 = await _baseline(gw.url)
    body = {"model": "m", "max_tokens": 9, "messages": BODY["messages"], "stream": True}
    for n in range(1, 6):
        async with aiohttp.ClientSession() as s:
            resp = await s.post(gw.url + "/v1/messages", json=body)
            assert resp.status == 200
            assert (await resp.content.readline()) == b"event: message_start\n"
            resp.close()
        assert await async_wait_until(lambda n=n: watch.closed == n, timeout=5), watch.closed
    assert gw.runtime.recent[-1].status == 499

    async def settled() -> bool:
        return len(asyncio.all_tasks()) <= tasks0 + 2 and open_fds() <= fds0 + 4

    ok = False
    for _ in range(250):
        if ok := await settled():
            break
        await asyncio.sleep(0.02)
    assert ok, (tasks0, len(asyncio.all_tasks()), fds0, open_fds())
