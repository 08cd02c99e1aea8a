"""The test suite itself is safe to run on a person's desktop: it neither changes their keyring
nor reaches the internet (tests/guards.py, tests/secret_service.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from aoa_desktop.keys import SERVICE, KeyStore
from tests.conftest import Sandbox
from tests.guards import MemoryKeyring, OffMachineConnection
from tests.secret_service import (
    missing_tools,
    secret_service_backend,
    session_env,
    start_private_keyring,
)

ROOT = Path(__file__).resolve().parents[2]
PLANTED = {"gemini": "AIza-the-persons-own-key-0001", "openai": "sk-the-persons-own-key-0002"}


def test_a_plain_keystore_gets_the_in_memory_keyring(sandbox: Sandbox) -> None:
    store = KeyStore()
    assert isinstance(store._backend, MemoryKeyring) and store.available
    store.set("gemini", "k-0123456789")
    assert sandbox.keyring.entries == {(SERVICE, "gemini"): "k-0123456789"}
    assert keyring.get_keyring() is sandbox.keyring


def test_connections_off_loopback_are_refused_and_reported(sandbox: Sandbox) -> None:
    with pytest.raises(OffMachineConnection):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("api.openai.com", 443)
    assert sandbox.refused == ["connect ('192.0.2.1', 443)", "resolve 'api.openai.com'"]
    sandbox.refused.clear()  # seen and asserted: do not fail this test at teardown
    with socket.create_server(("127.0.0.1", 0)) as server:  # loopback stays open
        socket.create_connection(server.getsockname(), timeout=1).close()


def test_running_the_keyring_tests_leaves_the_persons_keyring_alone() -> None:
    """Plant keys in an "outside" keyring standing in for the person's desktop session, run the
    real-keyring tests with that session in their environment, and find the keys unchanged."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt: dbus gnome-keyring)")
    outside = start_private_keyring()
    try:
        with session_env(outside):
            for name, key in PLANTED.items():
                secret_service_backend().set_password(SERVICE, name, key)
        done = subprocess.run(
            [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/desktop_settings/test_settings_keys.py",
                "tests/desktop_settings/test_settings_controller.py",
            ],
            cwd=ROOT,
            env={**os.environ, **outside.env},
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with session_env(outside):
            for name, key in PLANTED.items():
                assert secret_service_backend().get_password(SERVICE, name) == key
    finally:
        outside.stop()
