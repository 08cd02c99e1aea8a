""" "Sign in with Microsoft" on the settings page's Azure tab: Entra ID for one person, no keys.

azure-identity's InteractiveBrowserCredential opens the system browser (auth code + PKCE, a
loopback redirect it listens for itself). What outlives a restart:
- the account record (who, which tenant; no token) in the OS keyring, entry "azure.signin";
- MSAL's token cache in the library's *encrypted* persistent cache (DPAPI, Keychain, libsecret),
  name "aoa", allow_unencrypted_storage=False. On Linux that needs libsecret's Python binding
  (PyGObject + gir1.2-secret-1), which the binary does not carry: without it the cache goes to
  the OS keyring instead, through aoa's KeyStore, entry "azure.signin-cache". Never a plain file.

The gateway asks `credential(settings)` for tokens before azure-identity's own chain
(aoa_proxy.entra.Tokens): silently, from that cache (disable_automatic_authentication), never
by opening a browser behind the person's back. The sync credential runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, Final, Protocol

from aoa_desktop.keys import KeyStore, KeyStoreError
from aoa_proxy.config import ProviderSettings
from aoa_proxy.entra import scope_of
from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

RECORD_ENTRY: Final = "azure.signin"  # keyring entry holding the account record (no token)
CACHE_ENTRY: Final = "azure.signin-cache"  # MSAL's cache, where libsecret's binding is missing
CACHE_NAME: Final = "aoa"


class BrowserCredential(Protocol):
    """What aoa uses of azure-identity's InteractiveBrowserCredential (tests pass a fake)."""

    def authenticate(self, *, scopes: list[str]) -> Any: ...  # AuthenticationRecord

    def get_token(self, *scopes: str) -> Any: ...  # AccessToken

    def close(self) -> None: ...


# (serialized account record or None, tenant id or "") -> a credential.
Factory = Callable[[str | None, str], BrowserCredential]


class BrowserCredentials:
    """The real InteractiveBrowserCredential, its token cache encrypted or in the keyring."""

    def __init__(self, keys: KeyStore, *, library_cache: bool | None = None) -> None:
        self._keys = keys
        self._library_cache = _libsecret_usable() if library_cache is None else library_cache

    def __call__(self, record: str | None, tenant: str) -> BrowserCredential:
        from azure.identity import (
            AuthenticationRecord,
            InteractiveBrowserCredential,
            TokenCachePersistenceOptions,
        )

        how: dict[str, Any] = {}
        cache: Any = None
        if self._library_cache:
            how["cache_persistence_options"] = TokenCachePersistenceOptions(
                name=CACHE_NAME, allow_unencrypted_storage=False
            )
        else:
            cache = self.keyring_cache()
            how["_cache"] = cache  # azure-identity's hook for a caller's own msal cache
        if tenant:
            how["tenant_id"] = tenant
        if record:
            how["authentication_record"] = AuthenticationRecord.deserialize(record)
            how["disable_automatic_authentication"] = True  # the gateway never opens a browser
        credential: BrowserCredential = InteractiveBrowserCredential(**how)
        return credential if cache is None else _KeyringCached(credential, cache, self._keys)

    def keyring_cache(self) -> Any:
        """MSAL's serializable cache, filled from the keyring entry (empty if none)."""
        import msal

        cache = msal.SerializableTokenCache()
        stored = self._keys.get(CACHE_ENTRY) if self._keys.available else ""
        if stored:
            with contextlib.suppress(ValueError):  # a damaged entry: sign in again
                cache.deserialize(stored)
        return cache


class _KeyringCached:
    """A credential whose MSAL cache is written back to the keyring whenever it changed."""

    def __init__(self, credential: BrowserCredential, cache: Any, keys: KeyStore) -> None:
        self._credential = credential
        self._cache = cache
        self._keys = keys

    def authenticate(self, *, scopes: list[str]) -> Any:
        try:
            return self._credential.authenticate(scopes=scopes)
        finally:
            self._save()

    def get_token(self, *scopes: str) -> Any:
        try:
            return self._credential.get_token(*scopes)
        finally:
            self._save()

    def close(self) -> None:
        self._credential.close()

    def _save(self) -> None:
        if self._cache.has_state_changed:
            self._keys.set(CACHE_ENTRY, self._cache.serialize())
            self._cache.has_state_changed = False


def _libsecret_usable() -> bool:
    """Whether azure-identity's encrypted cache works here (Linux: libsecret via PyGObject)."""
    if not sys.platform.startswith("linux"):
        return True  # Windows DPAPI, macOS Keychain: built in
    try:
        import gi

        gi.require_version("Secret", "1")
        from gi.repository import Secret  # noqa: F401
    except (ImportError, ValueError):
        return False
    return True


class MicrosoftSignIn:
    """The person's Microsoft sign-in: start it, see who is signed in, sign out.

    Thread-safe: the page's handlers run on the gateway loop, the browser flow in a thread.
    `on_change` runs (in that thread) when the account changes: the gateway forgets its token.
    """

    def __init__(self, keys: KeyStore, factory: Factory | None = None) -> None:
        self._keys = keys
        self._factory = factory or BrowserCredentials(keys)
        self._lock = threading.Lock()
        self._record = keys.get(RECORD_ENTRY) if keys.available else ""
        self._pending = False
        self._error = ""
        self._silent: BrowserCredential | None = None  # the gateway's, built from the record
        self.on_change: list[Callable[[], None]] = []

    def status(self) -> dict[str, Any]:
        """What the page shows: the account's user name, a flow in progress, the last error."""
        with self._lock:
            return {
                "account": _username(self._record),
                "pending": self._pending,
                "error": self._error,
            }

    def start(self, ps: ProviderSettings) -> str | None:
        """Open the browser sign-in in a thread; the problem if it cannot start."""
        if not self._keys.available:
            return self._keys.problem or _("No usable keyring")
        with self._lock:
            if self._pending:
                return None  # one flow at a time; the open one goes on
            self._pending, self._error = True, ""
        thread = threading.Thread(
            target=self._flow, args=(ps,), name="aoa-microsoft-signin", daemon=True
        )
        thread.start()
        return None

    def sign_out(self) -> str | None:
        """Forget the account: its record and aoa's silent credential."""
        try:
            self._keys.delete(RECORD_ENTRY)
            self._keys.delete(CACHE_ENTRY)  # the refresh token too, where aoa keeps it
        except KeyStoreError as exc:
            return str(exc)
        with self._lock:
            self._record, self._error = "", ""
            silent, self._silent = self._silent, None
        if silent is not None:
            with contextlib.suppress(Exception):
                silent.close()
        log.info("Microsoft sign-in: signed out")
        self._changed()
        return None

    def credential(self, ps: ProviderSettings) -> tuple[str, _AsyncSignIn]:
        """For aoa_proxy.runtime.Runtime(signin=...): the sign-in as an async credential."""
        return _("Microsoft sign-in in aoa's settings"), _AsyncSignIn(self, ps)

    # ------------------------------------------------------------------ internals

    def _flow(self, ps: ProviderSettings) -> None:
        error, record = "", ""
        try:
            credential = self._factory(None, ps.tenant_id)
            try:
                done = credential.authenticate(scopes=[scope_of(ps)])
            finally:
                with contextlib.suppress(Exception):
                    credential.close()
            record = str(done.serialize())
            self._keys.set(RECORD_ENTRY, record)
        except Exception as exc:  # the browser closed, timed out, no encrypted cache...
            error = _("Signing in did not work: {error}").format(error=_first_line(exc))
            log.warning("Microsoft sign-in: %s", error)
        with self._lock:
            self._pending, self._error = False, error
            if record:
                self._record, self._silent = record, None
        if record:
            log.info("Microsoft sign-in: signed in as %s", _username(record))
            self._changed()

    def _token(self, scope: str, tenant: str) -> Any:
        """A token from the signed-in account's cache (worker thread); raises if signed out."""
        with self._lock:
            record = self._record
            if not record:
                raise LookupError(_("nobody is signed in"))
            if self._silent is None:
                self._silent = self._factory(record, tenant)
            silent = self._silent
        return silent.get_token(scope)

    def _changed(self) -> None:
        for callback in list(self.on_change):
            try:
                callback()
            except Exception:
                log.exception("sign-in listener failed")


class _AsyncSignIn:
    """The sign-in as aoa_proxy.entra's Credential: the sync credential in a worker thread."""

    def __init__(self, signin: MicrosoftSignIn, ps: ProviderSettings) -> None:
        self._signin = signin
        self._tenant = ps.tenant_id

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._signin._token, scopes[0], self._tenant)

    async def close(self) -> None:
        return None  # the sign-in outlives any one runtime


def _username(record: str) -> str:
    if not record:
        return ""
    try:
        return str(json.loads(record).get("username") or "")
    except (ValueError, AttributeError):
        return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
