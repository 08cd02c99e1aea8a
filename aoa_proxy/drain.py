"""Graceful drain: on SIGTERM, report not-ready and let requests in flight finish, then stop.

An orchestrator (Kubernetes, a load balancer) stops sending new requests once readiness fails,
but streams already running may take minutes. So SIGTERM does not close the socket at once:
`/ready` answers 503 "draining" (the listener stays open, so the probe can see that), requests
still arriving are served, and the process stops when none is in flight or after
AOA_SHUTDOWN_GRACE seconds, whichever is first. A second SIGTERM, or SIGINT, stops at once.
Only the command-line gateway installs the signal handler; the desktop app stops its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from aoa_proxy.i18n import _

log = logging.getLogger(__name__)


class Drain:
    """Requests in flight, and whether the gateway is draining."""

    def __init__(self) -> None:
        self.draining = False
        self.inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.inflight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self._idle.set()

    async def wait_idle(self, grace: float) -> bool:
        """Wait until nothing is in flight, at most `grace` seconds; whether it got there."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True


DRAIN = web.AppKey("drain", Drain)
# Probes are never counted: they must keep answering while the gateway drains.
PROBES = frozenset({"/", "/health", "/ping", "/ready"})


def install_sigterm(app: web.Application, grace: float) -> None:
    """Make SIGTERM drain `app` (called from cli; needs the main thread's event loop)."""

    async def on_startup(app: web.Application) -> None:
        # Runs after aiohttp's runner set its own handler, so this one replaces it for SIGTERM.
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Task[None]] = []

        def stop() -> None:
            # Once: web.run_app catches GracefulExit and shuts down; a second one raised while
            # it does so would cut that short.
            loop.add_signal_handler(signal.SIGTERM, lambda: None)
            loop.call_soon(_raise_exit)

        async def drain_then_stop() -> None:
            drain = app[DRAIN]
            drain.draining = True
            log.info(_("SIGTERM: draining, %d request(s) in flight"), drain.inflight)
            if not await drain.wait_idle(grace):
                log.warning(
                    _("stopping with %d request(s) in flight after %g s (AOA_SHUTDOWN_GRACE)"),
                    drain.inflight,
                    grace,
                )
            stop()

        def on_sigterm() -> None:
            if waiting:  # a second SIGTERM: stop now
                waiting[0].cancel()
                stop()
                return
            waiting.append(loop.create_task(drain_then_stop()))

        with contextlib.suppress(NotImplementedError):  # Windows: no SIGTERM to drain on
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)

    app.on_startup.append(on_startup)


def _raise_exit() -> None:
    # What aiohttp's own signal handler does.
    raise GracefulExit()
