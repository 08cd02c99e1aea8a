"""Entra ID tokens for Azure (AZURE_AUTH=entra): one credential per settings, its token cached.

azure-identity signs in through its standard chain, DefaultAzureCredential without the sources a
gateway has no business with (VS Code, PowerShell, MSAL's shared cache, a browser): a service
principal from the environment, workload identity, managed identity, the Azure CLI, the Azure
Developer CLI. A client secret in the settings (the desktop keeps it in the keyring) makes that
service principal the only source. A desktop sign-in (aoa_desktop.signin) goes first when the
desktop hands one in.

The token lives in this object only: never logged, never written anywhere by aoa. It is reused
until REFRESH_BEFORE seconds before it expires (the CLI credentials do not cache: each call runs
`az`), so while it is good a request costs a clock read. azure-identity is imported only here,
and only when a provider uses Entra ID.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import EntraError, entra_error

log = logging.getLogger(__name__)

# https://learn.microsoft.com/azure/foundry/foundry-models/how-to/configure-entra-id
COGNITIVE_SCOPE: Final = "https://cognitiveservices.azure.com/.default"
FOUNDRY_PROJECT_SCOPE: Final = "https://ai.azure.com/.default"  # /api/projects/... endpoints
REFRESH_BEFORE: Final = 300.0  # seconds; azure-core's BearerTokenCredentialPolicy uses the same

# DefaultAzureCredential's members, as the start-up line names the one that gave the token.
_SOURCES: Final = {
    "EnvironmentCredential": "service principal from the environment (AZURE_CLIENT_SECRET "
    "or a certificate)",
    "ClientSecretCredential": "service principal (AZURE_CLIENT_SECRET)",
    "WorkloadIdentityCredential": "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
    "ManagedIdentityCredential": "managed identity",
    "AzureCliCredential": "Azure CLI (az login)",
    "AzureDeveloperCliCredential": "Azure Developer CLI (azd auth login)",
}


class Credential(Protocol):
    """An async azure-identity credential (or the desktop's sign-in, which acts as one)."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...  # AccessToken

    async def close(self) -> None: ...


def default_scope(endpoint: str) -> str:
    """The scope for an endpoint: Foundry project endpoints need ai.azure.com's."""
    path = urlsplit(endpoint).path
    return FOUNDRY_PROJECT_SCOPE if "/api/projects/" in f"{path}/" else COGNITIVE_SCOPE


def scope_of(ps: ProviderSettings) -> str:
    """The scope tokens are asked for: AZURE_SCOPE, else the endpoint's default."""
    return ps.scope or default_scope(ps.endpoint)


class Tokens:
    """Bearer tokens for one provider's settings; `token()` is what each request awaits."""

    def __init__(
        self,
        ps: ProviderSettings,
        *,
        first: tuple[str, Credential] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scope = scope_of(ps)
        self._ps = ps
        self._first = first  # (label, credential) tried before the chain: a desktop sign-in
        self._clock = clock
        self._credential: Credential | None = None
        self._token = ""
        self._good_until = 0.0  # wall clock (azure-identity's expires_on is epoch seconds)
        self._lock = asyncio.Lock()
        self.source = ""  # which source gave the last token, for the start-up line and the page

    async def token(self) -> str:
        """A valid token, from memory while it is good; EntraError (401) naming the fix."""
        if self._clock() < self._good_until:
            return self._token
        async with self._lock:  # one refresh for every request waiting on it
            if self._clock() >= self._good_until:
                await self._refresh()
            return self._token

    def forget(self) -> None:
        """Ask again next time (Azure refused the token: revoked, or its role changed)."""
        self._good_until = 0.0

    async def check(self) -> str:
        """Get a token once (start-up) and say where it came from; EntraError if none."""
        await self.token()
        return self.source

    async def close(self) -> None:
        if self._first is not None:
            await self._first[1].close()
        if self._credential is not None:
            await self._credential.close()

    async def _refresh(self) -> None:
        reasons: list[str] = []
        if self._first is not None:
            label, credential = self._first
            try:
                self._keep(await credential.get_token(self.scope), label)
                return
            except Exception as exc:  # not signed in (any more): the chain may still have one
                reasons.append(f"{label}: {exc}")
        credential = self._chain()
        try:
            access = await credential.get_token(self.scope)
        except Exception as exc:  # ClientAuthenticationError, or a transport failure
            reasons.append(str(exc) or type(exc).__name__)
            raise entra_error("\n".join(reasons)) from None
        self._keep(access, self._won(credential))

    def _keep(self, access: Any, label: str) -> None:
        token, expires_on = str(access.token), float(access.expires_on)
        now = self._clock()
        # Short-lived tokens (tests, odd issuers) are reused for half their life, not zero.
        margin = min(REFRESH_BEFORE, max(0.0, expires_on - now) / 2)
        self._token, self._good_until = token, expires_on - margin
        if label != self.source:
            log.info("Entra ID: tokens for %s come from %s", self.scope, label)
        self.source = label

    def _chain(self) -> Credential:
        if self._credential is None:
            self._credential = _build(self._ps)
        return self._credential

    @staticmethod
    def _won(credential: Credential) -> str:
        # DefaultAzureCredential remembers its winner in a private attribute; say "chain" if
        # a future version renames it.
        winner = getattr(credential, "_successful_credential", None) or credential
        name = type(winner).__name__
        return _SOURCES.get(name, name)


def _build(ps: ProviderSettings) -> Credential:
    """The credential for these settings (azure-identity imported here, not at start-up)."""
    from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential

    # azure-identity logs each failed source as a WARNING on every attempt; aoa reports the
    # failure itself, once, with the fix. An explicit level set by the user is kept.
    quiet = logging.getLogger("azure")
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.ERROR)
    if ps.client_secret:
        secret: Credential = ClientSecretCredential(ps.tenant_id, ps.client_id, ps.client_secret)
        return secret
    ids: dict[str, str] = {}
    if ps.client_id:  # a user-assigned managed identity, or the workload identity's app
        ids["managed_identity_client_id"] = ids["workload_identity_client_id"] = ps.client_id
    if ps.tenant_id:
        ids["workload_identity_tenant_id"] = ps.tenant_id
    chain: Credential = DefaultAzureCredential(
        exclude_shared_token_cache_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_powershell_credential=True,
        **ids,
    )
    return chain


__all__ = ["EntraError", "Tokens", "default_scope", "scope_of"]
