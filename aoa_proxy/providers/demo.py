"""The offline demo provider: deterministic echo answers, so aoa works with no key at all."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from aoa_proxy.errors import RequestError
from aoa_proxy.providers.base import Call, Endpoint, LocalProvider, model_entry
from aoa_proxy.schema import (
    Answer,
    AnswerChunk,
    ChatCompletionChunk,
    ChunkChoice,
    Completion,
    CompletionChoice,
    Delta,
    Embedding,
    EmbeddingList,
    ModelObject,
    Usage,
)
from aoa_proxy.text import message_text

DEMO_MODELS = ("demo-echo", "demo-embedding")
HINT = (
    "This is aoa's offline demo provider. To use a real model, set AOA_TYPE and its key, "
    "e.g. AOA_TYPE=azure AZURE_ENDPOINT=https://NAME.openai.azure.com/ AZURE_API_KEY=..."
)


def _tokens(text: str) -> int:
    return len(text.split())


class DemoProvider(LocalProvider):
    name: ClassVar[str] = "demo"
    label: ClassVar[str] = "Demo (offline)"
    key_env_var: ClassVar[str] = ""

    def resolve_model(self, model: str) -> str:
        return self.settings.aliases.get(model, model) or "demo-echo"

    def known_models(self) -> list[str]:
        return list(DEMO_MODELS) + [a for a in self.settings.aliases if a not in DEMO_MODELS]

    async def list_models(self, fetch: Any, key: str) -> list[ModelObject]:
        return [model_entry(m, "aoa-demo") for m in self.known_models()]

    def _answer(self, call: Call) -> tuple[str, int]:
        if call.endpoint is Endpoint.COMPLETIONS:
            prompt = call.body.get("prompt")
            text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt or []))
            return f"Echo: {text}", _tokens(text)
        messages = call.body.get("messages") or []
        prompt_text = " ".join(message_text(m) for m in messages if isinstance(m, dict))
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        last = message_text(users[-1]) if users else ""
        return (f"Echo: {last}" if last else HINT), _tokens(prompt_text)

    def respond(self, call: Call) -> Answer:
        _check(call)
        if call.endpoint is Endpoint.EMBEDDINGS:
            return self._embeddings(call)
        text, prompt_tokens = self._answer(call)
        n = _choices(call)
        usage: Usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _tokens(text) * n,
            "total_tokens": prompt_tokens + _tokens(text) * n,
        }
        if call.endpoint is Endpoint.COMPLETIONS:
            return {
                "id": f"cmpl-{uuid.uuid4().hex[:24]}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": call.model or "demo-echo",
                "choices": [
                    {"text": text, "index": i, "logprobs": None, "finish_reason": "stop"}
                    for i in range(n)
                ],
                "usage": usage,
            }
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model or "demo-echo",
            "system_fingerprint": "aoa-demo",
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for i in range(n)
            ],
            "usage": usage,
        }

    def respond_stream(self, call: Call) -> AsyncIterator[AnswerChunk]:
        # Checked here, not in the generator, so bad input is a 400 before the stream starts.
        _check(call)
        return self._stream(call)

    async def _stream(self, call: Call) -> AsyncIterator[AnswerChunk]:
        text, prompt_tokens = self._answer(call)
        n = _choices(call)
        chat = call.endpoint is Endpoint.CHAT
        include_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
        head = _Head(
            id=f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=call.model or "demo-echo",
            include_usage=include_usage,
        )

        def chunk(
            i: int, piece: str | None, finish: str | None, first: bool = False
        ) -> AnswerChunk:
            if not chat:
                return head.text_chunk(
                    [{"text": piece or "", "index": i, "logprobs": None, "finish_reason": finish}]
                )
            delta: Delta = {}
            if first:
                delta["role"] = "assistant"
            if piece is not None:
                delta["content"] = piece
            return head.chat_chunk(
                [{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}]
            )

        words = text.split(" ")
        for i in range(n):
            if chat:
                yield chunk(i, "", None, first=True)
            for j, word in enumerate(words):
                yield chunk(i, word if j == 0 else " " + word, None)
                await asyncio.sleep(0)  # let the writer flush between chunks
            yield chunk(i, None, "stop")
        if include_usage:
            completion = _tokens(text) * n
            usage: Usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": prompt_tokens + completion,
            }
            yield head.chat_chunk([], usage) if chat else head.text_chunk([], usage)

    def _embeddings(self, call: Call) -> EmbeddingList:
        raw = call.body.get("input")
        inputs = (
            [raw]
            if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int))
            else list(raw or [])
        )
        dims = call.body.get("dimensions")
        size = dims if isinstance(dims, int) and 0 < dims <= 4096 else 16
        as_base64 = call.body.get("encoding_format") == "base64"
        data: list[Embedding] = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += max(1, _tokens(text))
            vector = _vector(text, size)
            embedding: list[float] | str = (
                base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        return {
            "object": "list",
            "data": data,
            "model": call.model or "demo-embedding",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


@dataclass(frozen=True, slots=True)
class _Head:
    """What every chunk of one demo stream shares."""

    id: str
    created: int
    model: str
    include_usage: bool

    def chat_chunk(
        self, choices: list[ChunkChoice], usage: Usage | None = None
    ) -> ChatCompletionChunk:
        out: ChatCompletionChunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "aoa-demo",
            "choices": choices,
        }
        if self.include_usage:
            out["usage"] = usage
        return out

    def text_chunk(self, choices: list[CompletionChoice], usage: Usage | None = None) -> Completion:
        out: Completion = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            out["usage"] = usage
        return out


def _check(call: Call) -> None:
    """Reject the shapes OpenAI rejects (as a 400), so the demo never trips over them."""
    options = call.body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(
            "'stream_options' must be an object", param="stream_options", code="invalid_type"
        )
    name = {Endpoint.COMPLETIONS: "prompt", Endpoint.EMBEDDINGS: "input"}.get(call.endpoint)
    if name is None:
        return
    value = call.body.get(name)
    if value is None and name == "prompt":
        return
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, (str, int, list)) for v in value)
    ):
        return
    raise RequestError(
        f"'{name}' must be a string or an array of strings or token ids",
        param=name,
        code="invalid_type",
    )


def _choices(call: Call) -> int:
    n = call.body.get("n")
    return n if isinstance(n, int) and 1 <= n <= 16 else 1


def _vector(text: str, size: int) -> list[float]:
    """A unit-length vector derived from the text's hash: same text, same vector."""
    out: list[float] = []
    counter = 0
    while len(out) < size:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out += [(b - 127.5) / 127.5 for b in digest]
        counter += 1
    vec = out[:size]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vec]
