"""Azure OpenAI: requested model -> deployment, key in `api-key`.

Two layouts (spec azure-modern.md §1):
- classic (the default): `{origin}/openai/deployments/{deployment}/{route}?api-version=...`;
- the v1 API (`AZURE_API_VER=v1` or `preview`, or an endpoint ending in `/openai/v1`):
  `{base}/openai/v1/{route}` with the deployment as the body's `model`, no dated api-version
  (`?api-version=preview` for preview), and `/responses` served natively.
Hosts: `*.openai.azure.com`, `*.cognitiveservices.azure.com`, Foundry's `*.services.ai.azure.com`
or a custom domain. Deployments that refuse chat fields or chat itself: azure_compat.py.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlencode, urlsplit

import orjson

from aoa_proxy import azure_compat
from aoa_proxy.bridges import chat_responses
from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import (
    AoaError,
    EntraError,
    ModelNotFound,
    UpstreamUnreachable,
    azure_refusal,
    upstream_error,
)
from aoa_proxy.providers.base import (
    CHAT_ENDPOINTS,
    Call,
    Endpoint,
    FetchBytes,
    FetchJson,
    Provider,
    ProviderKind,
    UpstreamRequest,
    dumps,
    model_entry,
)
from aoa_proxy.schema import Answer, AnswerChunk, ModelObject


@functools.lru_cache(maxsize=256)
def _quote(deployment: str) -> str:
    return quote(deployment, safe="")


# The deployments listing (classic data plane, also for v1 resources, whose own /models is the
# model catalogue, not the deployments): 2023-03-15-preview is the api-version known to still
# serve it; later ones answer 404 (spec azure-modern.md §1 "Listing deployments").
LISTING_VERSION: Final = "2023-03-15-preview"
# api-versions that select the v1 API.
V1_VERSIONS: Final = frozenset({"v1", "preview"})
# The v1 API has no legacy completions route: those go to the classic one, at the GA version.
CLASSIC_FALLBACK_VERSION: Final = "2024-10-21"
V1_ENDPOINTS: Final = CHAT_ENDPOINTS | {Endpoint.RESPONSES}


class AzureProvider(Provider):
    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure OpenAI"
    key_env_var: ClassVar[str] = "AZURE_API_KEY"
    kind: ClassVar[ProviderKind] = ProviderKind.PASSTHROUGH

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        # Settings are frozen and a provider lives as long as its settings: parse the URL once.
        parts = urlsplit(settings.endpoint)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        path = parts.path.rstrip("/")
        self.v1 = settings.api_version in V1_VERSIONS or path.endswith("/openai/v1")
        # v1: keep a path before /openai (a Foundry project, an API gateway's prefix).
        prefix = path[: path.find("/openai")] if "/openai" in path else path
        self.v1_base = f"{self.base_url}{prefix}/openai/v1"
        # Responses on the v1 API (and Responses-only deployments in either layout) go here.
        self.responses_url = f"{self.v1_base}/responses"
        preview = settings.api_version == "preview"
        self._v1_query = "?api-version=preview" if preview else ""
        version = settings.api_version if not self.v1 else CLASSIC_FALLBACK_VERSION
        self._query = urlencode({"api-version": version})
        # Responses requests are passed through on v1, bridged to chat on the classic layout.
        # Image deployments (dall-e-3, gpt-image-1) answer at images/generations in both layouts.
        self.endpoints = (V1_ENDPOINTS if self.v1 else CHAT_ENDPOINTS) | {Endpoint.IMAGES}
        self.learned = azure_compat.Learned()

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
        headers = {"Content-Type": "application/json", **await self._auth(call.key)}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        if call.translated:  # a Responses-only deployment: the chat call goes to /responses
            body = chat_responses.to_responses(call.body, call.upstream_model)
            return UpstreamRequest("POST", self.responses_url, headers, dumps(body))
        if self.v1 and call.endpoint is not Endpoint.COMPLETIONS:
            url = f"{self.v1_base}/{call.endpoint.value}{self._v1_query}"
            return UpstreamRequest("POST", url, headers, call.body_bytes())  # model = deployment
        deployment = _quote(call.upstream_model)
        url = f"{self.base_url}/openai/deployments/{deployment}/{call.endpoint.value}?{self._query}"
        # Azure ignores the body's model (the deployment is in the URL): send the client's bytes.
        return UpstreamRequest("POST", url, headers, call.raw)

    # ---------------------------------------------------------------- deployments that need help

    def prepare(self, call: Call) -> Call:
        """The call with what this deployment is known to need (azure_compat.py)."""
        if not self.learned or call.endpoint is not Endpoint.CHAT:
            return call
        fixes = self.learned.get(call.upstream_model)
        if fixes is None:
            return call
        body = fixes.apply(call.body)
        if body is not None:
            call = dataclasses.replace(call, body=body, raw=dumps(body))
        if fixes.responses and not call.translated:
            call = dataclasses.replace(call, translated=True)
        return call

    def retry_call(self, call: Call, status: int, body: bytes) -> Call | None:
        """A chat call Azure refused for a reason aoa can fix: learn it, send the fixed call."""
        if not self.settings.compat or call.endpoint is not Endpoint.CHAT:
            return None
        advice = azure_compat.advice(status, body, call.body)
        # On /responses (already translated) only a refused field can still be fixed.
        if advice is None or (call.translated and advice.responses):
            return None
        self.learned.learn(call.upstream_model, advice)
        return self.prepare(call)

    def translate_response(self, call: Call, payload: Any) -> Answer:
        """A Responses-only deployment's Response -> the chat completion the client asked for."""
        if not isinstance(payload, Mapping):
            raise UpstreamUnreachable(f"{self.label} sent an answer that is not a Response")
        return chat_responses.to_completion(payload, call.upstream_model)

    async def translate_stream(
        self, call: Call, events: AsyncIterator[bytes]
    ) -> AsyncIterator[AnswerChunk]:
        """A Responses-only deployment's event stream -> chat chunks."""
        options = call.body.get("stream_options")
        include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        stream = chat_responses.ChunkStream(call.upstream_model, include_usage)
        async for data in events:
            if not data.strip() or data.strip() == b"[DONE]":
                continue
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamUnreachable(
                    f"{self.label} sent a stream event that is not JSON"
                ) from None
            if isinstance(event, Mapping):
                for chunk in stream.feed(event):
                    yield chunk
            if stream.done:
                return
        raise UpstreamUnreachable(f"{self.label}'s Responses stream ended before it finished")

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
        if status == 401 and self.tokens is not None:
            self.tokens.forget()  # refused (revoked, expired early): the next request asks anew
        return azure_refusal(status, body, entra=self.tokens is not None) or upstream_error(
            status, body, headers
        )

    def models_request(self, key: str) -> UpstreamRequest | None:
        url = f"{self.base_url}/openai/deployments?{urlencode({'api-version': LISTING_VERSION})}"
        return UpstreamRequest("GET", url, self._entra_or_key(key))

    async def list_models(self, fetch: FetchJson, key: str) -> list[ModelObject]:
        if self.tokens is not None:
            try:
                key = await self.tokens.token()
            except EntraError:  # the requests say why; the list shows the configured names
                return [model_entry(name, self.name) for name in self.known_models()]
        return await super().list_models(fetch, key)

    async def _auth(self, key: str) -> dict[str, str]:
        """Entra ID: a Bearer token (the client's key never reaches Azure); else `api-key`."""
        return self._entra_or_key(await self.tokens.token() if self.tokens else key)

    def _entra_or_key(self, secret: str) -> dict[str, str]:
        # Classic routes reject a key sent as a Bearer: keys go in api-key.
        return {"Authorization": f"Bearer {secret}"} if self.tokens else {"api-key": secret}

    def stored_response_request(self, method: str, suffix: str, key: str) -> UpstreamRequest | None:
        """On v1, the Responses Azure stored (`store` defaults to true there)."""
        if not self.v1:
            return None
        url = f"{self.v1_base}/responses/{suffix}"
        if self._v1_query:
            url += ("&" if "?" in suffix else "?") + self._v1_query[1:]
        return UpstreamRequest(method, url, self._entra_or_key(key))

    def known_models(self) -> list[str]:
        names = [self.settings.model]
        names += [a for a in self.settings.aliases if a not in names]
        return names

    def model_object(self, upstream: Mapping[str, Any]) -> ModelObject:
        entry = super().model_object(upstream)
        entry["owned_by"] = str(upstream.get("owner") or "azure")
        return entry
