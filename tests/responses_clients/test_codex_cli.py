"""Codex CLI itself (`codex exec`) against aoa's /v1/responses, with a fake chat upstream.

The CLI comes from npm (`@openai/codex`, a few hundred MB with its binary), installed once into
a cache directory (AOA_CODEX_CACHE, default <tmp>/aoa-test-codex) and reused; the tests skip
with the reason when npm is missing or the install fails. Only that install talks to the npm
registry; codex itself runs with a proxy that leads nowhere, so anything but loopback fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_completion

CACHE = Path(os.environ.get("AOA_CODEX_CACHE") or Path(tempfile.gettempdir()) / "aoa-test-codex")
CODEX_VERSION = os.environ.get("AOA_CODEX_VERSION", "0.171.0")


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    binary = CACHE / "node_modules" / ".bin" / "codex"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("Codex CLI tests need npm (to install @openai/codex)")
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(CACHE),
                "--no-audit",
                "--no-fund",
                f"@openai/codex@{CODEX_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install @openai/codex took over 10 minutes")
    if done.returncode != 0 or not binary.exists():
        pytest.skip(f"npm install @openai/codex failed: {done.stderr.strip()[-300:]}")
    return binary


def readme_config(url: str) -> str:
    """The ~/.codex/config.toml block README.md gives, pointed at this gateway."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Use with Codex CLI") :]
    start = section.index("```toml\n") + len("```toml\n")
    block = section[start : section.index("\n```", start)]
    assert 'wire_api = "responses"' in block
    return block.replace("http://127.0.0.1:8080/v1", f"{url}/v1")


def codex_home(root: Path, url: str) -> dict[str, str]:
    """A HOME whose ~/.codex/config.toml is the README's block, pointing Codex at aoa."""
    home = root / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(readme_config(url))
    work = root / "work"
    work.mkdir()
    return {
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AOA_API_KEY": "client-key",
        # Anything Codex tries beyond loopback goes to a port where nobody listens.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "RUST_LOG": "error",
    }


async def run_codex(binary: Path, env: dict[str, str], cwd: Path, prompt: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        prompt,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        pytest.fail(f"codex exec did not finish: {out.decode(errors='replace')[-2000:]}")
    return proc.returncode or 0, out.decode(errors="replace")


def azure(upstream: FakeUpstream) -> dict[str, str]:
    return {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": upstream.url,
        "AZURE_API_KEY": "az-key",
        "AZURE_MODEL": "gpt-5-codex",
    }


async def answer_stream(
    request: web.Request, message: dict[str, Any], finish: str
) -> web.StreamResponse:
    """One chat answer as a stream (Codex always streams)."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", **message}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        },
    ]
    for chunk in chunks:
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def test_codex_exec_gets_a_text_answer(
    codex_bin: Path, upstream: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        if not rec.json.get("stream"):
            return web.json_response(chat_completion("aoa says hello"))
        return await answer_stream(request, {"content": "aoa says hello"}, "stop")

    upstream.responder = answer
    gw = await start_gateway(azure(upstream))
    env = codex_home(tmp_path, gw.url)
    code, out = await run_codex(codex_bin, env, tmp_path / "work", "Say hello")
    assert code == 0, out
    assert "aoa says hello" in out
    posts = [r for r in upstream.received if r.method == "POST"]
    assert posts and posts[0].path == "/openai/deployments/gpt-5-codex/chat/completions"
    sent = posts[0].json
    assert sent["stream"] is True
    assert all(t["function"]["name"] != "web_search" for t in sent.get("tools", []))
    assert any(m["role"] == "user" and "Say hello" in str(m["content"]) for m in sent["messages"])


async def test_codex_exec_runs_one_tool_round(
    codex_bin: Path, upstream: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        messages = rec.json["messages"]
        outputs = [m for m in messages if m["role"] == "tool"]
        if outputs:
            return await answer_stream(request, {"content": "the tool ran"}, "stop")
        call = {
            "index": 0,
            "id": "call_codex1",
            "type": "function",
            "function": {"name": "exec_command", "arguments": '{"cmd":"echo aoa-tool-ran"}'},
        }
        return await answer_stream(request, {"content": None, "tool_calls": [call]}, "tool_calls")

    upstream.responder = answer
    gw = await start_gateway(azure(upstream))
    env = codex_home(tmp_path, gw.url)
    code, out = await run_codex(codex_bin, env, tmp_path / "work", "Run the tool")
    assert code == 0, out
    assert "the tool ran" in out
    posts = [r for r in upstream.received if r.method == "POST"]
    second = posts[-1].json["messages"]
    [tool] = [m for m in second if m["role"] == "tool"]
    assert tool["tool_call_id"] == "call_codex1"
    assert "aoa-tool-ran" in str(tool["content"])
    [assistant] = [m for m in second if m.get("tool_calls")]
    assert assistant["tool_calls"][0]["function"]["name"] == "exec_command"


async def test_codex_exec_on_gemini(
    codex_bin: Path, start_gateway: StartGateway, tmp_path: Path
) -> None:
    """Codex's whole first request (namespaces, every tool schema, developer messages) as
    Gemini takes it: the fake Gemini refuses anything the real one would."""
    from tests.gemini.fake_gemini import FakeGemini, text_chunks

    fake = await FakeGemini().start()
    try:
        fake.models.append("gpt-5-codex")
        fake.reply = lambda body, model: text_chunks(["gemini ", "says hi"])
        gw = await start_gateway(
            {"AOA_TYPE": "gemini", "GEMINI_ENDPOINT": fake.url, "GEMINI_API_KEY": "server-key"}
        )
        env = codex_home(tmp_path, gw.url)
        code, out = await run_codex(codex_bin, env, tmp_path / "work", "Say hi")
        assert code == 0, out
        assert "gemini says hi" in out
        sent = fake.posts[0].json
        names = [f["name"] for t in sent["tools"] for f in t.get("functionDeclarations", [])]
        assert "exec_command" in names and "web_search" not in names
    finally:
        await fake.close()
