"""Anthropic (Claude): chat translated to the Messages API, and Messages passed through.

Requests go to `{endpoint}/v1/messages` (the Anthropic API, or Azure AI Foundry's
`https://RES.services.ai.azure.com/anthropic`) with the key in `x-api-key` and
`anthropic-version`. Chat requests are translated by bridges/anthropic_request.py and their
answers back by anthropic_response.py / anthropic_stream.py. The Messages front door's requests
(`native`) keep the client's bytes (only the model may change) and its anthropic-* headers, and
their answers, streams and errors go back unchanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, ClassVar, Final
from urllib.parse import urlencode, urlsplit

import orjson

from aoa_proxy.bridges import anthropic_response as rs
from aoa_proxy.bridges.anthropic_messages import ThinkingCache
from aoa_proxy.bridges.anthropic_models import traits
from aoa_proxy.bridges.anthropic_request import AnthropicCall, to_messages_request
from aoa_proxy.bridges.anthropic_stream import ChatStream
from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import (
    AoaError,
    NativeError,
    RequestError,
    UpstreamError,
    UpstreamUnreachable,
)
from aoa_proxy.providers.base import (
    Call,
    Endpoint,
    FetchBytes,
    FetchJson,
    Provider,
    ProviderKind,
    UpstreamRequest,
    dumps,
)
from aoa_proxy.schema import Answer, AnswerChunk, ModelObject

DEFAULT_ENDPOINT: Final = "https://api.anthropic.com"
DEFAULT_VERSION: Final = "2023-06-01"
JSON: Final = "application/json"
# OpenAI model names (clients that cannot change theirs) go to ANTHROPIC_MODEL.
_OPENAI_CHAT: Final = re.compile(r"^(gpt-|chatgpt-|o\d(-|$)|text-davinci|davinci|babbage)")
_MODEL_PAGES: Final = 20  # Anthropic pages its list (has_more/last_id); a safety stop


class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = "Anthropic"
    key_env_var: ClassVar[str] = "ANTHROPIC_API_KEY"
    kind: ClassVar[ProviderKind] = ProviderKind.TRANSLATING
    # Chat is translated; Messages and count_tokens are Anthropic's own, passed through.
    # No legacy completions and no embeddings: Anthropic has neither (check_endpoint's 404).
    endpoints: frozenset[Endpoint] = frozenset(
        {Endpoint.CHAT, Endpoint.MESSAGES, Endpoint.COUNT_TOKENS}
    )
    native: ClassVar[frozenset[Endpoint]] = frozenset({Endpoint.MESSAGES, Endpoint.COUNT_TOKENS})

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        # Thinking blocks of tool-calling answers, put back on the next turn (OpenAI clients
        # drop them; Anthropic wants them while thinking is on). Lives as long as the settings.
        self.thinking = ThinkingCache()

    # Settings are frozen and a provider lives as long as its settings: work these out once.
    @functools.cached_property
    def base_url(self) -> str:
        """`…/v1`: the endpoint as given, with or without its own trailing /v1."""
        endpoint = (self.settings.endpoint or DEFAULT_ENDPOINT).rstrip("/")
        return endpoint if endpoint.endswith("/v1") else f"{endpoint}/v1"

    @functools.cached_property
    def _foundry(self) -> bool:
        # Azure AI Foundry takes the key as `api-key` too (the SDK's lib/foundry.py sends it).
        return (urlsplit(self.base_url).hostname or "").endswith(".azure.com")

    def resolve_model(self, model: str) -> str:
        """Alias target; else ANTHROPIC_MODEL for an empty or OpenAI model name; else the name."""
        if model in self.settings.aliases:
            return self.settings.aliases[model]
        if not model.strip() or _OPENAI_CHAT.match(model):
            return self.settings.model
        return model.strip()

    def headers(self, key: str, forward: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
        """Auth and version headers; a client's anthropic-* headers (native calls) win."""
        headers = {
            "Content-Type": JSON,
            "anthropic-version": self.settings.api_version or DEFAULT_VERSION,
        }
        if key:
            headers["x-api-key"] = key
            if self._foundry:
                headers["api-key"] = key
        headers.update(forward)
        return headers

    # ----------------------------------------------------------------------- requests

    async def build_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest:
        headers = self.headers(call.key, call.forward)
        if call.stream:
            headers["Accept"] = "text/event-stream"
        if call.endpoint in self.native:
            url = f"{self.base_url}/{call.endpoint.value}"
            return UpstreamRequest("POST", url, headers, call.body_bytes())
        if call.endpoint is not Endpoint.CHAT:
            raise RequestError(f"Anthropic has no {call.endpoint.value} endpoint")
        model = call.upstream_model or self.settings.model
        if not model:
            raise RequestError("No model given and ANTHROPIC_MODEL is empty", param="model")
        translated = to_messages_request(
            call.body, upstream_model=model, stream=call.stream, thinking=self.thinking
        )
        return UpstreamRequest("POST", f"{self.base_url}/messages", headers, dumps(translated.body))

    def _context(self, call: Call) -> AnthropicCall:
        """What the answer's translation needs of the request (as to_messages_request says)."""
        body = call.body
        fmt = body.get("response_format")
        model = call.upstream_model or self.settings.model
        json_tool = (
            isinstance(fmt, Mapping)
            and fmt.get("type") == "json_schema"
            and not traits(model).structured_outputs
        )
        options = body.get("stream_options")
        return AnthropicCall(
            body={},
            model=call.model or model,
            include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
            json_tool=json_tool,
            legacy=body.get("tools") is None and body.get("functions") is not None,
            thinking=self.thinking,
        )

    # ----------------------------------------------------------------------- answers

    def translate_response(self, call: Call, payload: Any) -> Answer:
        return rs.to_chat_completion(payload, self._context(call))

    async def translate_stream(
        self, call: Call, events: AsyncIterator[bytes]
    ) -> AsyncIterator[AnswerChunk]:
        stream = ChatStream(self._context(call))
        async for data in events:
            if not data.strip():
                continue
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamUnreachable(
                    "Anthropic sent a stream event that is not JSON"
                ) from None
            # An upstream that answered a stream request whole: its Message, as the events.
            whole = isinstance(event, Mapping) and event.get("type") == "message"
            for one in message_events(event) if whole else (event,):
                for chunk in stream.feed(one):
                    yield chunk
        for chunk in stream.finish():
            yield chunk

    def translate_error(
        self, call: Call | None, status: int, body: bytes, headers: Mapping[str, str]
    ) -> AoaError:
        if call is not None and call.endpoint in self.native:
            return native_error(status, body, headers)
        return rs.translate_error(status, body, headers)

    # ----------------------------------------------------------------------- models

    def models_request(self, key: str) -> UpstreamRequest | None:
        """The first page of the model list (the desktop's connection test calls it)."""
        return UpstreamRequest("GET", f"{self.base_url}/models?limit=1000", self.headers(key))

    async def list_models(self, fetch: FetchJson, key: str) -> list[ModelObject]:
        """Every page of Anthropic's model list, then the configured model and aliases."""
        models: list[ModelObject] = []
        after = ""
        for _ in range(_MODEL_PAGES if key else 0):
            query = urlencode({"limit": "1000", **({"after_id": after} if after else {})})
            req = UpstreamRequest("GET", f"{self.base_url}/models?{query}", self.headers(key))
            status, payload = await fetch(req)
            if status != 200 or not isinstance(payload, dict):
                break
            data = payload.get("data")
            page = (
                [self.model_object(m) for m in data if isinstance(m, dict)]
                if isinstance(data, list)
                else []
            )
            models += page
            last = payload.get("last_id")
            if payload.get("has_more") is not True or not isinstance(last, str) or not page:
                break
            after = last
        seen = {m["id"] for m in models}
        for name in self.known_models():
            if name not in seen:
                models.append(self.model_object({"id": name}))
                seen.add(name)
        return models

    def model_object(self, upstream: Mapping[str, Any]) -> ModelObject:
        """An Anthropic model entry (`created_at` is an RFC 3339 date) -> OpenAI model object."""
        return {
            "id": str(upstream.get("id", "")),
            "object": "model",
            "created": _epoch(upstream.get("created_at")),
            "owned_by": "anthropic",
        }


def native_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """An error to a native Messages call: Anthropic's own body and status, relayed as is.

    Claude Code reacts to the exact wording (rejected thinking, context length), so the body
    is kept; one that is not Anthropic's error JSON (a proxy's page) is worded by the bridge.
    """
    translated = rs.translate_error(status, body, headers)
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or parsed.get("type") != "error":
        return translated
    return NativeError(
        translated.message,
        status=status,
        raw=body,
        type=translated.type,
        code=translated.code,
        headers=headers,
    )


def message_events(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A whole Message as the stream events that would have carried it."""
    blocks = message.get("content")
    blocks = [b for b in blocks if isinstance(b, Mapping)] if isinstance(blocks, list) else []
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}
    ]
    for index, block in enumerate(blocks):
        kind = block.get("type")
        delta: dict[str, Any] | None = None
        start = dict(block)
        if kind == "text":
            start["text"] = ""
            delta = {"type": "text_delta", "text": str(block.get("text", ""))}
        elif kind == "thinking":
            start["thinking"] = ""
            delta = {"type": "thinking_delta", "thinking": str(block.get("thinking", ""))}
        elif kind == "tool_use":
            start["input"] = {}
            partial = dumps(block.get("input") or {}).decode()
            delta = {"type": "input_json_delta", "partial_json": partial}
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        if delta is not None:
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        if kind == "thinking" and isinstance(block.get("signature"), str):
            signature = {"type": "signature_delta", "signature": block["signature"]}
            events.append({"type": "content_block_delta", "index": index, "delta": signature})
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": message.get("stop_reason") or "end_turn", "stop_sequence": None}
    events.append({"type": "message_delta", "delta": stop, "usage": message.get("usage") or {}})
    events.append({"type": "message_stop"})
    return events


def _epoch(value: Any) -> int:
    """Anthropic's `created_at` (RFC 3339) -> Unix seconds; 0 when absent or unreadable."""
    if not isinstance(value, str):
        return 0
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
