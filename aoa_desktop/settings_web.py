"""The settings page, served by the gateway under /settings, for this user on this machine only.

Who may use it: a client on a loopback address, naming a loopback host (DNS rebinding), holding
a page session (aoa_desktop.settings_session). The tray opens /settings?code=CODE with a one-time
entry code; the answer is the page with a fresh session token in a <meta> tag, which the script
takes into memory and sends as the X-Aoa-Session header on every API call. No cookie: cookies
ignore ports, so every other server on 127.0.0.1 would receive it. Every change also needs our
own Origin (CSRF) and a JSON body; reads from another origin are refused, and these routes never
carry CORS headers, so no other web page can read or change anything. No response ever contains a
stored key: only whether one is set and at most its last 4 characters. The one exception is the
access token (what every client of this gateway holds, never a provider's key) inside a snippet
that Connect a tool's Copy button asks for (a POST, like every change: connect/page.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from aoa_desktop.connect import GUIDES, TOOLS, ConnectError
from aoa_desktop.connect import page as connect_page
from aoa_desktop.controller import Confirmation, Controller
from aoa_desktop.keys import ACCESS_TOKEN
from aoa_desktop.settings_session import SessionBook
from aoa_desktop.usage_web import add_usage_routes, usage_strings
from aoa_proxy import __version__
from aoa_proxy.app import SELF_GUARDED
from aoa_proxy.catalogue import Kind, Var
from aoa_proxy.config import ProviderSettings, is_loopback_host
from aoa_proxy.entra import default_scope
from aoa_proxy.hardening import loggable
from aoa_proxy.i18n import LANGUAGES, _, current_language
from aoa_proxy.providers import REGISTRY
from aoa_proxy.proxyauth import mask_login
from aoa_proxy.runtime import RequestRecord
from aoa_proxy.sse import frame

log = logging.getLogger(__name__)

PREFIX: Final = "/settings"
SESSION_HEADER: Final = "X-Aoa-Session"
# The "moved to port N" link: not in any command line, used from the page that shows it.
MOVED_TTL: Final = 300.0
_SESSION_META: Final = '<meta name="aoa-session" content="">'
_STATIC: Final = {
    "settings.js": "text/javascript",
    "settings.css": "text/css",
    "usage.js": "text/javascript",
}
_SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
_KEEPALIVE: Final = 15.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROLLER = web.AppKey("aoa_settings_controller", Controller)
SESSIONS = web.AppKey("aoa_settings_sessions", SessionBook)
SESSION = web.RequestKey("aoa_settings_session", str)  # the token just minted for the page


class _LiveViews:
    """The open live-view streams, so shutdown can end them."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[RequestRecord | None]] = set()


STREAMS = web.AppKey("aoa_settings_streams", _LiveViews)


def settings_url(host: str, port: int, code: str) -> str:
    """The address the tray opens: always a loopback host, carrying a one-time entry code."""
    if ":" in host and is_loopback_host(host):
        name = "[::1]"
    else:
        name = host if is_loopback_host(host) and ":" not in host else "127.0.0.1"
    return f"http://{name}:{port}{PREFIX}?code={code}"


def add_settings_routes(
    app: web.Application, controller: Controller, sessions: SessionBook
) -> None:
    """Mount the settings page and its JSON API on the gateway app (before it starts).

    `sessions` outlives the app: the gateway builds a new app on every rebind, and the open
    page keeps working across it.
    """
    app[CONTROLLER] = controller
    app[SESSIONS] = sessions
    app[STREAMS] = _LiveViews()
    app[SELF_GUARDED] = (*app.get(SELF_GUARDED, ()), PREFIX)
    r = app.router
    r.add_get(PREFIX, _guard(_page, entry=True))
    r.add_get(PREFIX + "/static/{name}", _guard(_static, public=True))
    r.add_get(PREFIX + "/api/strings", _guard(_strings))
    r.add_get(PREFIX + "/api/state", _guard(_state))
    r.add_get(PREFIX + "/api/events", _guard(_events))
    r.add_post(PREFIX + "/api/save", _guard(_save, change=True))
    r.add_post(PREFIX + "/api/key", _guard(_key, change=True))
    r.add_post(PREFIX + "/api/test", _guard(_test, change=True))
    r.add_post(PREFIX + "/api/signin", _guard(_signin, change=True))
    add_usage_routes(app, PREFIX, _guard, lambda request: request.app[CONTROLLER].runtime)
    r.add_get(PREFIX + "/api/connect", _guard(_connect_overview))
    for action in ("preview", "apply", "disconnect", "snippet"):
        r.add_post(PREFIX + "/api/connect/" + action, _guard(_connect_action, change=True))
    app.on_response_prepare.append(_strip_cors)
    app.on_shutdown.append(_end_streams)


# --------------------------------------------------------------------------- the guard


def _refuse(status: int, message: str, html: bool = False) -> web.Response:
    if html:  # the page's own style sheet: the CSP allows no inline style
        body = (
            "<!doctype html><meta charset=utf-8><title>aoa</title>"
            f'<link rel="stylesheet" href="{PREFIX}/static/settings.css">'
            f"<main><p>{_escape(message)}</p></main>"
        )
        return web.Response(
            status=status, text=body, content_type="text/html", headers=_SECURITY_HEADERS
        )
    return web.json_response({"error": message}, status=status, headers=_SECURITY_HEADERS)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _own_origin(request: web.Request) -> str:
    return f"http://{request.headers.get('Host', '')}"


def _why_refused(request: web.Request, change: bool, entry: bool = False) -> str | None:
    """The reason this request may not touch the settings, or None."""
    if not is_loopback_host(request.remote or ""):
        return _("The settings page is only available on this computer.")
    host = request.headers.get("Host", "")
    try:
        host_name = urlsplit(f"http://{host}").hostname or ""
    except ValueError:
        host_name = ""
    if not host_name or not is_loopback_host(host_name):
        return _("This address is not allowed for the settings page; open it from the tray.")
    origin = request.headers.get("Origin")
    if origin is not None and origin != _own_origin(request):
        return _("Requests from other web pages are not allowed.")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    # The page itself holds no data, and the "moved to port N" link is a same-site navigation.
    if not entry and fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return _("Requests from other web pages are not allowed.")
    if change:
        if origin is None:  # browsers always send Origin on POST; a missing one is not a page
            return _("Requests from other web pages are not allowed.")
        if request.content_type != "application/json":
            return _("Send JSON.")
    return None


def _expired() -> str:
    return _("Open the settings from the aoa tray menu (this link has expired).")


def _guard(
    handler: Handler, *, change: bool = False, entry: bool = False, public: bool = False
) -> Handler:
    """Wrap a route: the request checks, then (but for the page's own code and style) a live
    session: a one-time entry code for the page itself, the session header for the API."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        why = _why_refused(request, change, entry)
        if why is not None:
            path = loggable(request.path)  # the client's text: no forged log lines
            log.warning("settings page: refused %s %s: %s", request.method, path, why)
            return _refuse(403, why, html=entry)
        sessions = request.app[SESSIONS]
        if entry:
            token = sessions.redeem(request.query.get("code", ""))
            if token is None:
                return _refuse(403, _expired(), html=True)
            request[SESSION] = token
        elif not public and not sessions.check(request.headers.get(SESSION_HEADER, "")):
            return _refuse(403, _expired())
        response = await handler(request)
        if not response.prepared:
            response.headers.update(_SECURITY_HEADERS)
        return response

    guarded.__name__ = handler.__name__
    return guarded


async def _strip_cors(request: web.Request, response: web.StreamResponse) -> None:
    """The settings routes never carry CORS headers (the gateway's middleware skips them too)."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        for name in [h for h in response.headers if h.lower().startswith("access-control-")]:
            del response.headers[name]


# --------------------------------------------------------------------------- handlers


async def _page(request: web.Request) -> web.StreamResponse:
    """The page, carrying its new session token (no-store, like every answer here)."""
    page = (resources.files("aoa_desktop") / "static" / "settings.html").read_text("utf-8")
    meta = f'<meta name="aoa-session" content="{_escape(request[SESSION])}">'
    return web.Response(text=page.replace(_SESSION_META, meta, 1), content_type="text/html")


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _STATIC:
        return _refuse(404, _("Not found"))
    data = (resources.files("aoa_desktop") / "static" / name).read_bytes()
    return web.Response(body=data, content_type=_STATIC[name], charset="utf-8")


async def _strings(request: web.Request) -> web.StreamResponse:
    return web.json_response(page_strings())


async def _state(request: web.Request) -> web.StreamResponse:
    return web.json_response(state(request.app[CONTROLLER]))


async def _save(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    changes = await _json_body(request)
    if not isinstance(changes, dict):
        return _refuse(400, _("Send a JSON object."))
    before = controller.settings
    problems = await asyncio.to_thread(controller.save, changes, False)
    after = controller.settings
    body: dict[str, Any] = {"ok": not problems, "problems": problems}
    if any(isinstance(p, Confirmation) for p in problems):
        body["confirm"] = "exposure"  # the page asks, then sends confirm_exposure: true
    if not problems and (before.host, before.port) != (after.host, after.port):
        code = request.app[SESSIONS].mint_code(MOVED_TTL)
        body["moved"] = {
            "url": settings_url(after.host, after.port, code),
            "base_url": _base_url(after.host, after.port),
            "port": after.port,
        }
    body["state"] = state(controller)
    # Answer in full before telling the listeners: one of them may restart this very server,
    # which waits for handlers like this one to finish.
    response = web.json_response(body, headers=_SECURITY_HEADERS)
    await response.prepare(request)
    await response.write_eof()
    if not problems:
        threading.Thread(target=controller.notify, name="aoa-settings-notify", daemon=True).start()
    return response


async def _key(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    body = await _json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not isinstance(body, dict):
        return _refuse(400, _("Send a JSON object with a name."))
    index, shown = body.get("index"), body.get("shown")
    if body.get("delete") is True and index is None:
        problems = await asyncio.to_thread(controller.delete_key, name)
    elif body.get("delete") is True:  # one key of a pool: its place and how the page shows it
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(shown, str):
            return _refuse(400, _("Send a JSON object with a name."))
        problems = await asyncio.to_thread(controller.remove_key, name, index, shown)
    else:
        key = body.get("key")
        if not isinstance(key, str) or not key.strip():
            return web.json_response({"ok": False, "problems": [_("Enter a key first.")]})
        # A provider's key joins its pool; the access token is one secret, replaced.
        single = name == ACCESS_TOKEN or name in controller.fields.extra_secrets
        add = controller.set_key if single else controller.add_key
        problems = await asyncio.to_thread(add, name, key)
    # Never echo the key: the answer holds only the new state (stored yes/no, last 4).
    return web.json_response({"ok": not problems, "problems": problems, "state": state(controller)})


async def _test(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    body = await _json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        return _refuse(400, _("Send a JSON object with a name."))
    ok, message = await controller.test_connection(name)
    return web.json_response({"ok": ok, "message": message})


async def _signin(request: web.Request) -> web.StreamResponse:
    """Start "Sign in with Microsoft" (the browser opens) or sign out; the page polls state."""
    controller = request.app[CONTROLLER]
    body = await _json_body(request)
    signin = controller.signin
    if not isinstance(body, dict) or signin is None:
        return _refuse(400, _("Send a JSON object."))
    if body.get("sign_out") is True:
        problem = await asyncio.to_thread(signin.sign_out)
    else:
        problem = signin.start(controller.settings.provider_settings(SIGNIN_PROVIDER))
    problems = [problem] if problem else []
    return web.json_response({"ok": not problems, "problems": problems, "state": state(controller)})


async def _connect_overview(request: web.Request) -> web.StreamResponse:
    controller = request.app[CONTROLLER]
    ctx = controller.connect_context()
    return web.json_response(
        await asyncio.to_thread(connect_page.overview, controller.connections, ctx)
    )


async def _connect_action(request: web.Request) -> web.StreamResponse:
    """Preview, apply (Connect), disconnect, or one snippet's text for the clipboard.

    Writing another program's file always follows a preview the person saw: the page sends
    Connect only from the preview's confirm button.
    """
    controller = request.app[CONTROLLER]
    action = request.path.rsplit("/", 1)[-1]
    body = await _json_body(request)
    name = body.get("name") if isinstance(body, dict) else None
    known = TOOLS if action != "snippet" else {**TOOLS, **GUIDES}
    if not isinstance(name, str) or name not in known:
        return _refuse(400, _("Send a JSON object with a known tool name."))
    ctx = controller.connect_context()
    conns = controller.connections
    if action == "snippet":
        index = body.get("index") if isinstance(body, dict) else None
        text = connect_page.snippet_text(ctx, name, index if isinstance(index, int) else -1)
        if text is None:
            return _refuse(404, _("Not found"))
        return web.json_response({"text": text})
    try:
        if action == "preview":
            result = await asyncio.to_thread(conns.preview, name, ctx)
        elif action == "apply":
            result = await asyncio.to_thread(conns.connect, name, ctx)
        else:
            result = await asyncio.to_thread(conns.disconnect, name, ctx)
    except (ConnectError, OSError) as exc:
        log.warning("connect %s: %s failed: %s", name, action, exc)
        return web.json_response({"ok": False, "problem": str(exc)})
    status = await asyncio.to_thread(conns.status, name, ctx)
    return web.json_response({"ok": True, **result, "status": status})


async def _events(request: web.Request) -> web.StreamResponse:
    """The live request view: one SSE event per finished API request (no bodies, no keys)."""
    controller = request.app[CONTROLLER]
    queue: asyncio.Queue[RequestRecord | None] = asyncio.Queue(maxsize=500)
    loop = asyncio.get_running_loop()

    def push(rec: RequestRecord) -> None:
        # Records arrive on the gateway loop; be safe should another thread ever record.
        loop.call_soon_threadsafe(_offer, queue, rec)

    response = web.StreamResponse(
        headers={**_SECURITY_HEADERS, "Content-Type": "text/event-stream"}
    )
    await response.prepare(request)
    streams = request.app[STREAMS].queues
    streams.add(queue)
    listeners = controller.runtime.listeners if controller.runtime else []
    listeners.append(push)
    try:
        await response.write(b": live\n\n")
        while True:
            try:
                rec = await asyncio.wait_for(queue.get(), _KEEPALIVE)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if rec is None:
                break
            await response.write(frame(record_json(rec)))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        streams.discard(queue)
        with contextlib.suppress(ValueError):
            listeners.remove(push)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response


def _offer(queue: asyncio.Queue[RequestRecord | None], rec: RequestRecord) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled page drops records, not memory
        queue.put_nowait(rec)


async def _end_streams(app: web.Application) -> None:
    """On shutdown end the live views at once, so they never hold up a graceful stop."""
    for queue in list(app[STREAMS].queues):
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------- page data


def _base_url(host: str, port: int) -> str:
    name = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    name = f"[{name}]" if ":" in name else name
    return f"http://{name}:{port}/v1"


def record_json(rec: RequestRecord) -> dict[str, Any]:
    """What the live view shows of one request: never a body or a key.

    `route` is where the router sent it (`gpt-4 → azure/my-gpt4`), `moved` why it left a key or
    target first (the key only as `****abcd`).
    """
    return {
        "time": rec.started,
        "provider": rec.provider,
        "model": rec.model,
        "upstream_model": rec.upstream_model,
        "stream": rec.stream,
        "status": rec.status,
        "duration_ms": round(rec.duration_ms, 1),
        "prompt_tokens": rec.prompt_tokens,
        "completion_tokens": rec.completion_tokens,
        "error": rec.error,
        "route": rec.route,
        "moved": rec.moved,
    }


def state(controller: Controller) -> dict[str, Any]:
    """Everything the page shows, as JSON. Keys appear only as stored yes/no + last 4.

    Each provider's fields come from the catalogue with what the page needs to draw them
    (`widget`, `choices`) and the order of its rows, so a new provider needs no page edit.
    """
    settings = controller.settings
    stored = controller.stored
    overrides = controller.env_overrides
    fields = controller.fields

    def field(value: Any, env_names: tuple[str, ...], placeholder: Any = "") -> dict[str, Any]:
        env_name = next((n for n in env_names if n in overrides), None)
        return {"value": value, "env": env_name, "placeholder": placeholder}

    global_fields: dict[str, Any] = {}
    for name, env_name in fields.global_fields.items():
        from_env = env_name in overrides
        value = controller.env[env_name].strip() if from_env else stored.get(name, "")
        default = fields.catalogue.var(env_name).value_default
        global_fields[name] = field(value, (env_name,), default)
    global_fields["provider"]["placeholder"] = settings.provider

    wanted = controller.wanted_providers()
    warnings = controller.enable_warnings()
    pools = controller.pool_status()
    providers: dict[str, Any] = {}
    for entry in fields.catalogue.providers:
        name = entry.name
        ps = settings.providers.get(name)
        mine = (stored.get("providers") or {}).get(name, {})
        page_fields: dict[str, Any] = {}
        for fname, page_vars in entry.form_fields().items():
            var = page_vars[0]
            env_names = tuple(v.name for v in page_vars)
            value = _effective(ps, var) if set(env_names) & overrides else mine.get(fname, "")
            shown = field(_shown(var, value), env_names, var.value_default)
            page_fields[fname] = {**shown, **_widget(var)}
        if "scope" in page_fields and ps is not None:  # Entra ID: the endpoint's own default
            page_fields["scope"]["placeholder"] = default_scope(ps.endpoint)
        keyed = name in fields.keyed
        # Secrets beyond the API key (Azure's client secret): one keyring entry each.
        secrets = {
            var.field: {
                **controller.key_status(f"{name}.{var.field}"),
                "env_name": var.name,
                "entry": f"{name}.{var.field}",
            }
            for var in entry.secrets[1:]
        }
        signin = controller.signin if name == SIGNIN_PROVIDER else None
        extra = (*secrets, *(("signin",) if signin is not None else ()))
        providers[name] = {
            "label": fields.label(name),
            "available": name in REGISTRY,
            "configured": controller.is_configured(name),
            "enabled": name in wanted,  # switched on: serving, or waiting for its settings
            "serving": name in settings.enabled,
            "warning": warnings.get(name),
            "fields": page_fields,
            "rows": _rows(page_fields, keyed, extra),
        }
        if secrets:
            providers[name]["secrets"] = secrets
        if signin is not None:
            providers[name]["signin"] = signin.status()
        if keyed:
            key = {**controller.key_status(name), "env_name": fields.key_env_var(name)}
            providers[name]["key"] = key
            providers[name]["pool"] = pools.get(name, [])

    runtime = controller.runtime
    return {
        "version": __version__,
        "base_url": _base_url(*(controller.address or (settings.host, settings.port))),
        "active": settings.provider,  # the default provider
        "several": settings.several,
        "paused": bool(runtime and runtime.paused),
        "global": global_fields,
        "access_token": {**controller.key_status(ACCESS_TOKEN), "env_name": fields.token_var},
        "start_at_login": controller.autostart_enabled(),
        "language": current_language(),
        "languages": LANGUAGES,  # each in its own language; "" (the OS's) is page_strings'
        "providers": providers,
        "keyring": {"available": controller.keys.available, "problem": controller.keys.problem},
        "problems": controller.problems,
        "recent": [record_json(r) for r in list(runtime.recent if runtime else ())[-50:]],
        "now": time.time(),
    }


# A provider's rows on the page, top to bottom ("key": its API key). The catalogue's order is
# --help's; a field this list lacks (a new provider's own) comes just before the key.
# Azure's Entra ID rows: the sign-in choice, "Sign in with Microsoft", a service principal.
_ROWS: Final = (
    "endpoint",
    "api_version",
    "model",
    "safety",
    "proxy",
    "key",
    "auth",
    "signin",
    "tenant_id",
    "client_id",
    "client_secret",
    "scope",
    "aliases",
)
SIGNIN_PROVIDER: Final = "azure"  # the provider "Sign in with Microsoft" is for


def _rows(fields: dict[str, Any], keyed: bool, extra: tuple[str, ...] = ()) -> list[str]:
    rank = {name: float(i) for i, name in enumerate(_ROWS)}
    rows = [*fields, "key", *extra] if keyed else [*fields, *extra]
    return sorted(rows, key=lambda row: rank.get(row, rank["key"] - 0.5))


def _widget(var: Var) -> dict[str, Any]:
    """How the page edits a field: a text box (wide for addresses), a list, or the alias table."""
    if var.kind is Kind.ALIASES:
        return {"widget": "aliases"}
    if var.kind is Kind.CHOICE:
        return {"widget": "choice", "choices": list(var.choices)}
    if var.kind in (Kind.URL, Kind.HTTP_PROXY, Kind.SOCKS_PROXY):
        return {"widget": "wide"}
    return {"widget": "text"}


def _shown(var: Var, value: Any) -> Any:
    """A value as its widget shows it: a table for aliases, a choice as listed."""
    if var.kind is Kind.ALIASES:
        return value or {}
    if var.kind is Kind.CHOICE and isinstance(value, str):
        return next((c for c in var.choices if c.lower() == value.lower()), value)
    return value


def _effective(ps: ProviderSettings | None, var: Var) -> Any:
    """The value in use (the environment's, when it sets the field)."""
    if ps is None:
        return ""
    if var.kind in (Kind.HTTP_PROXY, Kind.SOCKS_PROXY):
        return mask_login(ps.proxy)  # a login from the keyring or the environment
    value: Any = getattr(ps, var.field, "")
    return dict(value) if var.kind is Kind.ALIASES else str(value)


def page_strings() -> dict[str, str]:
    """Every text the page's script shows, translated here so the script holds no English."""
    return {
        "title": _("aoa settings"),
        "base_url": _("Your OpenAI endpoint"),
        "copy": _("Copy"),
        "copied": _("Copied"),
        "general": _("General"),
        "provider": _("Default provider"),
        "provider_help": _(
            "Serves every model no other enabled provider claims. Only an enabled provider can "
            "be the default."
        ),
        "badge_default": _("default"),
        "badge_enabled": _("enabled"),
        "enabled": _("Enabled"),
        "enabled_help": _(
            "An enabled provider serves its own models next to the default one: asked for by "
            "name as provider/model (gemini/gemini-2.5-pro), through its model aliases, or when "
            "it lists the model. Clients see every enabled provider's models in one list."
        ),
        "enabled_default": _("The default provider is always enabled."),
        "not_configured": _("not configured"),
        "not_available": _("not available in this version"),
        "host": _("Bind address"),
        "host_help": _(
            "127.0.0.1 keeps the gateway on this computer. 0.0.0.0 lets other computers use it: "
            "set an access token then."
        ),
        "port": _("Port"),
        "port_help": _(
            "Changing the port moves the gateway: clients must then use the new address."
        ),
        "access_token": _("Access token"),
        "access_token_help": _(
            "When set, clients must send it as their API key (Authorization: Bearer ...)."
        ),
        "start_at_login": _("Start aoa when I log in"),
        "web_pages": _("Chat web pages"),
        "web_pages_help": _(
            "Programs on this computer can use aoa, and so can web pages served from it "
            "(http://localhost:...) unless AOA_CORS_ORIGINS leaves them out. A chat web page "
            "hosted on the internet (https://...) needs two things: your permission in the "
            "browser to reach devices on your local network (Chrome 142 and later ask for it), "
            "and, when aoa holds an API key, its address in AOA_CORS_ORIGINS. Web pages on the "
            "internet over plain http cannot reach aoa."
        ),
        "language": _("Language"),
        "language_auto": _("Same as the system"),
        "language_help": _("For this page, the tray menu and messages."),
        "html_lang": "zh-CN" if current_language() == "zh_CN" else "en",
        "providers": _("Providers"),
        "endpoint": _("Endpoint"),
        "api_version": _("API version"),
        "model": _("Default model"),
        "aliases": _("Model aliases"),
        "aliases_help": _(
            "When a client asks for the model on the left, aoa asks the provider for the one on "
            "the right."
        ),
        "requested": _("Requested model"),
        "upstream": _("Provider's model"),
        "add_alias": _("Add alias"),
        "remove": _("Remove"),
        "safety": _("Safety level"),
        "proxy": _("Proxy"),
        "proxy_help": _("http://host:port or socks5://host:port; empty for a direct connection."),
        "api_key": _("API key"),
        "key_stored": _("A key is stored"),
        "key_stored_hint": _("A key ending in {hint} is stored"),
        "keys_stored": _("{count} keys are stored, used in turn"),
        "add_key": _("Add key"),
        "key_added": _("The key was added; the keys are used in turn."),
        "cooling": _("cooling down: {seconds} s left"),
        "reason_rate_limited": _("rate limited"),
        "reason_key_rejected": _("refused by the provider"),
        "key_none": _("No key stored"),
        "key_placeholder": _("Paste a new key"),
        "save_key": _("Store key"),
        "delete_key": _("Remove key"),
        "key_saved": _("The key is stored in the system keyring."),
        "key_deleted": _("The key was removed."),
        "key_again": _(
            "A new endpoint or proxy gets the stored keys only if you enter them again: paste "
            "them here (several separated by commas), then Save. Keys not entered again are "
            "removed."
        ),
        "test": _("Test connection"),
        "testing": _("Testing..."),
        "from_env": _("from environment ({name})"),
        "save": _("Save"),
        "saving": _("Saving..."),
        "saved": _("Saved. The next request uses the new settings."),
        "not_saved": _("Not saved:"),
        "moved": _(
            "aoa now listens on port {port}. Clients must use {base_url}. Continue on the new "
            "address:"
        ),
        "moved_link": _("open the settings there"),
        "recent": _("Recent requests"),
        "recent_empty": _("No requests yet."),
        "col_time": _("Time"),
        "col_model": _("Model"),
        "col_status": _("Status"),
        "col_duration": _("Duration"),
        "col_tokens": _("Tokens"),
        "route_moved": _("moved on: {reason}"),
        "paused": _("Serving is paused; resume it from the tray menu."),
        "offline": _("Lost the connection to aoa; is it still running?"),
        "alias_empty": _("Both model names are needed."),
        "alias_chars": _("Model names may not contain commas or colons."),
        "alias_duplicate": _("{name} is listed twice."),
        "port_invalid": _("The port must be a whole number from 1 to 65535."),
        "unsaved": _("You have unsaved changes."),
        "keyring_missing": _("Keys cannot be stored:"),
        "default": _("default: {value}"),
        "auth": _("Sign-in"),
        "auth_help": _(
            "key: an API key. entra: Entra ID instead of keys (for resources with key "
            "authentication turned off): Sign in with Microsoft below, or `az login`, a managed "
            "identity, or a service principal (tenant id, client id, client secret)."
        ),
        "signin": _("Microsoft account"),
        "signin_button": _("Sign in with Microsoft"),
        "signin_pending": _("Finish signing in in the browser window that opened..."),
        "signin_as": _("Signed in as {account}"),
        "signin_none": _("Not signed in"),
        "signout_button": _("Sign out"),
        "tenant_id": _("Tenant id"),
        "client_id": _("Client id"),
        "client_secret": _("Client secret"),
        "scope": _("Entra ID scope"),
        **usage_strings(),
        "connect": _("Connect a tool"),
        "connect_help": _(
            "Point the programs you use at aoa. Only this address and the access token go into "
            "their settings, never a provider's key. aoa shows the change first, keeps a backup "
            "of the file, and Disconnect puts it back."
        ),
        "connect_installed": _("installed"),
        "connect_not_installed": _("not found on this computer"),
        "connect_connected": _("connected"),
        "connect_outdated": _("connected with old settings: connect again"),
        "connect_not_connected": _("not connected"),
        "connect_preview": _("Connect…"),
        "connect_preview_help": _("This change will be written to {path}:"),
        "connect_confirm": _("Write this change"),
        "connect_cancel": _("Cancel"),
        "connect_nothing": _("Already connected: nothing to change."),
        "connect_done": _("Connected."),
        "connect_backup": _("The old file is kept as {path}."),
        "connect_disconnect": _("Disconnect"),
        "connect_disconnected": _("Disconnected: the file is back as it was."),
        "connect_paste": _(
            "Or paste this yourself (the access token shows as ****; Copy "
            "puts the real one on the clipboard):"
        ),
    }
