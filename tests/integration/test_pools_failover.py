"""Key pools and failover chains through the official openai SDK against fake upstreams: the
next key on a 429 (its retry-after respected), a 429 of our own when every key rests, the next
target on a 429, 5xx, refused connection or timeout before the first byte, and never once a
stream has started. The fakes record which key arrived; the pools read a clock the test moves."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import FakeUpstream, Received, chat_chunks, sse
from tests.reliability.conftest import closed_port
from tests.several import Fakes, StartAt, three_env

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
KEY_A, KEY_B = "sk-pool-key-aaaa-0001", "sk-pool-key-bbbb-0002"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keys_seen(fake: FakeUpstream) -> list[str]:
    return [
        r.headers["Authorization"].removeprefix("Bearer ")
        for r in fake.received
        if r.method == "POST"
    ]


def limited(fake: FakeUpstream, refuse: dict[str, str]) -> Any:
    """429 for the keys in `refuse` (key -> retry-after), the normal answer for the others."""

    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if request.method == "POST" and key in refuse:
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "requests", "code": "429"}},
                status=429,
                headers={"retry-after": refuse[key], "x-ratelimit-remaining-requests": "0"},
            )
        return await fake.default(request, rec)

    return respond


def pool_env(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream.url + "/v1",
        "OPENAI_API_KEY": f"{KEY_A}, {KEY_B}",
        **extra,
    }


# ------------------------------------------------------------------ key pools


async def test_a_429_moves_to_the_next_key_and_the_key_rests_for_its_retry_after(
    upstream: FakeUpstream, gateway: StartAt
) -> None:
    clock = Clock()
    refuse = {KEY_A: "30"}
    upstream.responder = limited(upstream, refuse)
    gw = await gateway(pool_env(upstream), clock=clock)
    client = gw.client()
    reply = await client.chat.completions.create(model="m", messages=HI)
    assert reply.choices[0].message.content == "Hello!"
    assert keys_seen(upstream) == [KEY_A, KEY_B]  # retried at once on the next key
    rec = gw.runtime.recent[-1]
    assert rec.moved == "429 from openai, key ****0001 rests 30 s"
    status = {s.key: s.cooling for s in gw.runtime.key_status()["openai"]}
    assert status == {"****0001": 30.0, "****0002": 0.0}
    refuse.clear()
    for _ in range(2):  # A rests: B serves
        await client.chat.completions.create(model="m", messages=HI)
    assert keys_seen(upstream)[2:] == [KEY_B, KEY_B]
    clock.now += 30  # its retry-after is over: A takes its turn again
    await client.chat.completions.create(model="m", messages=HI)
    assert keys_seen(upstream)[-1] == KEY_A


async def test_a_rejected_key_rests_and_the_next_one_serves(
    upstream: FakeUpstream, gateway: StartAt
) -> None:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.headers.get("Authorization") == f"Bearer {KEY_A}":
            error = {"message": "Incorrect API key provided", "code": "invalid_api_key"}
            return web.json_response({"error": error}, status=401)
        return await upstream.default(request, rec)

    upstream.responder = respond
    gw = await gateway(pool_env(upstream), clock=Clock())
    await gw.client().chat.completions.create(model="m", messages=HI)
    assert keys_seen(upstream) == [KEY_A, KEY_B]
    (a, b) = gw.runtime.key_status()["openai"]
    assert a.reason is not None and a.reason.value == "key_rejected" and b.cooling == 0.0


async def test_every_key_resting_is_a_429_with_the_soonest_retry_after(
    upstream: FakeUpstream, gateway: StartAt
) -> None:
    upstream.responder = limited(upstream, {KEY_A: "20", KEY_B: "30"})
    gw = await gateway(pool_env(upstream), clock=Clock())
    client = gw.client()
    with pytest.raises(openai.RateLimitError) as first:
        await client.chat.completions.create(model="m", messages=HI)
    # Both keys were tried: the client gets the last upstream answer, its headers included.
    assert keys_seen(upstream) == [KEY_A, KEY_B]
    assert first.value.response.headers["retry-after"] == "30"
    with pytest.raises(openai.RateLimitError) as second:
        await client.chat.completions.create(model="m", messages=HI)
    assert len(keys_seen(upstream)) == 2  # nothing was sent: every key rests
    assert second.value.response.headers["retry-after"] == "20"
    assert second.value.response.headers["retry-after-ms"] == "20000"
    body = second.value.body
    assert isinstance(body, dict) and body["code"] == "rate_limit_exceeded"
    assert KEY_A not in str(body) and KEY_B not in str(body)


async def test_a_lone_key_is_never_held_back(upstream: FakeUpstream, gateway: StartAt) -> None:
    refuse = {KEY_A: "30"}
    upstream.responder = limited(upstream, refuse)
    gw = await gateway({**pool_env(upstream), "OPENAI_API_KEY": KEY_A}, clock=Clock())
    client = gw.client()
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="m", messages=HI)
    (status,) = gw.runtime.key_status()["openai"]
    assert (status.key, status.cooling) == ("****0001", 30.0)  # shown resting in the tray
    refuse.clear()
    await client.chat.completions.create(model="m", messages=HI)  # but the upstream decides
    assert keys_seen(upstream) == [KEY_A, KEY_A]


async def test_every_rate_limit_header_spelling_reaches_the_client(
    upstream: FakeUpstream, gateway: StartAt
) -> None:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        answer = await upstream.default(request, rec)
        answer.headers["x-rate-limit-reset-tokens"] = "6m0s"  # Azure's hyphenated spelling
        answer.headers["x-ratelimit-reset-requests"] = "1s"
        answer.headers["retry-after-ms"] = "20"
        return answer

    upstream.responder = respond
    gw = await gateway({**pool_env(upstream), "OPENAI_API_KEY": KEY_A})
    raw = await gw.client().chat.completions.with_raw_response.create(model="m", messages=HI)
    assert raw.headers["x-rate-limit-reset-tokens"] == "6m0s"
    assert raw.headers["x-ratelimit-reset-requests"] == "1s"
    assert raw.headers["retry-after-ms"] == "20"


# ------------------------------------------------------------------ failover chains

CHAIN = "gpt-4o:my-gpt4o|gemini/gemini-2.5-pro"


def azure_answers(fakes: Fakes, status: int) -> None:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "POST":
            return web.json_response({"error": {"message": "busy", "code": "x"}}, status=status)
        return await fakes.azure.default(request, rec)

    fakes.azure.responder = respond


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_429_or_5xx_before_the_first_byte_moves_to_the_next_target(
    fakes: Fakes, gateway: StartAt, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aoa.access")
    azure_answers(fakes, status)
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS=CHAIN), clock=Clock())
    reply = await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert reply.model == "gemini-2.5-pro"  # the answer says which model served it
    assert fakes.azure.last.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert fakes.gemini.posts[-1].path == "/v1beta/models/gemini-2.5-pro:generateContent"
    rec = gw.runtime.recent[-1]
    assert rec.route == "gpt-4o → gemini/gemini-2.5-pro" and rec.provider == "gemini"
    assert rec.moved.endswith(f"{status} from azure")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "aoa.access"]
    assert "gemini gpt-4o → gemini/gemini-2.5-pro 200" in line
    assert 'from azure"' in line and "moved=" in line


async def test_a_refused_connection_moves_to_the_next_target(
    fakes: Fakes, gateway: StartAt
) -> None:
    env = three_env(
        fakes, AZURE_ENDPOINT=f"http://127.0.0.1:{closed_port()}/", AZURE_MODEL_ALIAS=CHAIN
    )
    gw = await gateway(env)
    reply = await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert reply.model == "gemini-2.5-pro"
    assert gw.runtime.recent[-1].moved == "connection refused from azure"


async def test_a_timeout_before_the_first_byte_moves_to_the_next_target(
    fakes: Fakes, gateway: StartAt
) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request, rec: Received) -> web.StreamResponse:
        if request.method == "POST":
            await release.wait()
        return await fakes.azure.default(request, rec)

    fakes.azure.responder = hang
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS=CHAIN, AOA_READ_TIMEOUT="0.3"))
    try:
        reply = await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    finally:
        release.set()
    assert reply.model == "gemini-2.5-pro"
    assert gw.runtime.recent[-1].moved == "timeout from azure"


async def test_a_stream_that_started_finishes_where_it_started(
    fakes: Fakes, gateway: StartAt
) -> None:
    async def cut(request: web.Request, rec: Received) -> web.StreamResponse:
        return await sse(request, chat_chunks(["partial"]), done=False)  # then it breaks off

    fakes.azure.responder = cut
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS=CHAIN))
    stream = await gw.client().chat.completions.create(model="gpt-4o", messages=HI, stream=True)
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="ended before"):
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "partial" in seen
    assert fakes.gemini.posts == []  # no second upstream once the first byte was out
    assert gw.runtime.recent[-1].moved == ""


async def test_a_stream_moves_on_before_its_first_byte(fakes: Fakes, gateway: StartAt) -> None:
    azure_answers(fakes, 429)
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS=CHAIN), clock=Clock())
    stream = await gw.client().chat.completions.create(model="gpt-4o", messages=HI, stream=True)
    chunks = [chunk async for chunk in stream]
    assert {c.model for c in chunks} == {"gemini-2.5-pro"}
    assert fakes.gemini.posts[-1].path.endswith(":streamGenerateContent")


async def test_a_client_error_is_the_answer_not_a_reason_to_move(
    fakes: Fakes, gateway: StartAt
) -> None:
    azure_answers(fakes, 400)
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS=CHAIN))
    with pytest.raises(openai.BadRequestError):
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert fakes.gemini.posts == []


async def test_the_last_targets_error_reaches_the_client(fakes: Fakes, gateway: StartAt) -> None:
    azure_answers(fakes, 503)
    fakes.gemini.fail = (
        503,
        {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}},
    )
    gw = await gateway(three_env(fakes, AZURE_MODEL_ALIAS=CHAIN))
    with pytest.raises(openai.InternalServerError) as err:
        await gw.client().chat.completions.create(model="gpt-4o", messages=HI)
    assert "overloaded" in str(err.value)
    assert gw.runtime.recent[-1].moved == "503 from azure; 503 from gemini"
