"""Provider switches and settings saves during a load run: no request in flight fails."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp
from aiohttp import web

from aoa_proxy.config import load_settings
from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse
from tests.reliability.conftest import SERVER_KEY

ROUNDS = 300
CONCURRENCY = 12


def _upstream(tag: str) -> FakeUpstream:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if b'"stream": true' in rec.body or b'"stream":true' in rec.body:
            # Slow enough that switches land while streams are in flight.
            return await sse(request, chat_chunks([tag, "-", "ok"]), gap=0.005)
        return web.json_response(chat_completion(tag))

    return FakeUpstream(responder=respond)


async def test_switching_and_saving_during_load_fails_no_request(
    start_gateway: StartGateway,
) -> None:
    a, b = await _upstream("A").start(), await _upstream("B").start()
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": f"{a.url}/v1",
        "OPENAI_API_KEY": SERVER_KEY,
        "YI_ENDPOINT": b.url,
        "YI_API_KEY": SERVER_KEY,
    }
    gw = await start_gateway(env)
    rt = gw.runtime
    stop = asyncio.Event()
    switches = 0

    async def switcher() -> None:
        nonlocal switches
        saves = [
            load_settings({**env, "AOA_TYPE": "yi", "AOA_READ_TIMEOUT": "30"}),
            load_settings({**env, "OPENAI_MODEL_ALIAS": "m:m2"}),
        ]
        while not stop.is_set():
            name = "yi" if rt.provider.name == "openai" else "openai"
            rt.switch(name)  # the tray menu
            await asyncio.sleep(0.002)
            rt.apply(saves[switches % 2])  # a settings save
            switches += 1
            await asyncio.sleep(0.002)

    results: Counter[str] = Counter()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    async def client(s: aiohttp.ClientSession, n: int) -> None:
        for i in range(ROUNDS // CONCURRENCY):
            stream = (i + n) % 2 == 0
            async with s.post(
                gw.url + "/v1/chat/completions", json={**body, "stream": stream}
            ) as r:
                data = await r.read()
            if r.status != 200:
                results[f"status {r.status}: {data[:120]!r}"] += 1
            elif stream:
                text = "".join(
                    json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                    for line in data.split(b"\n\n")
                    if line.startswith(b"data: {")
                )
                ok = data.endswith(b"data: [DONE]\n\n") and text in ("A-ok", "B-ok")
                results["stream ok" if ok else f"bad stream {data[-120:]!r}"] += 1
            else:
                content = json.loads(data)["choices"][0]["message"]["content"]
                results["whole ok" if content in ("A", "B") else f"bad {content}"] += 1

    task = asyncio.ensure_future(switcher())
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(client(s, n) for n in range(CONCURRENCY)))
    stop.set()
    await task
    await a.close()
    await b.close()
    print(f"\nswitching: {switches} switch+save pairs during {sum(results.values())} requests")
    assert set(results) == {"stream ok", "whole ok"}, results
    assert switches > 10
    assert a.received and b.received  # both providers really served
