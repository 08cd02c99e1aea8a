"""Claude Code itself (`claude -p`) against aoa with AOA_TYPE=anthropic: native pass-through.

Uses the `claude` binary tests/anthropic/test_claude_code.py installs (skipped, with the reason,
without npm). Claude Code's beta request shapes (context_management, cache_control, its
anthropic-beta list) go to the fake Anthropic upstream as sent; only the key is aoa's.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.anthropic.test_claude_code import claude_bin
from tests.anthropic_provider.conftest import claude_gw
from tests.anthropic_provider.fake_anthropic import FakeAnthropic, message
from tests.conftest import StartGateway

__all__ = ["claude_bin"]
ANSWER = "Hi from the fake Claude"


async def test_claude_code_talks_to_claude_through_aoa(
    claude_bin: Path, start_gateway: StartGateway, claude: FakeAnthropic, tmp_path: Path
) -> None:
    claude.strict = False  # Claude Code sends beta fields the SDK's plain types do not know
    claude.reply = lambda body: message([{"type": "text", "text": ANSWER}])
    gw = await claude_gw(start_gateway, claude)
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
    posts = [r for r in claude.posts if r.path == "/v1/messages"]
    assert posts, "Claude Code's requests never reached the upstream"
    for sent in posts:
        assert sent.headers["x-api-key"] == "server-key"  # aoa's key, not "anything"
        assert sent.json["model"].startswith("claude-")  # Claude's own names, kept
    assert any(r.headers.get("anthropic-beta") for r in posts)  # its betas forwarded
