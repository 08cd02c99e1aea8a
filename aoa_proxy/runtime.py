"""The gateway's live state: settings, the enabled providers, the router, key pools, sessions.

The desktop app swaps settings or the default provider while requests run; each request reads
one `Snapshot` (settings, providers, router, pools) when it starts, so a change never breaks a
stream in flight and never mixes two generations of settings within one request.
State here is per process (each AOA_WORKERS process has its own cool-downs and model lists).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import aiohttp

from aoa_proxy.config import ProviderSettings, Settings
from aoa_proxy.credentials import KeyPool, KeyStatus
from aoa_proxy.errors import EntraError
from aoa_proxy.providers import REGISTRY, Provider, ProviderKind, get_provider
from aoa_proxy.routing import ModelLists, ProviderRouting, Router

if TYPE_CHECKING:
    from aoa_proxy.entra import Credential, Tokens
    from aoa_proxy.usage import UsageStore

log = logging.getLogger(__name__)

# How often the models each provider lists are fetched again (several providers only), and how
# soon after a listing that failed or timed out.
LIST_EVERY: Final = 300.0
LIST_RETRY: Final = 30.0


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
    cached_tokens: int | None = None  # of the prompt, read from a cache
    reasoning_tokens: int | None = None  # of the completion
    key_hint: str = ""  # the upstream key's last 4 characters ("" when short or none)
    error: str = ""
    route: str = ""  # "gpt-4 → azure/my-gpt4": the requested model and the target that served
    moved: str = ""  # why it left a key or target before that ("429 from azure; ..."), or ""


Listener = Callable[[RequestRecord], None]
# The desktop's sign-in for these settings, tried before azure-identity's chain.
SignIn = Callable[[ProviderSettings], "tuple[str, Credential] | None"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one request reads, taken once when it starts."""

    settings: Settings
    default: Provider  # AOA_TYPE's provider, the catch-all
    providers: Mapping[str, Provider]  # every enabled one, in AOA_PROVIDERS order
    router: Router
    pools: Mapping[str, KeyPool]  # providers with server keys
    holds_key: bool  # an enabled upstream spends a server key (CORS is then restricted)


class Runtime:
    """Mutable holder; change settings only through `apply`/`switch`."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        signin: SignIn | None = None,
    ) -> None:
        self._clock = clock  # the key pools' (tests move it instead of sleeping)
        # Entra ID token holders, one per credential setup, kept across settings changes (a
        # token stays good) and closed with the runtime. `signin`: the desktop's own sign-in.
        self._tokens: dict[tuple[str, ...], Tokens] = {}
        self._signin = signin
        # One provider per name, kept while its settings stay the same: a provider owns state
        # that must outlive requests (Gemini's thought-signature memory), so a switch away and
        # back, or a change to other settings, keeps it. New settings for it make a new one.
        self._providers: dict[str, Provider] = {}
        # Rule 4's cache: what each provider listed last, refreshed in the background.
        self.models = ModelLists()
        self.pools: dict[str, KeyPool] = {}
        self.paused = False
        self.recent: deque[RequestRecord] = deque(maxlen=200)
        self.listeners: list[Listener] = []
        # Requests being answered now, kept only while /metrics is on (its in-flight streams).
        self.in_flight: dict[int, RequestRecord] | None = None  # by id()
        self.usage: UsageStore | None = None  # the usage history, when one is kept
        self._sessions: dict[tuple[str, str, str, float, float], aiohttp.ClientSession] = {}
        self._refresh_due = 0.0
        self._refresh: asyncio.Task[None] | None = None
        self.snapshot = self._build(settings)

    # ------------------------------------------------------------------ settings

    @property
    def settings(self) -> Settings:
        return self.snapshot.settings

    @property
    def provider(self) -> Provider:
        """The default provider."""
        return self.snapshot.default

    @property
    def router(self) -> Router:
        return self.snapshot.router

    @property
    def providers(self) -> Mapping[str, Provider]:
        """The enabled providers, in AOA_PROVIDERS order."""
        return self.snapshot.providers

    def apply(self, settings: Settings) -> None:
        """Use new settings from the next request on (requests in flight keep their snapshot)."""
        self.snapshot = self._build(settings)
        self._refresh_due = 0.0  # list the (maybe new) providers' models soon
        if settings.several:
            log.info(
                "providers are now %s (default %s)", ", ".join(settings.enabled), settings.provider
            )
        else:
            log.info("provider is now %s", settings.provider)

    def switch(self, name: str) -> None:
        """Make `name` the default provider."""
        self.apply(self.settings.with_provider(name))

    def _build(self, settings: Settings) -> Snapshot:
        providers: dict[str, Provider] = {}
        for name in settings.enabled:
            if name not in REGISTRY and name != settings.provider:
                continue  # a build without it: the CLI and the desktop say so
            providers[name] = self._provider_for(settings.provider_settings(name))
        default = providers[settings.provider]
        router = Router(
            [ProviderRouting(n, p.settings.aliases, p.resolve_model) for n, p in providers.items()],
            settings.provider,
            known=REGISTRY,
            listed=self.models,
            prefixes=settings.several,
        )
        for warning in router.warnings:
            log.warning("%s", warning)
        pools = self._pools_for(providers)
        self.pools = pools
        holds_key = any(
            p.kind is not ProviderKind.LOCAL and (p.server_keys or p.tokens is not None)
            for p in providers.values()
        )  # an Entra ID sign-in is spent like a server key
        return Snapshot(settings, default, providers, router, pools, holds_key)

    def _provider_for(self, settings: ProviderSettings) -> Provider:
        known = self._providers.get(settings.name)
        if known is not None and known.settings == settings:
            return known
        self.models.forget(settings.name)  # another endpoint may list other models
        provider = self._providers[settings.name] = get_provider(settings)
        if settings.entra:
            provider.tokens = self._tokens_for(settings)
        return provider

    def _tokens_for(self, ps: ProviderSettings) -> Tokens:
        from aoa_proxy.entra import Tokens, scope_of  # azure-identity only when Entra is on

        key = (scope_of(ps), ps.tenant_id, ps.client_id, ps.client_secret)
        tokens = self._tokens.get(key)
        if tokens is None:
            first = self._signin(ps) if self._signin is not None else None
            tokens = self._tokens[key] = Tokens(ps, first=first)
        return tokens

    def forget_tokens(self) -> None:
        """Ask for new Entra ID tokens from the next request on (the desktop's sign-in changed).

        Safe from another thread: it only marks the cached tokens stale.
        """
        for tokens in list(self._tokens.values()):
            tokens.forget()

    async def check_entra(self) -> None:
        """Get one token per Entra ID setup at start-up and log its source (never the token).

        A failure is logged with its fix and serving goes on: requests get the same 401 until
        the person signs in (`az login`), and then just work.
        """
        for tokens in list(self._tokens.values()):
            try:
                await tokens.check()
            except EntraError as exc:
                log.error("%s", exc.message)

    def _pools_for(self, providers: Mapping[str, Provider]) -> dict[str, KeyPool]:
        """One pool per provider with server keys; a kept key keeps its cool-down."""
        pools: dict[str, KeyPool] = {}
        for name, provider in providers.items():
            keys = provider.server_keys
            if not keys or provider.kind is ProviderKind.LOCAL:
                continue  # the client's own key (default provider), or none needed (demo)
            old = self.pools.get(name)
            if old is None:
                pools[name] = KeyPool(name, keys, clock=self._clock)
            else:
                pools[name] = old if old.keys == keys else old.with_keys(keys)
        return pools

    def key_status(self) -> dict[str, list[KeyStatus]]:
        """Each enabled provider's server keys: `key` is at most the last 4 characters
        (`****abcd`), `cooling` the seconds of cool-down left (0.0 when usable), `reason` why.

        For the tray and the settings page; safe to call from another thread (read only).
        """
        return {name: pool.status() for name, pool in list(self.snapshot.pools.items())}

    # ------------------------------------------------------------------ model lists

    def maybe_refresh(self) -> None:
        """Start listing every enabled provider's models in the background when that is due.

        Cheap enough for every request; only with several providers (rule 4 needs the lists).
        A request never waits for a listing: it routes with what is cached.
        """
        if not self.snapshot.settings.several:
            return
        now = time.monotonic()
        if now < self._refresh_due or (self._refresh is not None and not self._refresh.done()):
            return
        self._refresh_due = now + LIST_EVERY
        self._refresh = asyncio.get_running_loop().create_task(self._refresh_lists())

    async def _refresh_lists(self) -> None:
        from aoa_proxy.listing import list_models  # listing uses this module's types

        snap = self.snapshot
        keys = {name: pool.peek() for name, pool in snap.pools.items()}
        wanted = [
            p
            for n, p in snap.providers.items()
            if n in keys or p.kind is ProviderKind.LOCAL or p.tokens is not None
        ]
        try:
            listings = await list_models(self, wanted, keys)
        except Exception:  # a background task: say so, never kill the loop's quiet
            log.exception("listing the providers' models failed")
            listings = []
        if any(not listing.fresh for listing in listings) or not listings:
            self._refresh_due = min(self._refresh_due, time.monotonic() + LIST_RETRY)

    def note_listing(self, provider: Provider, ids: list[str]) -> None:
        """Cache the ids a provider listed (rule 4), unless its settings changed meanwhile."""
        if self._providers.get(provider.name) is provider:
            self.models.update(provider.name, ids)

    # ------------------------------------------------------------------ requests

    def record(self, rec: RequestRecord) -> None:
        """The one hook for a finished API request: the live view, the usage history and the
        metrics all listen here. Listeners run on the request's loop and must only append."""
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
        refresh, self._refresh, self._refresh_due = self._refresh, None, 0.0
        if refresh is not None and not refresh.done():
            refresh.cancel()
            await asyncio.gather(refresh, return_exceptions=True)
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        tokens, self._tokens = list(self._tokens.values()), {}
        await asyncio.gather(*(t.close() for t in tokens), return_exceptions=True)


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
