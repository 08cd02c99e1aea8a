"""API keys in the OS keyring (service "aoa", one entry per provider) and nowhere else.

A provider's entry holds its key pool as its *_API_KEY variable would: the keys separated by
commas (one key is a pool of one). Also there: the access token ("access-token") and a proxy's
login ("<provider>.proxy", the "user:password" part of the proxy URL; settings.json keeps the URL
without it).

A backend that would put keys in a file (keyrings.alt's plaintext or "encrypted" files, any
file-backed backend) or that cannot store anything (keyring's fail/null backends) is refused:
then `available` is False, `problem` says why and what to do, and `set` raises. There is no
fallback to a file, on purpose.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

import keyring
import keyring.errors
from keyring.backend import KeyringBackend, get_all_keyring

from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

SERVICE: Final = "aoa"
READ_TIMEOUT: Final = 20.0  # seconds a key read may wait (e.g. on an unlock prompt)
ACCESS_TOKEN: Final = "access-token"  # the gateway's own access token lives beside the API keys


def pool_keys(entry: str) -> tuple[str, ...]:
    """A provider's keyring entry `k1,k2` -> ("k1", "k2"): its pool, written as *_API_KEY is."""
    return tuple(k for k in (p.strip() for p in entry.split(",")) if k)


def typed_keys(text: str) -> list[str]:
    """Keys as typed on the page: one, or several separated by commas (spaces around dropped)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def proxy_login_name(provider: str) -> str:
    """The keyring entry holding the login of `provider`'s proxy."""
    return f"{provider}.proxy"


class KeyStoreError(Exception):
    """A key could not be read, stored or removed; the message is for the user."""


def _unsafe_reason(backend: Any) -> str | None:
    """Why this backend must not hold keys, or None if it is a real OS keyring."""
    module = type(backend).__module__
    name = f"{module}.{type(backend).__name__}"
    if module.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return _no_keyring()
    if module.startswith("keyrings.alt") or hasattr(backend, "file_path"):
        return _(
            "The keyring backend {name} keeps keys in a file, which aoa does not accept. "
            "Use the system keyring (GNOME Keyring, KWallet, macOS Keychain, Windows "
            "Credential Manager) or set the keys as environment variables."
        ).format(name=name)
    return None


def _pick_backend(backend: Any) -> tuple[KeyringBackend | None, str | None]:
    """The one backend to use, and a problem if there is none.

    keyring's chainer writes to the first backend that accepts a key; if the real keyring
    failed, that could be a plaintext file. So use the best safe backend directly, never a chain.
    """
    candidates: list[KeyringBackend] = list(getattr(backend, "backends", None) or [backend])
    problem: str | None = None
    for candidate in sorted(candidates, key=_priority, reverse=True):
        reason = _unsafe_reason(candidate)
        if reason is None:
            return candidate, None
        problem = problem or reason
    return None, problem or _no_keyring()


def _priority(backend: KeyringBackend) -> float:
    try:
        return float(backend.priority)
    except Exception:
        return -1.0


class _Candidates:
    """Several backends offered to _pick_backend as if they were keyring's chain."""

    def __init__(self, backends: list[KeyringBackend]) -> None:
        self.backends = backends


def _viable(backend: KeyringBackend) -> bool:
    if hasattr(backend, "backends"):  # the chainer itself: its members are listed separately
        return False
    try:
        return float(backend.priority) > 0
    except Exception:  # keyring's way of saying "not usable here"
        return False


def _no_keyring() -> str:
    return _(
        "No system keyring is available, so API keys cannot be stored safely. "
        "Install and unlock a Secret Service keyring (GNOME Keyring or KWallet), "
        "or set the keys as environment variables."
    )


class KeyStore:
    """get/set/delete one key per provider in the OS keyring."""

    def __init__(self, backend: Any = None) -> None:
        if backend is not None:
            chosen, problem = _pick_backend(backend)
        else:
            chosen, problem = _pick_backend(keyring.get_keyring())
            if chosen is None:  # keyring preferred an unsafe backend: is a real one there too?
                others = [b for b in get_all_keyring() if _viable(b)]
                chosen = _pick_backend(_Candidates(others))[0] if others else None
                problem = None if chosen is not None else problem
        self._backend = chosen
        self.problem: str | None = problem
        self.read_timeout = READ_TIMEOUT
        self._read_lock = threading.Lock()
        self._stalled = False  # a read timed out and is still blocked in the backend
        if problem:
            log.warning("keyring: %s", problem)
        else:
            log.info("keys are kept in the keyring backend %s", type(chosen).__name__)

    @property
    def available(self) -> bool:
        return self._backend is not None and self.problem is None

    @property
    def backend_name(self) -> str:
        return type(self._backend).__name__ if self._backend else ""

    def get(self, name: str) -> str:
        """The stored key for `name` ("" if none, or if the keyring cannot be read)."""
        backend = self._backend
        if backend is None or self._stalled:
            return ""  # an earlier read still waits on the keyring: don't stack another behind it
        with self._read_lock:
            return self._get(backend, name)

    def _get(self, backend: KeyringBackend, name: str) -> str:
        result: list[str] = []
        failure: list[Exception] = []
        done = threading.Event()

        def read() -> None:
            try:
                result.append(backend.get_password(SERVICE, name) or "")
            except Exception as exc:  # backends raise more than KeyringError (D-Bus errors)
                failure.append(exc)
            finally:
                self._stalled = False
                done.set()

        # A locked keyring may wait for an unlock prompt nobody can see (a headless session):
        # give up after a while so the gateway still starts, and say why keys are missing.
        threading.Thread(target=read, name="aoa-keyring-read", daemon=True).start()
        if not done.wait(self.read_timeout):
            self._stalled = True
            if done.is_set():  # it answered just now, before the flag went up
                self._stalled = False
        if not done.is_set():
            message = _(
                "The system keyring did not answer within {seconds} s (is it locked?); "
                "stored keys are not used until it does."
            ).format(seconds=int(self.read_timeout))
            log.warning("keyring: %s", message)
            self.problem = message
            return ""
        if failure:
            self._fail(failure[0])
            return ""
        self.problem = None  # the backend is a safe one: any earlier problem was transient
        return result[0]

    def set(self, name: str, key: str) -> None:
        """Store `key` for `name`; raise KeyStoreError (never writes anywhere else)."""
        if not key:
            raise KeyStoreError(_("The key is empty; to remove a key use Remove."))
        if self._backend is None:
            raise KeyStoreError(self.problem or _("No usable keyring"))
        try:
            self._backend.set_password(SERVICE, name, key)
        except Exception as exc:  # backends raise more than KeyringError (D-Bus errors)
            raise KeyStoreError(self._fail(exc)) from None
        self.problem = None

    def delete(self, name: str) -> None:
        """Remove the key for `name`; no error when there is none."""
        if self._backend is None:
            raise KeyStoreError(self.problem or _("No usable keyring"))
        try:
            self._backend.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            pass  # nothing stored: the wanted state already
        except Exception as exc:  # backends raise more than KeyringError (D-Bus errors)
            raise KeyStoreError(self._fail(exc)) from None

    def _fail(self, exc: Exception) -> str:
        if isinstance(exc, keyring.errors.KeyringLocked):
            message = _("The system keyring is locked; unlock it and try again.")
        else:
            # The exception text comes from the backend, never from the key itself.
            message = _("The system keyring failed: {error}").format(
                error=str(exc) or type(exc).__name__
            )
        log.warning("keyring: %s", message)
        self.problem = message
        return message
