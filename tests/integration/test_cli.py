"""`aoa-proxy` as a real process: help, config errors, start-up, the demo provider via the SDK."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import openai

from aoa_proxy import __version__
from aoa_proxy.config import ENV_VARS
from tests.support import free_port

BASE_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("AOA_", "AZURE_", "YI_", "GEMINI_", "OPENAI_", "ANTHROPIC_"))
}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aoa_proxy", *args],
        capture_output=True,
        text=True,
        env={**BASE_ENV, "LANG": "C", **(env or {})},
        timeout=30,
    )


@dataclass
class Run:
    port: int
    proc: subprocess.Popen[str]
    log: str = ""


@contextmanager
def running(env: dict[str, str], *args: str) -> Iterator[Run]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aoa_proxy", "--port", str(port), *args],
        env={**BASE_ENV, "LANG": "C", **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "gateway did not answer /health"
                time.sleep(0.05)
        run = Run(port, proc)
        yield run
    finally:
        if proc.poll() is None:
            proc.terminate()
        _, run.log = proc.communicate(timeout=10)


def test_help_lists_every_option_and_variable_with_defaults():
    out = run_cli("--help").stdout
    for option in ("--host", "--port", "--type", "--version"):
        assert option in out
    for var in ENV_VARS:
        assert var.name in out
    assert "(default: 127.0.0.1)" in out and "(default: 2023-05-15)" in out


def test_version():
    assert run_cli("--version").stdout.strip() == f"aoa-proxy {__version__}"


def test_invalid_configuration_exits_2_with_one_line_per_problem():
    result = run_cli(env={"AOA_TYPE": "nope", "AOA_PORT": "99999", "AZURE_MODEL_ALIAS": "a:b:c"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert {line.split(":")[1].strip() for line in lines} == {
        "AOA_TYPE",
        "AOA_PORT",
        "AZURE_MODEL_ALIAS",
    }


def test_command_line_overrides_the_environment():
    result = run_cli("--type", "azure", env={"AOA_TYPE": "demo"})
    assert result.returncode == 2
    assert "AZURE_ENDPOINT" in result.stderr


def test_demo_by_default_works_with_the_openai_sdk_and_says_how_to_configure():
    with running({}) as run:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{run.port}/v1", api_key="anything")
        reply = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello gateway"}]
        )
        assert reply.choices[0].message.content == "Echo: hello gateway"
        client.close()
    log = run.log
    assert "demo provider" in log and "AOA_TYPE" in log
    assert "POST /v1/chat/completions demo gpt-4o 200" in log


def test_keys_never_reach_the_log_and_exposure_is_warned():
    secret = "sk-very-secret-azure-key-0042"
    env = {
        "AOA_TYPE": "azure",
        "AZURE_ENDPOINT": "https://res.openai.azure.com/",
        "AZURE_API_KEY": secret,
        "AOA_HOST": "0.0.0.0",
        "AOA_LOG_LEVEL": "DEBUG",
    }
    with running(env) as run:
        pass
    log = run.log
    assert secret not in log
    assert "****0042" in log
    assert "anyone who can reach this port can spend the key" in log


def test_sigterm_exits_cleanly():
    with running({}) as run:
        run.proc.terminate()
        assert run.proc.wait(timeout=10) == 0


def test_workers_share_the_port_and_stop_with_the_parent():
    import signal

    with running({"AOA_WORKERS": "2"}) as run:
        children = subprocess.run(
            ["pgrep", "-P", str(run.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 2
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{run.port}/v1", api_key="x")
        for _ in range(4):
            assert client.models.list().data
        client.close()
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=15) == 0
    for child in children:  # reaped by the parent: no orphan keeps serving the port
        try:
            os.kill(int(child), 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {child} outlived the parent")


def test_bad_aoa_providers_exits_2_with_one_line():
    for env, words in [
        ({"AOA_PROVIDERS": "azure,nope"}, "AOA_PROVIDERS: unknown provider 'nope'"),
        ({"AOA_PROVIDERS": "gemini,Gemini"}, "AOA_PROVIDERS: 'gemini' is listed twice"),
        (
            {"AOA_PROVIDERS": "openai,gemini"},
            "AOA_PROVIDERS: gemini is enabled but not configured: set GEMINI_API_KEY",
        ),
        (
            {"AOA_PROVIDERS": "gemini,azure", "GEMINI_API_KEY": "k", "AZURE_API_KEY": "k"},
            "AOA_PROVIDERS: azure is enabled but not configured: set AZURE_ENDPOINT",
        ),
        ({"AOA_TYPE": "gemini", "GEMINI_API_KEY": "k-0001, k-0001"}, "GEMINI_API_KEY: the key"),
    ]:
        result = run_cli(env=env)
        assert result.returncode == 2, env
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"aoa-proxy: {words}"), line


def test_several_providers_start_and_say_which_is_the_default():
    env = {
        "AOA_PROVIDERS": "demo,gemini",
        "GEMINI_API_KEY": "gemini-key-secret-0009,gemini-key-secret-0010",
        "GEMINI_ENDPOINT": "http://127.0.0.1:9/",  # never reached: only demo is asked
    }
    with running(env) as run:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{run.port}/v1", api_key="x")
        reply = client.chat.completions.create(
            model="demo/demo-echo", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.choices[0].message.content == "Echo: hello"
        client.close()
    log = run.log
    assert "providers: demo, gemini (default: demo)" in log
    assert "gemini: server key: ****0009, ****0010" in log
    assert "gemini-key-secret" not in log
    assert "POST /v1/chat/completions demo demo/demo-echo → demo/demo-echo 200" in log
