"""An OpenAI-shaped upstream in its own thread whose streams pause until the test says go.

A stream sends "Hel", then waits for `release()` before "lo" and [DONE]: a test can act (send
SIGTERM, probe readiness) while a stream is provably in flight. Plain (synchronous) tests use it
to drive real processes and containers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web

from tests.fakes import FakeUpstream, Received, chat_chunks


class GatedUpstream:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.streaming = threading.Event()  # the first piece of a stream was sent
        self._gate = asyncio.Event()
        self.fake = FakeUpstream(responder=self._respond)
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)

    @property
    def url(self) -> str:
        return self.fake.url

    @property
    def received(self) -> list[Received]:
        return self.fake.received

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self._gate.set)

    def close(self) -> None:
        self.release()
        asyncio.run_coroutine_threadsafe(self.fake.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _respond(self, request: web.Request, rec: Received) -> web.StreamResponse:
        body: dict[str, Any] = rec.json if rec.body else {}
        if not body.get("stream"):
            return await self.fake.default(request, rec)
        chunks = chat_chunks(["Hel", "lo"], model=body.get("model", "gpt-4o"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i, chunk in enumerate(chunks):
            if i == 2:  # the role and "Hel" are out: hold the rest until released
                self.streaming.set()
                await self._gate.wait()
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
