"""GET /metrics: scraped over real HTTP and read back with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aoa_proxy.config import load_settings
from aoa_proxy.metrics import metrics_for
from aoa_proxy.runtime import RequestRecord, Runtime
from tests.fakes import Received, chat_chunks


def _env(upstream_url: str, **more: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream_url,
        "OPENAI_API_KEY": "sk-first-key-0001,sk-second-key-0002",
        "AOA_METRICS": "on",
        **more,
    }


async def _scrape(url: str, token: str = "") -> dict[str, list[tuple[dict[str, str], float]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = await r.text()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    found = [
        v for got, v in samples.get(name, []) if all(got.get(k) == w for k, w in labels.items())
    ]
    return float(sum(found))


async def test_requests_tokens_and_latency_are_counted(upstream, start_gateway):
    gw = await start_gateway(_env(upstream.url))
    client = gw.client()
    for _ in range(3):
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
    await client.embeddings.create(model="emb", input="x")
    samples = await _scrape(gw.url)
    chat = {"door": "chat", "provider": "openai", "model": "gpt-4o"}
    assert _value(samples, "aoa_requests_total", **chat, status="200") == 3
    assert _value(samples, "aoa_requests_total", door="embeddings", status="200") == 1
    assert _value(samples, "aoa_tokens_total", **chat, kind="prompt") == 27
    assert _value(samples, "aoa_tokens_total", **chat, kind="completion") == 9
    assert _value(samples, "aoa_request_duration_seconds_count", door="chat") == 3
    assert _value(samples, "aoa_request_duration_seconds_bucket", door="chat", le="+Inf") == 3
    assert _value(samples, "aoa_request_duration_seconds_sum", door="chat") > 0
    # Keys appear by their place in the pool, never by any part of the key.
    places = sorted(labels["key"] for labels, _ in samples["aoa_key_cooldown_seconds"])
    assert places == ["1", "2"]
    assert all(v == 0 for _, v in samples["aoa_key_cooldown_seconds"])


async def test_upstream_errors_are_counted_by_status(upstream, start_gateway):
    async def refuse(request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response({"error": {"message": "down", "type": "server_error"}}, status=500)

    upstream.responder = refuse
    gw = await start_gateway(_env(upstream.url, OPENAI_API_KEY="sk-only-one-key-0001"))
    async with aiohttp.ClientSession() as s:
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        async with s.post(f"{gw.url}/v1/chat/completions", json=body) as r:
            assert r.status == 500
    samples = await _scrape(gw.url)
    assert _value(samples, "aoa_requests_total", door="chat", status="500") == 1


async def test_a_rate_limited_key_shows_its_cool_down(upstream, start_gateway):
    async def limited(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.headers["Authorization"].endswith("0001"):
            return web.json_response(
                {"error": {"message": "slow down", "type": "rate_limit"}},
                status=429,
                headers={"retry-after": "120"},
            )
        resp: web.StreamResponse = await upstream.default(request, rec)
        return resp

    upstream.responder = limited
    gw = await start_gateway(_env(upstream.url))
    await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    samples = await _scrape(gw.url)
    cooling = {
        labels["key"]: (labels["reason"], v) for labels, v in samples["aoa_key_cooldown_seconds"]
    }
    assert cooling["1"][0] == "rate_limited" and 100 < cooling["1"][1] <= 120
    assert cooling["2"] == ("", 0)


async def test_streams_in_flight_are_counted_while_open(upstream, start_gateway):
    release = asyncio.Event()

    async def slow(request: web.Request, rec: Received) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        first, *rest = chat_chunks(["a", "b"])
        await resp.write(f"data: {json.dumps(first)}\n\n".encode())
        await release.wait()  # the gateway's stream stays open until the test says so
        for chunk in rest:
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    upstream.responder = slow
    gw = await start_gateway(_env(upstream.url))
    stream = await gw.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    await anext(aiter(stream))
    samples = await _scrape(gw.url)
    assert _value(samples, "aoa_streams_in_flight", door="chat") == 1
    release.set()
    async for _ in stream:
        pass
    samples = await _scrape(gw.url)
    assert _value(samples, "aoa_streams_in_flight", door="chat") == 0
    assert _value(samples, "aoa_requests_total", door="chat", status="200") == 1


async def test_metrics_need_the_access_token_when_one_is_set(upstream, start_gateway):
    gw = await start_gateway(_env(upstream.url, AOA_ACCESS_TOKEN="tok-metrics-123"))
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{gw.url}/metrics") as r:
            assert r.status == 401
            assert (await r.json())["error"]["message"].startswith("Missing or wrong access token")
        async with s.get(f"{gw.url}/metrics", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
    samples = await _scrape(gw.url, token="tok-metrics-123")
    assert "aoa_key_cooldown_seconds" in samples


async def test_metrics_are_off_by_default(upstream, start_gateway):
    env = _env(upstream.url)
    del env["AOA_METRICS"]
    gw = await start_gateway(env)
    async with aiohttp.ClientSession() as s, s.get(f"{gw.url}/metrics") as r:
        assert r.status == 404
    assert gw.runtime.in_flight is None  # and the request path keeps no in-flight set


async def test_invented_model_names_cannot_grow_the_series_without_bound(
    upstream, start_gateway, monkeypatch
):
    monkeypatch.setattr("aoa_proxy.metrics.MAX_SERIES", 3)
    gw = await start_gateway(_env(upstream.url))
    client = gw.client()
    for i in range(6):
        await client.chat.completions.create(
            model=f"made-up-{i}", messages=[{"role": "user", "content": "x"}]
        )
    samples = await _scrape(gw.url)
    models = {labels["model"] for labels, _ in samples["aoa_requests_total"]}
    assert models == {"made-up-0", "made-up-1", "made-up-2", "other"}
    assert _value(samples, "aoa_requests_total", model="other") == 3


def test_latency_buckets_count_each_duration_at_or_below_their_bound():
    rt = Runtime(load_settings({}))
    metrics = metrics_for(rt)
    for ms in (50.0, 70.0, 400_000.0):  # on a bound, between two, above every bound
        rec = RequestRecord("POST", "/v1/chat/completions", provider="demo", status=200)
        rec.duration_ms = ms
        rt.record(rec)
    rt.record(RequestRecord("GET", "/v1/models", status=200))  # not a model call
    text = generate_latest(metrics.registry).decode()
    buckets = {
        s.labels["le"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "aoa_request_duration_seconds_bucket"
    }
    assert (buckets["0.05"], buckets["0.1"], buckets["300.0"], buckets["+Inf"]) == (1, 2, 2, 3)
    assert metrics_for(rt) is metrics  # a rebound app keeps counting on the same numbers
