"""Reliability-suite helpers: gateways in a background loop (for sync fuzzers), gateways as real
subprocesses (`python -m aoa_proxy`), and process measurements (RSS, open descriptors)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestServer

from aoa_proxy.app import create_app
from aoa_proxy.config import load_settings
from tests.fakes import FakeUpstream

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
SERVER_KEY = "sk-rel-SERVERKEY-0123456789abcdef"
ACCESS_TOKEN = "aoa-rel-ACCESSTOKEN-fedcba9876543210"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_fds(pid: int | None = None) -> int:
    return len(os.listdir(f"/proc/{pid or os.getpid()}/fd"))


def rss_kib(pid: int | None = None) -> int:
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_until(cond: Any, timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll `cond()` until it is true or `timeout` passes (a wait, never a timed assertion)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


async def async_wait_until(cond: Any, timeout: float = 10.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(step)
    return bool(cond())


class LoopThread:
    """An event loop in a daemon thread: lets synchronous fuzzers talk to real servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class ThreadedGateways:
    """A fake upstream plus gateways (one per env) served from a LoopThread."""

    def __init__(self) -> None:
        self.lt = LoopThread()
        self.upstream: FakeUpstream = self.lt.run(FakeUpstream().start())
        self._servers: list[TestServer] = []

    def start(self, env: Mapping[str, str]) -> int:
        async def go() -> TestServer:
            server = TestServer(create_app(load_settings(env)), host="127.0.0.1")
            await server.start_server()
            return server

        server = self.lt.run(go())
        self._servers.append(server)
        assert server.port is not None
        return server.port

    def close(self) -> None:
        for server in self._servers:
            self.lt.run(server.close())
        self.lt.run(self.upstream.close())
        self.lt.stop()


def provider_env(kind: str, url: str, *, key: str = SERVER_KEY) -> dict[str, str]:
    """Env settings pointing provider `kind` at a fake upstream at `url`."""
    if kind == "azure":
        return {"AOA_TYPE": "azure", "AZURE_ENDPOINT": url, "AZURE_API_KEY": key}
    if kind == "yi":
        return {"AOA_TYPE": "yi", "YI_ENDPOINT": url, "YI_API_KEY": key}
    if kind == "openai":
        return {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": f"{url}/v1", "OPENAI_API_KEY": key}
    if kind == "gemini":
        return {"AOA_TYPE": "gemini", "GEMINI_ENDPOINT": url, "GEMINI_API_KEY": key}
    if kind == "anthropic":
        return {"AOA_TYPE": "anthropic", "ANTHROPIC_ENDPOINT": url, "ANTHROPIC_API_KEY": key}
    if kind == "demo":
        return {"AOA_TYPE": "demo"}
    raise ValueError(kind)


class ProcGateway:
    """`python -m aoa_proxy` as a real subprocess; stderr goes to a file we scan afterwards."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        self.port = closed_port()
        self.workdir = workdir
        self.stderr_path = workdir / "gateway.stderr"
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "XDG_CONFIG_HOME": str(workdir / "config"),
            "AOA_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            # The code under test: a checkout on PYTHONPATH wins over the installed package.
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
            **env,
        }
        self._err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aoa_proxy"],
            env=full,
            cwd=str(workdir),
            stdout=self._err,
            stderr=self._err,
        )
        ok = wait_until(self._answers, timeout=30, step=0.05)
        if not ok:
            self.stop()
            raise RuntimeError(f"gateway did not start: {self.stderr()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {self.stderr()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/health")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def open_fds(self) -> int:
        return open_fds(self.proc.pid)

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()


@pytest.fixture
def proc_gateway(tmp_path: Path) -> Iterator[Any]:
    """Start subprocess gateways: `proc_gateway(env)`; all are stopped after the test."""
    started: list[ProcGateway] = []

    def start(env: Mapping[str, str]) -> ProcGateway:
        gw = ProcGateway(env, tmp_path)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        with contextlib.suppress(Exception):
            gw.stop()
