"""The `anthropic` SDK against aoa with AOA_TYPE=anthropic: Messages pass through natively.

The client's body reaches Anthropic byte for byte (only an aliased model changes), with its
anthropic-* headers, and the answer's bytes, stream events and errors come back unchanged.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.anthropic.support import check_events
from tests.anthropic_provider.conftest import claude_gw
from tests.anthropic_provider.fake_anthropic import (
    FakeAnthropic,
    error_body,
    message,
    sse_bytes,
)
from tests.conftest import Gateway, StartGateway

BODY = (
    b'{"model":"claude-sonnet-4-5","max_tokens":64000,'
    b'"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],'
    b'"messages":[{"role":"user","content":"hi"}],'
    b'"thinking":{"type":"adaptive"},"context_management":{"edits":[]}}'
)


def sdk(gw: Gateway, api_key: str = "client-key") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url, api_key=api_key, max_retries=0)


async def post(
    gw: Gateway, body: bytes, path: str = "/v1/messages", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gw.url + path,
            data=body,
            headers={"Content-Type": "application/json", "x-api-key": "k", **headers},
        ) as r,
    ):
        return r.status, dict(r.headers), await r.read()


async def test_the_body_and_the_answer_pass_byte_for_byte(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    answer = json.dumps(message(), indent=1).encode()  # odd spacing: re-encoding would show
    claude.raw = answer
    gw = await claude_gw(start_gateway, claude)
    status, headers, got = await post(
        gw,
        BODY,
        **{
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "context-management-2025-06-27,interleaved-thinking-2025-05-14",
        },
    )
    assert status == 200 and got == answer
    assert headers["request-id"] == "req_up1"  # Anthropic's own request id
    sent = claude.last
    assert sent.body == BODY  # cache_control, thinking, context_management: all kept
    assert sent.headers["anthropic-beta"] == (
        "context-management-2025-06-27,interleaved-thinking-2025-05-14"
    )
    assert sent.headers["x-api-key"] == "server-key"  # the server key, never the client's


async def test_the_sdk_gets_claudes_message_and_its_version_header_is_forwarded(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    async with sdk(gw) as client:
        got = await client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"anthropic-version": "2099-01-01", "anthropic-beta": "x-2026"},
        )
    assert got.id == "msg_fake1" and got.content[0].type == "text"
    assert got.content[0].text == "Hello from Claude"
    assert claude.last.headers["anthropic-version"] == "2099-01-01"  # the client's wins
    assert claude.last.headers["anthropic-beta"] == "x-2026"


async def test_an_alias_changes_only_the_model(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude, ANTHROPIC_MODEL_ALIAS="claude-opus-4-8:prod-opus")
    body = BODY.replace(b"claude-sonnet-4-5", b"claude-opus-4-8[1m]")
    status, _, _ = await post(gw, body)
    assert status == 200
    sent = json.loads(claude.last.body)
    assert sent == {**json.loads(body), "model": "prod-opus"}


async def test_an_unaliased_claude_name_is_sent_as_asked(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude, ANTHROPIC_MODEL="claude-haiku-4-5")
    async with sdk(gw) as client:
        await client.messages.create(
            model="claude-opus-4-6", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert json.loads(claude.last.body)["model"] == "claude-opus-4-6"


async def test_the_stream_passes_event_by_event_without_waiting_for_the_end(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    events = _events()
    pieces = [sse_bytes(events[:2]), sse_bytes(events[2:])]
    claude.raw_stream = pieces
    claude.hold = asyncio.Event()
    gw = await claude_gw(start_gateway, claude)
    body = json.dumps({**json.loads(BODY), "stream": True}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.url + "/v1/messages", data=body, headers={"x-api-key": "k"}) as r,
    ):
        assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
        first = b""
        async with asyncio.timeout(10):  # a gateway that buffered the stream would never pass
            while len(first) < len(pieces[0]):  # the first events arrive while upstream waits
                first += await r.content.readany()
        claude.hold.set()
        rest = await r.read()
    assert first + rest == b"".join(pieces)
    assert claude.last.body == body


async def test_the_sdk_stream_helper_reads_the_relayed_events(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    async with (
        sdk(gw) as client,
        client.messages.stream(
            model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello from Claude"
    assert final.stop_reason == "end_turn"


async def test_a_cut_stream_ends_with_an_anthropic_error_event(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    claude.raw_stream = [sse_bytes(_events()[:3])]  # no message_delta, no message_stop
    gw = await claude_gw(start_gateway, claude)
    body = json.dumps({**json.loads(BODY), "stream": True}).encode()
    status, _, got = await post(gw, body)
    assert status == 200
    frames = got.decode().strip().split("\n\n")
    assert frames[-1].startswith("event: error\ndata: ")
    last = json.loads(frames[-1].split("data: ", 1)[1])
    assert last["type"] == "error" and last["error"]["type"] == "api_error"
    assert got.startswith(sse_bytes(_events()[:3]))


async def test_count_tokens_is_anthropics_own(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude)
    async with sdk(gw) as client:
        counted = await client.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert counted.input_tokens == 42
    assert claude.last.path == "/v1/messages/count_tokens"
    assert claude.last.headers["x-api-key"] == "server-key"


async def test_count_tokens_is_estimated_where_the_host_has_no_such_route(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    claude.error = (404, error_body("not_found_error", "Not Found"), {})
    gw = await claude_gw(start_gateway, claude)
    async with sdk(gw) as client:
        counted = await client.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi " * 100}]
        )
    assert counted.input_tokens > 0  # the documented estimate, never a 404
    assert claude.last.path == "/v1/messages/count_tokens"


@pytest.mark.parametrize(
    ("status", "kind", "error_class"),
    [
        (529, "overloaded_error", anthropic.InternalServerError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (400, "invalid_request_error", anthropic.BadRequestError),
    ],
)
async def test_upstream_errors_come_back_unchanged(
    start_gateway: StartGateway,
    claude: FakeAnthropic,
    status: int,
    kind: str,
    error_class: type[anthropic.APIStatusError],
) -> None:
    upstream = error_body(kind, "messages.1: `thinking` blocks cannot be modified")
    claude.error = (status, upstream, {"retry-after": "3"})
    gw = await claude_gw(start_gateway, claude)
    async with sdk(gw) as client:
        with pytest.raises(error_class) as caught:
            await client.messages.create(
                model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "a"}]
            )
    err = caught.value
    assert err.status_code == status  # 529 stays 529 for Anthropic clients
    assert err.body == upstream  # Claude Code acts on the exact wording
    assert err.response.headers["retry-after"] == "3"
    assert err.response.headers["request-id"] == "req_up1"


async def test_the_clients_key_is_passed_on_when_the_gateway_has_none(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    gw = await claude_gw(start_gateway, claude, ANTHROPIC_API_KEY="")
    async with sdk(gw, api_key="client-anthropic-key") as client:
        await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "a"}]
        )
    assert claude.last.headers["x-api-key"] == "client-anthropic-key"


def _events() -> list[dict[str, Any]]:
    from aoa_proxy.providers.anthropic import message_events

    events = message_events(message())
    check_events(events)  # what the fake sends is a stream Anthropic could send
    return events


async def test_a_key_echoed_in_an_upstream_error_is_masked_on_the_native_path(
    start_gateway: StartGateway, claude: FakeAnthropic
) -> None:
    key = "sk-ant-api03-" + "q" * 40
    claude.keys.add(key)
    echoed = error_body("authentication_error", f"invalid x-api-key: {key}")
    claude.error = (401, echoed, {})
    gw = await claude_gw(start_gateway, claude, ANTHROPIC_API_KEY=key)
    status, _, got = await post(gw, BODY)
    assert status == 401
    assert key.encode() not in got and b"invalid x-api-key: [redacted]" in got
    assert json.loads(got)["error"]["type"] == "authentication_error"
