"""Gemini answers -> OpenAI objects: completions, stream chunks, errors, embeddings, models.

Wire reference: https://ai.google.dev/api/generate-content#generatecontentresponse
"""

from __future__ import annotations

import base64
import logging
import math
import secrets
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from aoa_proxy.errors import UpstreamError, UpstreamUnreachable, upstream_error
from aoa_proxy.providers import gemini_grounding as grounding
from aoa_proxy.providers import gemini_signatures as sig
from aoa_proxy.providers.gemini_images import data_url, image_output, shown_text
from aoa_proxy.providers.gemini_tools import SignatureCache
from aoa_proxy.schema import (
    Annotation,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    Completion,
    CompletionChoice,
    Delta,
    Embedding,
    EmbeddingList,
    Grounding,
    ImageOutput,
    Message,
    ModelObject,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    Usage,
)

log = logging.getLogger(__name__)

# https://ai.google.dev/api/generate-content#FinishReason -> OpenAI finish_reason.
# A function call ends with STOP; that becomes tool_calls separately.
FINISH_REASONS: Final = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "OTHER": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
    "NO_IMAGE": "stop",
    "IMAGE_OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
}

# https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes (google.rpc.Code names)
# -> (HTTP status, OpenAI error type, OpenAI error code).
ERROR_STATUSES: Final[dict[str, tuple[int, str, str | None]]] = {
    "INVALID_ARGUMENT": (400, "invalid_request_error", None),
    "FAILED_PRECONDITION": (400, "invalid_request_error", None),
    "OUT_OF_RANGE": (400, "invalid_request_error", None),
    "UNAUTHENTICATED": (401, "invalid_request_error", "invalid_api_key"),
    "PERMISSION_DENIED": (403, "permission_error", None),
    "NOT_FOUND": (404, "invalid_request_error", "model_not_found"),
    "ALREADY_EXISTS": (409, "invalid_request_error", None),
    "ABORTED": (409, "invalid_request_error", None),
    "RESOURCE_EXHAUSTED": (429, "rate_limit_error", "rate_limit_exceeded"),
    "CANCELLED": (499, "invalid_request_error", None),
    "UNIMPLEMENTED": (501, "server_error", None),
    "INTERNAL": (500, "server_error", None),
    "UNKNOWN": (500, "server_error", None),
    "DATA_LOSS": (500, "server_error", None),
    "UNAVAILABLE": (503, "server_error", None),
    "DEADLINE_EXCEEDED": (504, "timeout", None),
}
# google.rpc.ErrorInfo reasons that mean "bad key" even though Gemini answers 400 for them.
# https://ai.google.dev/gemini-api/docs/troubleshooting
KEY_REASONS: Final = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})

_BLOCKED = "Gemini blocked this prompt ({reason}); rephrase it or change GEMINI_SAFETY"
_FILTERED = "Gemini stopped this answer ({reason})"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


# --------------------------------------------------------------------------- parts and usage


@dataclass
class Answer:
    """One candidate's content: answer text, thought summaries, function calls, and the
    thought signature of a text or thought part (tool calls carry their own)."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    signature: str = ""
    images: list[ImageOutput] = field(default_factory=list)  # also in `text`, as markdown
    annotations: list[Annotation] = field(default_factory=list)
    grounding: Grounding | None = None


def read_parts(content: Any, signatures: SignatureCache) -> Answer:
    """Text, thoughts and OpenAI tool calls from a Gemini content, with thought signatures."""
    answer = Answer()
    parts = content.get("parts") if isinstance(content, Mapping) else None
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Mapping):
            continue
        signature = part.get("thoughtSignature")
        fc = part.get("functionCall")
        if isinstance(fc, Mapping) and part.get("thought") is not True:
            answer.calls.append(sig.tool_call(fc, signature, signatures))
            continue
        if isinstance(signature, str) and signature:  # may come on an empty text part
            answer.signature = signature
        if part.get("thought") is True:
            # A thought part is the model's reasoning summary, never the answer.
            if isinstance(part.get("text"), str):
                answer.thoughts.append(part["text"])
            continue
        shown = shown_text(part)  # text, or a drawn image as markdown
        url = data_url(part)
        if shown is not None:
            texts.append(shown)
        if url:
            answer.images.append(image_output(url))
    answer.text = "".join(texts)
    return answer


def finish_reason(raw: Any, has_calls: bool, legacy: bool) -> str:
    reason = FINISH_REASONS.get(raw, "stop") if isinstance(raw, str) else "stop"
    if has_calls and reason == "stop":
        return "function_call" if legacy else "tool_calls"
    return reason


def usage(meta: Any) -> Usage:
    """usageMetadata -> OpenAI usage; thinking tokens count as completion tokens, as on OpenAI."""
    meta = meta if isinstance(meta, Mapping) else {}

    def count(key: str) -> int:
        value = meta.get(key)
        return value if isinstance(value, int) else 0

    # Tool-use prompt tokens (search results etc.) are input the model read.
    prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    completion = count("candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": count("cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _block_reason(payload: Mapping[str, Any]) -> str | None:
    feedback = payload.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    return str(reason) if reason else None


def _candidates(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    cands = payload.get("candidates")
    return [c for c in cands if isinstance(c, Mapping)] if isinstance(cands, list) else []


def _index(cand: Mapping[str, Any]) -> int:
    index = cand.get("index")  # absent for candidate 0 on newer models
    return index if isinstance(index, int) else 0


def logprobs(result: Any) -> ChoiceLogprobs | None:
    """Gemini's logprobsResult -> OpenAI's choice.logprobs (None when Gemini sent none).

    https://ai.google.dev/api/generate-content#LogprobsResult: one chosen candidate per decoding
    step, with that step's top candidates at the same position.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("chosenCandidates"), list):
        return None
    tops = result.get("topCandidates")
    tops = tops if isinstance(tops, list) else []
    content: list[TokenLogprob] = []
    for step, chosen in enumerate(result["chosenCandidates"]):
        if not isinstance(chosen, Mapping):
            continue
        top = (
            tops[step].get("candidates")
            if step < len(tops) and isinstance(tops[step], Mapping)
            else None
        )
        tops_here = [_logprob(t) for t in top or [] if isinstance(t, Mapping)]
        content.append({**_logprob(chosen), "top_logprobs": tops_here})
    return {"content": content, "refusal": None}


def _logprob(candidate: Mapping[str, Any]) -> TopLogprob:
    token = str(candidate.get("token", ""))
    value = candidate.get("logProbability")
    return {
        "token": token,
        "logprob": float(value) if isinstance(value, int | float) else 0.0,
        "bytes": list(token.encode()),
    }


# --------------------------------------------------------------------------- whole answers


@dataclass(frozen=True)
class Shape:
    """What the client asked for, which decides the answer's shape."""

    model: str
    chat: bool = True  # False: /v1/completions
    legacy: bool = False  # the request used `functions`: answer with `function_call`
    n: int = 1
    include_usage: bool = False
    echo: str = ""  # completions with echo: the prompt, prepended to each answer
    thoughts: bool = False  # thought summaries go out as reasoning_content and reasoning


@dataclass(frozen=True)
class _Ended:
    """One finished candidate, before it takes the chat or the completions shape."""

    index: int
    answer: Answer
    reason: str  # OpenAI finish_reason
    refusal: str | None  # why an empty answer was filtered (chat only)
    logprobs: ChoiceLogprobs | None = None


def translate(
    payload: Any, shape: Shape, *, signatures: SignatureCache
) -> ChatCompletion | Completion:
    """A GenerateContentResponse -> chat.completion or text_completion."""
    if not isinstance(payload, Mapping):
        raise UpstreamUnreachable("Gemini sent an answer that is not a JSON object")
    if isinstance(payload.get("error"), Mapping):
        raise error_from_json(payload["error"], 500, {})
    cands = sorted(_candidates(payload), key=_index)
    blocked = _block_reason(payload)
    ended: list[_Ended] = []
    if not cands:
        if blocked is None:
            raise UpstreamUnreachable("Gemini answered without any candidate")
        why = _BLOCKED.format(reason=blocked)
        ended += [_Ended(i, Answer(), "content_filter", why) for i in range(max(shape.n, 1))]
    for cand in cands:
        answer = read_parts(cand.get("content"), signatures)
        sig.remember_text(answer.text, answer.signature, signatures)
        answer.annotations = grounding.citations(cand)
        answer.grounding = grounding.grounding(cand)
        raw = cand.get("finishReason")
        reason = finish_reason(raw, bool(answer.calls), shape.legacy)
        filtered = reason == "content_filter" and not answer.text
        refusal = _FILTERED.format(reason=str(raw)) if filtered else None
        lp = logprobs(cand.get("logprobsResult")) if shape.chat else None
        ended.append(_Ended(_index(cand), answer, reason, refusal, lp))
    if not shape.chat:
        return {
            "id": new_id("cmpl"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": shape.model,
            "choices": [_text_choice(shape, e) for e in ended],
            "usage": usage(payload.get("usageMetadata")),
        }
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": shape.model,
        "choices": [_chat_choice(shape, e) for e in ended],
        "usage": usage(payload.get("usageMetadata")),
    }


def _text_choice(shape: Shape, ended: _Ended) -> CompletionChoice:
    return {
        "text": shape.echo + ended.answer.text,
        "index": ended.index,
        "logprobs": None,
        "finish_reason": ended.reason,
    }


def _chat_choice(shape: Shape, ended: _Ended) -> Choice:
    answer = ended.answer
    message: Message = {
        "role": "assistant",
        "content": answer.text or None,
        "refusal": ended.refusal,
    }
    if answer.calls and shape.legacy:
        message["function_call"] = {**answer.calls[0]["function"]}
    elif answer.calls:
        message["tool_calls"] = answer.calls
    elif message["content"] is None and ended.reason != "content_filter":
        message["content"] = ""  # a plain (empty) answer is a string, never null
    if shape.thoughts and answer.thoughts:  # clients read one name or the other
        message["reasoning_content"] = message["reasoning"] = "".join(answer.thoughts)
    if answer.signature:
        message["extra_content"] = sig.extra_content(answer.signature)
    if shape.chat:
        _extras(message, answer)
    return {
        "index": ended.index,
        "message": message,
        "logprobs": ended.logprobs,
        "finish_reason": ended.reason,
    }


def _extras(out: Message | Delta, answer: Answer) -> None:
    """Grounding citations and drawn images, where the answer has them."""
    if answer.annotations:
        out["annotations"] = answer.annotations
    if answer.images:
        out["images"] = answer.images
    if answer.grounding:
        out["grounding"] = answer.grounding


# --------------------------------------------------------------------------- streams


@dataclass
class _ChoiceState:
    started: bool = False
    finished: bool = False
    tools: int = 0
    text: bool = False  # some answer text was sent
    texts: list[str] = field(default_factory=list)  # to remember a text signature by
    signature: str = ""
    grounding: grounding.StreamGrounding = field(default_factory=grounding.StreamGrounding)


class StreamTranslator:
    """Turns Gemini SSE payloads into OpenAI chunks, in order, as they arrive."""

    def __init__(self, shape: Shape, *, signatures: SignatureCache) -> None:
        self.shape = shape
        self.signatures = signatures
        self.id = new_id("chatcmpl" if shape.chat else "cmpl")
        self.created = int(time.time())
        self.states: dict[int, _ChoiceState] = {}
        self.usage_meta: Any = None

    def feed(self, payload: Any) -> list[ChatCompletionChunk | Completion]:
        """Chunks for one upstream payload (raises the upstream's error if it is one)."""
        if isinstance(payload, list):  # a JSON array of responses (no alt=sse)
            return [c for item in payload for c in self.feed(item)]
        if not isinstance(payload, Mapping):
            raise UpstreamUnreachable("Gemini sent a stream event that is not a JSON object")
        if isinstance(payload.get("error"), Mapping):
            raise error_from_json(payload["error"], 500, {})
        if isinstance(payload.get("usageMetadata"), Mapping):
            self.usage_meta = payload["usageMetadata"]
        out: list[ChatCompletionChunk | Completion] = []
        cands = _candidates(payload)
        blocked = _block_reason(payload)
        if not cands and blocked:
            for i in range(max(self.shape.n, 1)):
                out += self._open(i)
                out += self._close(i, "content_filter", _BLOCKED.format(reason=blocked))
        for cand in cands:
            out += self._candidate(cand)
        return out

    def _candidate(self, cand: Mapping[str, Any]) -> list[ChatCompletionChunk | Completion]:
        i = _index(cand)
        state = self.states.setdefault(i, _ChoiceState())
        if state.finished:
            return []
        out = self._open(i)
        answer = read_parts(cand.get("content"), self.signatures)
        if answer.thoughts and self.shape.thoughts and self.shape.chat:
            thought = "".join(answer.thoughts)
            out.append(self._chunk(i, {"reasoning_content": thought, "reasoning": thought}, ""))
        signed: Delta = {}
        if answer.signature and self.shape.chat:
            state.signature = answer.signature
            signed["extra_content"] = sig.extra_content(answer.signature)
        state.grounding.feed(cand, answer.text)
        if answer.text:
            state.text = True
            state.texts.append(answer.text)
            lp = logprobs(cand.get("logprobsResult")) if self.shape.chat else None
            delta: Delta = {"content": answer.text, **signed}
            if answer.images and self.shape.chat:
                delta["images"] = answer.images
            out.append(self._chunk(i, delta, answer.text, logprobs=lp))
        elif signed:  # a late, empty part that carried only the signature
            out.append(self._chunk(i, signed, ""))
        calls = answer.calls
        if self.shape.legacy:  # the legacy format has room for one call only
            calls = calls[:1] if state.tools == 0 else []
        for call in calls:
            if self.shape.legacy:
                delta = {"function_call": {**call["function"]}}
            else:
                delta = {"tool_calls": [{"index": state.tools, **call}]}
            out.append(self._chunk(i, delta, ""))
            state.tools += 1
        raw = cand.get("finishReason")
        if isinstance(raw, str) and raw != "FINISH_REASON_UNSPECIFIED":
            reason = finish_reason(raw, state.tools > 0, self.shape.legacy)
            note = _FILTERED.format(reason=raw) if reason == "content_filter" else None
            cited = Answer(annotations=state.grounding.finish(), grounding=state.grounding.extra)
            if self.shape.chat and (cited.annotations or cited.grounding):
                extras: Delta = {}
                _extras(extras, cited)
                out.append(self._chunk(i, extras, ""))
            out += self._close(i, reason, None if state.text else note)
        return out

    def _open(self, i: int) -> list[ChatCompletionChunk | Completion]:
        state = self.states.setdefault(i, _ChoiceState())
        if state.started:
            return []
        state.started = True
        if self.shape.chat:
            return [self._chunk(i, {"role": "assistant", "content": ""}, "")]
        return [self._chunk(i, {}, self.shape.echo)] if self.shape.echo else []

    def _close(
        self, i: int, reason: str, refusal: str | None
    ) -> list[ChatCompletionChunk | Completion]:
        state = self.states.setdefault(i, _ChoiceState())
        state.finished = True
        if state.signature:
            sig.remember_text("".join(state.texts), state.signature, self.signatures)
        delta: Delta = {"refusal": refusal} if refusal and self.shape.chat else {}
        return [self._chunk(i, delta, "", finish=reason)]

    def _chunk(
        self,
        i: int,
        delta: Delta,
        text: str,
        *,
        finish: str | None = None,
        logprobs: ChoiceLogprobs | None = None,
    ) -> ChatCompletionChunk | Completion:
        """One choice's chunk: `delta` for chat, `text` for completions."""
        if self.shape.chat:
            choice: ChunkChoice = {
                "index": i,
                "delta": delta,
                "logprobs": logprobs,
                "finish_reason": finish,
            }
            return self._chat_chunk([choice])
        return self._text_chunk(
            [{"text": text, "index": i, "logprobs": None, "finish_reason": finish}]
        )

    def _chat_chunk(
        self, choices: list[ChunkChoice], usage: Usage | None = None
    ) -> ChatCompletionChunk:
        chunk: ChatCompletionChunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.shape.model,
            "choices": choices,
        }
        if self.shape.include_usage:
            chunk["usage"] = usage
        return chunk

    def _text_chunk(
        self, choices: list[CompletionChoice], usage: Usage | None = None
    ) -> Completion:
        chunk: Completion = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.shape.model,
            "choices": choices,
        }
        if self.shape.include_usage:
            chunk["usage"] = usage
        return chunk

    def close(self) -> list[ChatCompletionChunk | Completion]:
        """The closing chunks once the upstream has ended; raises if it ended too early."""
        if not self.states or not all(s.finished for s in self.states.values()):
            raise UpstreamUnreachable("Gemini's stream ended before the answer was complete")
        if not self.shape.include_usage:
            return []
        total = usage(self.usage_meta)
        if self.shape.chat:
            return [self._chat_chunk([], total)]
        return [self._text_chunk([], total)]


# --------------------------------------------------------------------------- errors


def translate_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """A Gemini error answer -> the OpenAI-format error with the matching status."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], Mapping):
        parsed = parsed[0]  # streamGenerateContent without alt=sse wraps errors in an array
    if isinstance(parsed, Mapping) and isinstance(parsed.get("error"), Mapping):
        return error_from_json(parsed["error"], status, headers)
    return upstream_error(status, body, headers)


_BY_HTTP: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_from_json(
    err: Mapping[str, Any], http_status: int, headers: Mapping[str, str]
) -> UpstreamError:
    """A google.rpc.Status object -> UpstreamError with OpenAI's status, type and code."""
    code = err.get("code")
    http_status = code if isinstance(code, int) and 400 <= code < 600 else http_status
    name = err.get("status") if isinstance(err.get("status"), str) else _BY_HTTP.get(http_status)
    status, kind, oa_code = ERROR_STATUSES.get(
        str(name),
        (http_status, "server_error" if http_status >= 500 else "invalid_request_error", None),
    )
    if name not in ERROR_STATUSES and http_status >= 400:
        status = http_status
    message = str(err.get("message") or f"Gemini returned HTTP {http_status}")
    param = None
    raw_details = err.get("details")
    details = (
        [d for d in raw_details if isinstance(d, Mapping)] if isinstance(raw_details, list) else []
    )
    if any(d.get("reason") in KEY_REASONS for d in details):
        status, kind, oa_code = 401, "invalid_request_error", "invalid_api_key"
    if oa_code == "model_not_found":
        param = "model"
        message += " (set GEMINI_MODEL or map the name in GEMINI_MODEL_ALIAS)"
    out_headers = dict(headers)
    delay = _retry_delay(details)
    if delay is not None:
        out_headers["retry-after"] = str(delay)
    return UpstreamError(
        message, status=status, type=kind, code=oa_code, param=param, headers=out_headers
    )


def _retry_delay(details: Sequence[Mapping[str, Any]]) -> int | None:
    for detail in details:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0, math.ceil(float(delay[:-1])))
            except ValueError:
                return None
    return None


# --------------------------------------------------------------------------- embeddings, models


def embeddings(payload: Any, *, model: str, texts: Sequence[str], as_base64: bool) -> EmbeddingList:
    """A batchEmbedContents answer -> OpenAI embeddings list."""
    items = payload.get("embeddings") if isinstance(payload, Mapping) else None
    if not isinstance(items, list) or len(items) != len(texts):
        raise UpstreamUnreachable("Gemini's embeddings answer does not match the inputs")
    data: list[Embedding] = []
    for i, item in enumerate(items):
        values = item.get("values") if isinstance(item, Mapping) else None
        if not isinstance(values, list):
            raise UpstreamUnreachable("Gemini sent an embedding without values")
        vector: list[float] | str = values
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    # Gemini reports no token counts for embeddings: estimate (about 4 bytes a token).
    tokens = sum(max(1, math.ceil(len(t.encode()) / 4)) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def model_objects(payload: Any) -> tuple[list[ModelObject], str]:
    """One page of Gemini's model list -> (OpenAI model objects, next page token)."""
    if not isinstance(payload, Mapping):
        return [], ""
    out: list[ModelObject] = []
    for entry in payload.get("models") or []:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name:
            model_id = name.removeprefix("models/")
            out.append({"id": model_id, "object": "model", "created": 0, "owned_by": "google"})
    token = payload.get("nextPageToken")
    return out, token if isinstance(token, str) else ""
