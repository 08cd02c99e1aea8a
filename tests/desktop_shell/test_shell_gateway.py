"""GatewayThread: serving from its own loop thread, bind failures as status, rebinding, grace."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from aoa_desktop.gateway import GatewayThread
from aoa_proxy.config import Settings, load_settings
from aoa_proxy.runtime import Runtime
from tests.desktop_shell.conftest import Upstream, chat, health
from tests.support import free_port, wait_for


def _settings(port: int, env: dict[str, str] | None = None) -> Settings:
    return replace(load_settings(env or {}), port=port)


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    g = GatewayThread(grace=5.0)
    yield g
    g.stop()


def test_serves_from_its_thread_and_stops(gateway: GatewayThread) -> None:
    settings = _settings(0)
    status = gateway.start(settings, Runtime(settings))
    assert status.state == "running" and status.port > 0
    assert status.base_url == f"http://127.0.0.1:{status.port}/v1"
    assert chat(status.port) == "Echo: hi"
    gateway.stop()
    assert gateway.status.state == "stopped"
    assert health(status.port) is None


def test_port_in_use_is_a_status_and_the_app_stays_reachable(gateway: GatewayThread) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        settings = _settings(port)
        status = gateway.start(settings, Runtime(settings))
    assert status.state == "failed" and status.port_in_use
    assert status.error == (
        f"Port {port} on 127.0.0.1 is already in use by another program; "
        "choose another port in Settings."
    )
    assert status.reachable and status.page_port != port
    assert health(status.page_port) == {"status": "ok", "provider": "demo", "version": "0.1.0"}


def test_restart_moves_to_the_new_port(gateway: GatewayThread) -> None:
    settings = _settings(free_port())
    old = gateway.start(settings, Runtime(settings))
    new_port = free_port()
    status = gateway.restart(replace(settings, port=new_port))
    assert status.state == "running" and status.port == new_port
    assert health(new_port) is not None
    assert health(old.port) is None


def test_restart_onto_a_taken_port_keeps_serving_the_old_one(gateway: GatewayThread) -> None:
    settings = _settings(free_port())
    old = gateway.start(settings, Runtime(settings))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        status = gateway.restart(replace(settings, port=taken))
    assert status.state == "failed" and status.port_in_use
    assert status.page_port == old.port
    assert health(old.port) is not None


def test_extend_hook_mounts_extra_routes_on_every_app() -> None:
    async def extra(_request: web.Request) -> web.Response:
        return web.Response(text="extra")

    def extend(app: web.Application) -> None:
        app.router.add_get("/extra", extra)

    g = GatewayThread(extend)
    try:
        settings = _settings(free_port())
        g.start(settings, Runtime(settings))
        port = free_port()
        g.restart(replace(settings, port=port))
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/extra", timeout=5) as r:
            assert r.read() == b"extra"
    finally:
        g.stop()


class _SlowUpstream(Upstream):
    """Answers only after `release` is set, so a request is surely in flight."""

    release: threading.Event = threading.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        import asyncio

        self.received.append((request.method, request.path))
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        return await super()._handle(request)


def test_stop_lets_an_in_flight_request_finish() -> None:
    slow = _SlowUpstream("slow")
    slow.release = threading.Event()
    slow.start()
    g = GatewayThread(grace=5.0)
    try:
        env = {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": slow.url + "/v1", "OPENAI_API_KEY": "k"}
        settings = _settings(free_port(), env)
        status = g.start(settings, Runtime(settings))
        answers: list[str] = []
        client = threading.Thread(target=lambda: answers.append(chat(status.port)))
        client.start()
        wait_for("the request to reach the upstream", lambda: slow.received)
        stopper = threading.Thread(target=g.stop)
        stopper.start()
        # The listener closes at once; the request already running is given its grace. (Watched
        # in /proc, not by connecting: a connection racing the close would itself linger.)
        wait_for("the listener to close", lambda: not _listening(status.port))
        slow.release.set()
        client.join(10)
        stopper.join(10)
        assert answers == ["from slow"]
    finally:
        g.stop()
        slow.close()


def _listening(port: int) -> bool:
    """Whether something listens on `port` (Linux: from /proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test, so a leaked socket or transport is reported against its test."""
    yield
    import gc

    gc.collect()
