"""The provider interface: translation only, no sockets.

The route owns HTTP (reading the client, the upstream connection, streaming back); a provider says
where a request goes, how its body and headers look upstream, and how answers come back.
Pass-through providers (upstreams that already speak OpenAI) forward bytes untouched; translating
providers (Gemini) turn upstream JSON and SSE events into OpenAI objects.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aoa_proxy import jsonutil
from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import UpstreamError, upstream_error


class Endpoint(enum.Enum):
    """The OpenAI routes a provider can serve; the value is the path after /v1/."""

    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None


@dataclass(slots=True)
class Call:
    """One client request as the route understood it."""

    endpoint: Endpoint
    body: dict[str, Any]
    raw: bytes  # the client's body exactly as received
    model: str  # as the client asked
    upstream_model: str  # after alias resolution
    stream: bool
    key: str  # the key to send upstream (server key, or the client's own)
    extra: dict[str, Any] = field(default_factory=dict)  # per-call scratch for translators

    def body_bytes(self) -> bytes:
        """The body to send upstream: the client's bytes when the model is unchanged."""
        if self.body.get("model") == self.upstream_model or (
            "model" not in self.body and not self.upstream_model
        ):
            return self.raw
        return dumps({**self.body, "model": self.upstream_model})


# (request) -> (status, parsed JSON or None); given to providers that need several calls.
FetchJson = Callable[[UpstreamRequest], Awaitable[tuple[int, Any]]]


class Provider(ABC):
    """One upstream. Subclasses set the class attributes and implement build_request."""

    name: ClassVar[str]
    label: ClassVar[str]
    key_env_var: ClassVar[str]
    passthrough: ClassVar[bool] = True  # upstream already speaks OpenAI: relay bytes
    local: ClassVar[bool] = False  # answers in-process (demo), no upstream at all
    endpoints: ClassVar[frozenset[Endpoint]] = frozenset(Endpoint)

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    @property
    def server_key(self) -> str:
        return self.settings.api_key

    def resolve_model(self, model: str) -> str:
        """Requested model -> upstream model name: alias first, then the model itself."""
        if model in self.settings.aliases:
            return self.settings.aliases[model]
        return model or self.settings.model

    def known_models(self) -> list[str]:
        """Model names this gateway was told about (default model and alias keys)."""
        names = [self.settings.model] if self.settings.model else []
        names += [a for a in self.settings.aliases if a not in names]
        return names

    @abstractmethod
    def build_request(self, call: Call) -> UpstreamRequest:
        """Where and how to send this call upstream."""

    async def prepare(self, call: Call, fetch_bytes: FetchBytes) -> None:  # noqa: B027
        """Async work before build_request (Gemini inlines remote images here)."""

    def translate_response(self, call: Call, payload: Any) -> dict[str, Any]:
        """Upstream JSON -> OpenAI JSON (only for translating providers)."""
        raise NotImplementedError

    def translate_stream(
        self, call: Call, events: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        """Upstream SSE `data:` payloads -> OpenAI chunks (only for translating providers)."""
        raise NotImplementedError

    def translate_error(
        self, call: Call | None, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamError:
        """Upstream error answer -> the error the client gets."""
        return upstream_error(status, body, headers)

    def models_request(self, key: str) -> UpstreamRequest | None:
        """The upstream model-list call, or None if the upstream has none."""
        return None

    async def list_models(self, fetch: FetchJson, key: str) -> list[dict[str, Any]]:
        """OpenAI model objects: the upstream's list (if it has one) plus configured names.

        An upstream failure is logged by the caller's fetch and never hides configured names.
        """
        models: list[dict[str, Any]] = []
        req = self.models_request(key)
        if req is not None:
            status, payload = await fetch(req)
            if (
                status == 200
                and isinstance(payload, dict)
                and isinstance(payload.get("data"), list)
            ):
                models = [self.model_object(m) for m in payload["data"] if isinstance(m, dict)]
        seen = {m["id"] for m in models}
        for name in self.known_models():
            if name not in seen:
                models.append(model_entry(name, self.name))
                seen.add(name)
        return models

    def model_object(self, upstream: Mapping[str, Any]) -> dict[str, Any]:
        """One upstream model entry -> OpenAI model object."""
        return {
            "id": str(upstream.get("id", "")),
            "object": "model",
            "created": int(upstream.get("created") or upstream.get("created_at") or 0),
            "owned_by": str(upstream.get("owned_by") or upstream.get("owner") or self.name),
        }


# (url, byte limit) -> (content type, bytes); used by providers that inline remote media.
FetchBytes = Callable[[str, int], Awaitable[tuple[str, bytes]]]


def model_entry(model_id: str, owner: str, created: int = 0) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


dumps = jsonutil.dumps  # providers import it from here


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class LocalProvider(Provider):
    """A provider that answers in-process (no upstream, no key)."""

    local: ClassVar[bool] = True

    def build_request(self, call: Call) -> UpstreamRequest:
        raise NotImplementedError("local providers have no upstream")

    @abstractmethod
    def respond(self, call: Call) -> dict[str, Any]:
        """The whole OpenAI response object."""

    @abstractmethod
    def respond_stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        """OpenAI chunk objects, in order (the route adds `data: [DONE]`)."""
