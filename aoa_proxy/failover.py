"""Failover: when a request moves on to another key or the next target, and the logged reason.

Only before the first byte reaches the client: once a stream has started it finishes where it
started. Inside one target, a key the upstream refused (see credentials.should_cool) makes way
for the pool's next key; after that, a 429, a 5xx, a timeout or a connection error moves to the
route's next target. Everything else (400, 404, ...) is the client's answer as it is.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aoa_proxy.credentials import KeyPool, retry_after_seconds, should_cool
from aoa_proxy.errors import RateLimited
from aoa_proxy.routing import Route, Target
from aoa_proxy.security import mask


def failover_reason(
    provider: str, *, status: int | None = None, error: BaseException | None = None
) -> str | None:
    """Why the next target should serve the request ("429 from azure"), or None if it should not.

    `error` is what connecting or waiting for the answer's headers raised: pass timeouts and
    transport errors only (aiohttp.ClientError, OSError, TimeoutError); `status` is the
    upstream's status when it answered.
    """
    if error is not None:
        if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
            return f"timeout from {provider}"
        code = getattr(error, "errno", None)
        if isinstance(error, ConnectionRefusedError) or code == errno.ECONNREFUSED:
            return f"connection refused from {provider}"
        if isinstance(error, ConnectionResetError) or code == errno.ECONNRESET:
            return f"connection reset from {provider}"
        return f"connection error from {provider}"
    if status is not None and (status == 429 or 500 <= status <= 599):
        return f"{status} from {provider}"
    return None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: a target and the key to send (None: no pool, e.g. the client's own key)."""

    target: Target
    key: str | None
    reason: str = ""  # why the previous attempt was left ("" for the first)


@dataclass
class Attempts:
    """The tries of one request, in order; records each outcome on the key pools.

    Use: `attempt = attempts.first()` (RateLimited when every target's keys are cooling),
    send it; before anything reached the client, on an error answer or a transport failure
    `attempt = attempts.after(attempt, status=..., headers=..., body=...)` or
    `after(attempt, error=exc)`; None means give the client this answer. On success call
    `succeeded(attempt)`. Each (target, key) pair is tried at most once, so it always ends.
    """

    route: Route
    pools: Mapping[str, KeyPool]  # providers using a server key pool; others send no key here
    now: Callable[[], float] = time.time  # wall clock, for HTTP-date retry-after values
    reasons: list[str] = field(default_factory=list, init=False)  # every move, for the log
    _index: int = field(default=0, init=False)
    _tried: set[str] = field(default_factory=set, init=False)  # keys tried on this target
    _limited: RateLimited | None = field(default=None, init=False)

    def first(self) -> Attempt:
        """The first try; RateLimited when every target's keys are cooling."""
        attempt = self._from(0, "")
        if attempt is None:
            assert self._limited is not None  # only cooling pools skip every target
            raise self._limited
        return attempt

    def after(
        self,
        attempt: Attempt,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
        error: BaseException | None = None,
    ) -> Attempt | None:
        """The next attempt after a failed one, or None to give the client this outcome."""
        provider = attempt.target.provider
        pool = self.pools.get(provider)
        if status is not None and pool is not None and attempt.key is not None:
            why = should_cool(status, body)
            if why is not None:
                hint = retry_after_seconds(status, headers or {}, body, now=self.now)
                rest = pool.cool_down(attempt.key, hint, why)
                key = pool.acquire(self._tried)
                reason = f"{status} from {provider}, key {mask(attempt.key)} rests {rest:g} s"
                if key is not None:
                    self._tried.add(key)
                    self.reasons.append(reason)
                    return Attempt(attempt.target, key, reason)
        moved = failover_reason(provider, status=status, error=error)
        if moved is None:
            return None
        return self._from(self._index + 1, moved)

    def succeeded(self, attempt: Attempt) -> None:
        """The upstream answered well: reset that key's backoff."""
        pool = self.pools.get(attempt.target.provider)
        if pool is not None and attempt.key is not None:
            pool.succeeded(attempt.key)

    def _from(self, start: int, reason: str) -> Attempt | None:
        targets = self.route.targets
        for index in range(start, len(targets)):
            target = targets[index]
            self._index, self._tried = index, set()
            if reason:
                self.reasons.append(reason)
            pool = self.pools.get(target.provider)
            if pool is None:
                return Attempt(target, None, reason)
            try:
                key = pool.acquire()
            except RateLimited as exc:
                if self._limited is None or exc.retry_after < self._limited.retry_after:
                    self._limited = exc
                reason = f"every key of {target.provider} cooling"
                continue
            if key is not None:
                self._tried.add(key)
                return Attempt(target, key, reason)
        if reason:
            self.reasons.append(reason)
        return None
