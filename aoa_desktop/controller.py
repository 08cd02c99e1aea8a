"""The desktop app's settings brain: stored values + keyring keys + environment -> Settings.

Precedence: an environment variable (the headless ones, aoa_proxy.catalogue) beats a stored
value, which beats the default. Which fields there are comes from the catalogue (fields.py).
Everything is turned into one env-style mapping and validated by aoa_proxy.config.load_settings,
so the desktop app and the headless gateway accept exactly the same values. Changes reach the
running gateway through Runtime.apply: the next request uses them, requests in flight keep their
snapshot.

Several providers (issue 14): the page's "Enabled" switches are stored as `enabled`, the text of
AOA_PROVIDERS (enabling.py: an enabled provider not configured yet is left out of the gateway and
named in `problems`, where the headless gateway would not start). A provider's keyring entry
holds its key pool as the variable does: keys separated by commas.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from aoa_desktop import enabling
from aoa_desktop.connect import TOOLS, Connections, Context, context_for
from aoa_desktop.connection_check import check_connection
from aoa_desktop.fields import Fields, page_value
from aoa_desktop.keys import (
    ACCESS_TOKEN,
    KeyStore,
    KeyStoreError,
    pool_keys,
    proxy_login_name,
    typed_keys,
)
from aoa_desktop.ports import bind_problem
from aoa_desktop.store import SettingsStore, StoreError
from aoa_proxy.catalogue import CATALOGUE, Catalogue, Kind
from aoa_proxy.config import Settings, load_settings
from aoa_proxy.credentials import parse_keys
from aoa_proxy.errors import ConfigError
from aoa_proxy.i18n import _, set_language
from aoa_proxy.providers import REGISTRY, ProviderKind, get_provider
from aoa_proxy.proxyauth import join_login, mask_login, masked, split_login
from aoa_proxy.routing import parse_provider_list
from aoa_proxy.security import mask

if TYPE_CHECKING:
    from aoa_desktop.autostart import Autostart
    from aoa_desktop.signin import MicrosoftSignIn
    from aoa_proxy.runtime import Runtime

log = logging.getLogger(__name__)


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
        catalogue: Catalogue = CATALOGUE,
    ) -> None:
        self.fields = Fields(catalogue)
        self.env = dict(env)
        self.keys = keys
        self.store = SettingsStore(config_dir)
        self.on_change: list[Callable[[Settings], None]] = []
        self.runtime: Runtime | None = None
        self.gateway_problem: str | None = None  # set by the shell, e.g. "port in use"
        self.address: tuple[str, int] | None = None  # where the gateway really listens (shell)
        self._autostart = autostart
        self._launch_command = list(launch_command) if launch_command else None
        self._lock = threading.RLock()
        # Other tools' files (Connect a tool); its record lives beside the stored settings.
        self.connections = Connections(config_dir, TOOLS)
        self._chosen: str | None = None  # provider picked in the tray this session
        self._data = self.store.load()
        self._keys = {
            name: keys.get(name)
            for name in (*self.fields.keyed, ACCESS_TOKEN, *self.fields.extra_secrets)
        }
        self.signin: MicrosoftSignIn | None = None  # "Sign in with Microsoft" (the shell's)
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
        self._warned: dict[str, str] = {}
        self._log_enable_warnings()

    # ------------------------------------------------------------------ reading

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def env_overrides(self) -> set[str]:
        """Environment variables that override stored values (shown read-only)."""
        return {n for n in self.fields.env_names if self.env.get(n, "").strip()}

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

    def connect_context(self) -> Context:
        """The gateway as other tools reach it: where it listens now, the access token."""
        home = self.env.get("HOME", "").strip()
        return context_for(
            self.settings, self.address, home=Path(home) if home else None, env=self.env
        )

    def key_status(self, name: str) -> dict[str, Any]:
        """Whether a key is set and where from; at most its last 4 characters, never the key.

        `hint` is that of a lone key; a pool shows each key in `pool_status`.
        """
        env_name = self.fields.key_env_var(name)
        from_env = env_name in self.env_overrides
        text = self.env[env_name].strip() if from_env else self._keys.get(name, "")
        single = name == ACCESS_TOKEN or name in self.fields.extra_secrets
        keys = ((text,) if text else ()) if single else pool_keys(text)
        key = keys[0] if len(keys) == 1 else ""
        return {
            "stored": bool(keys),
            "hint": key[-4:] if len(key) >= 12 else "",
            "from_env": from_env,
        }

    def pool_status(self) -> dict[str, list[dict[str, Any]]]:
        """Each keyed provider's keys in use, masked (`****abcd`), with the seconds each one
        still rests after a rate limit or a refusal (the running gateway's key pools)."""
        running = self.runtime.key_status() if self.runtime is not None else {}
        out: dict[str, list[dict[str, Any]]] = {}
        for name in self.fields.keyed:
            keys = self._settings.provider_settings(name).keys
            shown = [mask(k) for k in keys]
            status = running.get(name, [])
            if [s.key for s in status] != shown:  # not serving, or settings changing now
                out[name] = [{"key": key, "cooling": 0.0, "reason": None} for key in shown]
                continue
            out[name] = [
                {
                    "key": s.key,
                    "cooling": round(s.cooling, 1),
                    "reason": s.reason.value if s.cooling and s.reason else None,
                }
                for s in status
            ]
        return out

    @property
    def problems(self) -> list[str]:
        """What the settings page's banner shows: settings that could not be used, the keyring,
        the gateway, and enabled providers that cannot serve yet."""
        notes = [self.load_problem, self.keys.problem, self.gateway_problem]
        return [p for p in notes if p] + list(self.enable_warnings().values())

    def wanted_providers(self) -> tuple[str, ...]:
        """The providers switched on (stored, or AOA_PROVIDERS), the default first, whether or
        not they can serve yet."""
        var = self.fields.enabled_var
        text = self.env[var] if var in self.env_overrides else str(self._data.get("enabled") or "")
        return enabling.wanted(text, self._settings.provider, self.fields.catalogue.names)

    def enable_warnings(self) -> dict[str, str]:
        """Provider -> why it is enabled but serves no requests (left out of the gateway)."""
        return enabling.not_serving(self.wanted_providers(), self._settings, self.fields)

    def is_configured(self, name: str) -> bool:
        """True when switching to `name` can work: a known provider with endpoint and key
        (or, for Azure, Entra ID sign-in instead of a key)."""
        if name not in REGISTRY:
            return False
        ps = self._settings.providers.get(name)
        if ps is None:
            return False
        if get_provider(ps).kind is ProviderKind.LOCAL:
            return True
        return bool(ps.endpoint and (ps.api_key or ps.entra))

    def autostart_enabled(self) -> bool:
        try:
            return self._login_item().enabled()
        except Exception:  # a broken login-item location must not break the page
            log.exception("could not read the start-at-login state")
            return False

    # ------------------------------------------------------------------ wiring

    def attach(self, runtime: Runtime) -> None:
        """Drive this Runtime: it gets the current settings now and every change later.

        Its request log (`recent`, `listeners`) is the live view's: the gateway records API
        calls only, never the settings page's own traffic.
        """
        self.runtime = runtime
        runtime.apply(self._settings)

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

    def can_toggle(self, name: str) -> bool:
        """Whether `name` may be switched on or off here: not the default provider (always
        on), not when AOA_PROVIDERS comes from the environment, not a provider this build
        lacks."""
        return (
            self.fields.enabled_var not in self.env_overrides
            and name != self._settings.provider
            and (name in REGISTRY or name in self.wanted_providers())
        )

    def set_enabled(self, name: str, on: bool) -> list[str]:
        """Switch one provider on or off (the tray); the default provider stays on."""
        with self._lock:
            wanted = [n for n in self.wanted_providers() if n != name]
            if on:
                wanted.append(name)
            changes: dict[str, Any] = {"enabled": ",".join(wanted)}
            if self.fields.type_var not in self.env_overrides and not self._data.get("provider"):
                changes["provider"] = self._settings.provider  # keep today's default
            return self.save(changes)

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
            given, key_problems = self._given_keys(changes)
            problems += key_problems
            if problems:
                return problems
            # Keys typed with a save: for a new endpoint or proxy host they are the whole pool
            # (only keys entered for an address go there); otherwise they join the pool.
            keys = {**self._keys, **logins, **{n: ",".join(k) for n, k in given.items()}}
            problems, settings = self._build_strict(data, keys)
            if problems or settings is None:
                return problems
            old = self._settings
            joined = [n for n in given if self._pool(n) and not _moved(old, settings, n)]
            if joined:
                for name in joined:  # a key stored already is refused, named by its last 4
                    pool, problems = self._check_pool(name, [*self._pool(name), *given[name]])
                    if problems:
                        return problems
                    keys[name] = ",".join(pool)
                problems, settings = self._build_strict(data, keys)
                if problems or settings is None:
                    return problems
            problems = self._redirected_keys(old, settings, given)
            if problems:
                return problems
            warning = exposure_warning(settings)
            if warning and (exposure_warning(old) is None or settings.host != old.host):
                if changes.get("confirm_exposure") is not True:
                    return [Confirmation(_exposure_question(settings.host))]
                log.warning("%s (confirmed in the settings page)", warning)
            if (settings.host, settings.port) != (old.host, old.port):
                problem = bind_problem(settings.host, settings.port, self.address)
                if problem:
                    return [problem]
            # The keys first: should they fail, no new endpoint is left next to an old key.
            for name in given:
                try:
                    self.keys.set(name, keys[name])
                except KeyStoreError as exc:
                    return [str(exc)]
                self._keys[name] = keys[name]
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
            if provider not in self.fields.keyed or not proxy:
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
            if provider not in self.fields.keyed or not isinstance(proxy, str):
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
                        ).format(label=self.fields.label(provider))
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
        """Store a provider's API key, or its pool (keys separated by commas), or the access
        token in the keyring, replacing what was there, and use it."""
        key = key.strip()
        with self._lock:
            if name == ACCESS_TOKEN or name in self.fields.extra_secrets:  # one secret each
                if any(c.isspace() or not c.isprintable() for c in key):
                    return [_("A key must not contain spaces or line breaks")]
                return self._store_key(name, key)
            if name not in self.fields.keyed:
                return [_("Unknown provider {name!r}").format(name=name)]
            keys, problems = self._check_pool(name, typed_keys(key))
            if not problems and not keys:
                problems = [_("Enter a key first.")]
            return problems or self._store_key(name, ",".join(keys))

    def add_key(self, name: str, key: str) -> list[str]:
        """Add a key (or several, separated by commas) to a provider's pool; a key that is
        stored already is refused."""
        with self._lock:
            if name not in self.fields.keyed:
                return [_("Unknown provider {name!r}").format(name=name)]
            keys, problems = self._check_pool(name, [*self._pool(name), *typed_keys(key)])
            return problems or self._store_key(name, ",".join(keys))

    def remove_key(self, name: str, index: int, shown: str) -> list[str]:
        """Remove one key of a provider's pool: the one at `index`, shown as `shown`
        (`****abcd`), so a page showing an old list removes nothing else."""
        with self._lock:
            if name not in self.fields.keyed:
                return [_("Unknown provider {name!r}").format(name=name)]
            pool = self._pool(name)
            if not 0 <= index < len(pool) or mask(pool[index]) != shown:
                return [_("The list of keys was out of date; here it is again.")]
            rest = ",".join(pool[:index] + pool[index + 1 :])
            if not rest:
                return self.delete_key(name)
            return self._store_key(name, rest)

    def _pool(self, name: str) -> tuple[str, ...]:
        """The keys stored for a provider, in order."""
        return pool_keys(self._keys.get(name, ""))

    def _check_pool(self, name: str, pieces: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
        """The pool as stored, or the problem with it (a space in a key, a key listed twice)."""
        if any(c.isspace() or not c.isprintable() for key in pieces for c in key):
            return (), [_("A key must not contain spaces or line breaks")]
        try:
            return parse_keys(",".join(pieces)), []
        except ValueError as exc:  # the message shows only the key's last 4 characters
            return (), [f"{self.fields.env_label(self.fields.key_env_var(name))}: {exc}"]

    def _store_key(self, name: str, key: str) -> list[str]:
        if not key:
            return self.delete_key(name)
        try:
            self.keys.set(name, key)
        except KeyStoreError as exc:
            return [str(exc)]
        return self._key_changed(name, key)

    def delete_key(self, name: str) -> list[str]:
        with self._lock:
            if name not in (*self.fields.keyed, ACCESS_TOKEN, *self.fields.extra_secrets):
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

    def _log_enable_warnings(self) -> None:
        warnings = self.enable_warnings()
        for name, warning in warnings.items():
            if self._warned.get(name) != warning:
                log.warning("%s", warning)
        self._warned = warnings

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
            from aoa_desktop import autostart  # the login item; imported when first used

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
        self._log_enable_warnings()
        if self.runtime is not None:
            self.runtime.apply(settings)
        if notify:
            self.notify()

    # ------------------------------------------------------------------ building

    def _mapping(self, data: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, str]:
        """Stored values and keys as environment variables, then the real environment on top."""
        env: dict[str, str] = {}
        for field, env_name in self.fields.global_fields.items():
            if data.get(field) not in (None, ""):
                env[env_name] = str(data[field])
        overrides = self.env_overrides
        for provider, values in (data.get("providers") or {}).items():
            fields = self.fields.provider_vars(provider)
            for field, value in values.items():
                if field not in fields or value in (None, "", {}):
                    continue
                if overrides & {v.name for v in fields[field]}:
                    continue  # e.g. an HTTP proxy set there replaces a stored SOCKS one too
                var = fields[field][0]
                if var.kind is Kind.ALIASES:
                    env[var.name] = ",".join(f"{k}:{v}" for k, v in value.items())
                elif var.kind in (Kind.HTTP_PROXY, Kind.SOCKS_PROXY):
                    url = join_login(str(value), keys.get(proxy_login_name(provider), ""))
                    entry = self.fields.catalogue.provider(provider)
                    env[(entry.proxy_var(url) or var).name] = url
                else:
                    env[var.name] = str(value)
        for name, key in keys.items():
            if key and name in (*self.fields.keyed, ACCESS_TOKEN, *self.fields.extra_secrets):
                env[self.fields.key_env_var(name)] = key
        env.update({n: self.env[n] for n in overrides})
        listed = self.fields.enabled_var
        if listed in env and listed not in overrides:
            default = env.get(self.fields.type_var, "")
            env[listed] = enabling.default_first(env[listed], default, self.fields.catalogue.names)
        return env

    def _load(self, env: Mapping[str, str]) -> Settings:
        return load_settings(enabling.serving(env, self.fields), self.fields.catalogue)

    def _build_strict(
        self, data: Mapping[str, Any], keys: Mapping[str, str]
    ) -> tuple[list[str], Settings | None]:
        """Settings from these values, or the problems in the words of the page."""
        try:
            settings = self._load(self._mapping(data, keys))
        except ConfigError as exc:
            label = self.fields.env_label
            return [f"{label(p.var)}: {p.message}" for p in exc.problems], None
        if settings.provider not in REGISTRY:
            return [
                _("{label} is not available in this version of aoa").format(
                    label=self.fields.label(settings.provider)
                )
            ], None
        return [], settings

    def _build_lenient(self, data: Mapping[str, Any]) -> tuple[list[str], Settings]:
        """Settings at start-up: a bad stored (or environment) value is dropped, never fatal."""
        env = self._mapping(data, self._keys)
        problems: list[str] = []
        for _attempt in range(len(env) + 1):
            try:
                settings = self._load(env)
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
        return problems, self._load({"AOA_TYPE": "demo"})

    def _merge(self, data: dict[str, Any], changes: Mapping[str, Any]) -> list[str]:
        """Apply page changes to `data` in place; problems for wrong shapes or env fields."""
        problems: list[str] = []
        overrides = self.env_overrides
        label = self.fields.env_label

        def settable(env_names: Sequence[str]) -> bool:
            hit = [n for n in env_names if n in overrides]
            if hit:
                problems.append(
                    _(
                        "{field} is set by the environment variable {name} and cannot be changed "
                        "here"
                    ).format(field=label(hit[0]), name=hit[0])
                )
            return not hit

        for field, env_name in self.fields.global_fields.items():
            if field not in changes:
                continue
            value = changes[field]
            if field == "port" and not (isinstance(value, int) and not isinstance(value, bool)):
                problems.append(_("Port: {value!r} is not a whole number").format(value=value))
            elif field != "port" and not isinstance(value, str):
                problems.append(_("{field}: expected text").format(field=label(env_name)))
            elif field == "enabled" and (problem := self._enabled_problem(value)):
                problems.append(f"{label(env_name)}: {problem}")
            elif settable([env_name]) and data.get(field) != value:
                data[field] = value
        for provider, values in (changes.get("providers") or {}).items():
            fields = self.fields.provider_vars(provider)
            if provider not in self.fields.catalogue.names or not isinstance(values, Mapping):
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
                new, problem = page_value(fields[field][0], value)
                if problem:
                    problems.append(f"{label(fields[field][0].name)}: {problem}")
                elif settable([v.name for v in fields[field]]):
                    stored[field] = new
        return problems

    def _enabled_problem(self, value: str) -> str | None:
        try:
            parse_provider_list(value, self.fields.catalogue.names)
        except ValueError as exc:
            return str(exc)
        return None

    def _given_keys(
        self, changes: Mapping[str, Any]
    ) -> tuple[dict[str, tuple[str, ...]], list[str]]:
        """Keys typed on the page and sent with a save (provider -> keys: one, or several
        separated by commas), and what is wrong."""
        given: dict[str, tuple[str, ...]] = {}
        problems: list[str] = []
        providers = changes.get("providers")
        if not isinstance(providers, Mapping):
            return given, problems
        for name, values in providers.items():
            if not isinstance(values, Mapping) or "key" not in values:
                continue
            if name not in self.fields.keyed:
                continue
            key = values["key"]
            if not isinstance(key, str):
                label = self.fields.env_label(self.fields.key_env_var(name))
                problems.append(f"{label}: " + _("expected text"))
            else:
                keys, bad = self._check_pool(name, typed_keys(key))
                problems += bad
                if keys:
                    given[name] = keys
        return given, problems

    def _redirected_keys(
        self, old: Settings, new: Settings, given: Mapping[str, object]
    ) -> list[str]:
        """Providers whose key would now go to a new endpoint or proxy host without being
        entered again: whoever holds a (stolen) page session must not redirect a stored key."""
        problems: list[str] = []
        for name in self.fields.keyed:
            before, after = old.providers.get(name), new.providers.get(name)
            if before is None or after is None or not before.api_key:
                continue
            if not _key_redirected(before.endpoint, before.proxy, after.endpoint, after.proxy):
                continue
            label = self.fields.label(name)
            env_name = self.fields.key_env_var(name)
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
        return await check_connection(self._settings, name, self.fields.label(name))


_MISSING: Final = object()


class Confirmation(str):
    """A problem the user may overrule: the page asks, then saves again with the confirmation."""


def exposure_warning(settings: Settings) -> str | None:
    """Why a bind is dangerous: not loopback, a server-side key stored, no access token.

    Any provider's key counts: the tray switches providers without rebinding.
    """
    if settings.is_loopback or settings.access_token:
        return None
    if any(ps.entra for ps in settings.providers.values()):
        return _(
            "listening on {host} with Entra ID sign-in and no access token: anyone who can "
            "reach this port can use your Azure identity"
        ).format(host=settings.host)
    if not any(ps.api_key for ps in settings.providers.values()):
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


def _moved(old: Settings, new: Settings, name: str) -> bool:
    """True when a provider's key would now reach a new endpoint or proxy host."""
    before, after = old.provider_settings(name), new.provider_settings(name)
    return _key_redirected(before.endpoint, before.proxy, after.endpoint, after.proxy)


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


def _default_command() -> list[str]:
    from aoa_desktop import autostart

    return autostart.default_command()
