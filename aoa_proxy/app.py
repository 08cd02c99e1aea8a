"""The aiohttp application: routes and the middleware wired together, nothing else.

A request's way through the modules: middleware.py (admission.py checks Host, token and CORS;
errors become OpenAI JSON, or Anthropic's under /v1/messages; the access log), a front door in
doors/ (intake.py reads and checks the body into a Call), relay.py (the Call to its provider;
upstream.py does the I/O and maps its failures, streaming.py writes streams). The Messages door
(doors/messages.py) bridges through chat and writes its own answers. Small routes:
doors/models.py, health.py (and /ready, which drain.py flips during shutdown).
"""

from __future__ import annotations

from aiohttp import web

from aoa_proxy.appkeys import CORS, RECORD, RUNTIME, SELF_GUARDED
from aoa_proxy.config import Settings
from aoa_proxy.doors.chat import chat_completions
from aoa_proxy.doors.messages import count as count_message_tokens
from aoa_proxy.doors.messages import messages
from aoa_proxy.doors.models import get_model, list_all
from aoa_proxy.doors.openai_misc import completions, embeddings
from aoa_proxy.doors.responses import (
    STORE,
    create_response,
    delete_response,
    get_response,
    list_input_items,
)
from aoa_proxy.drain import DRAIN, Drain, count_inflight
from aoa_proxy.hardening import harden
from aoa_proxy.health import health, ready
from aoa_proxy.middleware import error_response, gateway_middleware
from aoa_proxy.response_store import ResponseStore
from aoa_proxy.runtime import Runtime

__all__ = ["CORS", "RECORD", "RUNTIME", "SELF_GUARDED", "create_app", "error_response"]


def create_app(settings: Settings, runtime: Runtime | None = None) -> web.Application:
    """The gateway app. Pass a Runtime to share it (the desktop app switches providers on it)."""
    app = web.Application(
        middlewares=[count_inflight, gateway_middleware], client_max_size=settings.max_body_bytes
    )
    app[RUNTIME] = runtime or Runtime(settings)
    app[DRAIN] = Drain()  # requests in flight; drain.install_sigterm makes SIGTERM wait for them
    for path in ("/", "/health", "/ping"):
        app.router.add_get(path, health)
    app.router.add_get("/ready", ready)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app[STORE] = ResponseStore()  # bridged responses kept for previous_response_id, per process
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses/{response_id}", get_response)
    app.router.add_delete("/v1/responses/{response_id}", delete_response)
    app.router.add_get("/v1/responses/{response_id}/input_items", list_input_items)
    app.router.add_post("/v1/messages", messages)  # Anthropic; `?beta=true` is the same route
    app.router.add_post("/v1/messages/count_tokens", count_message_tokens)
    app.router.add_get("/v1/models", list_all)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    app.on_response_prepare.append(harden)
    app.on_startup.append(_start_runtime)
    app.on_cleanup.append(_close_runtime)
    return app


async def _start_runtime(app: web.Application) -> None:
    app[RUNTIME].maybe_refresh()  # several providers: list their models before the first request


async def _close_runtime(app: web.Application) -> None:
    await app[RUNTIME].close()
