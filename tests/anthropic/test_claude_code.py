"""Claude Code itself (`claude -p`) against aoa and a fake OpenAI-compatible upstream.

The npm package is installed once per session into a cache directory (the only step that needs
the npm registry; it runs in a subprocess); the test is skipped, with the reason, when npm is
missing or the install fails. Claude Code then talks only to the gateway on loopback.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse

PACKAGE = "@anthropic-ai/claude-code"
ANSWER = "Hi from the fake upstream"
CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aoa-tests" / "claude-code"
)


@pytest.fixture(scope="session")
def claude_bin() -> Iterator[Path]:
    """The `claude` executable, installed by npm into the cache directory when missing."""
    binary = CACHE / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("Claude Code needs npm to install (apt: npm)")
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), PACKAGE],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"npm install {PACKAGE} failed: {exc}")
        if done.returncode != 0 or not binary.exists():
            pytest.skip(f"npm install {PACKAGE} failed: {done.stderr.strip()[-300:]}")
    yield binary


async def test_claude_print_mode_answers_through_aoa(
    claude_bin: Path, start_gateway: StartGateway, upstream: FakeUpstream, tmp_path: Path
) -> None:
    async def fixed(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.json.get("stream"):
            return await sse(request, chat_chunks([ANSWER], usage=True))
        return web.json_response(chat_completion(ANSWER))

    upstream.responder = fixed
    gw = await start_gateway(
        {
            "AOA_TYPE": "openai",
            "OPENAI_ENDPOINT": upstream.url + "/v1",
            "OPENAI_API_KEY": "server-key",
            "OPENAI_MODEL": "gpt-4o",
        }
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gw.url,
        "ANTHROPIC_API_KEY": "anything",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        str(claude_bin),
        "-p",
        "say hi",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert ANSWER in out.decode()
    posts = [r for r in upstream.received if r.method == "POST"]
    assert posts, "Claude Code's requests never reached the upstream"
    assert all(r.json["model"] == "gpt-4o" for r in posts)  # claude-* names: the default model
