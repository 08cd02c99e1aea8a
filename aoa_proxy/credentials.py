"""API keys: a rotating pool per provider with cool-downs, and the rate-limit hints upstreams send.

Pure and per process: no sockets, no aiohttp; state lives in memory and starts fresh with each
process (each AOA_WORKERS process has its own cool-downs). Methods never await, so one event
loop needs no lock; other threads (the tray) only read `status()`.
"""

from __future__ import annotations

import datetime
import email.utils
import enum
import math
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from aoa_proxy.errors import RateLimited
from aoa_proxy.i18n import _
from aoa_proxy.security import mask

BACKOFF_START: Final = 1.0  # seconds, the first cool-down without a hint; doubles each time
BACKOFF_CAP: Final = 60.0
HINT_CAP: Final = 3600.0  # an upstream's own hint is honoured up to an hour


class CoolReason(enum.Enum):
    RATE_LIMITED = "rate_limited"  # 429
    KEY_REJECTED = "key_rejected"  # 401/402/403 (or Gemini's 400 API_KEY_INVALID) about the key


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One key as the tray and settings page may show it: never more than its last 4."""

    key: str  # masked, e.g. "****abcd"
    cooling: float  # seconds until it is used again; 0.0 when usable
    reason: CoolReason | None
    failures: int  # in a row since its last success


@dataclass(slots=True)
class _State:
    until: float = 0.0
    failures: int = 0
    reason: CoolReason | None = None


def parse_keys(text: str) -> tuple[str, ...]:
    """`k1, k2` -> ("k1", "k2"); ValueError when a key is listed twice (the message masks it)."""
    keys: list[str] = []
    for piece in text.split(","):
        key = piece.strip()
        if not key:
            continue
        if key in keys:
            raise ValueError(_("the key {key} is listed twice").format(key=mask(key)))
        keys.append(key)
    return tuple(keys)


class KeyPool:
    """Several keys for one provider, handed out in turn, skipping keys that are cooling down.

    A pool of one key is never held back (the upstream decides, as before pools existed).
    """

    def __init__(
        self,
        provider: str,
        keys: Sequence[str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not keys:
            raise ValueError("a key pool needs at least one key")
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(_("the key {key} is listed twice").format(key=mask(dup)))
        self.provider = provider
        self.keys: tuple[str, ...] = tuple(keys)
        self._clock = clock
        self._state = {k: _State() for k in self.keys}
        self._next = 0

    def with_keys(self, keys: Sequence[str]) -> KeyPool:
        """A pool for a new key list that keeps the cool-downs of keys it still holds."""
        pool = KeyPool(self.provider, keys, clock=self._clock)
        for key in pool.keys:
            if key in self._state:
                old = self._state[key]
                pool._state[key] = _State(old.until, old.failures, old.reason)
        return pool

    def acquire(self, tried: Collection[str] = ()) -> str | None:
        """The next usable key not in `tried`.

        None when every untried key is cooling and `tried` is not empty (relay the last
        upstream answer). With nothing tried yet and every key cooling: RateLimited carrying the
        soonest retry-after, except when no key is cooling for a rate limit (all rejected):
        then the soonest key is handed out so the client sees the upstream's own 401/403.
        """
        now = self._clock()
        count = len(self.keys)
        for step in range(count):
            index = (self._next + step) % count
            key = self.keys[index]
            if key not in tried and self._state[key].until <= now:
                self._next = index + 1
                return key
        if tried:
            return None
        if count == 1:
            return self.keys[0]
        limited = [s.until for s in self._state.values() if s.reason is CoolReason.RATE_LIMITED]
        if not limited:
            return min(self.keys, key=lambda k: self._state[k].until)
        wait = max(0.0, min(limited) - now)
        raise RateLimited(
            f"All {count} API keys for {self.provider} are cooling down after rate limits; "
            f"retry in {math.ceil(wait)} s.",
            retry_after=wait,
        )

    def peek(self) -> str:
        """A usable key without taking a turn (model listings); the first key if all cool."""
        now = self._clock()
        return next((k for k in self.keys if self._state[k].until <= now), self.keys[0])

    def cool_down(
        self,
        key: str,
        seconds: float | None,
        reason: CoolReason = CoolReason.RATE_LIMITED,
    ) -> float:
        """Rest `key` for `seconds` (the upstream's hint) or a doubling backoff; returns the rest.

        A key the pool does not hold (the settings changed mid-request) is ignored.
        """
        state = self._state.get(key)
        if state is None:
            return 0.0
        state.failures += 1
        if seconds is None or not math.isfinite(seconds):
            rest = min(BACKOFF_CAP, BACKOFF_START * 2.0 ** min(state.failures - 1, 32))
        else:
            rest = min(HINT_CAP, max(0.0, seconds))
        state.until = self._clock() + rest
        state.reason = reason
        return rest

    def succeeded(self, key: str) -> None:
        """The key worked: forget its failures, so the next backoff starts small again."""
        state = self._state.get(key)
        if state is not None:
            state.until, state.failures, state.reason = 0.0, 0, None

    def status(self) -> list[KeyStatus]:
        """Each key masked, with the seconds of cool-down left, in the pool's order."""
        now = self._clock()
        out: list[KeyStatus] = []
        for key in self.keys:
            state = self._state[key]
            left = max(0.0, state.until - now)
            out.append(KeyStatus(mask(key), left, state.reason if left else None, state.failures))
        return out


# --------------------------------------------------------------------------- what to cool


# Body phrases (lowercase) meaning every key would fail the same way: not this key's fault.
_NOT_THE_KEY: Final = (
    "authenticationtypedisabled",  # Azure: key auth disabled on the resource
    "key based authentication is disabled",
    "principal",  # Azure Entra: the identity lacks a role
    "unsupported_country",  # OpenAI: region
    "location is not supported",  # Gemini: region
)
# Phrases that say the key itself is bad (403s are often about other things).
_ABOUT_THE_KEY: Final = (
    "api key",
    "api_key",
    "api-key",
    "apikey",
    "subscription key",  # Azure classic 401
    "leaked",
    "suspended",
)
# Gemini answers 400 INVALID_ARGUMENT, reason API_KEY_INVALID, for a bad key.
_BAD_KEY_400: Final = ("api_key_invalid", "api key not valid", "api key expired", "api_key_expired")
_SCAN: Final = 16384  # error bodies are short; never lowercase megabytes


def should_cool(status: int, body: bytes | str = b"") -> CoolReason | None:
    """Whether an upstream error is about the key used (cool it, try the next key) or not.

    429 always; 401 and 402 unless the body says no key would do; 403 only when the body
    talks about the key; 400 only for Gemini's API_KEY_INVALID. Every other status: None.
    """
    if status == 429:
        return CoolReason.RATE_LIMITED
    if status not in (400, 401, 402, 403):
        return None
    text = _head(body).lower()
    if status == 400:
        return CoolReason.KEY_REJECTED if any(m in text for m in _BAD_KEY_400) else None
    if any(m in text for m in _NOT_THE_KEY):
        return None
    if status in (401, 402) or any(m in text for m in _ABOUT_THE_KEY):
        return CoolReason.KEY_REJECTED
    return None


# --------------------------------------------------------------------------- rate-limit hints

_PASSED_PREFIXES: Final = ("x-ratelimit-", "x-rate-limit-")


def is_rate_limit_header(name: str) -> bool:
    """Headers relayed to the client: every spelling of retry-after and rate-limit state."""
    lower = name.lower()
    return lower in ("retry-after", "retry-after-ms") or lower.startswith(_PASSED_PREFIXES)


_READ: Final = frozenset(
    {"retry-after", "retry-after-ms"}
    | {
        f"{prefix}{what}-{kind}"
        for prefix in _PASSED_PREFIXES
        for what in ("reset", "remaining")
        for kind in ("requests", "tokens")
    }
)
# Go-style durations as OpenAI sends them: "1s", "6m0s", "20ms", "1h2m3.5s".
_DURATION: Final = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+")
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNITS: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# Azure and OpenAI say it in the message too: "Please retry after 6 seconds.",
# "Please wait 23 seconds before retrying.", "Please try again in 20s." / "in 6ms".
_MESSAGE_HINT: Final = re.compile(
    r"(?:retry after|wait) (\d+(?:\.\d+)?) seconds?|try again in (\d+(?:\.\d+)?(?:ms|s|m)\b)",
    re.IGNORECASE,
)


def retry_after_seconds(
    status: int,
    headers: Mapping[str, str],
    body: bytes | str = b"",
    *,
    now: Callable[[], float] = time.time,
) -> float | None:
    """Seconds an upstream asks us to wait, or None when it gives no hint.

    In order: `retry-after-ms`; `retry-after` (seconds or an HTTP date; `now` is the wall
    clock); Gemini's `RetryInfo.retryDelay` in the body; then, on a 429 only (OpenAI sends these
    on every answer), the binding `x-ratelimit-reset-*` / `x-rate-limit-reset-*` duration and
    the "retry after N seconds" wording of Azure's and OpenAI's messages.
    """
    found = {k.lower(): v for k, v in headers.items() if k.lower() in _READ}
    ms = _number(found.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    seconds = _retry_after(found.get("retry-after"), now)
    if seconds is None:
        seconds = _retry_info(body)
    if seconds is None and status == 429:
        seconds = _reset_headers(found)
        if seconds is None:
            seconds = _message_hint(body)
    return seconds


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _retry_after(value: str | None, now: Callable[[], float]) -> float | None:
    if value is None:
        return None
    number = _number(value)
    if number is not None:
        return number
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when it fails to say so
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - now())


def duration_seconds(value: str) -> float | None:
    """`6m0s` -> 360.0, `20ms` -> 0.02, a bare number -> seconds; None if not a duration."""
    text = value.strip()
    number = _number(text)
    if number is not None:
        return number
    if not _DURATION.fullmatch(text):
        return None
    total = sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(text))
    return total if math.isfinite(total) else None


def _reset_headers(found: Mapping[str, str]) -> float | None:
    """The reset of the exhausted limit (remaining 0); else the longest reset sent."""
    binding: list[float] = []
    other: list[float] = []
    for kind in ("requests", "tokens"):
        for prefix in _PASSED_PREFIXES:
            raw = found.get(f"{prefix}reset-{kind}")
            reset = duration_seconds(raw) if raw is not None else None
            if reset is None:
                continue
            remaining = _number(found.get(f"{prefix}remaining-{kind}"))
            (binding if remaining == 0 else other).append(reset)
    chosen = binding or other
    return max(chosen) if chosen else None


def _retry_info(body: bytes | str) -> float | None:
    """Gemini: error.details[] holds {"@type": ".../google.rpc.RetryInfo", "retryDelay": "12s"}."""
    if "RetryInfo" not in _head(body):
        return None
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    for item in parsed if isinstance(parsed, list) else [parsed]:
        error = item.get("error") if isinstance(item, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            if not str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
                continue
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return duration_seconds(delay)
            if isinstance(delay, dict):  # {"seconds": 12, "nanos": 500000000} from some proxies
                seconds = _number(str(delay.get("seconds", 0)))
                nanos = _number(str(delay.get("nanos", 0)))
                if seconds is not None and nanos is not None:
                    return seconds + nanos / 1e9
    return None


def _message_hint(body: bytes | str) -> float | None:
    match = _MESSAGE_HINT.search(_head(body))
    if match is None:
        return None
    if match.group(1) is not None:
        return _number(match.group(1))
    return duration_seconds(match.group(2))


def _head(body: bytes | str) -> str:
    """The start of a body as text: error bodies are short, never scan megabytes."""
    head = body[:_SCAN]
    return head.decode("utf-8", "replace") if isinstance(head, bytes) else head
