"""Provider registry: AOA_TYPE name -> provider class."""

from __future__ import annotations

from typing import Final

from aoa_proxy.config import ProviderSettings
from aoa_proxy.providers.anthropic import AnthropicProvider
from aoa_proxy.providers.azure import AzureProvider
from aoa_proxy.providers.base import (
    Call,
    Endpoint,
    LocalProvider,
    Provider,
    ProviderKind,
    UpstreamRequest,
)
from aoa_proxy.providers.demo import DemoProvider
from aoa_proxy.providers.gemini import GeminiProvider
from aoa_proxy.providers.openai_compat import OpenAICompatProvider
from aoa_proxy.providers.yi import YiProvider

REGISTRY: Final[dict[str, type[Provider]]] = {
    "azure": AzureProvider,
    "yi": YiProvider,
    "gemini": GeminiProvider,
    "openai": OpenAICompatProvider,
    "anthropic": AnthropicProvider,
    "demo": DemoProvider,
}


def get_provider(settings: ProviderSettings) -> Provider:
    """Instantiate the provider for these settings."""
    try:
        cls = REGISTRY[settings.name]
    except KeyError:
        raise ValueError(f"no provider named {settings.name!r}") from None
    return cls(settings)


__all__ = [
    "REGISTRY",
    "Call",
    "Endpoint",
    "LocalProvider",
    "Provider",
    "ProviderKind",
    "UpstreamRequest",
    "get_provider",
]
