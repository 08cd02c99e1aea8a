"""Who holds the settings page: one-time entry codes and the per-page sessions they buy.

Nothing long-lived ever goes into a URL. The tray (or a second `aoa` launch) mints an entry code
for each opening: random, valid for ENTRY_TTL seconds, good for one use. The browser shows it in
its command line and history, where other local users and later readers may find it, so it must
be worthless by then. GET /settings?code=... trades it for a fresh session token that lives in the
page's memory only and travels as a header on each API call: no cookie, which would reach every
server on 127.0.0.1 (cookies ignore ports). Sessions end after IDLE_TTL without use, and only the
MAX_SESSIONS most recently used are kept. Only hashes are stored, so a lookup leaks no timing.

A code in a command line can still be raced: another user polling /proc may redeem it before the
browser does. The browser then presents it a second time, and a used code presented again ends
the session it bought: whoever came first loses the page, the browser shows "expired", and the
log says why. (The session alone cannot send a stored key anywhere new: see Controller.save.)
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger(__name__)

ENTRY_TTL: Final = 60.0
IDLE_TTL: Final = 12 * 3600.0
MAX_CODES: Final = 16
MAX_SESSIONS: Final = 16
USED_MEMORY: Final = 600.0  # how long a used code is remembered, to notice a second use
MAX_USED: Final = 64


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _trim(book: OrderedDict[bytes, Any], limit: int) -> None:
    """Drop the oldest (least recently used) entries beyond `limit`."""
    while len(book) > limit:
        book.popitem(last=False)


class SessionBook:
    """The outstanding entry codes and live sessions; safe to use from any thread."""

    def __init__(
        self,
        entry_ttl: float = ENTRY_TTL,
        idle_ttl: float = IDLE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.entry_ttl = entry_ttl
        self.idle_ttl = idle_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._codes: OrderedDict[bytes, float] = OrderedDict()  # digest -> expiry
        self._sessions: OrderedDict[bytes, float] = OrderedDict()  # digest -> last use
        self._used: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()  # code -> session

    def mint_code(self, ttl: float | None = None) -> str:
        """A new one-time entry code, valid for `ttl` seconds (ENTRY_TTL by default)."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._expire()
            self._codes[_digest(code)] = self._clock() + (self.entry_ttl if ttl is None else ttl)
            _trim(self._codes, MAX_CODES)
        return code

    def redeem(self, code: str) -> str | None:
        """Use up `code`; a new session token, or None for a used, expired or unknown code."""
        with self._lock:
            self._expire()
            key = _digest(code)
            if self._codes.pop(key, None) is None:
                used = self._used.pop(key, None)
                if used is not None and self._sessions.pop(used[0], None) is not None:
                    log.warning(
                        "a settings entry code was used twice: someone else may have opened "
                        "the page first; that page's session is closed"
                    )
                return None
            token = secrets.token_urlsafe(32)
            now = self._clock()
            self._sessions[_digest(token)] = now
            self._used[key] = (_digest(token), now)
            _trim(self._sessions, MAX_SESSIONS)
            _trim(self._used, MAX_USED)
            return token

    def check(self, token: str) -> bool:
        """True for a live session (which counts as a use); False for anything else."""
        if not token:
            return False
        with self._lock:
            self._expire()
            key = _digest(token)
            if key not in self._sessions:
                return False
            self._sessions[key] = self._clock()
            self._sessions.move_to_end(key)
            return True

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, until in self._codes.items() if until <= now]:
            del self._codes[key]
        for key in [k for k, used in self._sessions.items() if now - used >= self.idle_ttl]:
            del self._sessions[key]
        for key in [k for k, (_s, at) in self._used.items() if now - at >= USED_MEMORY]:
            del self._used[key]
