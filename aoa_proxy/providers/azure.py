"""Azure OpenAI: requested model -> deployment, key in `api-key`, api-version in the query."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

from aoa_proxy.errors import AoaError, ModelNotFound, upstream_error
from aoa_proxy.providers.base import (
    CHAT_ENDPOINTS,
    Call,
    Endpoint,
    FetchBytes,
    Provider,
    ProviderKind,
    UpstreamRequest,
)
from aoa_proxy.schema import ModelObject


@functools.lru_cache(maxsize=256)
def _quote(deployment: str) -> str:
    return quote(deployment, safe="")


# The deployments listing exists only in these older api-versions.
_LISTING_VERSIONS = ("2022-12-01", "2023-03-15-preview", "2023-05-15")


class AzureProvider(Provider):
    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure OpenAI"
    key_env_var: ClassVar[str] = "AZURE_API_KEY"
    kind: ClassVar[ProviderKind] = ProviderKind.PASSTHROUGH
    # Image deployments (dall-e-3, gpt-image-1) answer at deployments/{name}/images/generations.
    endpoints: ClassVar[frozenset[Endpoint]] = CHAT_ENDPOINTS | {Endpoint.IMAGES}
    # Responses requests are bridged to chat. The v1 API (`/openai/v1/responses`) plugs in by
    # adding Endpoint.RESPONSES to `endpoints` in that mode and sending it there in build_request.

    # Settings are frozen and a provider lives as long as its settings: parse the URL once.
    @functools.cached_property
    def base_url(self) -> str:
        parts = urlsplit(self.settings.endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    @functools.cached_property
    def _query(self) -> str:
        return urlencode({"api-version": self.settings.api_version})

    def resolve_model(self, model: str) -> str:
        """Alias target, else AZURE_MODEL for an empty model, else the name without dots."""
        aliases = self.settings.aliases
        if model in aliases:
            return aliases[model]
        if not model.strip():
            return self.settings.model
        # Deployment names cannot contain dots: gpt-3.5-turbo is deployed as gpt-35-turbo.
        return model.strip().replace(".", "")

    async def build_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest:
        deployment = _quote(call.upstream_model)
        url = f"{self.base_url}/openai/deployments/{deployment}/{call.endpoint.value}?{self._query}"
        headers = {"Content-Type": "application/json", "api-key": call.key}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        # Azure ignores the body's model (the deployment is in the URL): send the client's bytes.
        return UpstreamRequest("POST", url, headers, call.raw)

    def translate_error(
        self, call: Call | None, status: int, body: bytes, headers: Mapping[str, str]
    ) -> AoaError:
        if status == 404 and call is not None and b"DeploymentNotFound" in body:
            known = ", ".join(
                [self.settings.model] + [f"{a} -> {d}" for a, d in self.settings.aliases.items()]
            )
            return ModelNotFound(
                f"Azure has no deployment named {call.upstream_model!r} for model "
                f"{call.model!r}. Configured: {known}. Add an alias in AZURE_MODEL_ALIAS "
                "(requested:deployment) or use a deployment name as the model.",
                param="model",
            )
        return upstream_error(status, body, headers)

    def models_request(self, key: str) -> UpstreamRequest | None:
        version = self.settings.api_version
        version = version if version in _LISTING_VERSIONS else "2023-05-15"
        url = f"{self.base_url}/openai/deployments?{urlencode({'api-version': version})}"
        return UpstreamRequest("GET", url, {"api-key": key})

    def known_models(self) -> list[str]:
        names = [self.settings.model]
        names += [a for a in self.settings.aliases if a not in names]
        return names

    def model_object(self, upstream: Mapping[str, Any]) -> ModelObject:
        entry = super().model_object(upstream)
        entry["owned_by"] = str(upstream.get("owner") or "azure")
        return entry
