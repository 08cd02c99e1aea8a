"""The login in a proxy URL (scheme://user:password@host:port): split it off, put it back, mask it.

The desktop app keeps the login in the keyring and only the rest in settings.json; everything
that shows or logs a proxy URL shows `mask_login(url)` (http://user:****@host:port).
The login is kept exactly as written (percent-encoding included), so joining gives back the URL.
"""

from __future__ import annotations

from typing import Final

MASK: Final = "****"


def _parts(url: str) -> tuple[str, str, str, str]:
    """(scheme://, login, host[:port], rest) of a URL, with or without a scheme."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    cuts = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(cuts, default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    login, at, hostport = netloc.rpartition("@")
    return scheme + sep, login if at else "", hostport if at else netloc, tail


def split_login(url: str) -> tuple[str, str]:
    """(the URL without its login, the login "user:password" or "")."""
    prefix, login, hostport, tail = _parts(url)
    return (prefix + hostport + tail, login) if login else (url, "")


def join_login(url: str, login: str) -> str:
    """`url` with `login` put in front of its host (no change when `login` is empty)."""
    if not login or not url:
        return url
    prefix, _old, hostport, tail = _parts(url)
    return f"{prefix}{login}@{hostport}{tail}"


def masked(login: str) -> str:
    """How a login is shown: the user name and **** for the password (**** alone if no ":")."""
    if not login:
        return ""
    user, sep, _password = login.partition(":")
    return f"{user}:{MASK}" if sep else MASK


def mask_login(url: str) -> str:
    """`url` safe to show or log: http://user:****@host:port."""
    bare, login = split_login(url)
    return join_login(bare, masked(login))
