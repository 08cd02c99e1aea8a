"""01.AI Yi: OpenAI-shaped, with a proper `Authorization: Bearer` (the original sent a bare key)."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlencode, urlsplit

from aoa_proxy.providers.base import CHAT_ENDPOINTS, Endpoint
from aoa_proxy.providers.openai_compat import OpenAICompatProvider


class YiProvider(OpenAICompatProvider):
    name: ClassVar[str] = "yi"
    label: ClassVar[str] = "Yi (01.AI)"
    key_env_var: ClassVar[str] = "YI_API_KEY"
    endpoints: frozenset[Endpoint] = CHAT_ENDPOINTS  # chat only: Responses is bridged

    @property
    def base_url(self) -> str:
        # The original used only scheme+host and the client's /v1/... path; we also accept a
        # base that already ends in /v1 (as 01.ai's docs print it) or sits under a sub-path.
        parts = urlsplit(self.settings.endpoint)
        path = parts.path.rstrip("/")
        path = path.removesuffix("/v1")
        return f"{parts.scheme}://{parts.netloc}{path}/v1"

    def query(self) -> str:
        version = self.settings.api_version
        return f"?{urlencode({'api-version': version})}" if version else ""
