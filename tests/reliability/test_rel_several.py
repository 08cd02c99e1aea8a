"""Three providers enabled at once (AOA_PROVIDERS=azure,gemini,openai): model names fuzzed
through the router (prefixes, globs, chains, `|`, `*`, `/`, unicode, control characters), and a
soak mixing every routing rule, key-pool rotation and failover through `python -m aoa_proxy`.

Every answer must be a valid success or a well-formed OpenAI error with a 4xx status: never a
5xx, never a traceback. Normal runs soak briefly; AOA_SOAK=long soaks for real."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse
from tests.gemini.fake_gemini import FakeGemini
from tests.reliability.conftest import ACCESS_TOKEN, SERVER_KEY, ProcGateway, ThreadedGateways
from tests.reliability.test_rel_fuzz import _Collect, _send, _steady, check_answer
from tests.reliability.test_rel_soak import CONCURRENCY, _one

LONG = os.environ.get("AOA_SOAK") == "long"
SCALE = 10 if LONG else 1
ALIASES = {
    "AZURE_MODEL_ALIAS": "gpt-4:my-gpt4,gpt-4o:my-gpt4o|gemini/gemini-2.5-pro|openai/gpt-4o",
    "GEMINI_MODEL_ALIAS": "claude-*-haiku*:gemini-2.5-flash,claude-*:gemini-2.5-pro",
    "OPENAI_MODEL_ALIAS": "fast:gpt-4o-mini,*-mini:gpt-4o-mini|azure/small",
}


def three(url: str, **extra: str) -> dict[str, str]:
    return {
        "AOA_PROVIDERS": "azure,gemini,openai",
        "AZURE_ENDPOINT": url,
        "AZURE_API_KEY": SERVER_KEY,
        "GEMINI_ENDPOINT": url,
        "GEMINI_API_KEY": SERVER_KEY,
        "OPENAI_ENDPOINT": f"{url}/v1",
        "OPENAI_API_KEY": f"{SERVER_KEY},{SERVER_KEY}-second",
        **ALIASES,
        **extra,
    }


async def _steady_three(request: web.Request, rec: Received) -> web.StreamResponse:
    """_steady, told apart by path: a model name may hold a `:` that is not Gemini's method."""
    if request.method == "GET" or request.path.startswith("/v1beta/"):
        return await _steady(request, rec)
    body = json.loads(rec.body)
    if body.get("stream") is True:
        return await sse(request, chat_chunks(["a", "b"]))
    if request.path.endswith("/embeddings"):
        item = {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}
        return web.json_response({"object": "list", "data": [item], "model": "e"})
    return web.json_response(chat_completion())


@pytest.fixture(scope="module")
def routed() -> Iterator[tuple[int, Any]]:
    tg = ThreadedGateways()
    tg.upstream.responder = _steady_three  # answers every provider's paths sensibly
    port = tg.start(three(tg.upstream.url, AOA_LOG_LEVEL="WARNING"))
    log = _Collect()
    logging.getLogger().addHandler(log)
    yield port, log
    logging.getLogger().removeHandler(log)
    tg.close()


_pieces = st.sampled_from(
    [
        "azure/",
        "gemini/",
        "openai/",
        "yi/",
        "demo/",
        "Gemini/",
        "/",
        "*",
        "|",
        ":",
        ",",
        "claude-",
        "-haiku",
        "gpt-4",
        "gpt-4o",
        "fast",
        "-mini",
        "models/",
        "tunedModels/",
        "..",
        "%2F",
        "?x=1",
        "#",
        " ",
        "\t",
        "\n",
        "\u2028",
        "\x00",
        "中文",
        "é",
        "🙂",
        "\ud7ff",
    ]
)
MODEL_NAMES = st.lists(_pieces | st.text(max_size=6), max_size=6).map("".join) | st.text(
    max_size=40
)


@settings(
    max_examples=400 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    model=MODEL_NAMES,
    path=st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/v1/completions"]),
    stream=st.booleans(),
)
def test_any_model_name_routes_to_an_answer_or_a_4xx(routed, model, path, stream):
    port, log = routed
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "prompt": "p",
        "input": "i",
        "stream": stream,
    }
    headers = {"Content-Type": "application/json", "Authorization": "Bearer client-key"}
    status, rheaders, data = _send(port, "POST", path, json.dumps(body).encode(), headers)
    check_answer("POST", status, rheaders, data)  # a 404: a disabled prefix, or the upstream's
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


@settings(
    max_examples=200 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(model=MODEL_NAMES.filter(bool))
def test_any_model_name_retrieved_is_a_model_or_a_404(routed, model):
    port, log = routed
    status, rheaders, data = _send(port, "GET", "/v1/models/" + quote(model, safe=""), None, {})
    check_answer("GET", status, rheaders, data)
    assert status in (200, 404), (status, data)
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


# ------------------------------------------------------------------ soak, three providers

SOAK_REQUESTS = 120_000 if LONG else 10_000
WARMUP = 200
RSS_GROWTH_KIB = 24 * 1024
FD_GROWTH = 4
HI = [{"role": "user", "content": "hi"}]
Item = tuple[str, str, str, dict[str, Any] | None, int, bool]
SOAK_MIX: list[Item] = [
    ("default", "POST", "/v1/chat/completions", {"model": "m", "messages": HI}, 200, False),
    (
        "prefix-stream",
        "POST",
        "/v1/chat/completions",
        {"model": "openai/m", "messages": HI, "stream": True},
        200,
        True,
    ),
    (
        "gemini",
        "POST",
        "/v1/chat/completions",
        {"model": "gemini/gemini-2.5-flash", "messages": HI},
        200,
        False,
    ),
    (
        "glob-stream",
        "POST",
        "/v1/chat/completions",
        {"model": "claude-3-5-haiku", "messages": HI, "stream": True},
        200,
        True,
    ),
    # alias chain: Azure's first target always fails with a 500, Gemini serves
    ("failover", "POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": HI}, 200, False),
    # OpenAI's first key is always rate limited for a second: the pool rotates
    ("pool", "POST", "/v1/chat/completions", {"model": "fast", "messages": HI}, 200, False),
    ("models", "GET", "/v1/models", None, 200, False),
    ("disabled", "POST", "/v1/chat/completions", {"model": "yi/x", "messages": HI}, 404, False),
    (
        "embeddings",
        "POST",
        "/v1/embeddings",
        {"model": "gemini/gemini-embedding-001", "input": ["a"]},
        200,
        False,
    ),
]


def _openai_like(fake: FakeUpstream) -> Any:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if "/deployments/my-gpt4o/" in request.path:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        first_key = request.headers.get("Authorization") == f"Bearer {SERVER_KEY}"
        if first_key and request.method == "POST":
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"retry-after": "1"}
            )
        return await fake.default(request, rec)

    return respond


async def _soak(url: str, count: int, offset: int) -> Counter[str]:
    results: Counter[str] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(offset, offset + count):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as s:

        async def worker() -> None:
            while not queue.empty():
                item = SOAK_MIX[queue.get_nowait() % len(SOAK_MIX)]
                try:
                    outcome = await _one(s, url, item)
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    outcome = f"{item[0]}: {type(exc).__name__}"
                results[item[0] if outcome == "ok" else outcome] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


@pytest.mark.timeout(900 if LONG else 120)
async def test_soak_three_providers_bounded_memory_and_descriptors(
    upstream: FakeUpstream, proc_gateway: Any
) -> None:
    gemini = await FakeGemini().start()
    try:
        upstream.responder = _openai_like(upstream)
        env = {
            **three(upstream.url, AOA_ACCESS_TOKEN=ACCESS_TOKEN, AOA_LOG_LEVEL="INFO"),
            "GEMINI_ENDPOINT": gemini.url,
            "GEMINI_API_KEY": "server-key",
        }
        gw: ProcGateway = proc_gateway(env)
        kinds = {m[0] for m in SOAK_MIX}
        warm = await _soak(gw.url, WARMUP, 0)
        assert set(warm) <= kinds, warm
        rss0, fds0 = gw.rss_kib(), gw.open_fds()
        got = await _soak(gw.url, SOAK_REQUESTS, WARMUP)
        await asyncio.sleep(0.2)  # let the last connections finish closing before counting
        rss1, fds1 = gw.rss_kib(), gw.open_fds()
    finally:
        await gemini.close()
    print(
        f"\nsoak, three providers: {sum(got.values())} requests, {dict(got)}; "
        f"RSS {rss0} -> {rss1} KiB; fds {fds0} -> {fds1}"
    )
    assert {k: v for k, v in got.items() if k not in kinds} == {}
    assert sum(got.values()) == SOAK_REQUESTS
    assert rss1 - rss0 < RSS_GROWTH_KIB, (rss0, rss1)
    assert fds1 <= fds0 + FD_GROWTH, (fds0, fds1)
    assert gw.alive()
    log = gw.stderr()
    assert "Traceback" not in log and "unexpected error" not in log
    assert SERVER_KEY not in log and ACCESS_TOKEN not in log
    assert 'moved="500 from azure"' in log  # the failover said why
    assert "rests 1 s" in log  # the pool rotated
