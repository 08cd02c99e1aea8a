"""Which provider serves a requested model, and which targets take over when it fails.

Pure: no sockets, no aiohttp. A Router is built once per settings and shared by every request;
`route(model)` is dict lookups for exact names, then a pass over precompiled globs. The order
(issue 14), first match wins:

1. `provider/model` where `provider` is enabled (a known but disabled one is a 404 listing what is
   enabled, unless rules 2-4 know the whole name);
2. an exact alias of an enabled provider (first in AOA_PROVIDERS order);
3. a glob alias: the longest pattern wins, a tie goes to provider order, then definition order;
4. a model an enabled provider lists (first in order);
5. the default provider.
Names that are not alias targets (rules 1, 4, 5) go through the provider's own `resolve` (Azure
strips dots, an empty model becomes the configured default). Alias targets are used as written.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aoa_proxy.aliases import AliasTable, Glob, compile_aliases
from aoa_proxy.errors import ModelNotFound
from aoa_proxy.i18n import _

# Arrow used in the access log and the settings page's recent requests.
ARROW = "→"


class Rule(enum.Enum):
    """The routing rule that chose a route (its value goes into the access log)."""

    PREFIX = "prefix"
    ALIAS = "alias"
    GLOB = "glob"
    LISTED = "listed"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one requested model goes: the first target, why, and the failover chain after it."""

    provider: str
    model: str  # the upstream model name
    rule: Rule
    via: str = ""  # the alias name or glob pattern that matched ("" for other rules)
    fallbacks: tuple[Target, ...] = ()

    @property
    def target(self) -> Target:
        """The first target (this route's own provider and model)."""
        return Target(self.provider, self.model)

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every target in order: this route's own, then the fallbacks."""
        return (self.target, *self.fallbacks)

    def describe(self, requested: str) -> str:
        """`gpt-4 → azure/my-gpt4`, for the access log and the recent-requests list."""
        return f"{requested} {ARROW} {self.provider}/{self.model}"


def _identity(model: str) -> str:
    return model


@dataclass(frozen=True)
class ProviderRouting:
    """What the router needs from one enabled provider."""

    name: str
    aliases: Mapping[str, str] = field(default_factory=dict)  # raw, as parse_aliases returns
    resolve: Callable[[str], str] = _identity  # the provider's resolve_model, for non-alias names


# provider name -> the model ids it listed last (empty while unknown or after a failure).
ListedModels = Callable[[str], Container[str]]


def _nothing_listed(provider: str) -> Container[str]:
    return ()


class ModelLists:
    """The cache rule 4 reads: each provider's listed ids, replaced whole on each refresh.

    The wiring refreshes it in the background and keeps the previous list when a listing
    fails, so a slow or broken upstream never blocks a request. Pass the instance as `listed`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ids: dict[str, frozenset[str]] = {}
        self._at: dict[str, float] = {}

    def __call__(self, provider: str) -> frozenset[str]:
        """The provider's last list (empty before its first)."""
        return self._ids.get(provider, frozenset())

    def update(self, provider: str, ids: Iterable[str]) -> None:
        """Replace a provider's list (one assignment: a request sees the old or the new list)."""
        self._ids[provider] = frozenset(ids)
        self._at[provider] = self._clock()

    def forget(self, provider: str) -> None:
        """Drop a provider's list (its settings changed: the old list may name other models)."""
        self._ids.pop(provider, None)
        self._at.pop(provider, None)

    def age(self, provider: str) -> float | None:
        """Seconds since the provider's list was last replaced; None if it never was."""
        at = self._at.get(provider)
        return None if at is None else self._clock() - at


class Router:
    """Routes model names; built once per settings, then read-only (safe to share).

    `providers` are the enabled ones in AOA_PROVIDERS order and must include `default`.
    `known` holds every provider name aoa has, so a prefix naming a disabled one is an error,
    not a model name. `prefixes=False` (AOA_PROVIDERS unset) turns rule 1 off: a one-provider
    setup then routes exactly as before, and names like `openai/gpt-oss-120b` that an
    OpenAI-compatible host uses pass unchanged.
    """

    def __init__(
        self,
        providers: Sequence[ProviderRouting],
        default: str,
        *,
        known: Collection[str],
        listed: ListedModels = _nothing_listed,
        prefixes: bool = True,
    ) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"providers listed twice: {names}")
        if default not in names:
            raise ValueError(f"the default provider {default!r} is not among {names}")
        self.enabled: tuple[str, ...] = tuple(names)
        self.default = default
        self.known = frozenset(known) | set(names)
        self.prefixes = prefixes
        self._listed = listed
        # Rule 4 can only pick another provider when there is one: skip it for a lone provider.
        self._listing = self.enabled if len(self.enabled) > 1 else ()
        self._resolve = {p.name: p.resolve for p in providers}
        self.warnings: list[str] = []
        tables = {p.name: compile_aliases(p.aliases) for p in providers}
        # Per provider and merged (first provider wins), each alias's Route is built once.
        self._own: dict[str, dict[str, Route]] = {}
        self._exact: dict[str, Route] = {}
        for p in providers:
            own: dict[str, Route] = {}
            for name, chain in tables[p.name].exact.items():
                route = self._alias_route(p.name, Rule.ALIAS, name, chain)
                if route is not None:
                    own[name] = route
            self._own[p.name] = own
            for name, route in own.items():
                self._exact.setdefault(name, route)
        self._globs = self._order_globs(tables)
        # Bucketed by the first character a glob needs, so a name only meets globs that can
        # match it (plus those starting with *), still in rank order.
        self._any_globs = tuple(g for g in self._globs if not g[0].head)
        self._globs_by_first = {
            c: tuple(g for g in self._globs if not g[0].head or g[0].head[0] == c)
            for c in {g[0].head[0] for g in self._globs if g[0].head}
        }
        self._own_globs = {
            name: tuple(g for g in self._globs if g[1].provider == name) for name in names
        }

    def _order_globs(self, tables: Mapping[str, AliasTable]) -> tuple[tuple[Glob, Route], ...]:
        ranked: list[tuple[int, int, int, Glob, Route]] = []
        for rank, name in enumerate(self.enabled):
            for pos, (glob, chain) in enumerate(tables[name].globs):
                route = self._alias_route(name, Rule.GLOB, glob.pattern, chain)
                if route is not None:
                    ranked.append((-len(glob.pattern), rank, pos, glob, route))
        ranked.sort(key=lambda r: r[:3])
        return tuple((glob, route) for *_, glob, route in ranked)

    def _alias_route(self, owner: str, rule: Rule, via: str, chain: Sequence[str]) -> Route | None:
        """The alias's Route; None when every target of its chain names a disabled provider."""
        targets: list[Target] = []
        for raw in chain:
            target = self._target(owner, raw, chained=len(chain) > 1, via=via)
            if target is not None and target not in targets:
                targets.append(target)
        if not targets:
            return None
        first = targets[0]
        return Route(first.provider, first.model, rule, via, tuple(targets[1:]))

    def _target(self, owner: str, raw: str, *, chained: bool, via: str) -> Target | None:
        """One alias target: `provider/model` or a model name of the alias's own provider.

        In a chain (new syntax) a known provider's prefix always names that provider, as in
        a request; a disabled one's target is dropped with a warning. A lone target keeps its
        old meaning (the whole name, on its own provider: OpenRouter's `openai/gpt-4o`,
        LiteLLM's `gemini/...`) unless it names another enabled provider.
        """
        prefix, slash, rest = raw.partition("/")
        if not slash or prefix not in self.known:
            return Target(owner, raw)
        enabled = prefix in self._resolve
        if not chained:
            return Target(prefix, rest) if enabled and prefix != owner else Target(owner, raw)
        if enabled:
            return Target(prefix, rest)
        self.warnings.append(
            _(
                "alias {alias} of {owner}: {target} names {provider}, which is not enabled; "
                "that target is skipped (add {provider} to AOA_PROVIDERS)"
            ).format(alias=repr(via), owner=owner, target=repr(raw), provider=prefix)
        )
        return None

    def route(self, model: str) -> Route:
        """The route for a requested model; ModelNotFound (404) for a disabled provider's prefix."""
        disabled = ""
        if self.prefixes and "/" in model:
            prefix, _slash, rest = model.partition("/")
            if prefix in self._resolve:
                return self._prefixed(prefix, model, rest)
            if prefix in self.known:
                disabled = prefix
        route = self._exact.get(model)
        if route is not None:
            return route
        for glob, route in self._globs_by_first.get(model[:1], self._any_globs):
            if glob.matches(model):
                return route
        for name in self._listing:
            if model in self._listed(name):
                return Route(name, self._resolve[name](model), Rule.LISTED)
        if disabled:
            shown = model if len(model) <= 200 else model[:200] + "…"
            raise ModelNotFound(
                f"The model {shown!r} names the provider {disabled!r}, which is not enabled. "
                f"Enabled providers: {', '.join(self.enabled)}. Use one of those as the prefix, "
                "or add it to AOA_PROVIDERS.",
                param="model",
            )
        return Route(self.default, self._resolve[self.default](model), Rule.DEFAULT)

    def _prefixed(self, provider: str, model: str, rest: str) -> Route:
        """Rule 1. The whole name wins when that provider aliases or lists it (`openai/gpt-oss`)."""
        own = self._own[provider]
        whole = own.get(model)
        if whole is not None:
            return _as_prefix(whole)
        if model in self._listed(provider):
            return Route(provider, model, Rule.PREFIX)
        alias = own.get(rest)
        if alias is not None:
            return _as_prefix(alias)
        for glob, route in self._own_globs[provider]:
            if glob.matches(rest):
                return _as_prefix(route)
        return Route(provider, self._resolve[provider](rest), Rule.PREFIX)


def _as_prefix(route: Route) -> Route:
    return Route(route.provider, route.model, Rule.PREFIX, route.via, route.fallbacks)


def parse_provider_list(
    text: str, known: Sequence[str], default: str | None = None
) -> tuple[str, ...]:
    """AOA_PROVIDERS `azure, gemini,openai` -> ("azure", "gemini", "openai"); ValueError if bad.

    Names are case-insensitive; blanks between commas are ignored. `default` (AOA_TYPE) is
    appended when missing, since the catch-all provider is always enabled.
    """
    names: list[str] = []
    for piece in text.split(","):
        name = piece.strip().lower()
        if not name:
            continue
        if name not in known:
            raise ValueError(
                _("unknown provider {name}; choose from {known}").format(
                    name=repr(piece.strip()), known=", ".join(known)
                )
            )
        if name in names:
            raise ValueError(_("{name} is listed twice").format(name=repr(name)))
        names.append(name)
    if default is not None and default not in names:
        names.append(default)
    return tuple(names)
