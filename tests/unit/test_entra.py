"""Entra ID as plain data: scopes, the fix each credential failure names, the settings rules."""

from __future__ import annotations

import pytest

from aoa_proxy.config import load_settings
from aoa_proxy.entra import COGNITIVE_SCOPE, FOUNDRY_PROJECT_SCOPE, default_scope, scope_of
from aoa_proxy.errors import ConfigError, entra_error

AZURE = {"AOA_TYPE": "azure", "AZURE_ENDPOINT": "https://r.openai.azure.com/"}


@pytest.mark.parametrize(
    ("endpoint", "scope"),
    [
        ("https://r.openai.azure.com/", COGNITIVE_SCOPE),
        ("https://r.cognitiveservices.azure.com", COGNITIVE_SCOPE),
        ("https://r.services.ai.azure.com/openai/v1", COGNITIVE_SCOPE),
        ("https://r.services.ai.azure.com/api/projects/p1", FOUNDRY_PROJECT_SCOPE),
        ("https://r.services.ai.azure.com/api/projects/p1/openai/v1/", FOUNDRY_PROJECT_SCOPE),
    ],
)
def test_default_scope_per_endpoint(endpoint: str, scope: str) -> None:
    assert default_scope(endpoint) == scope


def test_azure_scope_overrides_the_default() -> None:
    settings = load_settings(
        {**AZURE, "AZURE_AUTH": "entra", "AZURE_SCOPE": "https://ai.azure.com/.default"}
    )
    assert settings.active.entra
    assert scope_of(settings.active) == "https://ai.azure.com/.default"
    assert scope_of(load_settings({**AZURE, "AZURE_AUTH": "ENTRA"}).active) == COGNITIVE_SCOPE


def test_key_auth_stays_the_default() -> None:
    assert load_settings(AZURE).active.auth == "key"


@pytest.mark.parametrize(
    ("extra", "var"),
    [
        ({"AZURE_API_KEY": "k-server"}, "AZURE_AUTH"),
        ({"AZURE_CLIENT_SECRET": "s3cret-value"}, "AZURE_CLIENT_SECRET"),
        ({"AZURE_SCOPE": "not a scope"}, "AZURE_SCOPE"),
    ],
)
def test_entra_configuration_problems(extra: dict[str, str], var: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**AZURE, "AZURE_AUTH": "entra", **extra})
    assert [p.var for p in caught.value.problems] == [var]
    for secret in ("k-server", "s3cret-value"):
        assert secret not in str(caught.value)


def test_client_secret_is_never_in_the_settings_repr() -> None:
    settings = load_settings(
        {
            **AZURE,
            "AZURE_AUTH": "entra",
            "AZURE_TENANT_ID": "t",
            "AZURE_CLIENT_ID": "c",
            "AZURE_CLIENT_SECRET": "s3cret-value",
        }
    )
    assert settings.active.client_secret == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


# The credentials' own words (azure-identity 1.27 and Entra ID's AADSTS errors).
@pytest.mark.parametrize(
    ("reason", "fix"),
    [
        (
            "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
            "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential "
            "authentication unavailable. Environment variables are not fully configured.\n"
            "\tAzureCliCredential: Please run 'az login' to set up an account\n"
            "\tAzureDeveloperCliCredential: Azure Developer CLI could not be found.",
            "run `az login`",
        ),
        (
            "ClientSecretCredential authentication failed: AADSTS7000215: Invalid client secret "
            "provided. Ensure the secret being sent in the request is the client secret value.",
            "AZURE_CLIENT_SECRET is wrong",
        ),
        (
            "AADSTS700016: Application with identifier 'x' was not found in the directory 'y'.",
            "AZURE_CLIENT_ID is wrong",
        ),
        ("AADSTS90002: Tenant 'nope' not found.", "AZURE_TENANT_ID is wrong"),
        (
            "AzureDeveloperCliCredential: Please run 'azd auth login' from a command prompt to "
            "authenticate before using this credential.",
            "run `azd auth login`",
        ),
        ("something else entirely", "run `az login`, or set AZURE_TENANT_ID"),
    ],
)
def test_a_failed_credential_names_the_fix(reason: str, fix: str) -> None:
    error = entra_error(reason)
    assert error.status == 401
    body = error.payload()["error"]
    assert fix in body["message"]
    assert body["code"] == "entra_token_unavailable"


def test_listening_beyond_loopback_with_entra_warns_like_a_server_key() -> None:
    from aoa_proxy.cli import exposure_warning

    open_bind = {**AZURE, "AZURE_AUTH": "entra", "AOA_HOST": "0.0.0.0"}
    warning = exposure_warning(load_settings(open_bind))
    assert warning is not None and "Azure identity" in warning
    assert exposure_warning(load_settings({**open_bind, "AOA_ACCESS_TOKEN": "t" * 20})) is None
    assert exposure_warning(load_settings({**AZURE, "AZURE_AUTH": "entra"})) is None
