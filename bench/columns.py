"""The servers compared, each pointed at the same mock upstream: how to start each one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.load import CLIENT_KEY
from bench.procs import Server, clean_env, free_port

HERE = Path(__file__).resolve().parent
LITELLM_VENV = Path("/tmp/aoa-bench-litellm")
MODEL = "gpt-4o-mini"


@dataclass
class Column:
    key: str
    title: str
    server: Server | None  # None: unavailable
    reason: str = ""  # why unavailable
    streams: bool = True
    concurrency: tuple[int, ...] = (1, 16, 64)
    path: str = "/v1/chat/completions"
    body: bytes | None = None  # None: the chat request in bench/load.py


# A small non-streaming Responses request, the Responses columns' counterpart of the chat one.
RESPONSES_BODY = b'{"model":"gpt-4o-mini","input":"Say hello","max_output_tokens":16,"store":false}'


def _py(name: str) -> list[str]:
    return [sys.executable, str(HERE / name)]


def mock(tmp: Path, chunks: int, gap_ms: float, cores: str | None) -> Server:
    port = free_port()
    argv = _py("mock_upstream.py") + [
        "--port",
        str(port),
        "--chunks",
        str(chunks),
        "--gap-ms",
        str(gap_ms),
    ]
    return Server("mock", argv, port, tmp / "mock.log", clean_env({}), cores)


def nginx(tmp: Path, upstream: int, cores: str | None) -> Column:
    exe = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if exe is None:
        return Column(
            "nginx", "nginx", None, "nginx is not installed (apt-get install nginx-light)"
        )
    port = free_port()
    root = tmp / "nginx"
    root.mkdir(exist_ok=True)
    # One process (no master), no access log, keep-alive to the upstream, no buffering (SSE).
    conf = f"""
worker_processes 1;
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  upstream mock {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""
    (root / "nginx.conf").write_text(conf)
    argv = [exe, "-p", str(root), "-e", str(root / "error.log"), "-c", str(root / "nginx.conf")]
    return Column("nginx", "nginx", Server("nginx", argv, port, tmp / "nginx.log", {}, cores))


def bare(tmp: Path, upstream: int, cores: str | None) -> Column:
    port = free_port()
    argv = _py("bare_proxy.py") + [str(port), f"http://127.0.0.1:{upstream}"]
    server = Server("bare", argv, port, tmp / "bare.log", clean_env({}), cores)
    return Column("bare", "bare aiohttp", server)


def _aoa_argv() -> list[str]:
    script = Path(sys.executable).with_name("aoa-proxy")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aoa_proxy"]


def aoa(
    tmp: Path,
    upstream: int,
    cores: str | None,
    workers: int = 1,
    pinned: bool = True,
    metrics: bool = False,
) -> Column:
    """aoa headless; `pinned=False` columns are the unpinned 1-vs-2-workers comparison;
    `metrics` turns on GET /metrics (this column minus "aoa" is what counting costs)."""
    port = free_port()
    env = clean_env(
        {
            **({"AOA_METRICS": "on"} if metrics else {}),
            "AOA_TYPE": "azure",
            "AOA_PORT": str(port),
            "AOA_WORKERS": str(workers),
            "AOA_LOG_LEVEL": "INFO",  # one access-log line per request, as users run it
            "AZURE_ENDPOINT": f"http://127.0.0.1:{upstream}/",
            "AZURE_API_KEY": "bench-server-key",
            "AZURE_MODEL": MODEL,
            "AZURE_MODEL_ALIAS": f"{MODEL}:{MODEL}-deployment",
        }
    )
    if metrics:
        server = Server("aoa-metrics", _aoa_argv(), port, tmp / "aoa-metrics.log", env, cores)
        return Column("aoa-metrics", "aoa, metrics on", server)
    if pinned:
        server = Server("aoa", _aoa_argv(), port, tmp / "aoa.log", env, cores)
        return Column("aoa", "aoa", server)
    key = f"aoa-{workers}w"
    title = f"aoa ×{workers} worker{'s' if workers > 1 else ''}, unpinned"
    server = Server(key, _aoa_argv(), port, tmp / f"{key}.log", env, None)
    return Column(key, title, server, streams=False, concurrency=(16, 64))


def aoa_three(tmp: Path, upstream: int, cores: str | None) -> Column:
    """aoa with three providers enabled; the chat model reaches the mock (Azure) by exact alias,
    so this column minus "aoa" is what routing costs the pass-through path."""
    port = free_port()
    env = clean_env(
        {
            "AOA_PROVIDERS": "openai,gemini,azure",  # Azure is not even the default
            "AOA_PORT": str(port),
            "AOA_LOG_LEVEL": "INFO",
            "AZURE_ENDPOINT": f"http://127.0.0.1:{upstream}/",
            "AZURE_API_KEY": "bench-server-key",
            "AZURE_MODEL": MODEL,
            "AZURE_MODEL_ALIAS": f"{MODEL}:{MODEL}-deployment",
            "GEMINI_ENDPOINT": f"http://127.0.0.1:{upstream}",
            "GEMINI_API_KEY": "bench-gemini-key",
            "GEMINI_MODEL_ALIAS": "claude-*-haiku*:gemini-2.0-flash",
            "OPENAI_ENDPOINT": f"http://127.0.0.1:{upstream}/v1",
            "OPENAI_API_KEY": "bench-openai-key-1,bench-openai-key-2",
            "OPENAI_MODEL_ALIAS": "fast:gpt-4o|gemini/gemini-2.0-flash",
        }
    )
    server = Server("aoa-3p", _aoa_argv(), port, tmp / "aoa-3p.log", env, cores)
    return Column("aoa-3p", "aoa, 3 providers", server)


def aoa_responses(tmp: Path, upstream: int, cores: str | None, *, gemini: bool) -> Column:
    """POST /v1/responses: passed through to an upstream that speaks it (openai), or bridged
    Responses -> chat -> Gemini. Whole answers only (the stream client reads chat chunks)."""
    port = free_port()
    if gemini:
        key, title = "aoa-resp-gemini", "aoa Responses → Gemini (bridged)"
        provider = {
            "AOA_TYPE": "gemini",
            "GEMINI_ENDPOINT": f"http://127.0.0.1:{upstream}",
            "GEMINI_API_KEY": "bench-server-key",
            "GEMINI_MODEL_ALIAS": f"{MODEL}:gemini-2.0-flash",
        }
    else:
        key, title = "aoa-resp", "aoa Responses pass-through"
        provider = {
            "AOA_TYPE": "openai",
            "OPENAI_ENDPOINT": f"http://127.0.0.1:{upstream}/v1",
            "OPENAI_API_KEY": "bench-server-key",
        }
    env = clean_env({"AOA_PORT": str(port), "AOA_LOG_LEVEL": "INFO", **provider})
    server = Server(key, _aoa_argv(), port, tmp / f"{key}.log", env, cores)
    return Column(key, title, server, streams=False, path="/v1/responses", body=RESPONSES_BODY)


# The Messages columns' request: Claude Code's shape, small and whole.
MESSAGES_BODY = (
    b'{"model":"claude-sonnet-4-5","max_tokens":16,'
    b'"messages":[{"role":"user","content":"Say hello"}]}'
)


def aoa_messages(tmp: Path, upstream: int, cores: str | None, *, gemini: bool) -> Column:
    """POST /v1/messages: passed through to an Anthropic upstream, or bridged
    Messages -> chat -> Gemini. Whole answers only (the stream client reads chat chunks)."""
    port = free_port()
    if gemini:
        key, title = "aoa-msg-gemini", "aoa Messages → Gemini (bridged)"
        provider = {
            "AOA_TYPE": "gemini",
            "GEMINI_ENDPOINT": f"http://127.0.0.1:{upstream}",
            "GEMINI_API_KEY": "bench-server-key",
            "GEMINI_MODEL_ALIAS": "claude-sonnet-4-5:gemini-2.0-flash",
        }
    else:
        key, title = "aoa-msg", "aoa Messages pass-through"
        provider = {
            "AOA_TYPE": "anthropic",
            "ANTHROPIC_ENDPOINT": f"http://127.0.0.1:{upstream}",
            "ANTHROPIC_API_KEY": "bench-server-key",
        }
    env = clean_env({"AOA_PORT": str(port), "AOA_LOG_LEVEL": "INFO", **provider})
    server = Server(key, _aoa_argv(), port, tmp / f"{key}.log", env, cores)
    return Column(key, title, server, streams=False, path="/v1/messages", body=MESSAGES_BODY)


def aoa_gemini(tmp: Path, upstream: int, cores: str | None) -> Column:
    from aoa_proxy.providers import REGISTRY

    if "gemini" not in REGISTRY:
        return Column(
            "aoa-gemini",
            "aoa → Gemini",
            None,
            "the gemini provider is not registered in aoa_proxy.providers.REGISTRY yet",
        )
    port = free_port()
    env = clean_env(
        {
            "AOA_TYPE": "gemini",
            "AOA_PORT": str(port),
            "AOA_LOG_LEVEL": "INFO",
            "GEMINI_ENDPOINT": f"http://127.0.0.1:{upstream}",
            "GEMINI_API_KEY": "bench-server-key",
            "GEMINI_MODEL": "gemini-2.0-flash",
            "GEMINI_MODEL_ALIAS": f"{MODEL}:gemini-2.0-flash",
        }
    )
    server = Server("aoa-gemini", _aoa_argv(), port, tmp / "aoa-gemini.log", env, cores)
    return Column("aoa-gemini", "aoa → Gemini", server)


def ensure_litellm(venv: Path, log: Path) -> str:
    """Create the separate LiteLLM venv if needed; returns '' or why it is unavailable."""
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return ""
    print(f"bench: installing litellm[proxy] into {venv} (once; a minute or two)", flush=True)
    try:
        with open(log, "ab") as out:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, stdout=out, stderr=out
            )
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
                check=True,
                stdout=out,
                stderr=out,
                timeout=900,
            )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"could not install litellm[proxy] into {venv}: {type(exc).__name__}"
    return "" if exe.exists() else "litellm[proxy] installed no `litellm` command"


def litellm_version(venv: Path) -> str:
    found = sorted(venv.glob("lib/python*/site-packages/litellm-*.dist-info"))
    return (
        found[-1].name.removeprefix("litellm-").removesuffix(".dist-info")
        if found
        else "not installed"
    )


def litellm(tmp: Path, upstream: int, cores: str | None, venv: Path) -> Column:
    reason = ensure_litellm(venv, tmp / "litellm-install.log")
    if reason:
        return Column("litellm", "LiteLLM", None, reason)
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(
        f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: azure/{MODEL}-deployment
      api_base: http://127.0.0.1:{upstream}
      api_key: bench-server-key
      api_version: "2024-10-21"
    model_info:
      base_model: azure/{MODEL}  # else LiteLLM logs an error on every request
litellm_settings:
  drop_params: true
"""
    )
    argv = [
        str(venv / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    env = clean_env(
        {
            "LITELLM_MASTER_KEY": CLIENT_KEY,  # the bearer token every column's client sends
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from GitHub at start
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
        }
    )
    server = Server(
        "litellm",
        argv,
        port,
        tmp / "litellm.log",
        env,
        cores,
        health_path="/health/liveliness",
        start_timeout=120,
    )
    return Column("litellm", "LiteLLM", server)
