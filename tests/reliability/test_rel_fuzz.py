"""Bad input, fuzzed: malformed bodies, wrong types, huge numbers, invalid UTF-8, deep nesting,
oversized bodies, wrong content types and methods, sent to every route of real gateways.

Every answer must be a valid 200/204 or a well-formed OpenAI error with a 4xx status: never a
5xx, never a hang, never traceback text; the gateways stay up and log no unexpected error.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoa_proxy.providers.anthropic import message_events
from tests.anthropic_provider.fake_anthropic import message
from tests.fakes import Received, chat_chunks, chat_completion, sse
from tests.gemini.fake_gemini import merge, text_chunks
from tests.reliability.conftest import (
    ACCESS_TOKEN,
    SERVER_KEY,
    ThreadedGateways,
    provider_env,
)

MAX_BODY = 65536
ROUTES = (
    "/",
    "/health",
    "/ping",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/responses",
    "/v1/responses/resp_x",
    "/v1/responses/resp_x/input_items",
    "/v1/models",
    "/v1/models/demo-echo",
    "/v1/models/x%2Fy",
    "/v1/nope",
    "/v2/chat/completions",
    "/v1/chat/completions/",
    "/../etc/passwd",
    "/v1//models",
)
POST_ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/responses",
)
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND")
CONTENT_TYPES = (
    None,
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "*/*; q=",
)
KINDS = ("demo", "openai", "azure", "yi", "gemini", "anthropic", "token")
# AOA_SOAK=long (the long CI job) multiplies every example count.
SCALE = 10 if os.environ.get("AOA_SOAK") == "long" else 1
SEEN: dict[str, int] = {}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _steady(request: web.Request, rec: Received) -> web.StreamResponse:
    """An upstream that answers anything sensibly, so any failure is the gateway's own."""
    if "/responses/" in request.path:  # a response the upstream stored (native Responses)
        if request.method == "DELETE":
            return web.json_response(
                {"id": "resp_1", "object": "response.deleted", "deleted": True}
            )
        if request.path.endswith("/input_items"):
            return web.json_response({"object": "list", "data": [], "has_more": False})
        return web.json_response({"id": "resp_1", "object": "response", "output": []})
    if request.method == "GET":
        return web.json_response({"object": "list", "data": [], "models": []})
    try:
        body = json.loads(rec.body)
    except ValueError:
        body = {}
    if request.path.startswith("/v1/messages"):  # Anthropic
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": 3})
        if isinstance(body, dict) and body.get("stream") is True:
            return await sse(request, message_events(message()), done=False)
        return web.json_response(message())
    if ":" in request.path:  # Gemini
        if request.path.endswith(":batchEmbedContents"):
            n = len(body.get("requests") or [1]) if isinstance(body, dict) else 1
            return web.json_response({"embeddings": [{"values": [0.1, 0.2]}] * n})
        chunks = text_chunks(["a", "b"])
        if "IMAGE" in str(body.get("generationConfig") if isinstance(body, dict) else ""):
            image = {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}
            chunks[-1]["candidates"][0]["content"]["parts"].append(image)
        if request.path.endswith(":generateContent"):
            return web.json_response(merge(chunks))
        return await sse(request, chunks, done=False)
    if request.path.endswith("/images/generations"):
        return web.json_response({"created": 1, "data": [{"b64_json": "AAAA"}]})
    if isinstance(body, dict) and body.get("stream") is True:
        return await sse(request, chat_chunks(["a", "b"]))
    if request.path.endswith("/embeddings"):
        item = {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}
        return web.json_response({"object": "list", "data": [item], "model": "e"})
    if request.path.endswith("/completions") and not request.path.endswith("chat/completions"):
        choice = {"text": "a", "index": 0, "logprobs": None, "finish_reason": "stop"}
        return web.json_response(
            {"id": "cmpl-1", "object": "text_completion", "created": 1, "choices": [choice]}
        )
    return web.json_response(chat_completion())


@pytest.fixture(scope="module")
def gateways() -> Iterator[tuple[ThreadedGateways, dict[str, int], _Collect]]:
    tg = ThreadedGateways()
    tg.upstream.responder = _steady
    common = {"AOA_MAX_BODY_BYTES": str(MAX_BODY), "AOA_LOG_LEVEL": "WARNING"}
    ports = {}
    for kind in KINDS:
        if kind == "token":
            env = {**provider_env("openai", tg.upstream.url), "AOA_ACCESS_TOKEN": ACCESS_TOKEN}
        else:
            env = provider_env(kind, tg.upstream.url)
            if kind == "openai":  # an alias makes the gateway re-encode bodies
                env["OPENAI_MODEL_ALIAS"] = "m:upstream-m"
        ports[kind] = tg.start({**common, **env})
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    yield tg, ports, handler
    logging.getLogger().removeHandler(handler)
    tg.close()
    print("\nfuzz cases sent per category:", json.dumps(SEEN, sort_keys=True))


def _send(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def check_answer(method: str, status: int, headers: dict[str, str], data: bytes) -> None:
    """The contract: a valid success, or an OpenAI error with a 4xx status."""
    assert b"Traceback" not in data and b'File "' not in data
    assert status < 500, (status, data[:500])
    if status < 400:
        if headers.get("content-type", "").startswith("text/event-stream"):
            # A stream that started must end cleanly: [DONE] (these upstreams never fail), or
            # a bridged Responses stream's response.completed.
            completed = b'"type":"response.completed"' in data[-65536:]
            assert data.endswith(b"data: [DONE]\n\n") or completed, data[-300:]
        return
    assert headers.get("content-type", "").startswith("application/json"), headers
    if method == "HEAD":
        return
    err = json.loads(data)["error"]
    assert set(err) >= {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str)
    assert err["code"] is None or isinstance(err["code"], str)


def _count(name: str, requests: int = 1) -> None:
    SEEN[name] = SEEN.get(name, 0) + requests


def _auth(kind: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ACCESS_TOKEN if kind == 'token' else 'client-key'}"}


# ---- strategies

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.integers(min_value=-(2**80), max_value=2**80).map(lambda i: i * 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_field_names = st.sampled_from(
    [
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "prompt",
        "input",
        "tools",
        "tool_choice",
        "max_tokens",
        "temperature",
        "dimensions",
        "encoding_format",
        "stop",
        "response_format",
        "logit_bias",
        "user",
        "seed",
        "functions",
        "content",
        "role",
    ]
)
_messages = st.lists(
    st.one_of(
        _json_values,
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "assistant", "tool"]) | _json_values},
            optional={"content": _json_values, "name": _json_values, "tool_calls": _json_values},
        ),
    ),
    max_size=3,
)
_models = st.sampled_from(["m", "demo-echo", "gpt-4o", "", " ", "a/b", "x.y.z", "\u00e9\u4e2d"]) | (
    _json_values
)
_BASE: dict[str, Any] = {
    "model": "m",
    "messages": [{"role": "user", "content": "hi"}],
    "prompt": "p",
    "input": "i",
}


def _assemble(d: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in _BASE.items() if k not in d["drop"]}
    if d["stream"] is not None:
        body["stream"] = d["stream"]
    return {**body, **d["set"]}


# A valid-looking body with a few fields replaced by anything: reaches deep into each route.
_shaped = st.fixed_dictionaries(
    {
        "drop": st.sets(st.sampled_from(sorted(_BASE)), max_size=2),
        "set": st.dictionaries(
            _field_names,
            _json_values
            | _messages
            | _models
            | st.sampled_from([True, False, "x", 0, -1, 10**30, [], {}, [1, 2], [[1], "a"]]),
            max_size=3,
        ),
        "stream": st.sampled_from([None, True, False]),
    }
).map(_assemble)


def _nest(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# ---- tests


@settings(
    max_examples=500 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(kind=st.sampled_from(KINDS), path=st.sampled_from(POST_ROUTES), body=_shaped)
def test_shaped_bodies_with_wrong_types_get_200_or_4xx(gateways, kind, path, body):
    tg, ports, log = gateways
    _count("wrong-typed JSON bodies")
    status, headers, data = _send(
        ports[kind],
        "POST",
        path,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", **_auth(kind)},
    )
    check_answer("POST", status, headers, data)
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


@settings(
    max_examples=300 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    kind=st.sampled_from(KINDS),
    path=st.sampled_from(ROUTES)
    | st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?"), max_size=30
    ).map(lambda p: "/" + p),
    method=st.sampled_from(METHODS),
    ctype=st.sampled_from(CONTENT_TYPES),
    body=st.none() | st.binary(max_size=300) | _json_values.map(lambda v: json.dumps(v).encode()),
)
def test_any_method_path_content_type_and_bytes_get_200_or_4xx(
    gateways, kind, path, method, ctype, body
):
    tg, ports, log = gateways
    _count("methods x routes x content types x raw bytes")
    headers = _auth(kind)
    if ctype is not None:
        headers["Content-Type"] = ctype
    status, rheaders, data = _send(ports[kind], method, path, body, headers)
    check_answer(method, status, rheaders, data)
    if path in POST_ROUTES:  # right method -> never 405; wrong one -> 405 (or 401 without token)
        assert (status == 405) == (method not in ("POST", "OPTIONS")) or status == 401, status
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


@settings(
    max_examples=150 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(KINDS),
    path=st.sampled_from(POST_ROUTES),
    raw=st.binary(min_size=1, max_size=200),
)
def test_invalid_utf8_and_garbage_bytes_get_400(gateways, kind, path, raw):
    tg, ports, log = gateways
    _count("invalid UTF-8 / garbage bytes")
    body = b'{"model": "m", "messages": [{"role": "user", "content": "' + raw + b'"}]}'
    status, headers, data = _send(
        ports[kind], "POST", path, body, {"Content-Type": "application/json", **_auth(kind)}
    )
    check_answer("POST", status, headers, data)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "depth", [10, 199, 200, 201, 254, 255, 256, 500, 900, 1000, 1023, 1024, 1025, 5000, 30000]
)
@pytest.mark.parametrize("shape", ["list", "dict"])
def test_deep_nesting_gets_200_or_4xx(gateways, kind, depth, shape):
    tg, ports, log = gateways
    _count("deep nesting", 2 * len(POST_ROUTES))
    nested = _nest(depth, shape)
    for path in POST_ROUTES:
        body = (
            b'{"model":"m","stream":false,"messages":[{"role":"user","content":"hi","x":'
            + nested
            + b'}],"prompt":"p","input":"i"}'
        )
        status, headers, data = _send(
            ports[kind], "POST", path, body, {"Content-Type": "application/json", **_auth(kind)}
        )
        check_answer("POST", status, headers, data)
        if depth + 3 > 200:  # the gateway's nesting limit (aoa_proxy.intake.MAX_JSON_DEPTH)
            assert status in (400, 413), data
        bare = _send(
            ports[kind], "POST", path, nested, {"Content-Type": "application/json", **_auth(kind)}
        )
        check_answer("POST", *bare)
        assert bare[0] in (400, 413)
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


HUGE_NUMBERS = [
    b"1e400",
    b"-1e400",
    b"1" + b"0" * 400,
    b"-" + b"9" * 5000,
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e-400",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"0.0000001e999999",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("number", HUGE_NUMBERS)
@pytest.mark.parametrize("field", ["n", "max_tokens", "temperature", "dimensions", "seed", "model"])
def test_huge_numbers_get_200_or_4xx(gateways, kind, number, field):
    tg, ports, log = gateways
    _count("huge numbers", 2 * len(POST_ROUTES))
    for path in POST_ROUTES:
        for stream in (b"false", b"true"):
            body = (
                b'{"model":"m","messages":[{"role":"user","content":"hi"}],"prompt":"p",'
                b'"input":"i","stream":' + stream + b',"' + field.encode() + b'":' + number + b"}"
            )
            status, headers, data = _send(
                ports[kind], "POST", path, body, {"Content-Type": "application/json", **_auth(kind)}
            )
            check_answer("POST", status, headers, data)
    assert not [r for r in log.records if r.levelno >= logging.ERROR], log.records[-1:]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [MAX_BODY + 1, MAX_BODY * 4, 8 * 1024 * 1024])
def test_oversized_bodies_get_413(gateways, kind, size):
    tg, ports, log = gateways
    _count("oversized bodies", len(POST_ROUTES))
    for path in POST_ROUTES:
        body = b'{"model":"m","input":"' + b"x" * size + b'"}'
        try:
            status, headers, data = _send(
                ports[kind], "POST", path, body, {"Content-Type": "application/json", **_auth(kind)}
            )
        except (BrokenPipeError, ConnectionResetError):
            continue  # the server answered and closed before we finished sending: allowed
        check_answer("POST", status, headers, data)
        assert status == 413 or (kind == "token" and status == 401)
        assert b"AOA_MAX_BODY_BYTES" in data or status == 401


_POST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
RAW_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"BREW /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"\xff\xfe\xfd\r\n\r\n",
    _POST + b"Content-Length: -1\r\n\r\n",
    _POST + b"Content-Length: 99999999999999999999\r\n\r\n",
    _POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    _POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    _POST + b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd",
    _POST + b"Content-Encoding: br\r\nContent-Length: 4\r\n\r\nabcd",
]


@pytest.mark.parametrize("raw", RAW_REQUESTS, ids=lambda r: repr(r[:40]))
def test_malformed_http_gets_4xx_and_server_stays_up(gateways, raw):
    """Broken HTTP framing is refused by aiohttp's parser (4xx, possibly plain text)."""
    tg, ports, log = gateways
    _count("malformed HTTP framing")
    raw = raw.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n")
    with socket.create_connection(("127.0.0.1", ports["demo"]), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b"Traceback" not in data
    assert data.startswith(b"HTTP/1."), data[:300]
    status = int(data.split(b" ", 2)[1])
    assert status < 500, data[:300]
    if raw.startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"):
        assert status == 200
    else:
        assert status >= 400
    status, _, _ = _send(ports["demo"], "GET", "/health", None, {})
    assert status == 200


def test_gateways_still_serve_after_fuzzing(gateways):
    tg, ports, log = gateways
    for kind, port in ports.items():
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
        status, headers, data = _send(
            port,
            "POST",
            "/v1/chat/completions",
            body,
            {"Content-Type": "application/json", **_auth(kind)},
        )
        assert status == 200, (kind, data)
        assert json.loads(data)["object"] == "chat.completion"
    # aiohttp's HTTP layer logs the broken framing above itself; everything else must be quiet.
    client_faults = (HttpProcessingError, RequestPayloadError)
    errors = [
        r.getMessage()
        for r in log.records
        if r.levelno >= logging.ERROR
        and not (
            r.name == "aiohttp.server" and r.exc_info and isinstance(r.exc_info[1], client_faults)
        )
    ]
    assert errors == []
    assert SERVER_KEY not in "".join(r.getMessage() for r in log.records)
