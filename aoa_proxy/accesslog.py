"""One access-log line per request: never bodies, never keys, never a raw control character."""

from __future__ import annotations

import logging

import orjson

from aoa_proxy.config import Settings
from aoa_proxy.hardening import loggable
from aoa_proxy.runtime import RequestRecord

log = logging.getLogger("aoa.access")


def log_request(rec: RequestRecord, settings: Settings) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    if settings.log_format == "json":
        fields = {
            "method": rec.method,
            "path": rec.path,
            "provider": rec.provider,
            "model": rec.model,
            "upstream_model": rec.upstream_model,
            "stream": rec.stream,
            "status": rec.status,
            "ms": round(rec.duration_ms, 1),
            "prompt_tokens": rec.prompt_tokens,
            "completion_tokens": rec.completion_tokens,
            "route": rec.route,
        }
        if rec.moved:
            fields["moved"] = rec.moved
        if rec.error:
            fields["error"] = rec.error
        _info("%s", orjson.dumps(fields).decode())
        return
    # Path and model come from the client: a newline in either must not start a forged line
    # (the JSON form above escapes them already). isprintable() is the cheap common case.
    path = rec.path if rec.path.isprintable() else loggable(rec.path)
    model = ""
    if rec.route and (rec.moved or settings.several):
        # Several providers (or a move to another key or target): the route says where it went.
        model = f" {rec.route}"
        if not model.isprintable():
            model = loggable(model)
    elif rec.model or rec.upstream_model:
        model = f" {rec.model or '-'}"
        if rec.upstream_model and rec.upstream_model != rec.model:
            model += f"->{rec.upstream_model}"
        if not model.isprintable():
            model = loggable(model)
    tokens = ""
    if rec.prompt_tokens is not None or rec.completion_tokens is not None:
        tokens = f" tokens={rec.prompt_tokens or 0}/{rec.completion_tokens or 0}"
    provider = f" {rec.provider}" if rec.provider else ""
    moved = f' moved="{rec.moved}"' if rec.moved else ""  # our own words: no client text
    _info(
        "%s %s%s%s %d %.1fms%s%s",
        rec.method,
        path,
        provider,
        model,
        rec.status,
        rec.duration_ms,
        tokens,
        moved,
    )


def _info(msg: str, *args: object) -> None:
    """`log.info` without its findCaller stack walk, which was half the cost of each line."""
    log.handle(log.makeRecord(log.name, logging.INFO, "accesslog.py", 0, msg, args, None))
