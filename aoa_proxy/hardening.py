"""What the gateway's answers and logs may carry: safety headers, no keys, no forged log lines.

The gateway shares its origin (http://127.0.0.1:PORT) with the settings page, so no answer may
ever act as a web page there: every response says `nosniff` and gets a sandboxing CSP, and API
answers are only ever JSON or SSE (relay.py). Upstream error text can echo the key it was sent
("Incorrect API key provided: sk-…"), so it is redacted before anyone sees it, and text from
clients is escaped before it reaches a log line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import AnyStr, Final

from aiohttp import hdrs, web

# A document with this policy can load nothing, run nothing and be framed by nobody, even if a
# browser ignored its Content-Type. Routes that serve real pages (/settings) set their own.
SANDBOX_CSP: Final = "default-src 'none'; frame-ancestors 'none'; sandbox"
_NOSNIFF: Final = "nosniff"


async def harden(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: `nosniff` on every answer, the sandbox CSP unless the route set one.

    Runs for every response, streams included, just before its headers go out: two header
    writes with interned names, no allocation.
    """
    headers = response.headers
    headers[hdrs.X_CONTENT_TYPE_OPTIONS] = _NOSNIFF
    if hdrs.CONTENT_SECURITY_POLICY not in headers:
        headers[hdrs.CONTENT_SECURITY_POLICY] = SANDBOX_CSP


# ----------------------------------------------------------------------------- redaction

REDACTED: Final = "[redacted]"
# OpenAI echoes a wrong key as its head and tail ("sk-abc12***…wxyz"): any run of at least this
# many of a key's leading characters is masked. Shorter values are no key any provider issues,
# and masking them would garble ordinary words.
ECHO_MIN: Final = 8


def redact(data: bytes, secrets: Iterable[str]) -> bytes:
    """`data` with each secret, and any echo of its first ECHO_MIN+ characters, masked.

    For error answers only: it scans the whole body once per secret.
    """
    for secret in secrets:
        if len(secret) >= ECHO_MIN:
            data = _mask(data, secret.encode(), REDACTED.encode())
    return data


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`redact` for text (an error message already decoded)."""
    for secret in secrets:
        if len(secret) >= ECHO_MIN:
            text = _mask(text, secret, REDACTED)
    return text


def _mask(data: AnyStr, key: AnyStr, mark: AnyStr) -> AnyStr:
    head = key[:ECHO_MIN]
    at = data.find(head)
    if at < 0:
        return data
    parts: list[AnyStr] = []
    pos = 0
    while at >= 0:
        end, n = at + ECHO_MIN, ECHO_MIN
        while n < len(key) and data[end : end + 1] == key[n : n + 1]:
            end, n = end + 1, n + 1
        parts += (data[pos:at], mark)
        pos = end
        at = data.find(head, pos)
    parts.append(data[pos:])
    return data[:0].join(parts)


# ----------------------------------------------------------------------------- log text


def loggable(text: str) -> str:
    """Client text fit for a log line: control and other invisible characters escaped.

    A newline in a model name or a path must not start a forged line. Callers on the hot path
    test `text.isprintable()` first and call this only when it is False.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


_SHORT: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
