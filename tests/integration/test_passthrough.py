"""Yi and generic OpenAI-compatible upstreams; streaming behaviour; proxies; the demo provider."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes import Received, chat_chunks
from tests.proxies import TunnelProxy


async def test_yi_gets_a_bearer_header_path_and_api_version(upstream, start_gateway):
    gw = await start_gateway(
        {
            "AOA_TYPE": "yi",
            "YI_ENDPOINT": upstream.url,
            "YI_API_KEY": "yi-key",
            "YI_MODEL_ALIAS": "gpt-4:yi-large",
        }
    )
    await gw.client(api_key="whatever").chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}], temperature=0
    )
    got = upstream.last
    assert got.path == "/v1/chat/completions"
    assert got.query == {"api-version": "2023-12-15-preview"}
    assert got.headers["Authorization"] == "Bearer yi-key"
    assert got.json == {
        "model": "yi-large",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
    }


async def test_yi_endpoint_with_v1_suffix_is_not_doubled(upstream, start_gateway):
    gw = await start_gateway({"AOA_TYPE": "yi", "YI_ENDPOINT": upstream.url + "/v1/"})
    await gw.client(api_key="client-yi").chat.completions.create(
        model="yi-lightning", messages=[{"role": "user", "content": "hi"}]
    )
    assert upstream.last.path == "/v1/chat/completions"
    assert upstream.last.headers["Authorization"] == "Bearer client-yi"


async def test_openai_compatible_base_url_alias_and_models(upstream, start_gateway):
    gw = await start_gateway(
        {
            "AOA_TYPE": "openai",
            "OPENAI_ENDPOINT": upstream.url + "/api/v1",
            "OPENAI_MODEL_ALIAS": "gpt-4:deepseek-chat",
        }
    )
    client = gw.client(api_key="sk-client")
    await client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"provider": {"order": ["a"]}},
    )
    assert upstream.last.path == "/api/v1/chat/completions"
    assert upstream.last.json["model"] == "deepseek-chat"
    assert upstream.last.json["provider"] == {"order": ["a"]}
    ids = [m.id async for m in await client.models.list()]
    assert ids == ["upstream-model", "gpt-4"]
    assert upstream.last.path == "/api/v1/models"


async def test_relevant_upstream_headers_come_back(upstream, start_gateway):
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-request-id"] == "req-123"
    assert raw.headers["x-ratelimit-remaining-requests"] == "99"


async def test_chunks_reach_the_client_before_the_upstream_finishes(upstream, start_gateway):
    release = asyncio.Event()

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in chat_chunks(["first"])[:2]:
            import json

            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await release.wait()  # hold the rest until the client has seen the first chunks
        await resp.write(b"data: [DONE]\n\n")
        return resp

    upstream.responder = respond
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    stream = await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    seen = []
    async for chunk in stream:
        seen.append(chunk.choices[0].delta.content)
        if len(seen) == 2:
            assert not release.is_set()
            release.set()
    assert seen == ["", "first"]


async def test_client_disconnect_closes_the_upstream_stream(upstream, start_gateway):
    upstream_gone = asyncio.Event()

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for _ in range(1000):
                await resp.write(b'data: {"choices":[]}\n\n')
                await asyncio.sleep(0.01)
        except (ConnectionResetError, asyncio.CancelledError):
            upstream_gone.set()
            raise
        return resp

    upstream.responder = respond
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    async with aiohttp.ClientSession() as s:
        resp = await s.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": "Bearer k"},
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
        await resp.content.readuntil(b"\n\n")
        resp.close()  # the client goes away mid-stream
    await asyncio.wait_for(upstream_gone.wait(), timeout=5)


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_provider_proxy_variables_route_through_the_proxy(upstream, start_gateway, kind):
    proxy = await TunnelProxy(kind).start()
    try:
        var = "AZURE_HTTP_PROXY" if kind == "http" else "AZURE_SOCKS_PROXY"
        gw = await start_gateway(
            {
                "AOA_TYPE": "azure",
                "AZURE_ENDPOINT": upstream.url,
                "AZURE_API_KEY": "k",
                var: proxy.url,
            }
        )
        reply = await gw.client().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert reply.choices[0].message.content == "Hello!"
        assert proxy.tunnels and proxy.tunnels[0][1] == upstream.server.port
    finally:
        await proxy.close()


async def test_demo_provider_answers_every_route_offline(start_gateway):
    gw = await start_gateway({})
    client = gw.client()
    reply = await client.chat.completions.create(
        model="demo-echo", messages=[{"role": "user", "content": "ping pong"}]
    )
    assert reply.choices[0].message.content == "Echo: ping pong"
    assert reply.usage is not None and reply.usage.total_tokens > 0
    stream = await client.chat.completions.create(
        model="demo-echo",
        messages=[{"role": "user", "content": "a b c"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: a b c"
    assert chunks[-1].usage is not None
    done = await client.completions.create(model="demo-echo", prompt="hello")
    assert done.choices[0].text == "Echo: hello"
    emb = await client.embeddings.create(model="demo-embedding", input=["a", "b"], dimensions=8)
    assert [len(d.embedding) for d in emb.data] == [8, 8]
    again = await client.embeddings.create(model="demo-embedding", input=["a"], dimensions=8)
    assert again.data[0].embedding == emb.data[0].embedding
    ids = [m.id async for m in await client.models.list()]
    assert "demo-echo" in ids


async def test_demo_embeddings_base64_decodes_to_the_float_vector(start_gateway):
    import base64
    import struct

    gw = await start_gateway({})
    async with aiohttp.ClientSession() as s:

        async def get(fmt: str) -> Any:
            async with s.post(
                f"{gw.url}/v1/embeddings",
                json={"model": "demo-embedding", "input": "hi", "encoding_format": fmt},
            ) as r:
                return (await r.json())["data"][0]["embedding"]

        floats, b64 = await get("float"), await get("base64")
    decoded = struct.unpack(f"<{len(floats)}f", base64.b64decode(b64))
    assert decoded == pytest.approx(floats, abs=1e-6)


async def test_demo_embeddings_asked_as_a_stream_answer_whole(start_gateway):
    gw = await start_gateway({})
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{gw.url}/v1/embeddings",
            json={"model": "demo-embedding", "input": "hi", "dimensions": 4, "stream": True},
        ) as r,
    ):
        assert r.content_type == "application/json"
        assert len((await r.json())["data"][0]["embedding"]) == 4


async def test_upstream_gzip_is_decoded_and_large_answers_are_compressed(upstream, start_gateway):
    big = "x" * 5000
    from tests.fakes import chat_completion

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.json_response(chat_completion(content=big))
        resp.enable_compression(web.ContentCoding.gzip)
        return resp

    upstream.responder = respond
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    async with (
        aiohttp.ClientSession(auto_decompress=False) as s,
        s.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Accept-Encoding": "gzip", "Authorization": "Bearer k"},
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        ) as r,
    ):
        assert r.headers["Content-Encoding"] == "gzip"
        import gzip
        import json

        assert (
            json.loads(gzip.decompress(await r.read()))["choices"][0]["message"]["content"] == big
        )


async def test_switching_provider_mid_stream_keeps_the_stream(upstream, start_gateway):
    gate = asyncio.Event()

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        from tests.fakes import sse

        await gate.wait()
        return await sse(request, chat_chunks(["x", "y"]))

    upstream.responder = respond
    gw = await start_gateway({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url})
    stream_task = asyncio.create_task(_collect(gw))
    while not upstream.received:
        await asyncio.sleep(0.01)
    gw.runtime.switch("demo")
    gate.set()
    assert await stream_task == "xy"
    reply = await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "now"}]
    )
    assert reply.choices[0].message.content == "Echo: now"


async def _collect(gw) -> str:
    stream = await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def test_gzip_request_body_is_accepted(start_gateway):
    import gzip
    import json

    gw = await start_gateway({})
    body = gzip.compress(
        json.dumps({"model": "m", "messages": [{"role": "user", "content": "zipped"}]}).encode()
    )
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{gw.url}/v1/chat/completions",
            data=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ) as r,
    ):
        assert (await r.json())["choices"][0]["message"]["content"] == "Echo: zipped"
