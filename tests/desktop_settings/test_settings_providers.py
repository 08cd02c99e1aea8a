"""Several providers in the desktop's controller (issue 14): the "Enabled" switches become
AOA_PROVIDERS with the default first, an enabled provider that is not configured is a warning
(left out of the gateway) instead of a failure, a bad value loses nothing else, and key pools
live in the real keyring as one comma-separated entry per provider, never in a file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import state
from aoa_proxy.runtime import Runtime
from tests.desktop_settings.conftest import files_containing
from tests.secret_service import secret_service_backend

KEY_1 = "gemini-key-number-one-0001"
KEY_2 = "gemini-key-number-two-0002"
OPENAI_KEY = "sk-openai-test-key-0009"


def _enabled(controller: Controller) -> tuple[str, ...]:
    """The providers serving now (read afresh: mypy would narrow a repeated attribute)."""
    return controller.settings.enabled


def _keys(controller: Controller) -> tuple[str, ...]:
    return controller.settings.active.keys


def _secret_tool(provider: str) -> str:
    return subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", provider],
        capture_output=True,
        text=True,
    ).stdout


def _stored(config: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((config / "settings.json").read_text())
    return data


def test_enabled_providers_become_aoa_providers_with_the_default_first(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    controller = Controller(config, {}, KeyStore())
    assert _enabled(controller) == ("demo",)  # nothing stored: today's one provider
    changes = {
        "provider": "gemini",
        "enabled": "openai,gemini",
        "providers": {"gemini": {"key": KEY_1}, "openai": {"key": OPENAI_KEY}},
    }
    assert controller.save(changes) == []
    settings = controller.settings
    assert (settings.provider, settings.enabled, settings.several) == (
        "gemini",
        ("gemini", "openai"),
        True,
    )
    assert _stored(config)["enabled"] == "openai,gemini"  # the switches, as saved
    assert controller.problems == []
    page = state(controller)
    assert [n for n, p in page["providers"].items() if p["enabled"]] == ["gemini", "openai"]
    assert page["several"] is True and page["global"]["enabled"]["env"] is None
    # A fresh launch serves the same providers; switched off again, one is left.
    again = Controller(config, {}, KeyStore())
    assert _enabled(again) == ("gemini", "openai")
    assert again.save({"enabled": "gemini"}) == []
    assert _enabled(again) == ("gemini",) and not again.settings.several


def test_the_default_provider_is_always_enabled(tmp_path: Path) -> None:
    controller = Controller(tmp_path / "aoa", {}, KeyStore())
    changes = {"provider": "openai", "enabled": "gemini", "providers": {"gemini": {"key": KEY_1}}}
    assert controller.save(changes) == []
    assert _enabled(controller) == ("openai", "gemini")
    assert controller.wanted_providers() == ("openai", "gemini")
    assert not controller.can_toggle("openai") and controller.can_toggle("gemini")


def test_an_enabled_provider_that_is_not_configured_is_a_warning_not_a_failure(
    tmp_path: Path,
) -> None:
    config = tmp_path / "aoa"
    controller = Controller(config, {}, KeyStore())
    changes = {
        "provider": "openai",
        "enabled": "openai,gemini,azure",
        "providers": {"openai": {"model": "gpt-4o-mini"}},
    }
    assert controller.save(changes) == []  # saved: the switch and the other change
    assert _stored(config)["enabled"] == "openai,gemini,azure"
    assert controller.settings.providers["openai"].model == "gpt-4o-mini"
    assert _enabled(controller) == ("openai",)  # the two others cannot serve yet
    gemini, azure = controller.enable_warnings()["gemini"], controller.enable_warnings()["azure"]
    assert gemini.startswith("Gemini is enabled but not configured") and "API key" in gemini
    assert azure.startswith("Azure OpenAI is enabled but not configured")
    assert "endpoint" in azure and "API key" in azure
    assert gemini in controller.problems and azure in controller.problems
    page = state(controller)
    assert page["providers"]["gemini"]["warning"] == gemini
    assert page["providers"]["gemini"]["enabled"] and not page["providers"]["gemini"]["serving"]
    assert gemini in page["problems"]
    # A fresh launch says the same, and starts.
    assert Controller(config, {}, KeyStore()).enable_warnings()["gemini"] == gemini
    # Its key makes it serve; the warning goes.
    assert controller.set_key("gemini", KEY_1) == []
    assert _enabled(controller) == ("openai", "gemini")
    assert "gemini" not in controller.enable_warnings()


def test_a_removed_key_takes_its_provider_out_of_the_gateway_at_once(tmp_path: Path) -> None:
    controller = Controller(tmp_path / "aoa", {}, KeyStore())
    runtime = Runtime(controller.settings)
    controller.attach(runtime)
    changes = {"provider": "openai", "enabled": "openai,gemini"}
    assert controller.save({**changes, "providers": {"gemini": {"key": KEY_1}}}) == []
    assert tuple(runtime.providers) == ("openai", "gemini")
    assert controller.delete_key("gemini") == []
    assert tuple(runtime.providers) == ("openai",)  # never the removed key again
    assert "gemini" in controller.enable_warnings()


def test_a_bad_enabled_value_is_refused_and_nothing_stored_is_lost(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    controller = Controller(config, {}, KeyStore())
    assert controller.save({"port": 8181, "providers": {"openai": {"model": "m1"}}}) == []
    before = _stored(config)
    problems = controller.save({"enabled": "openai,nope", "providers": {"openai": {"model": "m2"}}})
    assert problems == [
        "Enabled providers: unknown provider 'nope'; "
        "choose from azure, yi, gemini, openai, anthropic, demo"
    ]
    assert _stored(config) == before and controller.settings.providers["openai"].model == "m1"
    # A stored value this version cannot use (a hand edit, a newer aoa) is ignored at start:
    # everything else stays.
    (config / "settings.json").write_text(
        json.dumps({**before, "schema": 1, "enabled": "openai,mars", "provider": "openai"})
    )
    again = Controller(config, {}, KeyStore())
    assert again.load_problem and "AOA_PROVIDERS: unknown provider 'mars'" in again.load_problem
    assert again.settings.port == 8181 and again.settings.provider == "openai"
    assert again.settings.providers["openai"].model == "m1"
    assert _enabled(again) == ("openai",)


def test_aoa_providers_from_the_environment_is_read_only_and_never_a_crash(
    tmp_path: Path,
) -> None:
    env = {"AOA_PROVIDERS": "openai,gemini", "OPENAI_API_KEY": OPENAI_KEY}
    controller = Controller(tmp_path / "aoa", env, KeyStore())
    # Headless this is exit 2 (gemini has no key); the desktop serves openai and says why.
    assert _enabled(controller) == ("openai",) and controller.settings.provider == "openai"
    assert "Gemini is enabled but not configured" in controller.enable_warnings()["gemini"]
    problems = controller.save({"enabled": "openai"})
    assert problems == [
        "Enabled providers is set by the environment variable AOA_PROVIDERS and cannot be "
        "changed here"
    ]
    assert state(controller)["global"]["enabled"]["env"] == "AOA_PROVIDERS"
    assert not controller.can_toggle("gemini")
    assert controller.set_key("gemini", KEY_1) == []  # a key from the page completes it
    assert _enabled(controller) == ("openai", "gemini")


def test_a_key_pool_is_one_keyring_entry_added_to_and_removed_from_one_by_one(
    real_keys: KeyStore, tmp_path: Path
) -> None:
    config = tmp_path / "aoa"
    controller = Controller(config, {}, real_keys)
    assert controller.save({"provider": "gemini"}) == []
    assert controller.set_key("gemini", KEY_1) == []
    assert controller.add_key("gemini", KEY_2) == []
    assert _secret_tool("gemini") == f"{KEY_1},{KEY_2}"  # exactly like GEMINI_API_KEY
    assert _keys(controller) == (KEY_1, KEY_2)
    pool = [k["key"] for k in controller.pool_status()["gemini"]]
    assert pool == ["****0001", "****0002"]
    assert controller.key_status("gemini") == {"stored": True, "hint": "", "from_env": False}
    # A key stored already: refused in words that show only its last 4 characters.
    assert controller.add_key("gemini", f" {KEY_1} ") == [
        "Gemini, API key: the key ****0001 is listed twice"
    ]
    assert controller.set_key("gemini", f"{KEY_2}, {KEY_2}") == [
        "Gemini, API key: the key ****0002 is listed twice"
    ]
    assert _secret_tool("gemini") == f"{KEY_1},{KEY_2}"
    # Remove one: it is named as the page shows it, so an old list removes nothing else.
    assert controller.remove_key("gemini", 0, "****0002") == [
        "The list of keys was out of date; here it is again."
    ]
    assert controller.remove_key("gemini", 0, "****0001") == []
    assert _secret_tool("gemini") == KEY_2
    assert _keys(controller) == (KEY_2,)
    # A fresh launch reads the pool from the keyring; no file holds a key.
    assert controller.add_key("gemini", KEY_1) == []
    fresh = Controller(config, {}, KeyStore(secret_service_backend()))
    assert _keys(fresh) == (KEY_2, KEY_1)
    for key in (KEY_1, KEY_2):
        assert files_containing(tmp_path, key) == []
        assert key not in json.dumps(state(fresh))
    assert controller.remove_key("gemini", 1, "****0001") == []
    assert controller.remove_key("gemini", 0, "****0002") == []
    assert _secret_tool("gemini") == "" and _keys(controller) == ()


def test_a_pool_goes_to_a_new_endpoint_only_with_its_keys_entered_again(
    real_keys: KeyStore, tmp_path: Path
) -> None:
    controller = Controller(tmp_path / "aoa", {}, real_keys)
    first = {"endpoint": "http://127.0.0.1:9/v1"}
    assert controller.save({"provider": "openai", "providers": {"openai": first}}) == []
    assert controller.set_key("openai", f"{KEY_1},{KEY_2}") == []
    moved = {"endpoint": "http://127.0.0.1:10/v1"}
    problems = controller.save({"providers": {"openai": moved}})
    assert problems and "enter the API key again" in problems[0]
    # Entered again: the keys typed with that save are the pool for the new address.
    new_keys = "sk-new-pool-key-0003, sk-new-pool-key-0004"
    assert controller.save({"providers": {"openai": {**moved, "key": new_keys}}}) == []
    assert _secret_tool("openai") == "sk-new-pool-key-0003,sk-new-pool-key-0004"
    # The same address: a key typed with a save joins the pool.
    assert controller.save({"providers": {"openai": {**moved, "key": OPENAI_KEY}}}) == []
    assert _keys(controller) == (
        "sk-new-pool-key-0003",
        "sk-new-pool-key-0004",
        OPENAI_KEY,
    )
    assert files_containing(tmp_path, OPENAI_KEY) == []
