"""The real Codex CLI and Claude Code after Connect: nothing but the file aoa wrote tells them
where aoa is or what its access token is (HOME is a fresh folder, no variable is exported), and
they answer through aoa from a fake upstream. Disconnect then leaves their files as they were.

Both come from npm, cached (tests/responses_clients/test_codex_cli.py,
tests/anthropic/test_claude_code.py); `llm` comes from PyPI into its own cached venv
(AOA_LLM_CACHE, default <tmp>/aoa-test-llm). The tests skip, with the reason, when they cannot
be installed. Anything they try beyond loopback goes to a port where nobody listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from aiohttp import web

from aoa_desktop.connect import TOOLS, Connections, context_for
from aoa_proxy.config import load_settings
from tests.anthropic.test_claude_code import claude_bin  # noqa: F401 (fixture)
from tests.conftest import StartGateway
from tests.fakes import FakeUpstream, Received, chat_chunks, chat_completion, sse
from tests.responses_clients.test_codex_cli import (  # noqa: F401 (codex_bin: fixture)
    answer_stream,
    codex_bin,
    run_codex,
)

TOKEN = "tool-access-token-5c1d"
LLM_CACHE = Path(os.environ.get("AOA_LLM_CACHE") or Path(tempfile.gettempdir()) / "aoa-test-llm")
LLM_VERSION = "0.36"
NOWHERE = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "work").mkdir()
    return home


def _connect(name: str, env: dict[str, str], port: int, home: Path, record: Path) -> Connections:
    ctx = context_for(load_settings(env), ("127.0.0.1", port), home=home, env={})
    conns = Connections(record, TOOLS)
    assert conns.connect(name, ctx)["changed"]
    assert conns.status(name, ctx)["connected"]
    return conns


@pytest.mark.parametrize("token", [TOKEN, ""], ids=["with-token", "no-token"])
async def test_codex_exec_works_after_connect(
    token: str,
    codex_bin: Path,  # noqa: F811
    upstream: FakeUpstream,
    start_gateway: StartGateway,
    tmp_path: Path,
) -> None:
    async def answer(request: web.Request, rec: Received) -> web.StreamResponse:
        return await answer_stream(request, {"content": "connected codex says hi"}, "stop")

    upstream.responder = answer
    env = {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": upstream.url,
        "AZURE_API_KEY": "az-upstream-key",
        "AZURE_MODEL": "gpt-5-codex",
        "AOA_ACCESS_TOKEN": token,  # Codex must send it, from the file alone
    }
    gw = await start_gateway(env)
    home = _home(tmp_path)
    (home / ".codex").mkdir()
    config = home / ".codex" / "config.toml"
    config.write_text('# my settings\napproval_policy = "never"\n')
    original = config.read_bytes()
    conns = _connect("codex", env, gw.server.port or 0, home, tmp_path / "aoa")
    assert "az-upstream-key" not in config.read_text()

    run_env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "RUST_LOG": "error"}
    code, out = await run_codex(codex_bin, {**run_env, **NOWHERE}, tmp_path / "work", "Say hi")
    assert code == 0, out
    assert "connected codex says hi" in out
    posts = [r for r in upstream.received if r.method == "POST"]
    assert posts and posts[0].path == "/openai/deployments/gpt-5-codex/chat/completions"

    ctx = context_for(load_settings(env), ("127.0.0.1", gw.server.port or 0), home=home, env={})
    conns.disconnect("codex", ctx)
    assert config.read_bytes() == original


async def test_claude_print_mode_works_after_connect(
    claude_bin: Path,  # noqa: F811
    upstream: FakeUpstream,
    start_gateway: StartGateway,
    tmp_path: Path,
) -> None:
    async def fixed(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.json.get("stream"):
            return await sse(request, chat_chunks(["connected claude says hi"], usage=True))
        return web.json_response(chat_completion("connected claude says hi"))

    upstream.responder = fixed
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream.url + "/v1",
        "OPENAI_API_KEY": "server-upstream-key",
        "OPENAI_MODEL": "gpt-4o",
        "OPENAI_MODEL_ALIAS": "fast-haiku:gpt-4o-mini",
        "AOA_ACCESS_TOKEN": TOKEN,
    }
    gw = await start_gateway(env)
    home = _home(tmp_path)
    settings = home / ".claude" / "settings.json"
    _connect("claude-code", env, gw.server.port or 0, home, tmp_path / "aoa")
    written = json.loads(settings.read_text())["env"]
    assert written["ANTHROPIC_AUTH_TOKEN"] == TOKEN
    assert written["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "fast-haiku"  # the person's alias
    assert written["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "gpt-4o"
    assert "server-upstream-key" not in settings.read_text()

    run_env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), **NOWHERE}
    proc = await asyncio.create_subprocess_exec(
        str(claude_bin),
        "-p",
        "say hi",
        cwd=tmp_path / "work",
        env=run_env,
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
    assert proc.returncode == 0, (out + err).decode()[-2000:]
    assert "connected claude says hi" in out.decode()
    models = {r.json["model"] for r in upstream.received if r.method == "POST"}
    assert models and models <= {"gpt-4o", "gpt-4o-mini"}


@pytest.fixture(scope="session")
def llm_bin() -> Path:
    """Simon Willison's `llm` in a venv of its own (its dependencies stay out of aoa's)."""
    binary = LLM_CACHE / ("Scripts" if sys.platform == "win32" else "bin") / "llm"
    if binary.exists():
        return binary
    try:
        subprocess.run([sys.executable, "-m", "venv", str(LLM_CACHE)], check=True, timeout=120)
        pip = binary.with_name("pip")
        done = subprocess.run(
            [str(pip), "install", "-q", f"llm=={LLM_VERSION}"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"could not install llm: {exc}")
    if done.returncode != 0 or not binary.exists():
        pytest.skip(f"pip install llm failed: {done.stderr.strip()[-300:]}")
    return binary


async def test_llm_prompt_works_after_connect(
    llm_bin: Path, upstream: FakeUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    async def fixed(request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.json.get("stream"):
            return await sse(request, chat_chunks(["connected llm says hi"], usage=True))
        return web.json_response(chat_completion("connected llm says hi"))

    upstream.responder = fixed
    env = {
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": upstream.url + "/v1",
        "OPENAI_API_KEY": "server-upstream-key",
        "OPENAI_MODEL": "gpt-4o",
        "OPENAI_MODEL_ALIAS": "gpt-4:fake-model-x",
        "AOA_ACCESS_TOKEN": TOKEN,
    }
    gw = await start_gateway(env)
    home = _home(tmp_path)
    _connect("llm", env, gw.server.port or 0, home, tmp_path / "aoa")
    run_env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), **NOWHERE}
    for model, upstream_model in (("aoa", "gpt-4o"), ("aoa/gpt-4", "fake-model-x")):
        proc = await asyncio.create_subprocess_exec(
            str(llm_bin),
            "-m",
            model,
            "say hi",
            cwd=tmp_path / "work",
            env=run_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert "connected llm says hi" in out.decode()
        assert upstream.received[-1].json["model"] == upstream_model
