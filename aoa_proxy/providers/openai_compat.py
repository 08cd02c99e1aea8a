"""Upstreams that already speak OpenAI: any OpenAI-compatible host, and the base for Yi."""

from __future__ import annotations

from typing import ClassVar

from aoa_proxy.providers.base import (
    CHAT_ENDPOINTS,
    Call,
    Endpoint,
    FetchBytes,
    Provider,
    ProviderKind,
    UpstreamRequest,
    bearer,
)

JSON = "application/json"


class OpenAICompatProvider(Provider):
    """OpenAI itself, OpenRouter, DeepSeek, vLLM, Ollama...: `OPENAI_ENDPOINT` is the base URL."""

    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI-compatible"
    key_env_var: ClassVar[str] = "OPENAI_API_KEY"
    kind: ClassVar[ProviderKind] = ProviderKind.PASSTHROUGH
    # OpenAI's own API serves POST /responses and /images/generations: they pass through.
    endpoints: frozenset[Endpoint] = CHAT_ENDPOINTS | {Endpoint.RESPONSES, Endpoint.IMAGES}

    @property
    def base_url(self) -> str:
        return self.settings.endpoint.rstrip("/")

    def query(self) -> str:
        return ""

    async def build_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest:
        url = f"{self.base_url}/{call.endpoint.value}{self.query()}"
        headers = {"Content-Type": JSON, **bearer(call.key)}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return UpstreamRequest("POST", url, headers, call.body_bytes())

    def stored_response_request(self, method: str, suffix: str, key: str) -> UpstreamRequest:
        """GET/DELETE `responses/{suffix}` (a response the upstream stored) on the upstream."""
        return UpstreamRequest(method, f"{self.base_url}/responses/{suffix}", bearer(key))

    def models_request(self, key: str) -> UpstreamRequest | None:
        return UpstreamRequest("GET", f"{self.base_url}/models{self.query()}", bearer(key))
