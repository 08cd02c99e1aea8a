"""Upstream faults under POST /v1/responses, bridged (Azure, Yi, Gemini, Anthropic) and native
(OpenAI): before the stream starts the client gets the OpenAI-format error with the fault's
status; once a stream has started (bridged or native) it ends with `response.failed` carrying an
error, never a silent stop."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.reliability.conftest import SERVER_KEY
from tests.reliability.test_rel_upstream_faults import (
    FAULTS,
    STREAM_ONLY,
    assert_openai_error,
    faulty,
)

__all__ = ["faulty"]
KINDS = ("azure", "yi", "gemini", "openai", "anthropic")


def last_event(data: bytes) -> Any:
    """The last SSE event's data (after its `event:` line, if any)."""
    block = [b for b in data.split(b"\n\n") if b.strip()][-1]
    [line] = [x for x in block.split(b"\n") if x.startswith(b"data: ")]
    return json.loads(line[6:])


async def post(url: str, stream: bool) -> tuple[int, dict[str, str], bytes]:
    body = {"model": "m", "input": "hi", "stream": stream, "store": False}
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            url + "/v1/responses",
            json=body,
            headers={"Authorization": "Bearer client"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kind", KINDS)
async def test_responses_upstream_fault_is_an_error_or_response_failed(
    faulty: Any, kind: str, fault: str, stream: bool
) -> None:
    responder, status = FAULTS[fault]
    if fault in STREAM_ONLY and not stream:
        pytest.skip("a whole answer cannot be a truncated stream")
    url = await faulty(kind, responder)
    got, headers, data = await post(url, stream)
    assert b"Traceback" not in data and SERVER_KEY.encode() not in data
    if got == 200:
        assert stream and headers["content-type"].startswith("text/event-stream"), data[:300]
        last = last_event(data)
        # Native or bridged, a broken stream ends in the Responses dialect.
        assert last["type"] == "response.failed", last
        error = last["response"]["error"]
        assert error["code"] and error["message"], error
        return
    assert got == status, (got, data[:300])
    assert_openai_error(got, headers, data)
    if fault == "429 with retry-after":
        assert headers.get("retry-after") == "7"
