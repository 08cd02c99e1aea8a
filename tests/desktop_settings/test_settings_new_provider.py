"""A provider added to the catalogue reaches the desktop with no edit in aoa_desktop: the
controller's fields, the page's state, the page itself in Chromium, and saving from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import state
from aoa_proxy.catalogue import CATALOGUE, Kind, ProviderEntry, Var
from aoa_proxy.config import ProviderSettings
from tests.desktop_settings.conftest import Launcher, open_settings

# Like a later issue's provider: the usual fields plus one the page has never seen ("region").
ACME = ProviderEntry(
    name="acme",
    label="Acme",
    vars=(
        Var(
            "ACME_ENDPOINT",
            "https://api.acme.example",
            "Acme API address",
            kind=Kind.URL,
            field="endpoint",
            form="endpoint",
        ),
        Var("ACME_API_KEY", "", "server-side key", kind=Kind.SECRET, field="api_key"),
        Var("ACME_MODEL", "rocket-1", "default model", field="model", form="model"),
        Var(
            "ACME_REGION",
            "eu",
            "where Acme serves",
            kind=Kind.CHOICE,
            choices=("eu", "us"),
            field="api_version",
            form="region",
        ),
        Var("ACME_MODEL_ALIAS", "", "pairs", kind=Kind.ALIASES, field="aliases", form="aliases"),
        Var(
            "ACME_HTTP_PROXY",
            "",
            "http proxy",
            kind=Kind.HTTP_PROXY,
            field="http_proxy",
            form="proxy",
        ),
        Var(
            "ACME_SOCKS_PROXY",
            "",
            "socks proxy",
            kind=Kind.SOCKS_PROXY,
            field="socks_proxy",
            form="proxy",
        ),
    ),
)
WITH_ACME = CATALOGUE.with_provider(ACME)


def test_a_new_provider_is_in_the_controllers_fields_and_the_page_state(tmp_path: Path) -> None:
    controller = Controller(tmp_path / "aoa", {}, KeyStore(), catalogue=WITH_ACME)
    fields = controller.fields
    assert fields.provider_fields("acme") == {
        "endpoint": ("ACME_ENDPOINT",),
        "model": ("ACME_MODEL",),
        "region": ("ACME_REGION",),
        "aliases": ("ACME_MODEL_ALIAS",),
        "proxy": ("ACME_HTTP_PROXY", "ACME_SOCKS_PROXY"),
    }
    assert fields.keyed[-1] == "acme" and fields.key_env_var("acme") == "ACME_API_KEY"
    assert fields.providers()[-1] == ("acme", "Acme")  # the tray's provider menu
    page = state(controller)["providers"]["acme"]
    assert page["label"] == "Acme" and not page["available"] and not page["configured"]
    # The page's usual order, the new field just before the key.
    assert page["rows"] == ["endpoint", "model", "proxy", "region", "key", "aliases"]
    assert page["fields"]["region"] == {
        "value": "",
        "env": None,
        "placeholder": "eu",
        "widget": "choice",
        "choices": ["eu", "us"],
    }
    assert page["fields"]["endpoint"]["placeholder"] == "https://api.acme.example"
    assert page["fields"]["endpoint"]["widget"] == "wide"
    assert page["key"] == {
        "stored": False,
        "hint": "",
        "from_env": False,
        "env_name": "ACME_API_KEY",
    }


def test_a_new_providers_fields_save_into_its_variables_and_are_checked(tmp_path: Path) -> None:
    controller = Controller(tmp_path / "aoa", {}, KeyStore(), catalogue=WITH_ACME)
    changes = {
        "endpoint": "http://127.0.0.1:9/v1",
        "region": "US",  # any case, stored as listed
        "proxy": "socks5://127.0.0.1:1080",
        "aliases": {"gpt-4o": "rocket-2"},
        "key": "acme-key-0123456789",
    }
    assert controller.save({"providers": {"acme": changes}}) == []
    assert controller.settings.providers["acme"] == ProviderSettings(
        "acme",
        endpoint="http://127.0.0.1:9/v1",
        api_key="acme-key-0123456789",
        model="rocket-1",
        api_version="us",
        aliases={"gpt-4o": "rocket-2"},
        socks_proxy="socks5://127.0.0.1:1080",
    )
    assert controller.stored["providers"]["acme"]["region"] == "us"
    assert controller.keys.get("acme") == "acme-key-0123456789"
    problems = controller.save({"providers": {"acme": {"region": "mars", "endpoint": "ftp://x"}}})
    assert problems == ["Acme, region: 'mars' is not one of eu, us"]
    problems = controller.save({"providers": {"acme": {"endpoint": "ftp://x"}}})
    assert len(problems) == 1 and problems[0].startswith("Acme, endpoint: ")
    # The environment wins and makes the field read-only, as for the shipped providers.
    env = {"ACME_REGION": "eu"}
    controller = Controller(tmp_path / "aoa", env, KeyStore(), catalogue=WITH_ACME)
    assert controller.settings.providers["acme"].api_version == "eu"
    assert state(controller)["providers"]["acme"]["fields"]["region"]["env"] == "ACME_REGION"


async def test_the_page_draws_and_saves_a_new_provider(
    browser: Any, launcher: Launcher, config_dir: Path
) -> None:
    desktop = await launcher.launch(config_dir, KeyStore(), catalogue=WITH_ACME)
    page = await open_settings(browser, desktop)
    await page.get_by_role("tab", name="Acme").click()
    panel = page.locator(".panel:not([hidden])")
    # No provider class yet: it cannot be enabled, so it cannot be the default either.
    assert await panel.locator(".enabled-switch").is_disabled()
    assert await panel.locator(".enable-note").inner_text() == "not available in this version"
    assert await page.locator("#g-provider option[value='acme']").count() == 0
    labels = await panel.locator(".form > label").all_inner_texts()
    assert labels == ["Endpoint", "Default model", "Proxy", "region", "API key", "Model aliases"]
    assert await panel.locator("[data-field='model'] input").get_attribute("placeholder") == (
        "rocket-1"
    )
    await panel.locator("[data-field='endpoint'] input").fill("http://127.0.0.1:9/v1")
    await panel.locator("[data-field='region'] select").select_option("us")
    await panel.get_by_role("button", name="Add alias").click()
    await panel.locator(".alias-from").fill("gpt-4o")
    await panel.locator(".alias-to").fill("rocket-2")
    await page.click("#save")
    await page.wait_for_selector("#save-status.ok")
    acme = desktop.controller.settings.providers["acme"]
    assert (acme.endpoint, acme.api_version) == ("http://127.0.0.1:9/v1", "us")
    assert dict(acme.aliases) == {"gpt-4o": "rocket-2"}
    await page.context.close()
