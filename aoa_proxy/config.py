"""Settings, read only here, from an injected mapping of environment variables.

Names and defaults follow the original amazing-openai-api; where it silently did the wrong thing
(ignored AOA_HOST, unreadable proxy variables, silently replaced API versions) we do the right thing
and report bad values as ConfigError, one line per variable.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

from aoa_proxy.aliases import parse_aliases
from aoa_proxy.errors import ConfigError
from aoa_proxy.i18n import N_, _, normalize
from aoa_proxy.proxyauth import mask_login

PROVIDERS: Final = ("azure", "yi", "gemini", "openai", "demo")

AZURE_KNOWN_API_VERSIONS: Final = frozenset(
    {
        # the original's whitelist
        "2022-12-01",
        "2023-03-15-preview",
        "2023-05-15",
        "2023-06-01-preview",
        "2023-07-01-preview",
        "2023-08-01-preview",
        "2023-09-01-preview",
        "2023-12-01-preview",
        "2024-02-15-preview",
        # later GA and preview versions
        "2023-10-01-preview",
        "2024-02-01",
        "2024-03-01-preview",
        "2024-04-01-preview",
        "2024-05-01-preview",
        "2024-06-01",
        "2024-07-01-preview",
        "2024-08-01-preview",
        "2024-09-01-preview",
        "2024-10-01-preview",
        "2024-10-21",
        "2024-12-01-preview",
        "2025-01-01-preview",
        "2025-02-01-preview",
        "2025-03-01-preview",
        "2025-04-01-preview",
        "preview",
        "latest",
    }
)
_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2}(-preview)?|preview|latest|v1)$")
GEMINI_SAFETY_LEVELS: Final = (
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_NONE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_LOW_AND_ABOVE",
    "OFF",
)
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str
    help: str


# Every variable we read, with its default: the single source for --help and the README table.
# Help texts (and defaults that are words, not values) are marked N_() and translated where shown.
ENV_VARS: Final = (
    EnvVar(
        "AOA_TYPE",
        N_("azure if AZURE_ENDPOINT is set, else demo"),
        N_("provider: azure, yi, gemini, openai or demo"),
    ),
    EnvVar("AOA_HOST", "127.0.0.1", N_("address to listen on (0.0.0.0 for Docker)")),
    EnvVar("AOA_PORT", "8080", N_("port to listen on")),
    EnvVar("AOA_VISION", "false", N_("accepted for compatibility; vision always works")),
    EnvVar("AOA_ACCESS_TOKEN", "", N_("when set, clients must send it as their Bearer token")),
    EnvVar(
        "AOA_CORS_ORIGINS",
        N_("localhost origins"),
        N_("comma-separated origins allowed to use a server-side key from a browser"),
    ),
    EnvVar("AOA_MAX_BODY_BYTES", "33554432", N_("largest request body accepted (32 MiB)")),
    EnvVar("AOA_CONNECT_TIMEOUT", "10", N_("seconds to connect to the upstream")),
    EnvVar("AOA_READ_TIMEOUT", "600", N_("seconds to wait for upstream data between reads")),
    EnvVar("AOA_LOG_LEVEL", "INFO", N_("DEBUG, INFO, WARNING or ERROR")),
    EnvVar("AOA_LOG_FORMAT", "text", N_("text or json")),
    EnvVar("AOA_WORKERS", "1", N_("worker processes sharing the port (SO_REUSEPORT, Unix only)")),
    EnvVar("AOA_LANG", N_("from the OS locale"), N_("language of messages: en or zh_CN")),
    EnvVar("AZURE_ENDPOINT", "", N_("https://NAME.openai.azure.com/ (required for azure)")),
    EnvVar("AZURE_API_KEY", "", N_("server-side key; without it the client's key is passed on")),
    EnvVar("AZURE_MODEL", "gpt-3.5-turbo", N_("default deployment name")),
    EnvVar("AZURE_API_VER", "2023-05-15", N_("api-version sent to Azure")),
    EnvVar("AZURE_IGNORE_API_VERSION_CHECK", "false", N_("do not warn about unknown api-versions")),
    EnvVar(
        "AZURE_MODEL_ALIAS",
        "",
        N_("requested:deployment pairs, e.g. gpt-4:my-gpt4,gpt-3.5-turbo:gpt-35"),
    ),
    EnvVar("AZURE_VISION", "false", N_("accepted for compatibility; vision always works")),
    EnvVar("AZURE_HTTP_PROXY", "", N_("http://host:port proxy for Azure calls")),
    EnvVar(
        "AZURE_SOCKS_PROXY", "", N_("socks5://host:port proxy for Azure calls (wins over HTTP)")
    ),
    EnvVar("YI_ENDPOINT", "https://api.lingyiwanwu.com", N_("Yi API address")),
    EnvVar("YI_API_KEY", "", N_("server-side key; without it the client's key is passed on")),
    EnvVar("YI_MODEL", "yi-34b-chat", N_("default model")),
    EnvVar(
        "YI_API_VER", "2023-12-15-preview", N_("api-version query parameter (ignored by 01.ai)")
    ),
    EnvVar("YI_MODEL_ALIAS", "", N_("requested:upstream model pairs")),
    EnvVar("YI_HTTP_PROXY", "", N_("http proxy for Yi calls")),
    EnvVar("YI_SOCKS_PROXY", "", N_("socks5 proxy for Yi calls")),
    EnvVar(
        "GEMINI_ENDPOINT", "https://generativelanguage.googleapis.com", N_("Gemini API address")
    ),
    EnvVar("GEMINI_API_KEY", "", N_("server-side key; without it the client's key is passed on")),
    EnvVar(
        "GEMINI_MODEL",
        "gemini-2.5-flash",
        N_("default model (the original's gemini-pro is retired)"),
    ),
    EnvVar("GEMINI_API_VER", "v1beta", N_("v1beta or v1")),
    EnvVar("GEMINI_MODEL_ALIAS", "", N_("requested:upstream model pairs")),
    EnvVar(
        "GEMINI_SAFETY",
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
        N_(
            "threshold for every harm category: BLOCK_NONE, BLOCK_ONLY_HIGH, "
            "BLOCK_MEDIUM_AND_ABOVE, BLOCK_LOW_AND_ABOVE or OFF"
        ),
    ),
    EnvVar("GEMINI_HTTP_PROXY", "", N_("http proxy for Gemini calls")),
    EnvVar("GEMINI_SOCKS_PROXY", "", N_("socks5 proxy for Gemini calls")),
    EnvVar(
        "OPENAI_ENDPOINT",
        "https://api.openai.com/v1",
        N_("base URL of any OpenAI-compatible API (OpenRouter, DeepSeek, vLLM, Ollama...)"),
    ),
    EnvVar("OPENAI_API_KEY", "", N_("server-side key; without it the client's key is passed on")),
    EnvVar("OPENAI_MODEL", "", N_("model used when the client sends none")),
    EnvVar("OPENAI_MODEL_ALIAS", "", N_("requested:upstream model pairs")),
    EnvVar("OPENAI_HTTP_PROXY", "", N_("http proxy for calls to that API")),
    EnvVar("OPENAI_SOCKS_PROXY", "", N_("socks5 proxy for calls to that API")),
    EnvVar("HTTPS_PROXY / NO_PROXY", "", N_("used when no provider proxy is set")),
)
DEFAULTS: Final = {v.name: v.default for v in ENV_VARS}


@dataclass(frozen=True)
class ProviderSettings:
    """One upstream's settings. `api_key` never shows in repr."""

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

    @property
    def proxy(self) -> str:
        """The proxy URL to use: SOCKS wins over HTTP, as in the original."""
        return self.socks_proxy or self.http_proxy


@dataclass(frozen=True)
class Settings:
    provider: str = "demo"
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
    lang: str = ""
    vision: bool = False
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    provider_chosen_by_default: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def active(self) -> ProviderSettings:
        return self.providers.get(self.provider) or ProviderSettings(self.provider)

    def with_provider(self, name: str) -> Settings:
        return replace(self, provider=name, provider_chosen_by_default=False)

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
    """Reads variables, collecting one problem line per bad variable instead of stopping at one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, name: str, text: str) -> None:
        """Record a problem; the line starts with the variable's name, which is never translated."""
        self.problems.append(f"{name}: {text}")

    def text(self, name: str, default: str | None = None) -> str:
        value = (self.env.get(name) or "").strip()
        if value:
            return value
        return DEFAULTS.get(name, "") if default is None else default

    def number(self, name: str, default: float, lo: float, hi: float, integer: bool) -> float:
        raw = self.text(name, "")
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            text = _("{value} is not a whole number") if integer else _("{value} is not a number")
            self.problem(name, text.format(value=repr(raw)))
            return default
        if not lo <= value <= hi:
            self.problem(
                name,
                _("{value} is out of range ({lo}-{hi})").format(
                    value=raw, lo=f"{lo:g}", hi=f"{hi:g}"
                ),
            )
            return default
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str, upper: bool) -> str:
        raw = self.text(name, "")
        if not raw:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            self.problem(
                name,
                _("{value} is not one of {choices}").format(
                    value=repr(raw), choices=", ".join(choices)
                ),
            )
            return default
        return value

    def aliases(self, name: str) -> dict[str, str]:
        try:
            return parse_aliases(self.env.get(name) or "")
        except ValueError as exc:
            self.problem(name, str(exc))
            return {}

    def url(self, name: str, default: str | None = None) -> str:
        raw = self.text(name, default)
        if not raw:
            return ""
        problem = check_url(raw)
        if problem:
            self.problem(name, problem)
            return ""
        return raw

    def proxy(self, name: str) -> str:
        raw = self.text(name, "")
        if not raw:
            return ""
        parts = urlsplit(raw if "://" in raw else f"http://{raw}")
        if (
            parts.scheme not in ("http", "https", "socks4", "socks5", "socks5h")
            or not parts.hostname
        ):
            self.problem(
                name,
                _("{value} is not a proxy URL like socks5://host:1080").format(
                    value=repr(mask_login(raw))  # never echo a proxy password
                ),
            )
            return ""
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            self.problem(name, _("{value} has a bad port").format(value=repr(mask_login(raw))))
            return ""
        return parts.geturl()


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


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from environment variables; raise ConfigError listing every problem."""
    r = _Reader(env)
    explicit = r.text("AOA_TYPE", "").lower()
    if explicit:
        provider = r.choice("AOA_TYPE", PROVIDERS, "demo", upper=False)
    else:
        provider = "azure" if r.text("AZURE_ENDPOINT", "") else "demo"

    host = r.text("AOA_HOST")
    if not _valid_host(host):
        r.problem(
            "AOA_HOST", _("{value} is not an IP address or host name").format(value=repr(host))
        )
    providers = {
        "azure": _azure(r, provider == "azure"),
        "yi": ProviderSettings(
            "yi",
            endpoint=r.url("YI_ENDPOINT"),
            api_key=r.text("YI_API_KEY"),
            model=r.text("YI_MODEL"),
            api_version=r.text("YI_API_VER"),
            aliases=r.aliases("YI_MODEL_ALIAS"),
            http_proxy=r.proxy("YI_HTTP_PROXY"),
            socks_proxy=r.proxy("YI_SOCKS_PROXY"),
        ),
        "gemini": ProviderSettings(
            "gemini",
            endpoint=r.url("GEMINI_ENDPOINT"),
            api_key=r.text("GEMINI_API_KEY"),
            model=r.text("GEMINI_MODEL"),
            api_version=r.choice("GEMINI_API_VER", ("v1beta", "v1"), "v1beta", upper=False),
            aliases=r.aliases("GEMINI_MODEL_ALIAS"),
            http_proxy=r.proxy("GEMINI_HTTP_PROXY"),
            socks_proxy=r.proxy("GEMINI_SOCKS_PROXY"),
            safety=r.choice("GEMINI_SAFETY", GEMINI_SAFETY_LEVELS, GEMINI_SAFETY_LEVELS[0], True),
        ),
        "openai": ProviderSettings(
            "openai",
            endpoint=r.url("OPENAI_ENDPOINT"),
            api_key=r.text("OPENAI_API_KEY"),
            model=r.text("OPENAI_MODEL"),
            aliases=r.aliases("OPENAI_MODEL_ALIAS"),
            http_proxy=r.proxy("OPENAI_HTTP_PROXY"),
            socks_proxy=r.proxy("OPENAI_SOCKS_PROXY"),
        ),
        "demo": ProviderSettings("demo", model="demo-echo"),
    }
    origins = tuple(
        o.strip().rstrip("/") for o in r.text("AOA_CORS_ORIGINS", "").split(",") if o.strip()
    )
    settings = Settings(
        provider=provider,
        host=host,
        port=int(r.number("AOA_PORT", 8080, 1, 65535, integer=True)),
        access_token=r.text("AOA_ACCESS_TOKEN", ""),
        cors_origins=origins,
        max_body_bytes=int(r.number("AOA_MAX_BODY_BYTES", 32 * 1024 * 1024, 1024, 2**31, True)),
        connect_timeout=r.number("AOA_CONNECT_TIMEOUT", 10.0, 0.1, 3600, integer=False),
        read_timeout=r.number("AOA_READ_TIMEOUT", 600.0, 0.1, 86400, integer=False),
        log_level=r.choice("AOA_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
        log_format=r.choice("AOA_LOG_FORMAT", ("text", "json"), "text", upper=False),
        workers=int(r.number("AOA_WORKERS", 1, 1, 64, integer=True)),
        lang=_language(r),
        vision=parse_bool(env.get("AOA_VISION")),
        providers=providers,
        provider_chosen_by_default=not explicit,
        warnings=tuple(r.warnings),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _language(r: _Reader) -> str:
    """AOA_LANG as a supported language ("zh_CN"), "" for the OS's choice."""
    raw = r.text("AOA_LANG", "")
    if not raw or raw.lower() == "auto":
        return ""
    lang = normalize(raw)
    if lang is None:
        r.problem("AOA_LANG", _("{value} is not one of en, zh_CN").format(value=repr(raw)))
        return ""
    return lang


def _azure(r: _Reader, active: bool) -> ProviderSettings:
    endpoint = r.url("AZURE_ENDPOINT")
    if active and not endpoint and not any(p.startswith("AZURE_ENDPOINT") for p in r.problems):
        r.problem(
            "AZURE_ENDPOINT",
            _("required for AOA_TYPE=azure, e.g. https://NAME.openai.azure.com/"),
        )
    ignore = parse_bool(r.env.get("AZURE_IGNORE_API_VERSION_CHECK"))
    version = r.text("AZURE_API_VER")
    if not _API_VERSION.match(version):
        r.problem(
            "AZURE_API_VER",
            _("{value} is not an api-version like 2024-10-21").format(value=repr(version)),
        )
    elif version not in AZURE_KNOWN_API_VERSIONS and not ignore and active:
        r.warnings.append(
            "AZURE_API_VER: "
            + _(
                "{value} is not a version aoa knows; sending it anyway "
                "(set AZURE_IGNORE_API_VERSION_CHECK=true to silence this)"
            ).format(value=version)
        )
    return ProviderSettings(
        "azure",
        endpoint=endpoint,
        api_key=r.text("AZURE_API_KEY"),
        model=r.text("AZURE_MODEL"),
        api_version=version,
        aliases=r.aliases("AZURE_MODEL_ALIAS"),
        http_proxy=r.proxy("AZURE_HTTP_PROXY"),
        socks_proxy=r.proxy("AZURE_SOCKS_PROXY"),
        ignore_api_version_check=ignore,
    )


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))
