"""Keys live only in the OS keyring (the real Secret Service here); a missing keyring or a
file-backed one is refused with a clear message, and nothing is ever written to a file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest

from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore, KeyStoreError
from aoa_desktop.settings_web import state
from tests.desktop_settings.conftest import files_containing
from tests.secret_service import secret_service_backend


def _secret_tool(provider: str) -> str:
    # real_keys points DBUS_SESSION_BUS_ADDRESS at the private bus, so secret-tool sees it too.
    return subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", provider],
        capture_output=True,
        text=True,
    ).stdout


def test_key_round_trip_in_secret_service(real_keys: KeyStore) -> None:
    real_keys.set("gemini", "AIza-test-key-0123456789")
    assert real_keys.get("gemini") == "AIza-test-key-0123456789"
    assert _secret_tool("gemini") == "AIza-test-key-0123456789"
    real_keys.delete("gemini")
    assert real_keys.get("gemini") == "" and _secret_tool("gemini") == ""
    real_keys.delete("gemini")  # deleting what is not there is fine


def test_controller_key_goes_to_keyring_not_config_dir(real_keys: KeyStore, tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    controller = Controller(config, {}, real_keys)
    key = "sk-azure-0123456789abcdefXYZW"
    assert (
        controller.save({"providers": {"azure": {"endpoint": "https://x.openai.azure.com/"}}}) == []
    )
    assert controller.set_key("azure", key) == []
    assert _secret_tool("azure") == key
    assert controller.settings.providers["azure"].api_key == key
    assert controller.is_configured("azure")
    assert files_containing(tmp_path, key) == []
    assert controller.key_status("azure") == {"stored": True, "hint": "XYZW", "from_env": False}
    assert key not in repr(state(controller))
    # A fresh launch reads it back from the keyring.
    fresh = KeyStore(secret_service_backend())  # a new launch: a new backend object
    assert Controller(config, {}, fresh).settings.providers["azure"].api_key == key
    assert controller.delete_key("azure") == []
    assert not controller.is_configured("azure") and _secret_tool("azure") == ""


def test_no_keyring_backend_refuses_to_store_and_says_so(tmp_path: Path) -> None:
    keys = KeyStore(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    assert not keys.available
    assert keys.problem and "No system keyring" in keys.problem
    with pytest.raises(KeyStoreError, match="No system keyring"):
        keys.set("yi", "yi-key-0123456789")
    controller = Controller(tmp_path / "aoa", {}, keys)
    problems = controller.set_key("yi", "yi-key-0123456789")
    assert problems and "No system keyring" in problems[0]
    page = state(controller)
    assert page["keyring"]["available"] is False
    assert any("No system keyring" in p for p in page["problems"])
    assert files_containing(tmp_path, "yi-key-0123456789") == []
    assert controller.settings.providers["yi"].api_key == ""


class _FileKeyring:
    """Stands in for keyrings.alt's file backends: a backend that has a `file_path`.

    Duck-typed on purpose: a KeyringBackend subclass would register itself with keyring and
    could become every later test's default backend.
    """

    priority = 10.0
    file_path = "/tmp/should-never-be-written.cfg"

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("a file-backed keyring must not be used")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a file-backed keyring must not be used")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("a file-backed keyring must not be used")


def test_file_backed_keyring_is_refused() -> None:
    keys = KeyStore(_FileKeyring())
    assert not keys.available
    assert keys.problem and "keeps keys in a file" in keys.problem
    with pytest.raises(KeyStoreError):
        keys.set("openai", "sk-0123456789abcdef")
    assert keys.get("openai") == ""


def test_chain_skips_file_backend_for_the_real_one(real_keys: KeyStore) -> None:
    """keyring's chainer would fall back to the file; KeyStore picks the safe backend only."""
    real: Any = real_keys._backend

    class Chain:  # shaped like keyring's ChainerBackend: tried in this order
        priority = 10.0
        backends = [_FileKeyring(), real]

    keys = KeyStore(Chain())
    assert keys.available and keys._backend is real
    keys.set("yi", "yi-key-abcdef0123456")
    assert _secret_tool("yi") == "yi-key-abcdef0123456"


async def test_access_token_from_keyring_guards_the_gateway(
    real_keys: KeyStore, tmp_path: Path
) -> None:
    import aiohttp

    from aoa_desktop.keys import ACCESS_TOKEN
    from aoa_proxy.app import create_app
    from aoa_proxy.runtime import Runtime

    controller = Controller(tmp_path / "aoa", {}, real_keys)
    runtime = Runtime(controller.settings)
    controller.attach(runtime)
    runner = aiohttp.web.AppRunner(create_app(controller.settings, runtime), access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/models"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                assert r.status == 200  # no token yet
            assert controller.set_key(ACCESS_TOKEN, "local-token-0123456789") == []
            assert _secret_tool(ACCESS_TOKEN) == "local-token-0123456789"
            async with s.get(url) as r:
                assert r.status == 401
            headers = {"Authorization": "Bearer local-token-0123456789"}
            async with s.get(url, headers=headers) as r:
                assert r.status == 200
            assert controller.delete_key(ACCESS_TOKEN) == []
            async with s.get(url) as r:
                assert r.status == 200
    finally:
        await runner.cleanup()
    assert files_containing(tmp_path, "local-token-0123456789") == []
