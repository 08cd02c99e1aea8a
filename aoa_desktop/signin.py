""" "Sign in with Microsoft" on the settings page's Azure tab: Entra ID for one person, no keys.

azure-identity's InteractiveBrowserCredential opens the system browser (auth code + PKCE, a
loopback redirect it listens for itself). What outlives a restart:
- the account record (who, which tenant; no token) in the OS keyring, entry "azure.signin";
- MSAL's token cache in the library's *encrypted* persistent cache (DPAPI, Keychain, libsecret),
  name "aoa", allow_unencrypted_storage=False: where that cannot be encrypted, signing in fails
  with the reason, and nothing is ever written in plain text.

The gateway asks `credential(settings)` for tokens before azure-identity's own chain
(aoa_proxy.entra.Tokens): silently, from that cache (disable_automatic_authentication), never
by opening a browser behind the person's back. The sync credential runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Final, Protocol

from aoa_desktop.keys import KeyStore, KeyStoreError
from aoa_proxy.config import ProviderSettings
from aoa_proxy.entra import scope_of
from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

RECORD_ENTRY: Final = "azure.signin"  # keyring entry holding the account record (no token)
CACHE_NAME: Final = "aoa"


class BrowserCredential(Protocol):
    """What aoa uses of azure-identity's InteractiveBrowserCredential (tests pass a fake)."""

    def authenticate(self, *, scopes: list[str]) -> Any: ...  # AuthenticationRecord

    def get_token(self, *scopes: str) -> Any: ...  # AccessToken

    def close(self) -> None: ...


# (serialized account record or None, tenant id or "") -> a credential.
Factory = Callable[[str | None, str], BrowserCredential]


def browser_credential(record: str | None, tenant: str) -> BrowserCredential:
    """The real InteractiveBrowserCredential, its cache encrypted or refused."""
    from azure.identity import (
        AuthenticationRecord,
        InteractiveBrowserCredential,
        TokenCachePersistenceOptions,
    )

    how: dict[str, Any] = {
        "cache_persistence_options": TokenCachePersistenceOptions(
            name=CACHE_NAME, allow_unencrypted_storage=False
        )
    }
    if tenant:
        how["tenant_id"] = tenant
    if record:
        how["authentication_record"] = AuthenticationRecord.deserialize(record)
        how["disable_automatic_authentication"] = True  # the gateway never opens a browser
    credential: BrowserCredential = InteractiveBrowserCredential(**how)
    return credential


class MicrosoftSignIn:
    """The person's Microsoft sign-in: start it, see who is signed in, sign out.

    Thread-safe: the page's handlers run on the gateway loop, the browser flow in a thread.
    `on_change` runs (in that thread) when the account changes: the gateway forgets its token.
    """

    def __init__(self, keys: KeyStore, factory: Factory = browser_credential) -> None:
        self._keys = keys
        self._factory = factory
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
