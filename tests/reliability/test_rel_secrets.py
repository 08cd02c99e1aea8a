"""Secrets: with a server key and an access token set, no log line (in-process at DEBUG and the
subprocess's stderr), no response body or header, and no file the gateway wrote contains either
value, across good requests and every kind of failure."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received
from tests.reliability.conftest import (
    ACCESS_TOKEN,
    SERVER_KEY,
    ProcGateway,
    closed_port,
    provider_env,
)

SECRETS = (SERVER_KEY, ACCESS_TOKEN)
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
REQUESTS: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
    ("POST", "/v1/chat/completions", CHAT, {}),
    ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, {}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "fail-401"}, {}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "fail-500"}, {}),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "cut", "stream": True}, {}),
    ("POST", "/v1/chat/completions", {"model": 1}, {}),
    ("POST", "/v1/embeddings", {"model": "e", "input": "x"}, {}),
    ("GET", "/v1/models", None, {}),
    ("GET", "/v1/models/nope", None, {}),
    ("GET", "/nope", None, {}),
    ("POST", "/v1/chat/completions", CHAT, {"Authorization": "Bearer wrong"}),
    ("POST", "/v1/chat/completions", CHAT, {"Authorization": f"Bearer {SERVER_KEY}"}),
    ("POST", "/v1/chat/completions", CHAT, {"Origin": "https://evil.example"}),
    ("POST", "/v1/chat/completions", CHAT, {"Host": "evil.example"}),
]


async def _respond_with_faults(upstream: FakeUpstream) -> Any:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        if b'"fail-401"' in rec.body:  # what Azure/OpenAI say for a bad key (masked, as they do)
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided: sk-rel-***cdef.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        if b'"fail-500"' in rec.body:
            return web.Response(status=500, text="oops")
        if b'"cut"' in rec.body:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            await resp.write(b'data: {"id": "x", "cho')
            return resp
        return await upstream.default(request, rec)

    return respond


async def _drive(url: str) -> list[bytes]:
    """Every request above; returns each answer's status line, headers and body as bytes."""
    seen: list[bytes] = []
    async with aiohttp.ClientSession() as s:
        for method, path, body, extra in REQUESTS:
            headers = {"Authorization": f"Bearer {ACCESS_TOKEN}", **extra}
            async with s.request(method, url + path, json=body, headers=headers) as r:
                data = await r.read()
                seen.append(f"{r.status} {dict(r.headers)}".encode() + data)
    return seen


def _hits(blobs: list[bytes]) -> list[str]:
    return [
        f"{secret[:8]}... in {blob[:120]!r}"
        for blob in blobs
        for secret in SECRETS
        if secret.encode() in blob
    ]


def _files(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("kind", ["azure", "yi", "openai", "gemini"])
async def test_no_secret_in_logs_or_answers_in_process(
    upstream: FakeUpstream, start_gateway: StartGateway, caplog: Any, kind: str
) -> None:
    upstream.responder = await _respond_with_faults(upstream)
    caplog.set_level(logging.DEBUG)
    env = {**provider_env(kind, upstream.url), "AOA_ACCESS_TOKEN": ACCESS_TOKEN}
    gw = await start_gateway(env)
    down = await start_gateway({**env, **provider_env(kind, f"http://127.0.0.1:{closed_port()}")})
    answers = await _drive(gw.url) + await _drive(down.url)
    lines = [r.getMessage().encode() for r in caplog.records]
    lines += [str(r.args).encode() for r in caplog.records]
    assert len(lines) > len(REQUESTS)
    assert _hits(answers) == []
    assert _hits(lines) == []
    # The key did reach the upstream, so the scan looked at a flow that really carried it.
    assert any(SERVER_KEY in str(r.headers) for r in upstream.received)


async def test_no_secret_in_subprocess_stderr_or_files(
    upstream: FakeUpstream, proc_gateway: Any, tmp_path: Path
) -> None:
    upstream.responder = await _respond_with_faults(upstream)
    env = {
        **provider_env("openai", upstream.url),
        "AOA_ACCESS_TOKEN": ACCESS_TOKEN,
        "AOA_LOG_LEVEL": "DEBUG",
    }
    gw: ProcGateway = proc_gateway(env)
    json_log: ProcGateway = proc_gateway({**env, "AOA_LOG_FORMAT": "json"})
    down: ProcGateway = proc_gateway(
        {**env, **provider_env("azure", f"http://127.0.0.1:{closed_port()}")}
    )
    answers = []
    for g in (gw, json_log, down):
        answers += await _drive(g.url)
    for g in (gw, json_log, down):
        g.stop()
    stderr = [g.stderr().encode() for g in (gw, json_log, down)]
    assert all(b"POST /v1/chat/completions" in e or b'"path"' in e for e in stderr)
    assert _hits(answers) == []
    assert _hits(stderr) == []
    assert _hits(_files(tmp_path)) == []  # HOME and XDG_CONFIG_HOME of the gateways
