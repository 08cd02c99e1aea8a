"""Every environment variable aoa reads, per provider, in one table: the provider catalogue.

A section per provider (name, label, its variables) plus the gateway's own AOA_* variables. Each
variable carries its default, its help text, how it is parsed (`Kind`), which `Settings` /
`ProviderSettings` attribute it fills, whether it is a secret or required, and which settings-page
field edits it. `config.load_settings`, `aoa-proxy --help` and the README table are generated
from here, so a new provider is an entry here plus its class in `providers/`.

Texts are marked N_() and translated where they are shown. Variable names and literal defaults are
never translated. Parsing itself lives in config.py (`_Reader`), one method per Kind.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from aoa_proxy.i18n import N_, _

if TYPE_CHECKING:
    from aoa_proxy.config import ProviderSettings


class Kind(enum.Enum):
    """How a variable's text is parsed and checked."""

    TEXT = "text"  # stripped text
    SECRET = "secret"  # text that is never shown or logged; the desktop keeps it in the keyring
    URL = "url"  # http(s) URL without query; plain http only for loopback hosts
    ALIASES = "aliases"  # "requested:upstream,..." -> dict
    HTTP_PROXY = "http_proxy"  # proxy URL (any scheme aiohttp-socks knows)
    SOCKS_PROXY = "socks_proxy"  # parsed like HTTP_PROXY; wins over it
    CHOICE = "choice"  # one of `choices`, in any case; stored as listed
    BOOL = "bool"  # true/on/yes/1, as the original
    INT = "int"  # whole number within `bounds`
    NUMBER = "number"  # number within `bounds`
    HOST = "host"  # IP address or host name
    ORIGINS = "origins"  # comma-separated browser origins -> tuple
    LANGUAGE = "language"  # a language aoa has ("zh-cn", "zh_CN.UTF-8"...); "" or auto = the OS's
    PROVIDER = "provider"  # a provider name of this catalogue
    PROVIDER_LIST = "provider_list"  # comma-separated provider names -> tuple (AOA_PROVIDERS)


class Report(Protocol):
    """Where a provider's cross-variable checks (`ProviderEntry.after`) report."""

    def problem(self, var: str, message: str) -> None: ...

    def warn(self, var: str, message: str) -> None: ...


@dataclass(frozen=True)
class Var:
    """One environment variable."""

    name: str
    default: str  # as documented; a literal value unless `worded`
    help: str  # N_()-marked
    _: KW_ONLY
    kind: Kind = Kind.TEXT
    field: str = ""  # the Settings / ProviderSettings attribute it fills; "" = not read by aoa
    choices: tuple[str, ...] = ()  # CHOICE
    bounds: tuple[float, float] = (0, 0)  # INT, NUMBER: inclusive range
    worded: bool = False  # `default` is N_() words for a rule, not a value; the value is ""
    required: str = ""  # N_() problem when the active provider lacks it; "" = optional
    check: Callable[[str], str | None] | None = None  # extra check of the value: the problem
    form: str = ""  # the settings-page field that edits it; "" = environment only

    @property
    def secret(self) -> bool:
        return self.kind is Kind.SECRET

    @property
    def value_default(self) -> str:
        """The text used when the variable is unset (before parsing)."""
        return "" if self.worded else self.default


@dataclass(frozen=True)
class Section:
    """A named group of variables, in documentation order."""

    name: str
    vars: tuple[Var, ...]

    def form_fields(self) -> dict[str, tuple[Var, ...]]:
        """Settings-page field -> the variables it stands for (proxy: HTTP then SOCKS)."""
        fields: dict[str, tuple[Var, ...]] = {}
        for var in self.vars:
            if var.form:
                fields[var.form] = (*fields.get(var.form, ()), var)
        return fields

    @property
    def secrets(self) -> tuple[Var, ...]:
        return tuple(v for v in self.vars if v.secret)


@dataclass(frozen=True, kw_only=True)
class ProviderEntry(Section):
    """One provider (AOA_TYPE=name); its class in providers.REGISTRY does the talking."""

    label: str  # N_()-marked unless a brand name
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # not from variables
    # Checks across variables once all are read: (settings, is the active provider, report).
    after: Callable[[ProviderSettings, bool, Report], None] | None = None

    @property
    def key_var(self) -> Var | None:
        """The API key variable (None for a provider without one, like demo)."""
        return next((v for v in self.vars if v.secret), None)

    @property
    def default_endpoint(self) -> str:
        return next((v.default for v in self.vars if v.field == "endpoint"), "")

    def proxy_var(self, url: str) -> Var | None:
        """The variable a proxy URL belongs in: socks*:// -> *_SOCKS_PROXY, else *_HTTP_PROXY."""
        kind = Kind.SOCKS_PROXY if url.strip().lower().startswith("socks") else Kind.HTTP_PROXY
        return next((v for v in self.vars if v.kind is kind), None)


@dataclass(frozen=True)
class Catalogue:
    """The gateway's variables, the providers', and documented ones aoa does not read itself."""

    gateway: Section
    providers: tuple[ProviderEntry, ...]
    ambient: Section

    @property
    def names(self) -> tuple[str, ...]:
        """Provider names, the values of AOA_TYPE."""
        return tuple(p.name for p in self.providers)

    @property
    def sections(self) -> tuple[Section, ...]:
        return (self.gateway, *self.providers, self.ambient)

    def provider(self, name: str) -> ProviderEntry:
        """The entry for AOA_TYPE=name; KeyError for an unknown name."""
        for entry in self.providers:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def vars(self) -> tuple[Var, ...]:
        """Every variable in documentation order (--help, README table)."""
        return tuple(v for section in self.sections for v in section.vars)

    def var(self, name: str) -> Var:
        """The variable called `name`; KeyError if aoa has none."""
        for section in self.sections:
            for var in section.vars:
                if var.name == name:
                    return var
        raise KeyError(name)

    def section_of(self, var_name: str) -> Section:
        """The section (gateway, a provider, ambient) that owns a variable; KeyError if none."""
        for section in self.sections:
            if any(v.name == var_name for v in section.vars):
                return section
        raise KeyError(var_name)

    def secrets(self) -> tuple[Var, ...]:
        """Variables holding keys or tokens: masked everywhere, kept in the keyring."""
        return tuple(v for v in self.vars() if v.secret)

    def with_provider(self, entry: ProviderEntry) -> Catalogue:
        """This catalogue plus one provider (tests; a build that adds its own)."""
        return dataclasses.replace(self, providers=(*self.providers, entry))


# ---------------------------------------------------------------------- value tables

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
        "v1",  # the v1 API (/openai/v1/...): no dated version
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


# ---------------------------------------------------------------------- provider hooks


def _azure_api_version(value: str) -> str | None:
    if _API_VERSION.match(value):
        return None
    return _("{value} is not an api-version like 2024-10-21").format(value=repr(value))


def _warn_unknown_azure_version(ps: ProviderSettings, active: bool, report: Report) -> None:
    """Unknown but well-formed versions are sent anyway (Azure adds them faster than we do)."""
    version = ps.api_version
    if not active or ps.ignore_api_version_check or version in AZURE_KNOWN_API_VERSIONS:
        return
    if _API_VERSION.match(version):  # a malformed one is already a problem
        report.warn(
            "AZURE_API_VER",
            _(
                "{value} is not a version aoa knows; sending it anyway "
                "(set AZURE_IGNORE_API_VERSION_CHECK=true to silence this)"
            ).format(value=version),
        )


def _entra_scope(value: str) -> str | None:
    if not value or (value.startswith("https://") and " " not in value):
        return None
    return _("{value} is not a scope like https://cognitiveservices.azure.com/.default").format(
        value=repr(value)
    )


def _check_entra(ps: ProviderSettings, report: Report) -> None:
    """Entra ID and keys exclude each other; a client secret needs its tenant and client id."""
    if ps.entra and ps.keys:
        report.problem(
            "AZURE_AUTH",
            _(
                "AZURE_AUTH=entra signs in with Entra ID, but AZURE_API_KEY is set too: "
                "remove the key, or set AZURE_AUTH=key"
            ),
        )
    if ps.entra and ps.client_secret and not (ps.tenant_id and ps.client_id):
        report.problem(
            "AZURE_CLIENT_SECRET",
            _("a client secret needs AZURE_TENANT_ID and AZURE_CLIENT_ID as well"),
        )


def _check_azure(ps: ProviderSettings, active: bool, report: Report) -> None:
    _warn_unknown_azure_version(ps, active, report)
    _check_entra(ps, report)


# ---------------------------------------------------------------------- the roles a variable plays
# Full names, not prefixes, so that grepping for a variable finds its entry.

_KEY_HELP: Final = N_(
    "server-side key, or several comma-separated (used in turn, a rate-limited one rests); "
    "without it the client's key is passed on (default provider only)"
)
_PAIRS_HELP: Final = N_("requested:upstream model pairs")


def _endpoint(name: str, default: str, help: str, *, required: str = "") -> Var:
    return Var(
        name, default, help, kind=Kind.URL, field="endpoint", form="endpoint", required=required
    )


def _check_keys(value: str) -> str | None:
    """A key pool lists each key once (the message shows only its last 4 characters)."""
    from aoa_proxy.credentials import parse_keys  # credentials imports errors, not us

    try:
        parse_keys(value)
    except ValueError as exc:
        return str(exc)
    return None


def _api_key(name: str) -> Var:
    return Var(name, "", _KEY_HELP, kind=Kind.SECRET, field="api_key", check=_check_keys)


def _model(name: str, default: str, help: str) -> Var:
    return Var(name, default, help, field="model", form="model")


def _api_version(name: str, default: str, help: str, **how: Any) -> Var:
    return Var(name, default, help, field="api_version", form="api_version", **how)


def _aliases(name: str, help: str) -> Var:
    return Var(name, "", help, kind=Kind.ALIASES, field="aliases", form="aliases")


def _proxies(http: str, http_help: str, socks: str, socks_help: str) -> tuple[Var, Var]:
    return (
        Var(http, "", http_help, kind=Kind.HTTP_PROXY, field="http_proxy", form="proxy"),
        Var(socks, "", socks_help, kind=Kind.SOCKS_PROXY, field="socks_proxy", form="proxy"),
    )


# ---------------------------------------------------------------------- the catalogue

PROVIDER_ENTRIES: Final = (
    ProviderEntry(
        name="azure",
        label="Azure OpenAI",  # brand names are not translated
        vars=(
            _endpoint(
                "AZURE_ENDPOINT",
                "",
                N_("https://NAME.openai.azure.com/ (required for azure)"),
                required=N_("required for AOA_TYPE=azure, e.g. https://NAME.openai.azure.com/"),
            ),
            _api_key("AZURE_API_KEY"),
            _model("AZURE_MODEL", "gpt-3.5-turbo", N_("default deployment name")),
            _api_version(
                "AZURE_API_VER",
                "2023-05-15",
                N_(
                    "api-version sent to Azure; v1 or preview (or an endpoint ending in "
                    "/openai/v1) uses the v1 API, the deployment as the body's model"
                ),
                check=_azure_api_version,
            ),
            Var(
                "AZURE_IGNORE_API_VERSION_CHECK",
                "false",
                N_("do not warn about unknown api-versions"),
                kind=Kind.BOOL,
                field="ignore_api_version_check",
            ),
            _aliases(
                "AZURE_MODEL_ALIAS",
                N_("requested:deployment pairs, e.g. gpt-4:my-gpt4,gpt-3.5-turbo:gpt-35"),
            ),
            Var(
                "AZURE_COMPAT",
                "on",
                N_(
                    "off: pass Azure's errors on unchanged instead of resending what reasoning "
                    "and Responses-only deployments refuse (docs/azure.md)"
                ),
                kind=Kind.BOOL,
                field="compat",
            ),
            Var(
                "AZURE_VISION",
                "false",
                N_("accepted for compatibility; vision always works"),
                kind=Kind.BOOL,
            ),
            Var(
                "AZURE_AUTH",
                "key",
                N_(
                    "key, or entra: Entra ID tokens (az login, a managed identity, a service "
                    "principal) instead of keys; no key may be set then"
                ),
                kind=Kind.CHOICE,
                choices=("key", "entra"),
                field="auth",
                form="auth",
            ),
            Var(
                "AZURE_SCOPE",
                N_(
                    "https://cognitiveservices.azure.com/.default "
                    "(https://ai.azure.com/.default for a Foundry project endpoint)"
                ),
                N_("the Entra ID scope tokens are asked for (AZURE_AUTH=entra)"),
                field="scope",
                worded=True,
                form="scope",
                check=_entra_scope,
            ),
            Var(
                "AZURE_TENANT_ID",
                "",
                N_("Entra ID tenant of a service principal (AZURE_AUTH=entra)"),
                field="tenant_id",
                form="tenant_id",
            ),
            Var(
                "AZURE_CLIENT_ID",
                "",
                N_("application (client) id of a service principal or user-assigned identity"),
                field="client_id",
                form="client_id",
            ),
            Var(
                "AZURE_CLIENT_SECRET",
                "",
                N_("client secret of that service principal (AZURE_AUTH=entra)"),
                kind=Kind.SECRET,
                field="client_secret",
            ),
            *_proxies(
                "AZURE_HTTP_PROXY",
                N_("http://host:port proxy for Azure calls"),
                "AZURE_SOCKS_PROXY",
                N_("socks5://host:port proxy for Azure calls (wins over HTTP)"),
            ),
        ),
        after=_check_azure,
    ),
    ProviderEntry(
        name="yi",
        label=N_("Yi (01.AI)"),
        vars=(
            _endpoint("YI_ENDPOINT", "https://api.lingyiwanwu.com", N_("Yi API address")),
            _api_key("YI_API_KEY"),
            _model("YI_MODEL", "yi-34b-chat", N_("default model")),
            _api_version(
                "YI_API_VER",
                "2023-12-15-preview",
                N_("api-version query parameter (ignored by 01.ai)"),
            ),
            _aliases("YI_MODEL_ALIAS", _PAIRS_HELP),
            *_proxies(
                "YI_HTTP_PROXY",
                N_("http proxy for Yi calls"),
                "YI_SOCKS_PROXY",
                N_("socks5 proxy for Yi calls"),
            ),
        ),
    ),
    ProviderEntry(
        name="gemini",
        label="Gemini",
        vars=(
            _endpoint(
                "GEMINI_ENDPOINT",
                "https://generativelanguage.googleapis.com",
                N_("Gemini API address"),
            ),
            _api_key("GEMINI_API_KEY"),
            _model(
                "GEMINI_MODEL",
                "gemini-2.5-flash",
                N_("default model (the original's gemini-pro is retired)"),
            ),
            _api_version(
                "GEMINI_API_VER",
                "v1beta",
                N_("v1beta or v1"),
                kind=Kind.CHOICE,
                choices=("v1beta", "v1"),
            ),
            _aliases("GEMINI_MODEL_ALIAS", _PAIRS_HELP),
            Var(
                "GEMINI_SAFETY",
                GEMINI_SAFETY_LEVELS[0],
                N_(
                    "threshold for every harm category: BLOCK_NONE, BLOCK_ONLY_HIGH, "
                    "BLOCK_MEDIUM_AND_ABOVE, BLOCK_LOW_AND_ABOVE or OFF"
                ),
                kind=Kind.CHOICE,
                choices=GEMINI_SAFETY_LEVELS,
                field="safety",
                form="safety",
            ),
            Var(
                "GEMINI_THOUGHTS",
                "off",
                N_(
                    "on: always return Gemini's thought summaries as reasoning_content "
                    "(they also come when the client asks for reasoning)"
                ),
                kind=Kind.BOOL,
                field="thoughts",
            ),
            Var(
                "GEMINI_TEMPERATURE_POLICY",
                "keep",
                N_(
                    "client temperature on Gemini 3+: keep, drop (always removed) or default "
                    "(removed below 1.0, as Google advises)"
                ),
                kind=Kind.CHOICE,
                choices=("keep", "drop", "default"),
                field="temperature_policy",
            ),
            *_proxies(
                "GEMINI_HTTP_PROXY",
                N_("http proxy for Gemini calls"),
                "GEMINI_SOCKS_PROXY",
                N_("socks5 proxy for Gemini calls"),
            ),
        ),
    ),
    ProviderEntry(
        name="openai",
        label=N_("OpenAI-compatible"),
        vars=(
            _endpoint(
                "OPENAI_ENDPOINT",
                "https://api.openai.com/v1",
                N_("base URL of any OpenAI-compatible API (OpenRouter, DeepSeek, vLLM, Ollama...)"),
            ),
            _api_key("OPENAI_API_KEY"),
            _model("OPENAI_MODEL", "", N_("model used when the client sends none")),
            _aliases("OPENAI_MODEL_ALIAS", _PAIRS_HELP),
            *_proxies(
                "OPENAI_HTTP_PROXY",
                N_("http proxy for calls to that API"),
                "OPENAI_SOCKS_PROXY",
                N_("socks5 proxy for calls to that API"),
            ),
        ),
    ),
    ProviderEntry(
        name="anthropic",
        label="Anthropic",
        vars=(
            _endpoint(
                "ANTHROPIC_ENDPOINT",
                "https://api.anthropic.com",
                N_(
                    "Anthropic API address; Azure AI Foundry: "
                    "https://RESOURCE.services.ai.azure.com/anthropic"
                ),
            ),
            _api_key("ANTHROPIC_API_KEY"),
            _model(
                "ANTHROPIC_MODEL",
                "claude-sonnet-4-5",
                N_("default model (Foundry: the deployment name)"),
            ),
            _api_version(
                "ANTHROPIC_VERSION",
                "2023-06-01",
                N_("anthropic-version header (a Messages client's own value wins)"),
            ),
            _aliases("ANTHROPIC_MODEL_ALIAS", _PAIRS_HELP),
            *_proxies(
                "ANTHROPIC_HTTP_PROXY",
                N_("http proxy for Anthropic calls"),
                "ANTHROPIC_SOCKS_PROXY",
                N_("socks5 proxy for Anthropic calls"),
            ),
        ),
    ),
    ProviderEntry(name="demo", label=N_("Demo (offline)"), vars=(), fixed={"model": "demo-echo"}),
)

GATEWAY: Final = Section(
    "gateway",
    (
        Var(
            "AOA_TYPE",
            N_("azure if AZURE_ENDPOINT is set, else demo"),
            # Names every provider (a catalogue test checks); a new one is added here too.
            N_("provider: azure, yi, gemini, openai, anthropic or demo"),
            kind=Kind.PROVIDER,
            field="provider",
            worded=True,
            form="provider",
        ),
        Var(
            "AOA_PROVIDERS",
            N_("the AOA_TYPE provider alone"),
            N_(
                "providers enabled at once, e.g. azure,gemini,openai: each model goes to the "
                "provider that has it (provider/model, aliases, listed models), others to "
                "AOA_TYPE (default: the first listed); each one but the default needs its key"
            ),
            kind=Kind.PROVIDER_LIST,
            field="enabled",
            worded=True,
            form="enabled",
        ),
        Var(
            "AOA_HOST",
            "127.0.0.1",
            N_("address to listen on (0.0.0.0 for Docker)"),
            kind=Kind.HOST,
            field="host",
            form="host",
        ),
        Var(
            "AOA_PORT",
            "8080",
            N_("port to listen on"),
            kind=Kind.INT,
            bounds=(1, 65535),
            field="port",
            form="port",
        ),
        Var(
            "AOA_VISION",
            "false",
            N_("accepted for compatibility; vision always works"),
            kind=Kind.BOOL,
            field="vision",
        ),
        Var(
            "AOA_ACCESS_TOKEN",
            "",
            N_("when set, clients must send it as their Bearer token"),
            kind=Kind.SECRET,
            field="access_token",
        ),
        Var(
            "AOA_CORS_ORIGINS",
            N_("localhost origins"),
            N_("comma-separated origins allowed to use a server-side key from a browser"),
            kind=Kind.ORIGINS,
            field="cors_origins",
            worded=True,
        ),
        Var(
            "AOA_MAX_BODY_BYTES",
            "33554432",
            N_("largest request body accepted (32 MiB)"),
            kind=Kind.INT,
            bounds=(1024, 2**31),
            field="max_body_bytes",
        ),
        Var(
            "AOA_CONNECT_TIMEOUT",
            "10",
            N_("seconds to connect to the upstream"),
            kind=Kind.NUMBER,
            bounds=(0.1, 3600),
            field="connect_timeout",
        ),
        Var(
            "AOA_READ_TIMEOUT",
            "600",
            N_("seconds to wait for upstream data between reads"),
            kind=Kind.NUMBER,
            bounds=(0.1, 86400),
            field="read_timeout",
        ),
        Var(
            "AOA_LOG_LEVEL",
            "INFO",
            N_("DEBUG, INFO, WARNING or ERROR"),
            kind=Kind.CHOICE,
            choices=LOG_LEVELS,
            field="log_level",
        ),
        Var(
            "AOA_LOG_FORMAT",
            "text",
            N_("text or json"),
            kind=Kind.CHOICE,
            choices=("text", "json"),
            field="log_format",
        ),
        Var(
            "AOA_SHUTDOWN_GRACE",
            "30",
            N_(
                "seconds a SIGTERM waits for requests in flight (streams) to finish while "
                "/ready answers 503; keep it below the orchestrator's grace period"
            ),
            kind=Kind.NUMBER,
            bounds=(0, 3600),
            field="shutdown_grace",
        ),
        Var(
            "AOA_WORKERS",
            "1",
            N_("worker processes sharing the port (SO_REUSEPORT, Unix only)"),
            kind=Kind.INT,
            bounds=(1, 64),
            field="workers",
        ),
        Var(
            "AOA_LANG",
            N_("from the OS locale"),
            N_("language of messages: en or zh_CN"),
            kind=Kind.LANGUAGE,
            field="lang",
            worded=True,
            form="language",
        ),
        Var(
            "AOA_METRICS",
            "off",
            N_(
                "on: serve Prometheus metrics at GET /metrics (behind AOA_ACCESS_TOKEN when it "
                "is set)"
            ),
            kind=Kind.BOOL,
            field="metrics",
        ),
        Var(
            "AOA_USAGE_DB",
            N_("off (the desktop app: its data folder)"),
            N_("SQLite file that keeps one row per request (tokens, status, time; no bodies)"),
            field="usage_db",
            worded=True,
        ),
        Var(
            "AOA_USAGE_RETENTION_DAYS",
            "90",
            N_("days of usage history kept"),
            kind=Kind.INT,
            bounds=(1, 3650),
            field="usage_retention_days",
        ),
    ),
)

# aiohttp reads these itself (trust_env); listed so that --help and the README mention them.
AMBIENT: Final = Section(
    "environment", (Var("HTTPS_PROXY / NO_PROXY", "", N_("used when no provider proxy is set")),)
)

CATALOGUE: Final = Catalogue(GATEWAY, PROVIDER_ENTRIES, AMBIENT)
