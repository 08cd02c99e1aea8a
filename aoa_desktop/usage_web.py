"""The settings page's Usage view: its JSON (with the charts as SVG) and the CSV export.

Mounted by settings_web.add_settings_routes behind the same guard as every settings route
(loopback, own origin, page session). Reads run in a worker thread on their own read-only
SQLite connection, so the gateway's writer and requests never wait for the page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import platformdirs
from aiohttp import web

from aoa_desktop.usage_chart import colours, stacked_bars
from aoa_desktop.usage_report import Span, csv_rows, report
from aoa_proxy.i18n import _
from aoa_proxy.runtime import Runtime
from aoa_proxy.usage import UsageStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[[Handler], Handler]
RuntimeOf = Callable[[web.Request], Runtime | None]

FILE_NAME: Final = "usage.sqlite3"
_RUNTIME_OF: web.AppKey[RuntimeOf] = web.AppKey("aoa_usage_runtime_of")


def default_usage_path() -> Path:
    """The desktop app's usage history: the platform's data folder for aoa."""
    return Path(platformdirs.user_data_dir("aoa", appauthor=False)) / FILE_NAME


def add_usage_routes(
    app: web.Application, prefix: str, guard: Guard, runtime_of: RuntimeOf
) -> None:
    """GET {prefix}/api/usage (JSON) and {prefix}/api/usage.csv, each behind `guard`."""
    app[_RUNTIME_OF] = runtime_of
    app.router.add_get(prefix + "/api/usage", guard(_usage))
    app.router.add_get(prefix + "/api/usage.csv", guard(_usage_csv))


def _store(request: web.Request) -> UsageStore | None:
    rt = request.app[_RUNTIME_OF](request)
    return rt.usage if rt is not None else None


async def _usage(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    span = Span.parse(request.query.get("from", ""), request.query.get("to", ""))
    by = "model" if request.query.get("by") == "model" else "provider"
    if store is None:
        body = report(None, span, by)
        body["problem"] = _("The usage history is off.")
    else:
        body = await asyncio.to_thread(_read_report, store, span, by)
        body["problem"] = store.problem
        body["retention_days"] = store.retention_days
    body["from"], body["to"] = span.first.isoformat(), span.last.isoformat()
    body["charts"] = _charts(body)
    return web.json_response(body)


def _read_report(store: UsageStore, span: Span, by: str) -> dict[str, Any]:
    with store.reader() as db:
        return report(db, span, by)


def _charts(body: dict[str, Any]) -> dict[str, str]:
    series = body["series"]
    other = bool(series) and series[-1]["name"] == ""
    picked = colours(len(series), other)
    named = [(s["name"] or _("other"), s["values"], c) for s, c in zip(series, picked, strict=True)]
    body["legend"] = [{"name": name, "colour": colour} for name, _values, colour in named]
    tokens = stacked_bars(body["days"], named, _("Tokens per day"))
    ok = [n - e for n, e in zip(body["requests"], body["errors"], strict=True)]
    requests = stacked_bars(
        body["days"],
        [(_("answered"), ok, "#009e73"), (_("errors"), body["errors"], "#d55e00")],
        _("Requests per day"),
    )
    return {"tokens": tokens, "requests": requests}


async def _usage_csv(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    span = Span.parse(request.query.get("from", ""), request.query.get("to", ""))
    text = "".join(await asyncio.to_thread(_read_csv, store, span))
    name = f"aoa-usage-{span.first.isoformat()}-{span.last.isoformat()}.csv"
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _read_csv(store: UsageStore | None, span: Span) -> list[str]:
    if store is None:
        return list(csv_rows(None, span))
    with store.reader() as db:
        return list(csv_rows(db, span))


def usage_strings() -> dict[str, str]:
    """The Usage view's texts (settings_web.page_strings includes them)."""
    return {
        "usage": _("Usage"),
        "usage_help": _(
            "Every request through aoa, kept on this computer for {days} days: tokens, status "
            "and time, never what was asked or answered."
        ),
        "usage_from": _("From"),
        "usage_to": _("To"),
        "usage_by": _("Group by"),
        "usage_by_provider": _("Provider"),
        "usage_by_model": _("Model"),
        "usage_show": _("Show"),
        "usage_csv": _("Export CSV"),
        "usage_requests": _("Requests"),
        "usage_error_rate": _("Error rate"),
        "usage_tokens": _("Tokens (prompt + completion)"),
        "usage_cached": _("Cached prompt tokens"),
        "usage_reasoning": _("Reasoning tokens"),
        "usage_latency": _("Duration p50 / p90 / p99"),
        "usage_tokens_chart": _("Tokens per day"),
        "usage_requests_chart": _("Requests per day (errors in orange)"),
        "usage_empty": _("No requests in these days."),
        "col_provider": _("Provider"),
        "col_requests": _("Requests"),
        "col_errors": _("Errors"),
        "col_prompt": _("Prompt"),
        "col_completion": _("Completion"),
        "col_cached": _("Cached"),
        "col_reasoning": _("Reasoning"),
        "col_avg_ms": _("Average ms"),
    }
