"""The desktop app's settings brain: stored values + keyring keys + environment -> Settings.

Precedence: an environment variable (the headless ones, aoa_proxy.config.ENV_VARS) beats a
stored value, which beats the default. Everything is turned into one env-style mapping and
validated by aoa_proxy.config.load_settings, so the desktop app and the headless gateway accept
exactly the same values. Changes reach the running gateway through Runtime.apply: the next
request uses them, requests in flight keep their snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp

from aoa_desktop.keys import ACCESS_TOKEN, KeyStore, KeyStoreError, proxy_login_name
from aoa_desktop.store import SettingsStore, StoreError
from aoa_proxy.config import ENV_VARS, GEMINI_SAFETY_LEVELS, Settings, load_settings
from aoa_proxy.errors import ConfigError
from aoa_proxy.i18n import N_, _, set_language
from aoa_proxy.providers import REGISTRY, ProviderKind, get_provider
from aoa_proxy.proxyauth import join_login, mask_login, masked, split_login

if TYPE_CHECKING:
    from aoa_desktop.autostart import Autostart
    from aoa_proxy.runtime import RequestRecord, Runtime

log = logging.getLogger(__name__)

KEYED_PROVIDERS: Final = ("azure", "yi", "gemini", "openai")
# Shown through provider_label(), which translates the marked ones in the current language.
LABELS: Final = {
    "azure": "Azure OpenAI",
    "yi": N_("Yi (01.AI)"),
    "gemini": "Gemini",
    "openai": N_("OpenAI-compatible"),
    "demo": N_("Demo (offline)"),
}
ENV_NAMES: Final = frozenset(v.name for v in ENV_VARS)
GLOBAL_FIELDS: Final = {
    "provider": "AOA_TYPE",
    "host": "AOA_HOST",
    "port": "AOA_PORT",
    "language": "AOA_LANG",  # "" = the OS's language; see aoa_proxy.i18n
}
TEST_TIMEOUT: Final = 20.0


def provider_label(name: str) -> str:
    """How the tray and the page name a provider, in the current language."""
    return _(LABELS.get(name, name))


def provider_fields(name: str) -> dict[str, tuple[str, ...]]:
    """Page/store field -> the environment variable(s) it stands for, for one provider."""
    if name not in KEYED_PROVIDERS:
        return {}
    p = name.upper()
    fields: dict[str, tuple[str, ...]] = {
        "endpoint": (f"{p}_ENDPOINT",),
        "model": (f"{p}_MODEL",),
        "aliases": (f"{p}_MODEL_ALIAS",),
        "proxy": (f"{p}_HTTP_PROXY", f"{p}_SOCKS_PROXY"),
    }
    if name != "openai":
        fields["api_version"] = (f"{p}_API_VER",)
    if name == "gemini":
        fields["safety"] = ("GEMINI_SAFETY",)
    return fields


def key_env_var(name: str) -> str:
    return "AOA_ACCESS_TOKEN" if name == ACCESS_TOKEN else f"{name.upper()}_API_KEY"


def _field_labels() -> dict[str, str]:
    """Environment variable -> how the page names that field (for error messages)."""
    labels = {
        "AOA_TYPE": _("Provider"),
        "AOA_HOST": _("Bind address"),
        "AOA_PORT": _("Port"),
        "AOA_ACCESS_TOKEN": _("Access token"),
        "AOA_LANG": _("Language"),
    }
    names = {
        "endpoint": _("endpoint"),
        "model": _("default model"),
        "aliases": _("model aliases"),
        "proxy": _("proxy"),
        "api_version": _("API version"),
        "safety": _("safety level"),
    }
    for provider in KEYED_PROVIDERS:
        for field, env_names in provider_fields(provider).items():
            for env_name in env_names:
                labels[env_name] = f"{provider_label(provider)}, {names[field]}"
        labels[key_env_var(provider)] = f"{provider_label(provider)}, " + _("API key")
    return labels


def _check_alias_name(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return _("a model name is empty")
    if name != name.strip() or any(c in name for c in ",:"):
        return _("{name!r} may not contain commas, colons or surrounding spaces").format(name=name)
    return None


class Controller:
    """Owns the stored settings and keys and pushes changes to the running gateway.

    Thread-safe: the tray calls it from its thread, the settings page from the gateway's loop.
    `on_change` callbacks run on the caller's thread; the shell restarts the gateway when the
    port or bind address changed.
    """

    def __init__(
        self,
        config_dir: Path,
        env: Mapping[str, str],
        keys: KeyStore,
        autostart: Autostart | None = None,
        launch_command: Sequence[str] | None = None,
    ) -> None:
        self.env = dict(env)
        self.keys = keys
        self.store = SettingsStore(config_dir)
        self.on_change: list[Callable[[Settings], None]] = []
        self.request_listeners: list[Callable[[RequestRecord], None]] = []
        self.recent: deque[RequestRecord] = deque(maxlen=100)
        self.runtime: Runtime | None = None
        self.gateway_problem: str | None = None  # set by the shell, e.g. "port in use"
        self.address: tuple[str, int] | None = None  # where the gateway really listens (shell)
        self._autostart = autostart
        self._launch_command = list(launch_command) if launch_command else None
        self._lock = threading.RLock()
        self._chosen: str | None = None  # provider picked in the tray this session
        self._data = self.store.load()
        self._keys = {name: keys.get(name) for name in (*KEYED_PROVIDERS, ACCESS_TOKEN)}
        self._load_proxy_logins()
        problems, self._settings = self._build_lenient(self._data)
        set_language(self._settings.lang or None)  # before any message below is worded
        notes = [self.store.problem] if self.store.problem else []
        if problems:
            notes.append(
                _("Some stored settings were not valid and were ignored: {problems}").format(
                    problems="; ".join(problems)
                )
            )
        self.load_problem: str | None = " ".join(notes) or None

    # ------------------------------------------------------------------ reading

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def env_overrides(self) -> set[str]:
        """Environment variables that override stored values (shown read-only)."""
        return {n for n in ENV_NAMES if self.env.get(n, "").strip()}

    @property
    def stored(self) -> dict[str, Any]:
        """A copy of the stored (non-secret) values; a proxy shows its login masked."""
        with self._lock:
            data = copy.deepcopy(self._data)
            for provider, values in (data.get("providers") or {}).items():
                if values.get("proxy"):
                    login = self._keys.get(proxy_login_name(provider), "")
                    values["proxy"] = mask_login(join_login(values["proxy"], login))
            return data

    def key_status(self, name: str) -> dict[str, Any]:
        """Whether a key is set and where from; at most its last 4 characters, never the key."""
        env_name = key_env_var(name)
        from_env = env_name in self.env_overrides
        key = self.env[env_name].strip() if from_env else self._keys.get(name, "")
        return {
            "stored": bool(key),
            "hint": key[-4:] if len(key) >= 12 else "",
            "from_env": from_env,
        }

    def is_configured(self, name: str) -> bool:
        """True when switching to `name` can work: a known provider with endpoint and key."""
        if name not in REGISTRY:
            return False
        ps = self._settings.providers.get(name)
        if ps is None:
            return False
        if get_provider(ps).kind is ProviderKind.LOCAL:
            return True
        return bool(ps.endpoint and ps.api_key)

    def autostart_enabled(self) -> bool:
        try:
            return self._login_item().enabled()
        except Exception:  # a broken login-item location must not break the page
            log.exception("could not read the start-at-login state")
            return False

    # ------------------------------------------------------------------ wiring

    def attach(self, runtime: Runtime) -> None:
        """Drive this Runtime: apply the current settings and collect the request log."""
        self.runtime = runtime
        self.recent.extend(r for r in runtime.recent if _is_api(r))
        runtime.listeners.append(self._on_record)
        runtime.apply(self._settings)

    def _on_record(self, rec: RequestRecord) -> None:
        if not _is_api(rec):  # the settings page's own traffic is not news
            return
        self.recent.append(rec)
        for listener in list(self.request_listeners):
            try:
                listener(rec)
            except Exception:
                log.exception("request listener failed")

    # ------------------------------------------------------------------ changing

    def switch_provider(self, name: str) -> bool:
        """Use `name` from the next request on; False (nothing changes) if not configured."""
        with self._lock:
            if not self.is_configured(name):
                return False
            self._chosen = name
            data = copy.deepcopy(self._data)
            data["provider"] = name
            try:
                self.store.save(data)
                self._data = data
            except StoreError as exc:  # the switch still works for this session
                log.warning("%s", exc)
            self._publish(self._settings.with_provider(name))
            return True

    def save(self, changes: Mapping[str, Any], notify: bool = True) -> list[str]:
        """Validate and store `changes` (page shape); [] on success, else what is wrong.

        The running gateway uses the new settings at once. With notify=False the `on_change`
        callbacks wait for `notify()`: the page answers first, since a callback may restart
        the very server that is answering.
        """
        with self._lock:
            data = copy.deepcopy(self._data)
            changes, logins, problems = self._split_proxy_logins(changes)
            problems += self._merge(data, changes)
            given, key_problems = _given_keys(changes)
            problems += key_problems
            if problems:
                return problems
            keys = {**self._keys, **logins, **given}
            problems, settings = self._build_strict(data, keys)
            if problems or settings is None:
                return problems
            old = self._settings
            problems = self._redirected_keys(old, settings, given)
            if problems:
                return problems
            warning = exposure_warning(settings)
            if warning and (exposure_warning(old) is None or settings.host != old.host):
                if changes.get("confirm_exposure") is not True:
                    return [Confirmation(_exposure_question(settings.host))]
                log.warning("%s (confirmed in the settings page)", warning)
            if (settings.host, settings.port) != (old.host, old.port):
                problem = _bind_problem(settings.host, settings.port, self.address)
                if problem:
                    return [problem]
            # The keys first: should they fail, no new endpoint is left next to an old key.
            for name, key in given.items():
                try:
                    self.keys.set(name, key)
                except KeyStoreError as exc:
                    return [str(exc)]
                self._keys[name] = key
            problems = self._store_logins(logins)
            if problems:
                return problems
            try:
                self.store.save(data)
            except StoreError as exc:
                self._store_logins({name: self._keys.get(name, "") for name in logins})  # undo
                return [str(exc)]
            self._data = data
            self._keys = keys
            if "provider" in changes:
                self._chosen = None
            problems = []
            wanted = changes.get("start_at_login")
            if wanted is not None and bool(wanted) != self.autostart_enabled():
                problems += self._set_autostart(bool(wanted))
            self._publish(settings, notify)
            return problems

    # ------------------------------------------------------------------ proxy logins

    def _load_proxy_logins(self) -> None:
        """Read stored proxies' logins from the keyring; move one still in settings.json there."""
        moved = False
        for provider, values in (self._data.get("providers") or {}).items():
            proxy = values.get("proxy")
            if provider not in KEYED_PROVIDERS or not proxy:
                continue
            name = proxy_login_name(provider)
            bare, login = split_login(proxy)
            if not login:
                self._keys[name] = self.keys.get(name)
                continue
            try:  # written by an older aoa: the login belongs in the keyring
                self.keys.set(name, login)
            except KeyStoreError as exc:
                log.warning("the proxy login for %s stays in settings.json: %s", provider, exc)
                continue
            self._keys[name] = login
            values["proxy"] = bare
            moved = True
        if moved:
            with contextlib.suppress(StoreError):  # then the next start moves it again
                self.store.save(self._data)

    def _split_proxy_logins(
        self, changes: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], dict[str, str], list[str]]:
        """`changes` with proxy logins taken out, the keyring entries to change ("" = remove),
        and problems. A masked login sent back (user:****) keeps the stored one, but only for
        the same proxy address: a login never follows a proxy to another host unasked."""
        providers = changes.get("providers")
        if not isinstance(providers, Mapping):
            return changes, {}, []
        logins: dict[str, str] = {}
        problems: list[str] = []
        out: dict[str, Any] = {}
        for provider, values in providers.items():
            proxy = values.get("proxy") if isinstance(values, Mapping) else None
            if provider not in KEYED_PROVIDERS or not isinstance(proxy, str):
                out[provider] = values
                continue
            name = proxy_login_name(provider)
            bare, login = split_login(proxy.strip())
            stored = self._keys.get(name, "")
            if stored and login == masked(stored):
                old = ((self._data.get("providers") or {}).get(provider) or {}).get("proxy", "")
                if bare != old:
                    problems.append(
                        _(
                            "{label}: enter the proxy password again for the new proxy address"
                        ).format(label=provider_label(provider))
                    )
                login = stored
            if login != stored:
                logins[name] = login
            out[provider] = {**values, "proxy": bare}
        return {**changes, "providers": out}, logins, problems

    def _store_logins(self, logins: Mapping[str, str]) -> list[str]:
        """Write proxy logins to the keyring (never to a file); problems if it cannot."""
        for name, login in logins.items():
            try:
                if login:
                    self.keys.set(name, login)
                else:
                    self.keys.delete(name)
            except KeyStoreError as exc:
                return [_("The proxy login could not be stored: {error}").format(error=exc)]
        return []

    # ------------------------------------------------------------------ keys

    def set_key(self, name: str, key: str) -> list[str]:
        """Store a provider's API key (or the access token) in the keyring and use it."""
        key = key.strip()
        with self._lock:
            if name not in (*KEYED_PROVIDERS, ACCESS_TOKEN):
                return [_("Unknown provider {name!r}").format(name=name)]
            if any(c.isspace() or not c.isprintable() for c in key):
                return [_("A key must not contain spaces or line breaks")]
            try:
                self.keys.set(name, key)
            except KeyStoreError as exc:
                return [str(exc)]
            return self._key_changed(name, key)

    def delete_key(self, name: str) -> list[str]:
        with self._lock:
            if name not in (*KEYED_PROVIDERS, ACCESS_TOKEN):
                return [_("Unknown provider {name!r}").format(name=name)]
            try:
                self.keys.delete(name)
            except KeyStoreError as exc:
                return [str(exc)]
            return self._key_changed(name, "")

    def _key_changed(self, name: str, key: str) -> list[str]:
        keys = {**self._keys, name: key}
        problems, settings = self._build_strict(self._data, keys)
        self._keys = keys
        if settings is None:  # keys cannot make settings invalid, but never publish None
            return problems
        warning = exposure_warning(settings)
        if warning and exposure_warning(self._settings) is None:  # e.g. the token was removed
            log.warning("%s", warning)
        self._publish(settings)
        return problems

    def _set_autostart(self, on: bool) -> list[str]:
        try:
            item = self._login_item()
            if on:
                item.enable(self._launch_command or _default_command())
            else:
                item.disable()
        except Exception as exc:
            log.exception("could not change start at login")
            return [_("Could not change start at login: {error}").format(error=exc)]
        return []

    def _login_item(self) -> Autostart:
        if self._autostart is None:
            from aoa_desktop import autostart  # written by the shell; imported when first used

            self._autostart = autostart.for_platform()
        return self._autostart

    def notify(self) -> None:
        """Run the `on_change` callbacks with the current settings."""
        settings = self._settings
        for callback in list(self.on_change):
            try:
                callback(settings)
            except Exception:  # one broken listener (tray) must not stop the others
                log.exception("settings listener failed")

    def _publish(self, settings: Settings, notify: bool = True) -> None:
        if self._chosen and settings.provider != self._chosen:
            settings = settings.with_provider(self._chosen)
        self._settings = settings
        set_language(settings.lang or None)  # the tray and the page follow a changed language
        if self.runtime is not None:
            self.runtime.apply(settings)
        if notify:
            self.notify()

    # ------------------------------------------------------------------ building

    def _mapping(self, data: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, str]:
        """Stored values and keys as environment variables, then the real environment on top."""
        env: dict[str, str] = {}
        for field, env_name in GLOBAL_FIELDS.items():
            if data.get(field) not in (None, ""):
                env[env_name] = str(data[field])
        for provider, values in (data.get("providers") or {}).items():
            fields = provider_fields(provider)
            for field, value in values.items():
                if field not in fields or value in (None, "", {}):
                    continue
                if field == "aliases":
                    env[fields[field][0]] = ",".join(f"{k}:{v}" for k, v in value.items())
                elif field == "proxy":
                    url = join_login(str(value), keys.get(proxy_login_name(provider), ""))
                    socks = url.lower().startswith("socks")
                    env[fields[field][1 if socks else 0]] = url
                else:
                    env[fields[field][0]] = str(value)
        for name, key in keys.items():
            if key and name in (*KEYED_PROVIDERS, ACCESS_TOKEN):  # not the proxy logins
                env[key_env_var(name)] = key
        overrides = self.env_overrides
        for provider in KEYED_PROVIDERS:
            proxy_vars = provider_fields(provider)["proxy"]
            if overrides & set(proxy_vars):  # SOCKS beats HTTP, so drop both stored ones
                for name in proxy_vars:
                    env.pop(name, None)
        env.update({n: self.env[n] for n in overrides})
        return env

    def _build_strict(
        self, data: Mapping[str, Any], keys: Mapping[str, str]
    ) -> tuple[list[str], Settings | None]:
        """Settings from these values, or the problems in the words of the page."""
        try:
            settings = load_settings(self._mapping(data, keys))
        except ConfigError as exc:
            labels = _field_labels()
            return [f"{labels.get(p.var, p.var)}: {p.message}" for p in exc.problems], None
        if settings.provider not in REGISTRY:
            return [
                _("{label} is not available in this version of aoa").format(
                    label=provider_label(settings.provider)
                )
            ], None
        return [], settings

    def _build_lenient(self, data: Mapping[str, Any]) -> tuple[list[str], Settings]:
        """Settings at start-up: a bad stored (or environment) value is dropped, never fatal."""
        env = self._mapping(data, self._keys)
        problems: list[str] = []
        for _attempt in range(len(env) + 1):
            try:
                settings = load_settings(env)
            except ConfigError as exc:
                problems += exc.lines
                bad = {p.var for p in exc.problems} & env.keys()
                if not bad:  # e.g. AOA_TYPE=azure without an endpoint: drop the choice
                    bad = {"AOA_TYPE"} & env.keys()
                if not bad:
                    break
                for name in bad:
                    env.pop(name)
                continue
            if settings.provider not in REGISTRY:
                problems.append(
                    "AOA_TYPE: "
                    + _("the {name} provider is not available in this build").format(
                        name=settings.provider
                    )
                )
                env["AOA_TYPE"] = "demo"
                continue
            for line in problems:
                log.warning("ignored setting: %s", line)
            return problems, settings
        return problems, load_settings({"AOA_TYPE": "demo"})

    def _merge(self, data: dict[str, Any], changes: Mapping[str, Any]) -> list[str]:
        """Apply page changes to `data` in place; problems for wrong shapes or env fields."""
        problems: list[str] = []
        overrides = self.env_overrides
        labels = _field_labels()

        def settable(env_names: Sequence[str]) -> bool:
            hit = [n for n in env_names if n in overrides]
            if hit:
                problems.append(
                    _(
                        "{field} is set by the environment variable {name} and cannot be changed "
                        "here"
                    ).format(field=labels.get(hit[0], hit[0]), name=hit[0])
                )
            return not hit

        for field, env_name in GLOBAL_FIELDS.items():
            if field not in changes:
                continue
            value = changes[field]
            if field == "port" and not (isinstance(value, int) and not isinstance(value, bool)):
                problems.append(_("Port: {value!r} is not a whole number").format(value=value))
            elif field != "port" and not isinstance(value, str):
                problems.append(_("{field}: expected text").format(field=labels[env_name]))
            elif settable([env_name]) and data.get(field) != value:
                data[field] = value
        for provider, values in (changes.get("providers") or {}).items():
            fields = provider_fields(provider)
            if not fields or not isinstance(values, Mapping):
                problems.append(_("Unknown provider {name!r}").format(name=provider))
                continue
            stored = data.setdefault("providers", {}).setdefault(provider, {})
            for field, value in values.items():
                if field == "key":  # a key typed on the page: see _given_keys
                    continue
                if field not in fields:
                    problems.append(_("Unknown setting {name!r}").format(name=field))
                    continue
                if stored.get(field, _MISSING) == value:
                    continue  # unchanged: fine even when the environment owns it
                label = labels[fields[field][0]]
                if field == "aliases":
                    problem = _check_aliases(value)
                    if problem:
                        problems.append(f"{label}: {problem}")
                        continue
                elif field == "safety" and value not in ("", *GEMINI_SAFETY_LEVELS):
                    problems.append(f"{label}: " + _("not a known safety level"))
                    continue
                elif not isinstance(value, str):
                    problems.append(f"{label}: " + _("expected text"))
                    continue
                if settable(fields[field]):
                    stored[field] = value.strip() if isinstance(value, str) else dict(value)
        return problems

    def _redirected_keys(self, old: Settings, new: Settings, given: Mapping[str, str]) -> list[str]:
        """Providers whose key would now go to a new endpoint or proxy host without being
        entered again: whoever holds a (stolen) page session must not redirect a stored key."""
        problems: list[str] = []
        for name in KEYED_PROVIDERS:
            before, after = old.providers.get(name), new.providers.get(name)
            if before is None or after is None or not before.api_key:
                continue
            if not _key_redirected(before.endpoint, before.proxy, after.endpoint, after.proxy):
                continue
            label = provider_label(name)
            env_name = key_env_var(name)
            if env_name in self.env_overrides:
                problems.append(
                    _(
                        "{label}: the API key comes from the environment variable {name}, so "
                        "change the endpoint and proxy there too."
                    ).format(label=label, name=env_name)
                )
            elif name not in given:
                problems.append(
                    _(
                        "{label}: the endpoint or proxy changed, so enter the API key again "
                        "before saving (a stored key only goes where it was entered for)."
                    ).format(label=label)
                )
        return problems

    # ------------------------------------------------------------------ testing a provider

    async def test_connection(self, name: str) -> tuple[bool, str]:
        """Make one cheap real call (the model list) with this provider's settings."""
        label = provider_label(name)
        if name not in REGISTRY:
            return False, _("{label} is not available in this version of aoa").format(label=label)
        ps = self._settings.providers.get(name)
        if ps is None:
            return False, _("Unknown provider {name!r}").format(name=name)
        provider = get_provider(ps)
        if provider.kind is ProviderKind.LOCAL:
            return True, _("The demo provider answers offline; there is nothing to connect to.")
        if not ps.endpoint:
            return False, _("Set the endpoint for {label} and save first.").format(label=label)
        if not ps.api_key:
            return False, _("No API key for {label}: add one first.").format(label=label)
        request = provider.models_request(ps.api_key)
        if request is None:
            return False, _("{label} has no model list to test with.").format(label=label)
        host = urlsplit(request.url).hostname or "?"
        try:
            async with (
                _session(ps.proxy) as session,
                session.request(
                    request.method, request.url, headers=request.headers, data=request.body
                ) as response,
            ):
                status = response.status
                body = await response.content.read(1 << 20) if status == 200 else b""
        except asyncio.TimeoutError:
            return False, _("{label} did not answer within {seconds:g} seconds.").format(
                label=label, seconds=TEST_TIMEOUT
            )
        except aiohttp.ClientConnectorCertificateError:
            return False, _(
                "The security certificate of {host} was not accepted; check the endpoint."
            ).format(host=host)
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error)
            return False, _(
                "Could not connect to {host}: {reason}. Check the endpoint{proxy}."
            ).format(host=host, reason=reason, proxy=_(" and the proxy") if ps.proxy else "")
        except (aiohttp.ClientError, OSError) as exc:
            return False, _("The connection to {host} failed ({error}).").format(
                host=host, error=type(exc).__name__
            )
        return _explain(label, status, body)


_MISSING: Final = object()


class Confirmation(str):
    """A problem the user may overrule: the page asks, then saves again with the confirmation."""


def exposure_warning(settings: Settings) -> str | None:
    """Why a bind is dangerous: not loopback, a server-side key stored, no access token.

    Any provider's key counts: the tray switches providers without rebinding.
    """
    if settings.is_loopback or settings.access_token:
        return None
    if not any(ps.api_key for name, ps in settings.providers.items() if name in KEYED_PROVIDERS):
        return None
    return _(
        "listening on {host} with a stored API key and no access token: anyone who can reach "
        "this port can spend the key"
    ).format(host=settings.host)


def _exposure_question(host: str) -> str:
    return _(
        "Bind address {host} lets other computers use this gateway, and with it your stored API "
        "keys, because no access token is set. Set an access token first, or confirm to save "
        "anyway."
    ).format(host=host)


def _given_keys(changes: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Keys typed on the page and sent with a save (provider -> key), and what is wrong."""
    given: dict[str, str] = {}
    problems: list[str] = []
    providers = changes.get("providers")
    if not isinstance(providers, Mapping):
        return given, problems
    for name, values in providers.items():
        if not isinstance(values, Mapping) or "key" not in values or name not in KEYED_PROVIDERS:
            continue
        key = values["key"]
        if not isinstance(key, str):
            problems.append(f"{provider_label(name)}, " + _("API key") + ": " + _("expected text"))
        elif any(c.isspace() or not c.isprintable() for c in key.strip()):
            problems.append(_("A key must not contain spaces or line breaks"))
        elif key.strip():
            given[name] = key.strip()
    return given, problems


def _key_redirected(old_endpoint: str, old_proxy: str, endpoint: str, proxy: str) -> bool:
    """True when the key would reach a new endpoint or a new proxy host (dropping one is fine)."""
    if endpoint and endpoint.rstrip("/") != old_endpoint.rstrip("/"):
        return True
    return bool(proxy) and _proxy_host(proxy) != _proxy_host(old_proxy)


def _proxy_host(proxy: str) -> tuple[str, int | None] | None:
    if not proxy:
        return None
    try:
        parts = urlsplit(proxy)
        return (parts.hostname or "", parts.port)
    except ValueError:
        return (proxy, None)


def _check_aliases(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return _("expected a table of requested model -> upstream model")
    for requested, upstream in value.items():
        problem = _check_alias_name(requested) or _check_alias_name(upstream)
        if problem:
            return problem
    return None


def _explain(label: str, status: int, body: bytes) -> tuple[bool, str]:
    """An HTTP status from the model list, in plain words."""
    if status == 200:
        import json

        try:
            count = len(json.loads(body).get("data") or [])
        except (ValueError, AttributeError, TypeError):
            count = 0
        return True, _("Connected to {label}: the key works (models listed: {count}).").format(
            label=label, count=count
        )
    if status in (401, 403):
        return False, _("{label} refused the key (HTTP {status}). Check the API key.").format(
            label=label, status=status
        )
    if status == 404:
        return False, _(
            '{label} answered "not found" (HTTP 404). Check the endpoint address and API version.'
        ).format(label=label)
    if status == 429:
        return True, _(
            "{label} is reachable but is limiting requests right now (HTTP 429); try again later."
        ).format(label=label)
    if status >= 500:
        return False, _(
            "{label} had a problem on its side (HTTP {status}); try again later."
        ).format(label=label, status=status)
    return False, _("{label} answered with HTTP {status}.").format(label=label, status=status)


def _session(proxy: str) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=TEST_TIMEOUT)
    connector: aiohttp.BaseConnector
    if proxy:
        from aiohttp_socks import ProxyConnector

        connector = ProxyConnector.from_url(proxy, rdns=True)
    else:
        connector = aiohttp.TCPConnector()
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=not proxy)


def _bind_problem(host: str, port: int, own: tuple[str, int] | None = None) -> str | None:
    """Why the gateway could not listen on host:port, or None (checked before saving).

    `own` is where aoa itself listens now: the gateway lets go of it before binding the new
    address, so a clash with it is no reason to refuse.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            if hasattr(socket, "SO_REUSEADDR"):  # same rule as the server: TIME_WAIT is fine
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host.strip("[]"), port))
    except socket.gaierror:
        return _("Bind address: {host} is not an address of this computer").format(host=host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE and own is not None and _overlaps(own, host, port):
            return None  # our own listener; the rebind reports any other program it meets
        if exc.errno == errno.EADDRINUSE:
            return _("Port {port} is already in use by another program; pick another port.").format(
                port=port
            )
        if exc.errno == errno.EACCES:
            return _("Port {port} needs administrator rights; pick a port above 1024.").format(
                port=port
            )
        return _("Cannot listen on {host}:{port}: {error}").format(
            host=host, port=port, error=exc.strerror
        )
    return None


def _overlaps(own: tuple[str, int], host: str, port: int) -> bool:
    """Whether a listener on `own` can be what blocks host:port (same port; a wildcard address
    on either side, or the same address)."""
    own_host, own_port = own
    if own_port != port:
        return False
    wild = ("0.0.0.0", "::", "", "[::]")
    return own_host in wild or host in wild or own_host.strip("[]") == host.strip("[]")


def _default_command() -> list[str]:
    from aoa_desktop import autostart

    return autostart.default_command()


def _is_api(rec: RequestRecord) -> bool:
    return rec.path.startswith("/v1/")
