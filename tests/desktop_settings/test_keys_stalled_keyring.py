"""A keyring that never answers (locked, with an unlock prompt nobody can see) must not hang aoa."""

from __future__ import annotations

import threading

from keyring.backend import KeyringBackend

from aoa_desktop.keys import KeyStore


class StalledKeyring(KeyringBackend):
    """An in-memory keyring whose reads block until `release` is set."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.release = threading.Event()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(10)
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.data.pop((service, username), None)


def test_a_stalled_read_gives_up_says_why_and_recovers():
    backend = StalledKeyring()
    store = KeyStore(backend)
    store.read_timeout = 0.2
    store.set("azure", "sk-stored-key-1234")
    assert store.get("azure") == ""
    assert store.problem is not None and "did not answer" in store.problem
    assert store.get("yi") == ""  # no second read stacks up behind the blocked one
    backend.release.set()
    for _ in range(100):  # the blocked read finishes in the background
        if store.get("azure"):
            break
        threading.Event().wait(0.05)
    assert store.get("azure") == "sk-stored-key-1234"
    assert store.problem is None
