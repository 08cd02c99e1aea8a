"""What every test runs inside: an in-memory keyring and no way off this machine.

A plain `pytest` on a developer's desktop must neither read nor change the person's stored keys
nor call a real provider with them. So `KeyStore()` finds `MemoryKeyring` unless a test asks for
the private Secret Service (tests/secret_service.py), and any socket connection to an address
that is not loopback fails at once and fails the test, even where the code under test swallows
the error.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keyring
import keyring.core
import keyring.errors
from keyring.backend import KeyringBackend


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only (a real KeyringBackend, so KeyStore accepts it)."""

    priority = 0.5  # below any real keyring: never chosen by keyring's own auto-detection

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class OffMachineConnection(ConnectionRefusedError):
    """Raised instead of connecting anywhere but loopback."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse every IP connection (and name lookup) that would leave this machine.

    Yields the list of refused destinations so the caller can fail the test on any of them.
    """
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True  # Unix sockets (D-Bus, the instance channel) stay on this machine
        return isinstance(address, tuple) and _is_loopback(str(address[0]))

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            refused.append(f"connect {address!r}")
            raise OffMachineConnection(f"tests may only connect to loopback, not {address!r}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock, address):
            refused.append(f"connect {address!r}")
            raise OffMachineConnection(f"tests may only connect to loopback, not {address!r}")
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(str(name)) and not _is_ip(str(name)):
            refused.append(f"resolve {name!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not resolve {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield refused
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


@contextmanager
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Make `keyring.get_keyring()` an empty MemoryKeyring for the duration."""
    # Not keyring.get_keyring(): its first call probes the session's D-Bus for a keyring.
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = previous
