"""Google Gemini: OpenAI requests translated to the Generative Language API and back.

Requests go to `{endpoint}/{v1beta|v1}/models/{model}:generateContent` (or
`:streamGenerateContent?alt=sse`, `:batchEmbedContents`) with the key in the `x-goog-api-key`
header, never in the URL. The translation itself lives in gemini_request / gemini_response.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlencode

import orjson

from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import RequestError, UpstreamError, UpstreamUnreachable
from aoa_proxy.providers import gemini_images as images
from aoa_proxy.providers import gemini_request as rq
from aoa_proxy.providers import gemini_response as rs
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
from aoa_proxy.providers.gemini_thinking import wants_thoughts
from aoa_proxy.providers.gemini_tools import SignatureCache
from aoa_proxy.schema import Answer, AnswerChunk, ModelObject

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL: Final = "gemini-embedding-001"
# OpenAI model names (clients that cannot change theirs) go to GEMINI_MODEL.
_OPENAI_CHAT: Final = re.compile(r"^(gpt-|chatgpt-|o\d(-|$)|text-davinci|davinci|babbage)")
_OPENAI_EMBEDDING: Final = re.compile(r"^text-embedding-(ada|3)")
_MAX_MODEL_PAGES: Final = 50  # a safety stop should the upstream repeat its page token
_FETCH_PARALLEL: Final = 4
# Image bytes Gemini accepts inline; anything else fetched from a URL is refused.
_IMAGE_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"RIFF", "image/webp"),
)


class GeminiProvider(Provider):
    name: ClassVar[str] = "gemini"
    label: ClassVar[str] = "Gemini"
    key_env_var: ClassVar[str] = "GEMINI_API_KEY"
    kind: ClassVar[ProviderKind] = ProviderKind.TRANSLATING
    endpoints: frozenset[Endpoint] = CHAT_ENDPOINTS | {Endpoint.IMAGES}

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        # Thought signatures travel inside the tool call ids and extra_content
        # (gemini_signatures); this per-process memory is only the last resort, for clients
        # that cut or rewrite ids. It lasts while the Gemini settings stay unchanged.
        self.signatures = SignatureCache()

    @property
    def base_url(self) -> str:
        endpoint = self.settings.endpoint or "https://generativelanguage.googleapis.com"
        return f"{endpoint.rstrip('/')}/{self.settings.api_version or 'v1beta'}"

    def resolve_model(self, model: str) -> str:
        """Alias target; else GEMINI_MODEL for an empty or OpenAI model name; else the name."""
        if model in self.settings.aliases:
            return self.settings.aliases[model]
        if not model.strip() or _OPENAI_CHAT.match(model):
            return self.settings.model
        return model.strip()

    def _headers(self, key: str) -> dict[str, str]:
        return {"Content-Type": "application/json", "x-goog-api-key": key}

    # ----------------------------------------------------------------------- requests

    async def build_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest:
        model = call.upstream_model or self.settings.model
        headers = self._headers(call.key)
        if call.endpoint is Endpoint.EMBEDDINGS:
            path = _model_path(self._embedding_model(call))
            body = rq.embed_body(call.body, path)
            return UpstreamRequest(
                "POST", f"{self.base_url}/{path}:batchEmbedContents", headers, dumps(body)
            )
        if call.endpoint is Endpoint.IMAGES:
            path = _model_path(images.image_model(model))
            body = images.generation_body(call.body)
            return UpstreamRequest(
                "POST", f"{self.base_url}/{path}:generateContent", headers, dumps(body)
            )
        chat = call.endpoint is Endpoint.CHAT
        body = rq.generate_body(
            call.body,
            model=model,
            chat=chat,
            media=await self._fetch_media(call.body, fetch) if chat else {},
            safety=self.settings.safety,
            api_version=self.settings.api_version,
            files_prefix=self._files_prefix(),
            signatures=self.signatures,
            thoughts=chat and self._thoughts(call),
            temperature_policy=self.settings.temperature_policy,
        )
        method = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
        if call.stream:
            headers["Accept"] = "text/event-stream"
        url = f"{self.base_url}/{_model_path(model)}:{method}"
        return UpstreamRequest("POST", url, headers, dumps(body))

    async def count_request(self, call: Call, fetch: FetchBytes) -> UpstreamRequest | None:
        """`models/{m}:countTokens` over the whole generateContentRequest (system instruction
        and tools included; the flat `contents` form counts contents only).

        https://ai.google.dev/api/tokens#method:-models.counttokens
        """
        generate = await self.build_request(replace(call, stream=False), fetch)
        body = orjson.loads(generate.body or b"{}")
        body["model"] = _model_path(call.upstream_model or self.settings.model)
        url = generate.url.removesuffix(":generateContent") + ":countTokens"
        payload = dumps({"generateContentRequest": body})
        return UpstreamRequest("POST", url, generate.headers, payload)

    def count_answer(self, payload: Any) -> int | None:
        total = payload.get("totalTokens") if isinstance(payload, Mapping) else None
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    async def _fetch_media(self, body: Mapping[str, Any], fetch: FetchBytes) -> rq.Media:
        """The http(s) images of a chat request, fetched so generate_body can inline them."""
        files = self._files_prefix()
        urls = [u for u in rq.remote_media_urls(body) if not u.startswith(files)]
        if not urls:
            return {}
        gate = asyncio.Semaphore(_FETCH_PARALLEL)

        async def one(url: str) -> tuple[str, tuple[str, str]]:
            async with gate:
                content_type, data = await fetch(url, rq.MEDIA_LIMIT)
            return url, (_media_type(url, content_type, data), base64.b64encode(data).decode())

        return dict(await asyncio.gather(*(one(u) for u in urls)))

    def _files_prefix(self) -> str:
        return f"{self.base_url}/files/"

    def _embedding_model(self, call: Call) -> str:
        model = call.upstream_model or self.settings.model
        if "embed" not in model or _OPENAI_EMBEDDING.match(model):
            # A chat model cannot embed; OpenAI's embedding names map to Gemini's default.
            return DEFAULT_EMBEDDING_MODEL
        return model

    # ----------------------------------------------------------------------- answers

    def _shape(self, call: Call) -> rs.Shape:
        body = call.body
        n = body.get("n")
        options = body.get("stream_options")
        echo = ""
        if call.endpoint is Endpoint.COMPLETIONS and body.get("echo") is True:
            echo = rq.completion_prompt(body)
        return rs.Shape(
            model=call.model or call.upstream_model or self.settings.model,
            chat=call.endpoint is Endpoint.CHAT,
            legacy=body.get("tools") is None and body.get("functions") is not None,
            n=n if isinstance(n, int) and n > 0 else 1,
            include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
            echo=echo,
            thoughts=call.endpoint is Endpoint.CHAT and self._thoughts(call),
        )

    def _thoughts(self, call: Call) -> bool:
        return wants_thoughts(call.body, self.settings.thoughts)

    def translate_response(self, call: Call, payload: Any) -> Answer:
        if call.endpoint is Endpoint.EMBEDDINGS:
            return rs.embeddings(
                payload,
                model=call.model or self._embedding_model(call),
                texts=rq.embedding_inputs(call.body.get("input")),
                as_base64=call.body.get("encoding_format") == "base64",
            )
        if call.endpoint is Endpoint.IMAGES:
            return images.images_response(payload)
        return rs.translate(payload, self._shape(call), signatures=self.signatures)

    async def translate_stream(
        self, call: Call, events: AsyncIterator[bytes]
    ) -> AsyncIterator[AnswerChunk]:
        translator = rs.StreamTranslator(self._shape(call), signatures=self.signatures)
        async for data in events:
            if not data.strip():
                continue
            try:
                payload = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamUnreachable("Gemini sent a stream event that is not JSON") from None
            for chunk in translator.feed(payload):
                yield chunk
        for chunk in translator.close():
            yield chunk

    def translate_error(
        self, call: Call | None, status: int, body: bytes, headers: Mapping[str, str]
    ) -> UpstreamError:
        return rs.translate_error(status, body, headers)

    # ----------------------------------------------------------------------- models

    async def list_models(self, fetch: FetchJson, key: str) -> list[ModelObject]:
        """Every page of Gemini's model list, then the configured model and aliases."""
        models: list[ModelObject] = []
        token = ""
        for _ in range(_MAX_MODEL_PAGES if key else 0):
            query = {"pageSize": "1000", **({"pageToken": token} if token else {})}
            req = UpstreamRequest(
                "GET", f"{self.base_url}/models?{urlencode(query)}", self._headers(key)
            )
            status, payload = await fetch(req)
            if status != 200:
                break
            page, token = rs.model_objects(payload)
            models += page
            if not token:
                break
        seen: set[str] = set()
        unique = []
        for entry in models:
            if entry["id"] not in seen:
                seen.add(entry["id"])
                unique.append(entry)
        for name in self.known_models():
            if name not in seen:
                unique.append(model_entry(name, "google"))
                seen.add(name)
        return unique


def _model_path(model: str) -> str:
    """`models/<id>` (or a tuned model's own path), URL-safe."""
    for prefix in ("models/", "tunedModels/"):
        if model.startswith(prefix):
            return prefix + quote(model[len(prefix) :], safe="-._~")
    if not model:
        raise RequestError("No model given and GEMINI_MODEL is empty", param="model")
    return "models/" + quote(model, safe="-._~")


def _media_type(url: str, content_type: str, data: bytes) -> str:
    """The MIME type to declare for fetched media: the server's, else sniffed from the bytes."""
    if content_type.startswith(("image/", "audio/", "video/")) or content_type == "application/pdf":
        return content_type
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    raise RequestError(
        f"{url} is not an image (served as {content_type or 'unknown type'})",
        code="invalid_image_url",
    )
