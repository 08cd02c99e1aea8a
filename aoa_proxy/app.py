"""The aiohttp application: routes and the middleware wired together, nothing else.

A request's way through the modules: middleware.py (admission.py checks Host, token and CORS;
errors become OpenAI JSON, or Anthropic's under /v1/messages; the access log), a front door in
doors/ (intake.py reads and checks the body into a Call), relay.py (the Call to its provider;
upstream.py does the I/O and maps its failures, streaming.py writes streams). The Messages door
(doors/messages.py) bridges through chat and writes its own answers. Small routes:
doors/models.py, health.py (and /ready, which drain.py flips during shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from aoa_proxy.appkeys import CORS, RECORD, RUNTIME, SELF_GUARDED
from aoa_proxy.config import Settings
from aoa_proxy.doors.chat import chat_completions
from aoa_proxy.doors.messages import count as count_message_tokens
from aoa_proxy.doors.messages import messages
from aoa_proxy.doors.models import get_model, list_all
from aoa_proxy.doors.openai_misc import completions, embeddings, images
from aoa_proxy.doors.responses import (
    STORE,
    create_response,
    delete_response,
    get_response,
    list_input_items,
)
from aoa_proxy.drain import DRAIN, Drain
from aoa_proxy.hardening import harden
from aoa_proxy.health import health, ready
from aoa_proxy.middleware import error_response, gateway_middleware
from aoa_proxy.response_store import ResponseStore
from aoa_proxy.runtime import Runtime
from aoa_proxy.usage import UsageStore

log = logging.getLogger(__name__)

__all__ = ["CORS", "RECORD", "RUNTIME", "SELF_GUARDED", "create_app", "error_response"]


def create_app(settings: Settings, runtime: Runtime | None = None) -> web.Application:
    """The gateway app. Pass a Runtime to share it (the desktop app switches providers on it)."""
    app = web.Application(middlewares=[gateway_middleware], client_max_size=settings.max_body_bytes)
    app[RUNTIME] = runtime or Runtime(settings)
    app[DRAIN] = Drain()  # requests in flight; drain.install_sigterm makes SIGTERM wait for them
    for path in ("/", "/health", "/ping"):
        app.router.add_get(path, health)
    app.router.add_get("/ready", ready)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/images/generations", images)
    app[STORE] = ResponseStore()  # bridged responses kept for previous_response_id, per process
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses/{response_id}", get_response)
    app.router.add_delete("/v1/responses/{response_id}", delete_response)
    app.router.add_get("/v1/responses/{response_id}/input_items", list_input_items)
    app.router.add_post("/v1/messages", messages)  # Anthropic; `?beta=true` is the same route
    app.router.add_post("/v1/messages/count_tokens", count_message_tokens)
    app.router.add_get("/v1/models", list_all)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    rt = app[RUNTIME]
    if settings.metrics:
        from aoa_proxy.metrics import PATH, metrics_for  # prometheus-client only when asked

        app.router.add_get(PATH, metrics_for(rt).handle)
        log.info(
            "Prometheus metrics at %s%s",
            PATH,
            " (behind the access token)" * bool(settings.access_token),
        )
    if settings.usage_db and rt.usage is None:
        keep_usage(rt, Path(settings.usage_db).expanduser(), settings.usage_retention_days)
    app.on_response_prepare.append(harden)
    app.on_startup.append(_start_runtime)
    app.on_cleanup.append(_close_runtime)
    return app


async def _start_runtime(app: web.Application) -> None:
    await app[RUNTIME].check_entra()  # Entra ID: say which source signs in, or the fix
    app[RUNTIME].maybe_refresh()  # several providers: list their models before the first request


async def _close_runtime(app: web.Application) -> None:
    rt = app[RUNTIME]
    await rt.close()
    if rt.usage is not None:  # write what is queued (a next request starts the writer again)
        await asyncio.to_thread(rt.usage.close)


def keep_usage(rt: Runtime, path: Path, retention_days: int) -> UsageStore:
    """Keep the usage history of `rt`'s requests in `path` (SQLite)."""
    store = rt.usage = UsageStore(path, retention_days)
    log.info("usage history in %s (kept %d days)", path, retention_days)
    rt.listeners.append(store.add)
    return store
