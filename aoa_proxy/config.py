"""Settings, read only here, from an injected mapping of environment variables.

Which variables exist, their defaults and how each is parsed is aoa_proxy.catalogue's table;
`_Reader` has one method per kind of value. Names and defaults follow the original
amazing-openai-api; where it silently did the wrong thing (ignored AOA_HOST, unreadable proxy
variables, silently replaced API versions) we do the right thing and report bad values as
ConfigError, one ConfigProblem per variable.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Final
from urllib.parse import urlsplit

from aoa_proxy.aliases import parse_aliases
from aoa_proxy.catalogue import CATALOGUE, Catalogue, Kind, ProviderEntry, Var
from aoa_proxy.catalogue import GEMINI_SAFETY_LEVELS as GEMINI_SAFETY_LEVELS
from aoa_proxy.errors import ConfigError, ConfigProblem
from aoa_proxy.i18n import _, normalize
from aoa_proxy.proxyauth import mask_login
from aoa_proxy.routing import parse_provider_list

PROVIDERS: Final = CATALOGUE.names
# Every variable we read, with its default: the single source for --help and the README table.
ENV_VARS: Final = CATALOGUE.vars()


@dataclass(frozen=True)
class ProviderSettings:
    """One upstream's settings. `api_key` never shows in repr.

    `api_key` is the variable's text as given: one key, or a pool of comma-separated keys
    (`keys`); load_settings refuses a key listed twice.
    """

    name: str
    endpoint: str = ""
    api_key: str = field(default="", repr=False)
    model: str = ""
    api_version: str = ""
    aliases: Mapping[str, str] = field(default_factory=dict)
    http_proxy: str = ""
    socks_proxy: str = ""
    ignore_api_version_check: bool = False
    safety: str = "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
    compat: bool = True  # Azure: retry what reasoning / Responses-only deployments refuse
    # Azure's Entra ID sign-in (AZURE_AUTH=entra): aoa_proxy.entra gets the tokens.
    auth: str = "key"
    scope: str = ""  # "" = entra.default_scope(endpoint)
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    thoughts: bool = False  # GEMINI_THOUGHTS
    temperature_policy: str = "keep"  # GEMINI_TEMPERATURE_POLICY

    @property
    def entra(self) -> bool:
        """Tokens from Entra ID instead of keys (Azure's AZURE_AUTH=entra)."""
        return self.auth == "entra"

    @property
    def proxy(self) -> str:
        """The proxy URL to use: SOCKS wins over HTTP, as in the original."""
        return self.socks_proxy or self.http_proxy

    @cached_property  # settings are frozen; read on every request
    def keys(self) -> tuple[str, ...]:
        """The server keys in order (`k1, k2` -> ("k1", "k2")); () when none is set."""
        return tuple(dict.fromkeys(k for k in (p.strip() for p in self.api_key.split(",")) if k))


@dataclass(frozen=True)
class Settings:
    """The gateway's settings.

    `provider` is the default provider (AOA_TYPE): the catch-all for models no other enabled
    provider claims. `enabled` lists every provider serving requests, in AOA_PROVIDERS order;
    it always holds `provider` (appended when AOA_PROVIDERS leaves it out) and is `(provider,)`
    when AOA_PROVIDERS is unset, which is exactly the one-provider gateway aoa always was.
    """

    provider: str = "demo"
    enabled: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    access_token: str = field(default="", repr=False)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    log_level: str = "INFO"
    log_format: str = "text"
    workers: int = 1
    shutdown_grace: float = 30.0
    lang: str = ""
    vision: bool = False
    metrics: bool = False
    usage_db: str = ""
    usage_retention_days: int = 90
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    provider_chosen_by_default: bool = False
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.provider not in self.enabled:  # also () -> (provider,)
            object.__setattr__(self, "enabled", (*self.enabled, self.provider))

    @property
    def active(self) -> ProviderSettings:
        """The default provider's settings."""
        return self.providers.get(self.provider) or ProviderSettings(self.provider)

    @property
    def several(self) -> bool:
        """More than one provider serves: routing by model (prefixes, merged lists) is on."""
        return len(self.enabled) > 1

    def with_provider(self, name: str) -> Settings:
        """These settings with `name` as the default provider.

        With one provider enabled the new one replaces it (the tray's switch, as always); with
        several it joins them when it is not enabled yet.
        """
        enabled = (name,) if self.enabled == (self.provider,) else self.enabled
        return replace(self, provider=name, enabled=enabled, provider_chosen_by_default=False)

    def provider_settings(self, name: str) -> ProviderSettings:
        """One provider's settings (its defaults when none were read)."""
        return self.providers.get(name) or ProviderSettings(name)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


@functools.lru_cache(maxsize=1024)  # checked on every request's Host header; ipaddress is slow
def is_loopback_host(host: str) -> bool:
    """True for localhost names and loopback IPs (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.", "ip6-localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_bool(value: str | None, default: bool = False) -> bool:
    """The original's rule: empty -> default; true/on/yes/1 -> True; anything else -> False."""
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("true", "on", "yes", "1")


class _Reader:
    """Reads variables the way the catalogue describes them, one method per Kind, collecting
    one problem per bad variable instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str], catalogue: Catalogue) -> None:
        self.env = env
        self.catalogue = catalogue
        self.problems: list[ConfigProblem] = []
        self.warnings: list[str] = []
        self._parsers: dict[Kind, Callable[[Var], Any]] = {
            Kind.TEXT: self.text,
            Kind.SECRET: self.text,
            Kind.URL: self.url,
            Kind.ALIASES: self.aliases,
            Kind.HTTP_PROXY: self.proxy,
            Kind.SOCKS_PROXY: self.proxy,
            Kind.CHOICE: self.choice,
            Kind.BOOL: self.flag,
            Kind.INT: self.number,
            Kind.NUMBER: self.number,
            Kind.HOST: self.host,
            Kind.ORIGINS: self.origins,
            Kind.LANGUAGE: self.language,
            Kind.PROVIDER: self.provider,
            Kind.PROVIDER_LIST: self.provider_list,
        }

    def problem(self, var: str, message: str) -> None:
        self.problems.append(ConfigProblem(var, message))

    def warn(self, var: str, message: str) -> None:
        self.warnings.append(f"{var}: {message}")

    def has_problem(self, var: str) -> bool:
        return any(p.var == var for p in self.problems)

    def raw(self, name: str) -> str:
        return (self.env.get(name) or "").strip()

    def read(self, var: Var) -> Any:
        """The variable's value, parsed and checked; problems are recorded, not raised."""
        value = self._parsers[var.kind](var)
        if var.check is not None and not self.has_problem(var.name):
            problem = var.check(value)
            if problem:
                self.problem(var.name, problem)
        return value

    def text(self, var: Var) -> str:
        return self.raw(var.name) or var.value_default

    def number(self, var: Var) -> float:
        integer = var.kind is Kind.INT
        default = int(var.default) if integer else float(var.default)
        raw = self.raw(var.name)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            text = _("{value} is not a whole number") if integer else _("{value} is not a number")
            self.problem(var.name, text.format(value=repr(raw)))
            return default
        lo, hi = var.bounds
        if not lo <= value <= hi:
            self.problem(
                var.name,
                _("{value} is out of range ({lo}-{hi})").format(
                    value=raw, lo=f"{lo:g}", hi=f"{hi:g}"
                ),
            )
            return default
        return value

    def choice(self, var: Var, choices: Sequence[str] = ()) -> str:
        """One of the choices in any case, given back as listed."""
        choices = choices or var.choices
        raw = self.raw(var.name)
        if not raw:
            return var.value_default
        listed = {c.lower(): c for c in choices}
        if raw.lower() not in listed:
            self.problem(
                var.name,
                _("{value} is not one of {choices}").format(
                    value=repr(raw), choices=", ".join(choices)
                ),
            )
            return var.value_default
        return listed[raw.lower()]

    def provider(self, var: Var) -> str:
        if self.raw(var.name):
            return self.choice(var, self.catalogue.names) or "demo"
        # The original's rule: an Azure endpoint alone selects Azure.
        return "azure" if self.raw("AZURE_ENDPOINT") else "demo"

    def provider_list(self, var: Var) -> tuple[str, ...]:
        """Provider names as listed (the default provider is added by load_settings)."""
        try:
            return parse_provider_list(self.raw(var.name), self.catalogue.names)
        except ValueError as exc:
            self.problem(var.name, str(exc))
            return ()

    def flag(self, var: Var) -> bool:
        return parse_bool(self.env.get(var.name), parse_bool(var.default))

    def aliases(self, var: Var) -> dict[str, str]:
        try:
            return parse_aliases(self.env.get(var.name) or "")
        except ValueError as exc:
            self.problem(var.name, str(exc))
            return {}

    def url(self, var: Var) -> str:
        raw = self.text(var)
        if not raw:
            return ""
        problem = check_url(raw)
        if problem:
            self.problem(var.name, problem)
            return ""
        return raw

    def proxy(self, var: Var) -> str:
        raw = self.text(var)
        if not raw:
            return ""
        parts = urlsplit(raw if "://" in raw else f"http://{raw}")
        if (
            parts.scheme not in ("http", "https", "socks4", "socks5", "socks5h")
            or not parts.hostname
        ):
            self.problem(
                var.name,
                _("{value} is not a proxy URL like socks5://host:1080").format(
                    value=repr(mask_login(raw))  # never echo a proxy password
                ),
            )
            return ""
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            self.problem(var.name, _("{value} has a bad port").format(value=repr(mask_login(raw))))
            return ""
        return parts.geturl()

    def host(self, var: Var) -> str:
        host = self.text(var)
        if not _valid_host(host):
            self.problem(
                var.name, _("{value} is not an IP address or host name").format(value=repr(host))
            )
        return host

    def origins(self, var: Var) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.text(var).split(",") if o.strip())

    def language(self, var: Var) -> str:
        """A supported language ("zh_CN"), "" for the OS's choice."""
        raw = self.raw(var.name)
        if not raw or raw.lower() == "auto":
            return ""
        lang = normalize(raw)
        if lang is None:
            self.problem(var.name, _("{value} is not one of en, zh_CN").format(value=repr(raw)))
            return ""
        return lang


def check_url(raw: str) -> str | None:
    """Why `raw` is not a usable upstream URL, or None. Plain http only for loopback hosts."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return _("{value} is not a valid URL").format(value=repr(raw))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("{value} is not an https:// URL").format(value=repr(raw))
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return _(
            "{value} must use https:// (plain http is only allowed for loopback addresses)"
        ).format(value=repr(raw))
    if parts.query or parts.fragment:
        return _("{value} must not contain a query or fragment").format(value=repr(raw))
    return None


def load_settings(env: Mapping[str, str], catalogue: Catalogue = CATALOGUE) -> Settings:
    """Build Settings from environment variables; raise ConfigError listing every problem.

    Every variable is read as its catalogue entry says, gateway ones first (AOA_TYPE decides
    which provider is active, and so which required variables must be set). AOA_PROVIDERS
    without AOA_TYPE makes its first provider the default; every enabled provider must be
    configured (see `unconfigured`), or that is a problem of AOA_PROVIDERS.
    """
    r = _Reader(env, catalogue)
    values = {var.field: r.read(var) for var in catalogue.gateway.vars if var.field}
    listed: tuple[str, ...] = values["enabled"]
    if listed and not r.raw("AOA_TYPE"):
        values["provider"] = listed[0]  # AOA_PROVIDERS alone: its first is the default
    default = values["provider"]
    values["enabled"] = listed if default in listed else (*listed, default)
    providers = {
        entry.name: _provider_settings(r, entry, active=entry.name == default)
        for entry in catalogue.providers
    }
    for name in values["enabled"]:
        if name != default and name in providers:
            entry = catalogue.provider(name)
            missing = unconfigured(entry, providers[name], default=False)
            missing = [m for m in missing if not r.has_problem(m)]  # a bad value: said already
            if missing:
                r.problem("AOA_PROVIDERS", _not_configured(entry, missing))
    settings = Settings(
        **values,
        providers=providers,
        provider_chosen_by_default=not r.raw("AOA_TYPE"),
        warnings=tuple(r.warnings),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def unconfigured(entry: ProviderEntry, ps: ProviderSettings, *, default: bool) -> list[str]:
    """The variables a provider still needs before it can serve; [] when it is configured.

    Configured means: every required variable is set (Azure's endpoint) and, for a provider
    that is not the default one, a server key. A client sends one key, meant for the default
    provider; aoa never passes it to another (the offline demo needs no key).
    """
    missing = [v.name for v in entry.vars if v.required and v.field and not getattr(ps, v.field)]
    key = entry.key_var
    if not default and key is not None and not ps.keys and not ps.entra:
        missing.append(key.name)
    return missing


def _not_configured(entry: ProviderEntry, missing: Sequence[str]) -> str:
    key = entry.key_var
    if key is not None and key.name in missing:
        return _(
            "{name} is enabled but not configured: set {vars} (each enabled provider but the "
            "default one needs a key of its own: clients send only one)"
        ).format(name=entry.name, vars=", ".join(missing))
    return _("{name} is enabled but not configured: set {vars}").format(
        name=entry.name, vars=", ".join(missing)
    )


def _provider_settings(r: _Reader, entry: ProviderEntry, *, active: bool) -> ProviderSettings:
    values = dict(entry.fixed)
    for var in entry.vars:
        if not var.field:
            continue  # documented for compatibility, read by nobody
        value = r.read(var)
        if active and var.required and not value and not r.has_problem(var.name):
            r.problem(var.name, _(var.required))
        values[var.field] = value
    settings = ProviderSettings(entry.name, **values)
    if entry.after is not None:
        entry.after(settings, active, r)
    return settings


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))
