"""Secrets: with a server key and an access token set, no log line (in-process at DEBUG and the
subprocess's stderr), no response body or header, and no file the gateway wrote contains either
value, across good requests and every kind of failure."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, sse
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
    ("POST", "/v1/messages", {**CHAT, "max_tokens": 9}, {}),
    ("POST", "/v1/messages", {**CHAT, "max_tokens": 9, "stream": True}, {}),
    ("POST", "/v1/messages", {**CHAT, "max_tokens": 9, "model": "fail-401"}, {}),
    ("POST", "/v1/messages", {**CHAT, "max_tokens": 9, "model": "cut", "stream": True}, {}),
    ("POST", "/v1/messages", CHAT, {"x-api-key": "wrong"}),
    ("POST", "/v1/messages/count_tokens", CHAT, {}),
    ("POST", "/v1/embeddings", {"model": "e", "input": "x"}, {}),
    ("POST", "/v1/images/generations", {"model": "dall-e-3", "prompt": "x"}, {}),
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
        if b'"fail-401"' in rec.body:  # a bad-key answer that echoes the key it was sent
            return web.json_response(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {SERVER_KEY}.",
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


# ----------------------------------------------------------------------------- echoed keys

CLIENT_KEY = "sk-client-OWNKEY-9876543210fedcba"


def _echo(key: str) -> str:
    """What upstreams say about a key they refuse: the whole key, the header, OpenAI's mask."""
    return (
        f"Incorrect API key provided: {key}. Sent as 'Authorization: Bearer {key}' "
        f"(also seen as {key[:8]}***{key[-4:]} and {key[:14]}****{key[-4:]})"
    )


def _echo_responder(key: str) -> Any:
    async def respond(request: web.Request, rec: Received) -> web.StreamResponse:
        model = rec.json.get("model") if rec.body else None
        if model == "html":  # a proxy's error page, not JSON
            return web.Response(status=502, text=f"<p>{_echo(key)}</p>", content_type="text/html")
        if "generateContent" in request.path or "GenerateContent" in request.path:
            error = {"code": 400, "message": _echo(key), "status": "INVALID_ARGUMENT"}
            if model == "in-stream":  # Gemini can put its error inside a 200 stream
                event = json.dumps({"error": {**error, "code": 401}})
                return await sse(request, [event], done=False)
            return web.json_response({"error": error}, status=400)
        err = {"message": _echo(key), "type": "invalid_request_error", "param": None}
        return web.json_response({"error": {**err, "code": "invalid_api_key"}}, status=401)

    return respond


def _leaks(blob: str | bytes, key: str) -> list[str]:
    """Every form of `key` found in `blob`: the key itself or any run of its first 8+ chars."""
    text = blob.decode(errors="replace") if isinstance(blob, bytes) else blob
    return [key[:n] for n in range(8, len(key) + 1) if key[:n] in text][-1:]


async def _ask(url: str, model: str, key: str | None, stream: bool = False) -> bytes:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        return f"{r.status} {dict(r.headers)}".encode() + await r.read()


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("kind", ["azure", "yi", "openai", "gemini"])
async def test_server_key_echoed_by_upstream_is_masked_in_answer_record_and_log(
    upstream: FakeUpstream, start_gateway: StartGateway, caplog: Any, kind: str, log_format: str
) -> None:
    upstream.responder = _echo_responder(SERVER_KEY)
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway({**provider_env(kind, upstream.url), "AOA_LOG_FORMAT": log_format})
    models = ["m", "html"] + (["in-stream"] if kind == "gemini" else [])
    answers = [await _ask(gw.url, m, None, stream=m == "in-stream") for m in models]
    records = [r.error for r in gw.runtime.recent]
    log = [r.getMessage() for r in caplog.records]
    assert len(records) == len(models) and all(records)
    assert any('"error"' in line for line in log) == (log_format == "json")
    for seen in (*answers, *records, *log):
        assert _leaks(seen, SERVER_KEY) == [], seen
    for answer in answers:  # the client still learns what went wrong, and where
        assert b"Incorrect API key provided: [redacted]" in answer, answer
        assert b"Bearer [redacted]" in answer and SERVER_KEY[-4:].encode() in answer
    assert all(SERVER_KEY in str(r.headers) for r in upstream.received)  # it was sent


async def test_client_key_echoed_by_upstream_is_masked_in_record_and_log(
    upstream: FakeUpstream, start_gateway: StartGateway, caplog: Any
) -> None:
    """No server key: the client's own key is forwarded, and an echo of it is masked too."""
    upstream.responder = _echo_responder(CLIENT_KEY)
    caplog.set_level(logging.DEBUG)
    env = {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": f"{upstream.url}/v1", "AOA_LOG_FORMAT": "json"}
    gw = await start_gateway(env)
    answers = [await _ask(gw.url, m, CLIENT_KEY) for m in ("m", "html")]
    records = [r.error for r in gw.runtime.recent]
    log = [r.getMessage() for r in caplog.records]
    assert len(records) == 2 and all("[redacted]" in r for r in records)
    for seen in (*answers, *records, *log):
        assert _leaks(seen, CLIENT_KEY) == [], seen
    assert upstream.last.headers["Authorization"] == f"Bearer {CLIENT_KEY}"
