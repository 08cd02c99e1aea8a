"""The provider interface: where a request goes and how its answer comes back; no sockets.

The route owns HTTP: a front door (doors/, intake.py) reads and checks the client's request and
makes a `Call`; the relay (relay.py, upstream.py) opens the upstream connection and writes the
answer back. A provider is one class per upstream that
only maps; it never opens a connection or touches aiohttp, so it is tested with plain data.

Each provider states its `kind`, and the route serves each kind its own way:

    PASSTHROUGH  The upstream speaks OpenAI (Azure, OpenAI-compatible hosts, Yi). The route
                 sends build_request's request and relays the answer's bytes unchanged (a
                 stream event by event); only the model name (Azure: the URL) changes.
    TRANSLATING  The upstream speaks its own API (Gemini, Anthropic). build_request translates
                 the body; translate_response maps a whole answer, translate_stream maps SSE
                 `data:` payloads to chunks (the route adds `data: [DONE]`). Endpoints in
                 `native` (Anthropic's Messages) pass through as PASSTHROUGH answers do.
    LOCAL        Answers in-process, with no upstream and no key (the offline demo): subclass
                 LocalProvider and implement respond / respond_stream.

Every kind may override resolve_model (requested model -> upstream name), list_models /
models_request (/v1/models) and translate_error (an upstream error answer -> the AoaError the
client gets; return it, the route raises it). A provider that learns about its upstream's models
overrides prepare (the call as it will be sent) and retry_call (a changed call after an error
answer, before anything reached the client); a call it sends in another dialect is marked
`translated` and its answer goes through translate_response / translate_stream (Azure).

The rules:
- `Call` is frozen: read it, never change it. State for one request lives in locals, or in the
  generator translate_stream returns (Gemini's StreamTranslator). What a later request needs
  travels with the answer (Gemini's thought signatures ride in tool call ids), so any process
  can serve it; a provider may keep a per-process cache on its instance as a last resort
  (Runtime keeps one instance per unchanged settings).
- Answers the gateway builds are the TypedDicts in aoa_proxy.schema.
- Bad client input the upstream cannot take is a RequestError (errors.py), raised before any
  upstream call; messages name the fix.

Adding a provider: a module here with a Provider subclass that sets name, label, key_env_var and
kind (an OpenAI-compatible upstream subclasses OpenAICompatProvider and changes base_url), its
entry in REGISTRY (providers/__init__.py), and its settings (config.py). Tests: the translation
as plain data, then through the gateway against a fake upstream on loopback (tests/gemini/).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from aoa_proxy import jsonutil
from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import AoaError, upstream_error
from aoa_proxy.schema import Answer, AnswerChunk, ModelObject

if TYPE_CHECKING:
    from aoa_proxy.entra import Tokens


class ProviderKind(enum.Enum):
    """How a provider answers; the route serves each kind its own way."""

    PASSTHROUGH = "passthrough"  # the upstream speaks OpenAI: its bytes are relayed unchanged
    TRANSLATING = "translating"  # the upstream speaks its own API: translate_* map the answers
    LOCAL = "local"  # answers in-process (demo): respond/respond_stream, no upstream, no key


class Endpoint(enum.Enum):
    """The OpenAI routes a provider can serve; the value is the path after /v1/."""

    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    RESPONSES = "responses"  # only upstreams that speak it natively; others are bridged
    # Anthropic's routes: only the anthropic provider serves them (others are bridged by the
    # Messages door through chat, or estimated for count_tokens).
    MESSAGES = "messages"
    COUNT_TOKENS = "messages/count_tokens"
    IMAGES = "images/generations"  # OpenAI-speaking upstreams pass it through; Gemini maps it


# What every chat upstream serves; Responses is opt-in (OpenAICompatProvider).
CHAT_ENDPOINTS = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS})


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One client request as the route understood it; providers read it, never change it."""

    endpoint: Endpoint
    body: dict[str, Any]
    raw: bytes  # the client's body exactly as received
    model: str  # as the client asked
    upstream_model: str  # after alias resolution
    stream: bool  # the client's `stream`
    key: str  # the key to send upstream (server key, or the client's own)
    # Client headers a native upstream gets as sent (anthropic-version, anthropic-beta...).
    forward: tuple[tuple[str, str], ...] = ()
    # The upstream answers in another dialect than the client's: translate_response /
    # translate_stream map it back even for a pass-through provider (Azure's Responses-only
    # deployments take a chat call on /responses).
    translated: bool = False

    @property
    def stream_answer(self) -> bool:
        """The gateway's own answer (translated or local) goes back as SSE chunks.

        Embeddings have no stream form, so they answer whole whatever `stream` says.
        """
        return self.stream and self.endpoint is not Endpoint.EMBEDDINGS

    def body_bytes(self) -> bytes:
        """The body to send upstream: the client's bytes when the model is unchanged."""
        if self.body.get("model") == self.upstream_model or (
            "model" not in self.body and not self.upstream_model
        ):
            return self.raw
        return dumps({**self.body, "model": self.upstream_model})


# (request) -> (status, parsed JSON or None); given to providers that need several calls.
FetchJson = Callable[[UpstreamRequest], Awaitable[tuple[int, Any]]]
# (url, byte limit) -> (content type, bytes); used by providers that inline remote media.
FetchBytes = Callable[[str, int], Awaitable[tuple[str, bytes]]]


class Provider(ABC):
    """One upstream; the module docstring says what each kind implements."""

    name: ClassVar[str]
    label: ClassVar[str]
    key_env_var: ClassVar[str]
    kind: ClassVar[ProviderKind]
    # An instance attribute so that a provider's settings can add routes (Azure's v1 API).
    endpoints: frozenset[Endpoint] = CHAT_ENDPOINTS
    # Endpoints a translating provider's upstream speaks as the client does: their answers are
    # relayed as bytes, as a pass-through provider's are (anthropic: Messages).
    native: ClassVar[frozenset[Endpoint]] = frozenset()

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        # Entra ID tokens (AZURE_AUTH=entra), handed in by the Runtime; None: keys.
        self.tokens: Tokens | None = None

    @property
    def server_key(self) -> str:
        """The first server key ("" when the client's own key is used)."""
        keys = self.settings.keys
        return keys[0] if keys else ""

    @property
    def server_keys(self) -> tuple[str, ...]:
        """Every server key (a pool when several); () when the client's own key is used."""
        return self.settings.keys

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
    async def build_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest:
        """Where and how to send this call upstream.

        Async so a provider can do I/O first: Gemini fetches remote images through `fetch` to
        inline them. Pass-through providers never await anything here.
        """

    async def count_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest | None:
        """The upstream's input-token count for this chat call, or None when it has none
        (Anthropic's count_tokens door then estimates)."""
        return None

    def count_answer(self, payload: Any) -> int | None:
        """The input token count in the answer to count_request (None: unreadable)."""
        return None

    def prepare(self, call: Call) -> Call:
        """The call as this provider will send it, given what it learned about the upstream
        model (Azure's compat); the same call when nothing applies. On every request: keep it
        cheap."""
        return call

    def retry_call(self, call: Call, status: int, body: bytes) -> Call | None:
        """A changed call to send instead, after the upstream refused `call` with this error
        answer (nothing has reached the client yet); None: the error is the answer."""
        return None

    def translate_response(self, call: Call, payload: Any) -> Answer:
        """Upstream JSON -> OpenAI JSON (only for translating providers)."""
        raise NotImplementedError

    def translate_stream(
        self, call: Call, events: AsyncIterator[bytes]
    ) -> AsyncIterator[AnswerChunk]:
        """Upstream SSE `data:` payloads -> OpenAI chunks (only for translating providers)."""
        raise NotImplementedError

    def translate_error(
        self, call: Call | None, status: int, body: bytes, headers: Mapping[str, str]
    ) -> AoaError:
        """Upstream error answer -> the error the client gets; the route raises it."""
        return upstream_error(status, body, headers)

    def respond(self, call: Call) -> Answer:
        """The whole OpenAI response object (only for local providers)."""
        raise NotImplementedError

    def respond_stream(self, call: Call) -> AsyncIterator[AnswerChunk]:
        """OpenAI chunk objects, in order; the route adds `data: [DONE]` (local providers only)."""
        raise NotImplementedError

    def models_request(self, key: str) -> UpstreamRequest | None:
        """The upstream model-list call, or None if the upstream has none."""
        return None

    def stored_response_request(self, method: str, suffix: str, key: str) -> UpstreamRequest | None:
        """GET/DELETE `responses/{suffix}` on an upstream that stores the Responses it served
        natively, or None (bridged responses live in aoa's own store)."""
        return None

    async def list_models(self, fetch: FetchJson, key: str) -> list[ModelObject]:
        """OpenAI model objects: the upstream's list (if it has one) plus configured names.

        An upstream failure is logged by the caller's fetch and never hides configured names.
        """
        models: list[ModelObject] = []
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

    def model_object(self, upstream: Mapping[str, Any]) -> ModelObject:
        """One upstream model entry -> OpenAI model object."""
        return {
            "id": str(upstream.get("id", "")),
            "object": "model",
            "created": int(upstream.get("created") or upstream.get("created_at") or 0),
            "owned_by": str(upstream.get("owned_by") or upstream.get("owner") or self.name),
        }


def model_entry(model_id: str, owner: str, created: int = 0) -> ModelObject:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


dumps = jsonutil.dumps  # providers import it from here


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class LocalProvider(Provider):
    """A provider that answers in-process (no upstream, no key)."""

    kind: ClassVar[ProviderKind] = ProviderKind.LOCAL

    async def build_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest:
        raise NotImplementedError("local providers have no upstream")

    @abstractmethod
    def respond(self, call: Call) -> Answer:
        """The whole OpenAI response object."""

    @abstractmethod
    def respond_stream(self, call: Call) -> AsyncIterator[AnswerChunk]:
        """OpenAI chunk objects, in order (the route adds `data: [DONE]`)."""
