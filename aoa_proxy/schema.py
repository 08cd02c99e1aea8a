"""TypedDicts for the OpenAI wire shapes the gateway builds itself.

Translating and local providers return these; pass-through answers are relayed as bytes and
never parsed into them. Fields follow OpenAI's reference, keeping only what aoa writes:
https://platform.openai.com/docs/api-reference/chat/object (chunks: .../chat-streaming,
completions: .../completions/object, embeddings: .../embeddings/object, models: .../models).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# --------------------------------------------------------------------------- shared parts


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text, as OpenAI sends it


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall
    extra_content: NotRequired[dict[str, Any]]  # Gemini: {"google": {"thought_signature"}}


class ToolCallDelta(TypedDict):
    """A tool call in a stream chunk; aoa sends each call whole, in one delta."""

    index: int
    id: str
    type: Literal["function"]
    function: FunctionCall
    extra_content: NotRequired[dict[str, Any]]


class TopLogprob(TypedDict):
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(TypedDict):
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(TypedDict):
    content: list[TokenLogprob]
    refusal: None


class PromptTokensDetails(TypedDict):
    cached_tokens: int


class CompletionTokensDetails(TypedDict):
    reasoning_tokens: int


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: NotRequired[PromptTokensDetails]
    completion_tokens_details: NotRequired[CompletionTokensDetails]


# --------------------------------------------------------------------------- chat


class UrlCitation(TypedDict):
    start_index: int  # character offsets into the message's content
    end_index: int
    url: str
    title: str


class Annotation(TypedDict):
    type: Literal["url_citation"]
    url_citation: UrlCitation


class ImageURL(TypedDict):
    url: str  # a data: URL


class ImageOutput(TypedDict):
    """An image the model drew (non-standard, the shape OpenRouter uses)."""

    type: Literal["image_url"]
    image_url: ImageURL


class Grounding(TypedDict, total=False):
    """What Google asks to show with a grounded answer (non-standard)."""

    web_search_queries: list[str]
    search_entry_point: str  # Google's rendered Search Suggestions (HTML)


class Message(TypedDict):
    """The assistant's message in a chat.completion choice."""

    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: NotRequired[list[ToolCall]]
    function_call: NotRequired[FunctionCall]  # legacy `functions` requests
    reasoning_content: NotRequired[str]  # thought text; `reasoning` holds the same
    reasoning: NotRequired[str]
    extra_content: NotRequired[dict[str, Any]]  # Gemini: a text answer's thought signature
    annotations: NotRequired[list[Annotation]]
    images: NotRequired[list[ImageOutput]]
    grounding: NotRequired[Grounding]


class Choice(TypedDict):
    index: int
    message: Message
    logprobs: ChoiceLogprobs | None
    finish_reason: str


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: NotRequired[str]
    choices: list[Choice]
    usage: Usage


class Delta(TypedDict, total=False):
    """What a chunk adds to its choice; every field is optional."""

    role: Literal["assistant"]
    content: str
    refusal: str
    tool_calls: list[ToolCallDelta]
    function_call: FunctionCall
    reasoning_content: str
    reasoning: str
    extra_content: dict[str, Any]
    annotations: list[Annotation]
    images: list[ImageOutput]
    grounding: Grounding


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None
    finish_reason: str | None


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    system_fingerprint: NotRequired[str]
    choices: list[ChunkChoice]  # empty in the closing usage chunk
    usage: NotRequired[Usage | None]  # present (null until the last) with include_usage


# --------------------------------------------------------------------------- legacy completions


class CompletionChoice(TypedDict):
    text: str
    index: int
    logprobs: None
    finish_reason: str | None  # None in stream chunks before the last


class Completion(TypedDict):
    """A /v1/completions answer, and (with `usage` as for chat chunks) each of its stream chunks."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: NotRequired[Usage | None]


# --------------------------------------------------------------------------- embeddings, models


class Embedding(TypedDict):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str  # str: base64 of little-endian float32


class EmbeddingUsage(TypedDict):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(TypedDict):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelObject(TypedDict):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


# --------------------------------------------------------------------------- errors


class ErrorObject(TypedDict):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(TypedDict):
    error: ErrorObject


# --------------------------------------------------------------------------- images


class ImageData(TypedDict, total=False):
    b64_json: str
    revised_prompt: str


class ImagesResponse(TypedDict):
    """POST /v1/images/generations' answer."""

    created: int
    data: list[ImageData]
    usage: NotRequired[dict[str, int]]


# What a translating or local provider answers: the whole object, or one stream chunk.
Answer = ChatCompletion | Completion | EmbeddingList | ImagesResponse
AnswerChunk = ChatCompletionChunk | Completion
