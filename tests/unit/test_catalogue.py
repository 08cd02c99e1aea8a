"""The provider catalogue: one entry per variable, consistent with the settings it fills and the
provider classes, and enough on its own to add a provider (the desktop side of that:
tests/desktop_settings/test_settings_new_provider.py)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from aoa_proxy.catalogue import CATALOGUE, Kind, ProviderEntry, Var
from aoa_proxy.config import ENV_VARS, PROVIDERS, ProviderSettings, Settings, _Reader, load_settings
from aoa_proxy.errors import ConfigError, ConfigProblem
from aoa_proxy.providers import REGISTRY

# Settings attributes that no variable fills: they are worked out by load_settings.
DERIVED = {"providers", "provider_chosen_by_default", "warnings"}


def _attributes(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_every_variable_appears_exactly_once():
    names = [v.name for v in ENV_VARS]
    assert [n for n, count in Counter(names).items() if count > 1] == []
    assert CATALOGUE.vars() == ENV_VARS
    for name in names:
        assert CATALOGUE.var(name).name == name


def test_keys_and_the_access_token_are_the_secrets():
    secrets = {v.name for v in CATALOGUE.secrets()}
    assert {"AOA_ACCESS_TOKEN", "AZURE_API_KEY", "GEMINI_API_KEY"} <= secrets
    suffixes = ("_API_KEY", "_TOKEN", "_SECRET")
    assert secrets == {v.name for v in ENV_VARS if v.name.endswith(suffixes)}
    for entry in CATALOGUE.providers:
        # The desktop keeps one key per provider, plus Azure's client secret in its own entry.
        assert [v.name for v in entry.secrets][1:] in ([], ["AZURE_CLIENT_SECRET"]), entry.name


def test_no_secret_shows_in_the_settings_repr():
    env = {v.name: f"secret-{v.name.lower()}-1234" for v in CATALOGUE.secrets()}
    settings = load_settings(env)
    assert all(value not in repr(settings) for value in env.values())


def test_provider_variables_fill_provider_settings_attributes():
    attributes = _attributes(ProviderSettings)
    for entry in CATALOGUE.providers:
        for var in entry.vars:
            assert not var.field or var.field in attributes, var.name
        assert set(entry.fixed) <= attributes, entry.name


def test_gateway_variables_fill_every_settings_attribute():
    filled = [v.field for v in CATALOGUE.gateway.vars if v.field]
    assert sorted(filled) == sorted(_attributes(Settings) - DERIVED)


def test_every_kind_has_a_reader():
    assert set(_Reader({}, CATALOGUE)._parsers) == set(Kind)


def test_choices_and_bounds_are_given_where_the_kind_needs_them():
    for var in ENV_VARS:
        if var.kind is Kind.CHOICE:
            assert var.default in var.choices, var.name
        if var.kind in (Kind.INT, Kind.NUMBER):
            lo, hi = var.bounds
            assert lo <= float(var.default) <= hi, var.name


def test_catalogue_and_provider_registry_name_the_same_providers():
    assert CATALOGUE.names == PROVIDERS
    assert set(CATALOGUE.names) == set(REGISTRY)
    for entry in CATALOGUE.providers:
        cls = REGISTRY[entry.name]
        assert cls.label == entry.label
        assert cls.key_env_var == (entry.key_var.name if entry.key_var else "")


def test_aoa_type_help_names_every_provider():
    help_text = CATALOGUE.var("AOA_TYPE").help
    assert all(name in help_text for name in CATALOGUE.names)


def test_default_endpoints_are_what_load_settings_uses():
    defaults = load_settings({})
    for entry in CATALOGUE.providers:
        assert defaults.providers[entry.name].endpoint == entry.default_endpoint


def test_only_azure_requires_a_variable():
    required = {v.name for v in ENV_VARS if v.required}
    assert required == {"AZURE_ENDPOINT"}


def test_proxy_urls_go_to_the_variable_of_their_scheme():
    gemini = CATALOGUE.provider("gemini")
    assert gemini.proxy_var("socks5://127.0.0.1:1080") == CATALOGUE.var("GEMINI_SOCKS_PROXY")
    assert gemini.proxy_var("http://127.0.0.1:3128") == CATALOGUE.var("GEMINI_HTTP_PROXY")
    assert CATALOGUE.provider("demo").proxy_var("http://x") is None


# A provider as a later issue would add it: this entry is the only edit on the config side.
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
        Var(
            "ACME_MODEL",
            "",
            "default model",
            field="model",
            form="model",
            required="required for AOA_TYPE=acme",
        ),
        Var("ACME_MODEL_ALIAS", "", "pairs", kind=Kind.ALIASES, field="aliases", form="aliases"),
        Var("ACME_HTTP_PROXY", "", "http proxy", kind=Kind.HTTP_PROXY, field="http_proxy"),
        Var("ACME_SOCKS_PROXY", "", "socks proxy", kind=Kind.SOCKS_PROXY, field="socks_proxy"),
        Var("ACME_VERSION", "2023-06-01", "version header", field="api_version"),
    ),
)
WITH_ACME = CATALOGUE.with_provider(ACME)


def test_a_new_provider_entry_loads_through_load_settings():
    env = {
        "AOA_TYPE": "Acme",
        "ACME_API_KEY": "k-123",
        "ACME_MODEL": "rocket-1",
        "ACME_MODEL_ALIAS": "gpt-4o:rocket-2",
        "ACME_SOCKS_PROXY": "socks5://127.0.0.1:1080",
    }
    settings = load_settings(env, WITH_ACME)
    assert settings.provider == "acme"
    assert settings.active == ProviderSettings(
        "acme",
        endpoint="https://api.acme.example",
        api_key="k-123",
        model="rocket-1",
        api_version="2023-06-01",
        aliases={"gpt-4o": "rocket-2"},
        socks_proxy="socks5://127.0.0.1:1080",
    )
    assert settings.providers["azure"] == load_settings({}).providers["azure"]


def test_a_new_provider_entry_is_validated_and_required_only_when_active():
    with pytest.raises(ConfigError) as exc:
        load_settings({"AOA_TYPE": "acme", "ACME_ENDPOINT": "http://acme.example"}, WITH_ACME)
    assert [p.var for p in exc.value.problems] == ["ACME_ENDPOINT", "ACME_MODEL"]
    assert exc.value.problems[1] == ConfigProblem("ACME_MODEL", "required for AOA_TYPE=acme")
    assert load_settings({}, WITH_ACME).providers["acme"].model == ""


def test_a_new_provider_is_documented_before_the_ambient_variables():
    names = [v.name for v in WITH_ACME.vars()]
    assert names[-2:] == ["ACME_VERSION", "HTTPS_PROXY / NO_PROXY"]
    assert WITH_ACME.section_of("ACME_API_KEY") is ACME


def test_the_shipped_catalogue_does_not_know_a_provider_it_lacks():
    with pytest.raises(ConfigError) as exc:
        load_settings({"AOA_TYPE": "acme"})
    assert [p.var for p in exc.value.problems] == ["AOA_TYPE"]
