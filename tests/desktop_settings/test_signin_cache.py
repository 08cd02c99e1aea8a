"""The Microsoft sign-in's MSAL token cache where libsecret's binding is missing: in the keyring.

Real msal cache, real Secret Service (the tests' private one), the real InteractiveBrowserCredential
built (never asked: its browser half needs the internet).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import msal
from azure.core.credentials import AccessToken
from azure.identity import InteractiveBrowserCredential

from aoa_desktop.keys import KeyStore
from aoa_desktop.signin import (
    CACHE_ENTRY,
    RECORD_ENTRY,
    BrowserCredentials,
    MicrosoftSignIn,
    _KeyringCached,
)
from tests.desktop_settings.conftest import files_containing

REFRESH = "refresh-token-secret-5678"
RECORD = json.dumps(
    {
        "authority": "login.microsoftonline.com",
        "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "homeAccountId": "uid.utid",
        "tenantId": "utid",
        "username": "person@contoso.example",
        "version": "1.0",
    }
)


def _sign_in_event(cache: Any) -> None:
    """What MSAL stores after a sign-in: an access and a refresh token for the account."""
    cache.add(
        {
            "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "scope": ["https://cognitiveservices.azure.com/.default"],
            "token_endpoint": "https://login.microsoftonline.com/utid/oauth2/v2.0/token",
            "environment": "login.microsoftonline.com",
            "response": {
                "access_token": "access-token-secret-1234",
                "refresh_token": REFRESH,
                "expires_in": 3600,
                "token_type": "Bearer",
            },
        }
    )


class _Inner:
    """The browser half (it needs the internet): fills the cache as a sign-in would."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def authenticate(self, *, scopes: list[str]) -> Any:
        _sign_in_event(self.cache)
        return None

    def get_token(self, *scopes: str) -> AccessToken:
        return AccessToken("access-token-secret-1234", int(time.time()) + 3600)

    def close(self) -> None:
        pass


def test_real_credential_is_built_on_the_keyring_cache(real_keys: KeyStore) -> None:
    factory = BrowserCredentials(real_keys, library_cache=False)
    built = factory(RECORD, "")
    inner = built._credential  # type: ignore[attr-defined]
    assert isinstance(inner, InteractiveBrowserCredential)
    assert inner._cache is built._cache  # type: ignore[attr-defined]
    built.close()


def test_cache_goes_to_the_keyring_comes_back_and_leaves_on_sign_out(
    real_keys: KeyStore, tmp_path: Path
) -> None:
    factory = BrowserCredentials(real_keys, library_cache=False)
    cache = factory.keyring_cache()
    credential = _KeyringCached(_Inner(cache), cache, real_keys)
    credential.authenticate(scopes=["https://cognitiveservices.azure.com/.default"])
    assert REFRESH in real_keys.get(CACHE_ENTRY)
    assert files_containing(tmp_path, REFRESH) == []

    again = factory.keyring_cache()  # a restart: the refresh token is found again
    found = list(again.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert [f["secret"] for f in found] == [REFRESH]

    real_keys.set(RECORD_ENTRY, RECORD)
    signin = MicrosoftSignIn(real_keys, factory)
    assert signin.status()["account"] == "person@contoso.example"
    assert signin.sign_out() is None
    assert real_keys.get(CACHE_ENTRY) == "" and real_keys.get(RECORD_ENTRY) == ""
    assert signin.status()["account"] == ""
