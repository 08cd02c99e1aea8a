"""Who may use the gateway: Host checks (DNS rebinding), CORS origins, the access token."""

from __future__ import annotations

import functools
import hmac
from urllib.parse import urlsplit

from aoa_proxy.config import Settings, is_loopback_host


def host_allowed(settings: Settings, host_header: str | None) -> bool:
    """On a loopback bind only loopback Host names get in; a rebinding page sends its own name."""
    if not host_header or not settings.is_loopback:
        return True
    return _loopback_host_header(host_header)


@functools.lru_cache(maxsize=1024)  # clients send the same Host on every request: parse it once
def _loopback_host_header(host_header: str) -> bool:
    name = _host_name(host_header.strip())
    return name is not None and is_loopback_host(name)


def _host_name(host: str) -> str | None:
    """The name in `name`, `name:port`, `[v6]` or `[v6]:port`; None if anything else trails."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        name, rest = host[1:end], host[end + 1 :]
    elif host.count(":") == 1:
        name, rest = host.split(":")[0], host[host.find(":") :]
    else:
        name, rest = host, ""  # a bare name, or an unbracketed IPv6 address
    port = rest[1:]
    if rest and not (rest.startswith(":") and port.isascii() and port.isdigit()):
        return None  # e.g. "127.0.0.1:80@evil.example", "[::1].evil.example"
    return name


def origin_allowed(settings: Settings, origin: str) -> bool:
    """Configured origins, or by default any http(s) origin on a loopback host."""
    origin = origin.rstrip("/")
    if settings.cors_origins:
        return "*" in settings.cors_origins or origin in settings.cors_origins
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header ("" if none)."""
    if not authorization:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def token_matches(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def mask(secret: str) -> str:
    """A form of a secret that is safe to print: its last 4 characters at most."""
    if not secret:
        return "(none)"
    if len(secret) < 12:
        return "****"
    return f"****{secret[-4:]}"
