"""SIGTERM drains a real `aoa-proxy`: /ready turns 503 at once, the stream in flight completes,
the process exits 0; with nothing in flight it stops at once, and AOA_SHUTDOWN_GRACE bounds it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.gated import GatedUpstream
from tests.packaging.conftest import CLEAN_ENV
from tests.support import free_port, get_json, wait_for


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def post_chat(port: int) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return Answer(resp.status, dict(resp.headers), resp.read())
    finally:
        conn.close()


@pytest.fixture
def upstream() -> Iterator[GatedUpstream]:
    up = GatedUpstream()
    yield up
    up.close()


@contextmanager
def gateway(upstream: GatedUpstream, **extra: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        **CLEAN_ENV,
        "LANG": "C",
        "AOA_PORT": str(port),
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": f"{upstream.url}/v1",
        "OPENAI_API_KEY": "sk-drain-test",
        **extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "aoa_proxy"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for("/health", lambda: proc.poll() is None and get_json(port, "/health"), 20)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture
def clients() -> Iterator[list[openai.OpenAI]]:
    made: list[openai.OpenAI] = []
    yield made
    for client in made:
        client.close()


def stream_until_first_piece(port: int, clients: list[openai.OpenAI]) -> tuple[Any, list[str]]:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    clients.append(client)
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    pieces: list[str] = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
            break
    return stream, pieces


def test_sigterm_mid_stream_flips_readiness_and_lets_the_stream_finish(
    upstream: GatedUpstream, clients: list[openai.OpenAI]
) -> None:
    with gateway(upstream) as (port, proc):
        assert get_json(port, "/ready") == (200, {"status": "ready"})
        stream, pieces = stream_until_first_piece(port, clients)
        assert pieces == ["Hel"] and upstream.streaming.is_set()

        proc.send_signal(signal.SIGTERM)
        wait_for("draining", lambda: (get_json(port, "/ready") or (0,))[0] == 503, 5)
        assert get_json(port, "/ready") == (503, {"status": "draining", "inflight": 1})
        health = get_json(port, "/health")  # liveness stays up: a kill now would cut the stream
        assert health is not None and health[0] == 200 and health[1]["status"] == "draining"
        assert proc.poll() is None
        # Still serving what arrives meanwhile (the Service may not have noticed yet), but with
        # Connection: close, so the client's next request goes to another replica.
        late = post_chat(port)
        assert late.status == 200 and late.headers["Connection"] == "close"
        assert json.loads(late.body)["choices"][0]["message"]["content"] == "Hello!"

        upstream.release()
        pieces += [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(pieces) == "Hello"
        assert proc.wait(10) == 0
        _, log = proc.communicate(timeout=5)
        assert "draining, 1 request(s) in flight" in log


def test_sigterm_with_nothing_in_flight_stops_at_once(
    upstream: GatedUpstream, clients: list[openai.OpenAI]
) -> None:
    with gateway(upstream) as (port, proc):
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        # far below the default 30 s grace: the drain does not wait when nothing is in flight
        assert time.monotonic() - started < 5


def test_grace_bounds_a_stream_that_never_ends(
    upstream: GatedUpstream, clients: list[openai.OpenAI]
) -> None:
    with gateway(upstream, AOA_SHUTDOWN_GRACE="1") as (port, proc):
        stream, pieces = stream_until_first_piece(port, clients)
        assert pieces == ["Hel"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0  # the upstream is never released: the grace ends the wait
        _, log = proc.communicate(timeout=5)
        assert "in flight after 1 s (AOA_SHUTDOWN_GRACE)" in log
        with pytest.raises(openai.APIError):  # cut, not finished: the client is told
            list(stream)


def test_second_sigterm_stops_without_waiting(
    upstream: GatedUpstream, clients: list[openai.OpenAI]
) -> None:
    with gateway(upstream) as (port, proc):
        stream_until_first_piece(port, clients)
        proc.send_signal(signal.SIGTERM)
        wait_for("draining", lambda: (get_json(port, "/ready") or (0,))[0] == 503, 5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0  # not the 30 s grace


@pytest.mark.skipif(not hasattr(os, "fork"), reason="AOA_WORKERS needs fork")
def test_workers_each_drain(upstream: GatedUpstream, clients: list[openai.OpenAI]) -> None:
    with gateway(upstream, AOA_WORKERS="2") as (port, proc):
        stream, pieces = stream_until_first_piece(port, clients)
        proc.send_signal(signal.SIGTERM)  # the supervisor passes it to both workers
        wait_for("draining", lambda: (get_json(port, "/ready") or (0,))[0] == 503, 5)
        upstream.release()
        pieces += [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(pieces) == "Hello"
        assert proc.wait(10) == 0
