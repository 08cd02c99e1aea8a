"""The one map from a failed upstream exchange to the client's error."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from aoa_proxy.errors import UpstreamTimeout, UpstreamUnreachable
from aoa_proxy.upstream import Stage, describe, failure


@pytest.mark.parametrize(
    ("stage", "kind", "message"),
    [
        (Stage.OPEN, UpstreamTimeout, "Azure did not answer in time"),
        (Stage.ERROR_BODY, UpstreamTimeout, "Azure stopped sending its error answer"),
        (Stage.BODY, UpstreamTimeout, "Azure stopped sending in the middle of its answer"),
        (
            Stage.RELAYED_STREAM,
            UpstreamUnreachable,
            "The upstream stream broke off: stopped sending",
        ),
        (Stage.TRANSLATED_STREAM, UpstreamTimeout, "Azure stopped sending"),
    ],
)
def test_a_timeout_at_each_stage(stage, kind, message):
    for exc in (asyncio.TimeoutError(), aiohttp.ServerTimeoutError("read")):  # the latter is both
        err = failure(exc, "Azure", stage)
        assert (type(err), err.message) == (kind, message)


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        (Stage.OPEN, "Could not reach Azure: the server closed the connection"),
        (Stage.ERROR_BODY, "Azure: the server closed the connection"),
        (Stage.BODY, "Azure: the server closed the connection"),
        (Stage.RELAYED_STREAM, "The upstream stream broke off: the server closed the connection"),
        (
            Stage.TRANSLATED_STREAM,
            "The upstream stream broke off: the server closed the connection",
        ),
    ],
)
def test_a_broken_connection_at_each_stage_is_a_502(stage, message):
    err = failure(aiohttp.ServerDisconnectedError(), "Azure", stage)
    assert (type(err), err.status, err.message) == (UpstreamUnreachable, 502, message)


def test_the_reason_never_carries_the_url():
    exc = aiohttp.ClientResponseError(None, (), message="https://x.example/?key=sk-secret")  # type: ignore[arg-type]
    assert describe(exc) == "ClientResponseError"
    assert describe(aiohttp.ClientPayloadError("x")) == "the answer was cut off"
