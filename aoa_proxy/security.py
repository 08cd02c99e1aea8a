"""Who may use the gateway: Host checks (DNS rebinding), CORS origins, the access token."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aoa_proxy.config import Settings, is_loopback_host


def host_allowed(settings: Settings, host_header: str | None) -> bool:
    """On a loopback bind only loopback Host names get in; a rebinding page sends its own name."""
    if not settings.is_loopback or not host_header:
        return True
    host = host_header.strip()
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback_host(name)


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
