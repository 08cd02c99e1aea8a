"""GatewayThread: the aiohttp gateway on its own event loop in a background thread.

The tray owns the main thread (macOS requires it), so the server runs here. All public methods
are called from other threads and block until the loop has done the work. A bind failure (port
in use, address not available) becomes a `GatewayStatus` with a plain-words error, never an
exception, so the tray can show it and let the user pick another port. No UI imports here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from aiohttp import web

from aoa_desktop.ports import bind_error, is_in_use
from aoa_proxy.app import create_app
from aoa_proxy.config import Settings
from aoa_proxy.runtime import Runtime

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["stopped", "running", "failed"]
Extend = Callable[[web.Application], None]


@dataclass(frozen=True)
class GatewayStatus:
    """Where the gateway listens, or why it does not.

    When the configured address cannot be bound, the same app (settings page included) is still
    served on `page_host:page_port` -- the old address or a free loopback port -- so the user can
    reach the page and pick another port.
    """

    state: State
    host: str = ""
    port: int = 0
    error: str = ""
    port_in_use: bool = False
    page_host: str = ""
    page_port: int = 0
    bound_host: str = ""  # the address the listener on page_port really binds (0.0.0.0, ...)

    @property
    def base_url(self) -> str:
        """The configured OpenAI base URL (what clients should use)."""
        return f"http://{_client_host(self.host)}:{self.port}/v1"

    @property
    def bind_address(self) -> str:
        """host:port the listener really binds, e.g. 0.0.0.0:8080 ("" when none)."""
        if not self.page_port:
            return ""
        host = f"[{self.bound_host}]" if ":" in self.bound_host else self.bound_host
        return f"{host}:{self.page_port}"

    @property
    def reachable(self) -> bool:
        """True when something (the gateway or its fallback) is listening."""
        return self.page_port > 0


def _client_host(host: str) -> str:
    """How a client on this machine reaches `host` (wildcards -> loopback, IPv6 in brackets)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class GatewayThread:
    """Start, rebind and stop the gateway; `on_status` callbacks run after every change."""

    def __init__(self, extend: Extend | None = None, grace: float = 5.0) -> None:
        self._extend = extend  # adds the settings page routes to each new app
        self.grace = grace  # seconds in-flight requests get when the server stops
        self.on_status: list[Callable[[GatewayStatus], None]] = []
        self._status = GatewayStatus("stopped")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()  # one start/restart/stop at a time

    @property
    def status(self) -> GatewayStatus:
        return self._status

    def start(self, settings: Settings, runtime: Runtime, timeout: float = 30.0) -> GatewayStatus:
        """Start the loop thread (once) and listen on settings.host:port."""
        with self._lock:
            self._runtime = runtime
            if self._loop is None:
                self._start_loop()
            if self._runner is not None:
                return self._status
            return self._set(self._call(self._bind_or_fallback(settings), timeout))

    def restart(self, settings: Settings, timeout: float = 30.0) -> GatewayStatus:
        """Listen on settings.host:port instead; on failure keep serving the old address."""
        with self._lock:
            if self._loop is None or self._runtime is None:
                raise RuntimeError("restart() before start()")
            return self._set(self._call(self._rebind(settings), timeout + self.grace))

    def stop(self, grace: float | None = None) -> None:
        """Stop listening, give in-flight requests `grace` seconds, then end the loop thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if grace is not None:
                self.grace = grace
            try:
                self._call(self._unbind(), self.grace + 10)
            except Exception:  # a stuck shutdown must not stop the process from exiting
                log.exception("gateway shutdown failed")
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None
            self._set(GatewayStatus("stopped"))

    # ----------------------------------------------------------------------- loop plumbing

    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            # Let cancelled tasks unwind so "Task was destroyed but it is pending" never shows.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            # Closed transports finish closing their sockets in callbacks: let those run.
            loop.run_until_complete(asyncio.sleep(0.05))
            loop.run_until_complete(loop.shutdown_asyncgens())

        self._loop = loop
        self._thread = threading.Thread(target=run, name="aoa-gateway", daemon=True)
        self._thread.start()
        ready.wait()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _set(self, status: GatewayStatus) -> GatewayStatus:
        self._status = status
        for callback in list(self.on_status):
            try:
                callback(status)
            except Exception:  # a UI callback must never take the gateway down
                log.exception("gateway status callback failed")
        return status

    # ----------------------------------------------------------------------- on the loop

    async def _bind(self, settings: Settings) -> tuple[web.AppRunner | None, GatewayStatus]:
        """Listen on settings.host:port; on success the new runner becomes the current one."""
        assert self._runtime is not None
        app = create_app(settings, self._runtime)
        if self._extend is not None:
            self._extend(app)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=self.grace
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            status = _bind_failure(settings, exc)
            log.error("%s", status.error)
            return None, status
        port = settings.port
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                port = int(address[1])  # the real port when settings.port is 0
                break
        self._runner = runner
        status = GatewayStatus(
            "running",
            settings.host,
            port,
            page_host=_client_host(settings.host),
            page_port=port,
            bound_host=settings.host,
        )
        log.info("listening on %s (base URL %s)", status.bind_address, status.base_url)
        return runner, status

    async def _bind_or_fallback(self, settings: Settings) -> GatewayStatus:
        runner, status = await self._bind(settings)
        if runner is not None:
            return status
        return await self._fallback(settings, status)

    async def _fallback(self, settings: Settings, failed: GatewayStatus) -> GatewayStatus:
        """Serve the app on a free loopback port so the settings page stays reachable."""
        runner, status = await self._bind(replace(settings, host="127.0.0.1", port=0))
        if runner is None:
            return failed
        log.warning("settings page meanwhile reachable on port %d", status.port)
        return replace(failed, page_host="127.0.0.1", page_port=status.port, bound_host="127.0.0.1")

    async def _unbind(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the socket, waits up to `grace` for handlers

    async def _rebind(self, settings: Settings) -> GatewayStatus:
        old, old_status = self._runner, self._status
        if old is not None and old_status.page_port == settings.port:
            # Same port on another address: the old socket would block the new bind.
            await self._unbind()
            old = None
        self._runner = None
        runner, status = await self._bind(settings)
        if runner is not None:
            if old is not None:
                await old.cleanup()
            return status
        if old is not None:  # keep serving where we were
            self._runner = old
            return replace(
                status,
                page_host=old_status.page_host,
                page_port=old_status.page_port,
                bound_host=old_status.bound_host,
            )
        return await self._fallback(settings, status)


def _bind_failure(settings: Settings, exc: OSError) -> GatewayStatus:
    host, port = settings.host, settings.port
    error = bind_error(host, port, exc)
    return GatewayStatus("failed", host, port, error=error, port_in_use=is_in_use(exc))
