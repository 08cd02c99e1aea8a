"""Client text cannot forge log lines: a newline (or a carriage return, a terminal escape, a
Unicode line separator) in a model name or a path is escaped in the text access log, and the
JSON access log keeps the exact value as one JSON string. Checked in-process and in the real
log output of a gateway subprocess."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream
from tests.reliability.conftest import ProcGateway, provider_env

FORGED = "2026-12-02 10:00:00,000 INFO aoa.access: POST /v1/chat/completions admin 200 1.0ms"
MODELS = [
    f"m\n{FORGED}",
    f"m\r\n{FORGED}",
    f"m\r{FORGED}",
    f"m\x1b[2K\r{FORGED}",  # erase the line on a terminal, then print another
    f"m\u2028{FORGED}",
    f"m\x85{FORGED}",
]
PATHS = ["/v1/models/m\n" + FORGED, "/nope\r\n" + FORGED]
CONTROLS = "\n\r\x1b\u2028\x85"


async def _send(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for model in MODELS:
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            async with s.post(url + "/v1/chat/completions", json=body) as r:
                assert r.status == 200
        for path in PATHS:
            async with s.get(url + quote(path)) as r:
                assert r.status == 404


def _access_lines(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aoa.access"]


async def test_control_characters_in_model_and_path_are_escaped_in_the_text_log(
    upstream: FakeUpstream, start_gateway: StartGateway, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="aoa.access")
    gw = await start_gateway({**provider_env("openai", upstream.url), "AOA_LOG_FORMAT": "text"})
    await _send(gw.url)
    lines = _access_lines(caplog)
    assert len(lines) == len(MODELS) + len(PATHS)
    for line in lines:
        assert not any(c in line for c in CONTROLS), repr(line)
        assert line.startswith(("POST /v1/chat/completions openai m\\", "GET /")), line
    assert "m\\n2026-12-02" in lines[0] and "m\\r\\n2026" in lines[1]
    assert "m\\x1b[2K\\r2026" in lines[3] and "m\\u2028" in lines[4]
    assert "/v1/models/m\\n2026" in lines[len(MODELS)]


async def test_json_log_keeps_the_exact_value_on_one_line(
    upstream: FakeUpstream, start_gateway: StartGateway, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="aoa.access")
    gw = await start_gateway({**provider_env("openai", upstream.url), "AOA_LOG_FORMAT": "json"})
    await _send(gw.url)
    lines = _access_lines(caplog)
    assert len(lines) == len(MODELS) + len(PATHS)
    assert not [line for line in lines if "\n" in line or "\r" in line]
    assert [json.loads(line)["model"] for line in lines[: len(MODELS)]] == MODELS
    assert [json.loads(line)["path"] for line in lines[len(MODELS) :]] == PATHS


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_subprocess_log_has_one_line_per_request(
    upstream: FakeUpstream, proc_gateway: Any, log_format: str
) -> None:
    gw: ProcGateway = proc_gateway(
        {**provider_env("openai", upstream.url), "AOA_LOG_FORMAT": log_format}
    )
    await _send(gw.url)
    gw.stop()
    lines = gw.stderr().split("\n")
    access = [line for line in lines if "aoa.access" in line and "admin 200" in line]
    assert len(access) == len(MODELS) + len(PATHS), lines
    assert not [line for line in lines if line.lstrip("\r").startswith("2026-12-02 10:00")]
    if log_format == "json":
        assert [json.loads(line)["logger"] for line in access] == ["aoa.access"] * len(access)
