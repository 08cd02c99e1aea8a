"""The gateway's live state: settings, the active provider, upstream sessions, recent requests.

The desktop app swaps settings or the provider while requests run; each request takes a snapshot
of (settings, provider) when it starts, so a switch never breaks a stream in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from aoa_proxy.config import ProviderSettings, Settings
from aoa_proxy.credentials import KeyPool, KeyStatus
from aoa_proxy.providers import Provider, get_provider

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RequestRecord:
    """What the access log and the settings page's live view show: never bodies or keys."""

    method: str
    path: str
    started: float = field(default_factory=time.time)
    provider: str = ""
    model: str = ""
    upstream_model: str = ""
    stream: bool = False
    status: int = 0
    duration_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str = ""
    route: str = ""  # "gpt-4 → azure/my-gpt4": the requested model and the target that served
    moved: str = ""  # why it left a key or target before that ("429 from azure; ..."), or ""


Listener = Callable[[RequestRecord], None]


class Runtime:
    """Mutable holder; replace `settings` and `provider` only through `apply`/`switch`."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        # One provider per name, kept while its settings stay the same: a provider owns state
        # that must outlive requests (Gemini's thought-signature memory), so a switch away and
        # back, or a change to other settings, keeps it. New settings for it make a new one.
        self._providers: dict[str, Provider] = {}
        self.provider: Provider = self._provider_for(settings.active)
        # One key pool per enabled provider with server keys; rebuilt with `with_keys` on
        # every settings change, so a key that stays keeps its cool-down.
        self.pools: dict[str, KeyPool] = self._pools_for(settings, {})
        self.paused = False
        self.recent: deque[RequestRecord] = deque(maxlen=200)
        self.listeners: list[Listener] = []
        self._sessions: dict[tuple[str, str, str, float, float], aiohttp.ClientSession] = {}

    def apply(self, settings: Settings) -> None:
        """Use new settings from the next request on (requests in flight keep their snapshot)."""
        provider = self._provider_for(settings.active)
        pools = self._pools_for(settings, self.pools)
        self.settings, self.provider, self.pools = settings, provider, pools
        log.info("provider is now %s", provider.name)

    def _pools_for(self, settings: Settings, old: dict[str, KeyPool]) -> dict[str, KeyPool]:
        pools: dict[str, KeyPool] = {}
        for name in settings.enabled:
            keys = settings.provider_settings(name).keys
            if not keys:  # the client's own key (default provider), or none needed (demo)
                continue
            known = old.get(name)
            if known is None:
                pools[name] = KeyPool(name, keys, clock=self._clock)
            else:
                pools[name] = known if known.keys == keys else known.with_keys(keys)
        return pools

    def key_status(self) -> dict[str, list[KeyStatus]]:
        """Each enabled provider's server keys: `key` is at most the last 4 characters
        (`****abcd`), `cooling` the seconds of cool-down left (0.0 when usable), `reason` why.

        For the tray and the settings page; safe to call from another thread (read only).
        """
        return {name: pool.status() for name, pool in list(self.pools.items())}

    def _provider_for(self, settings: ProviderSettings) -> Provider:
        known = self._providers.get(settings.name)
        if known is not None and known.settings == settings:
            return known
        provider = self._providers[settings.name] = get_provider(settings)
        return provider

    def switch(self, name: str) -> None:
        self.apply(self.settings.with_provider(name))

    def record(self, rec: RequestRecord) -> None:
        self.recent.append(rec)
        for listener in self.listeners:
            try:
                listener(rec)
            except Exception:  # a UI callback must never break serving
                log.exception("request listener failed")

    def session(self, provider: Provider) -> aiohttp.ClientSession:
        """The shared session (one connection pool) for this upstream and proxy."""
        s = self.settings
        p = provider.settings
        key = (provider.name, p.endpoint, p.proxy, s.connect_timeout, s.read_timeout)
        session = self._sessions.get(key)
        if session is None or session.closed:
            session = self._sessions[key] = _new_session(p.proxy, p.endpoint, s)
        return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def env_proxy(url: str) -> str | None:
    """The HTTPS_PROXY/HTTP_PROXY that applies to `url`, or None when unset or NO_PROXY covers it.

    Looked up once per session: aiohttp's trust_env does it (and a netrc read) in a worker thread
    on every request, which cost more than half the gateway's CPU per request.
    """
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme or "https") or None


def _new_session(proxy: str, endpoint: str, settings: Settings) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
    )
    connector: aiohttp.BaseConnector
    if proxy:
        from aiohttp_socks import ProxyConnector  # imported only when a proxy is configured

        connector = ProxyConnector.from_url(proxy, limit=0, rdns=True)
    else:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    # HTTPS_PROXY / NO_PROXY apply when no provider proxy is set.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        proxy=None if proxy else env_proxy(endpoint),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "aoa"},
    )
