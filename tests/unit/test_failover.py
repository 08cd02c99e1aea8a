"""Failover policy and the order of attempts (keys, then targets) before the first byte."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aoa_proxy.credentials import CoolReason, KeyPool
from aoa_proxy.errors import RateLimited
from aoa_proxy.failover import Attempt, Attempts, failover_reason
from aoa_proxy.routing import Route, Rule, Target

A1, A2 = "azure-key-aaaa-1111", "azure-key-aaaa-2222"
G1 = "gemini-key-bbbb-3333"


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


CHAIN = Route(
    "azure",
    "my-gpt4o",
    Rule.ALIAS,
    "gpt-4o",
    (Target("gemini", "gemini-2.5-pro"), Target("openai", "gpt-4o")),
)


# ------------------------------------------------------------------ failover_reason


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (429, "429 from azure"),
        (500, "500 from azure"),
        (502, "502 from azure"),
        (503, "503 from azure"),
        (529, "529 from azure"),
        (400, None),
        (401, None),
        (403, None),
        (404, None),
        (408, None),
        (413, None),
        (200, None),
    ],
)
def test_statuses_that_move_to_the_next_target(status, reason):
    assert failover_reason("azure", status=status) == reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError(), "timeout from gemini"),
        (asyncio.TimeoutError(), "timeout from gemini"),
        (ConnectionRefusedError(), "connection refused from gemini"),
        (OSError(errno.ECONNREFUSED, "refused"), "connection refused from gemini"),
        (ConnectionResetError(), "connection reset from gemini"),
        (OSError(errno.EHOSTUNREACH, "no route"), "connection error from gemini"),
        (aiohttp.ServerDisconnectedError(), "connection error from gemini"),
    ],
)
def test_transport_failures_move_to_the_next_target(error, reason):
    assert failover_reason("gemini", error=error) == reason


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _raised(url: str, timeout: aiohttp.ClientTimeout) -> BaseException:
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            async with session.get(url):
                pass
        except (aiohttp.ClientError, TimeoutError) as exc:
            return exc
    raise AssertionError("the request did not fail")


async def test_a_real_refused_connection_is_named_so():
    exc = await _raised(f"http://127.0.0.1:{_free_port()}/", aiohttp.ClientTimeout(total=10))
    assert failover_reason("openai", error=exc) == "connection refused from openai"


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """Accepts connections and never answers; the event is set once a request arrived."""
    arrived = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        arrived.set()
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port, arrived
    server.close()
    await server.wait_closed()


async def test_a_real_read_timeout_is_named_so(silent_server):
    port, arrived = silent_server
    exc = await _raised(f"http://127.0.0.1:{port}/", aiohttp.ClientTimeout(sock_read=0.2))
    assert arrived.is_set()
    assert failover_reason("azure", error=exc) == "timeout from azure"


async def test_a_real_dropped_connection_is_a_connection_error():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        exc = await _raised(f"http://127.0.0.1:{port}/", aiohttp.ClientTimeout(total=10))
    finally:
        server.close()
        await server.wait_closed()
    assert failover_reason("yi", error=exc) == "connection error from yi"


# ------------------------------------------------------------------ Attempts


def test_without_pools_a_429_moves_down_the_chain_until_it_ends():
    attempts = Attempts(CHAIN, {})
    first = attempts.first()
    assert first == Attempt(Target("azure", "my-gpt4o"), None)
    second = attempts.after(first, status=429)
    assert second == Attempt(Target("gemini", "gemini-2.5-pro"), None, "429 from azure")
    third = attempts.after(second, error=TimeoutError())
    assert third == Attempt(Target("openai", "gpt-4o"), None, "timeout from gemini")
    assert attempts.after(third, status=503) is None
    assert attempts.reasons == ["429 from azure", "timeout from gemini", "503 from openai"]


def test_a_client_error_is_the_answer_as_it_is():
    attempts = Attempts(CHAIN, {})
    assert attempts.after(attempts.first(), status=400) is None
    assert attempts.reasons == []


def test_a_429_tries_the_next_key_first_and_cools_the_first_with_its_hint():
    clock = Clock()
    azure = KeyPool("azure", [A1, A2], clock=clock)
    attempts = Attempts(CHAIN, {"azure": azure})
    first = attempts.first()
    assert first.key == A1
    second = attempts.after(first, status=429, headers={"retry-after": "7"})
    assert second is not None
    assert (second.target, second.key) == (first.target, A2)
    assert second.reason == "429 from azure, key ****1111 rests 7 s"
    assert [s.cooling for s in azure.status()] == [7, 0]
    # the second key is limited too: now the next target
    third = attempts.after(second, status=429, headers={"retry-after-ms": "1500"})
    assert third == Attempt(Target("gemini", "gemini-2.5-pro"), None, "429 from azure")
    assert [s.cooling for s in azure.status()] == [7, 1.5]


def test_a_rejected_key_makes_way_for_the_next_but_a_401_never_changes_target():
    azure = KeyPool("azure", [A1, A2])
    attempts = Attempts(CHAIN, {"azure": azure})
    first = attempts.first()
    second = attempts.after(first, status=401, body=b'{"error":{"code":"invalid_api_key"}}')
    assert second is not None and second.key == A2
    assert azure.status()[0].reason is CoolReason.KEY_REJECTED
    assert attempts.after(second, status=401) is None


def test_a_timeout_does_not_cool_the_key():
    azure = KeyPool("azure", [A1, A2])
    attempts = Attempts(CHAIN, {"azure": azure})
    nxt = attempts.after(attempts.first(), error=TimeoutError())
    assert nxt is not None and nxt.target.provider == "gemini"
    assert [s.cooling for s in azure.status()] == [0, 0]


def test_a_target_whose_keys_all_cool_is_skipped():
    clock = Clock()
    azure = KeyPool("azure", [A1, A2], clock=clock)
    azure.cool_down(A1, 30)
    azure.cool_down(A2, 30)
    gemini = KeyPool("gemini", [G1], clock=clock)
    attempts = Attempts(CHAIN, {"azure": azure, "gemini": gemini})
    first = attempts.first()
    assert first == Attempt(Target("gemini", "gemini-2.5-pro"), G1, "every key of azure cooling")


def test_every_target_cooling_is_a_429_with_the_soonest_retry_after():
    clock = Clock()
    azure = KeyPool("azure", [A1, A2], clock=clock)
    for key, rest in ((A1, 30), (A2, 50)):
        azure.cool_down(key, rest)
    route = Route("azure", "my-gpt4o", Rule.ALIAS, "gpt-4o", (Target("azure", "backup"),))
    with pytest.raises(RateLimited) as exc:
        Attempts(route, {"azure": azure}).first()
    assert exc.value.retry_after == 30


def test_success_resets_the_keys_backoff():
    azure = KeyPool("azure", [A1, A2])
    attempts = Attempts(Route("azure", "m", Rule.DEFAULT), {"azure": azure})
    first = attempts.first()
    second = attempts.after(first, status=429)
    assert second is not None
    azure.cool_down(A2, 0)  # an earlier failure of the key that now works
    attempts.succeeded(second)
    assert [s.failures for s in azure.status()] == [1, 0]


@given(
    st.lists(
        st.sampled_from(
            [
                {"status": 429},
                {"status": 401},
                {"status": 503},
                {"status": 400},
                {"error": TimeoutError()},
                {"status": 429, "headers": {"retry-after": "0"}},
            ]
        ),
        max_size=30,
    )
)
def test_attempts_always_end_and_never_repeat_a_target_and_key(outcomes):
    clock = Clock()
    pools = {
        "azure": KeyPool("azure", [A1, A2], clock=clock),
        "gemini": KeyPool("gemini", [G1], clock=clock),
    }
    route = Route(
        "azure",
        "a",
        Rule.ALIAS,
        "x",
        (Target("gemini", "g"), Target("azure", "b"), Target("openai", "o")),
    )
    attempts = Attempts(route, pools)
    try:
        attempt: Attempt | None = attempts.first()
    except RateLimited:
        return
    seen = set()
    for outcome in outcomes:
        if attempt is None:
            break
        pair = (attempt.target, attempt.key)
        assert pair not in seen
        seen.add(pair)
        attempt = attempts.after(attempt, **outcome)
    assert len(seen) <= 6  # 2 + 1 + 2 + 1 pairs in all
