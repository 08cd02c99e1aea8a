"""aoa's TypedDicts name only fields the official SDK's models have (a typo guard)."""

from __future__ import annotations

from typing import Any

import pytest
from openai import types as oa
from openai.types.chat import chat_completion as cc
from openai.types.chat import chat_completion_chunk as chunk
from openai.types.chat import chat_completion_message as message
from openai.types.chat import chat_completion_message_tool_call as tool
from openai.types.chat import chat_completion_token_logprob as lp
from openai.types.create_embedding_response import Usage as EmbeddingUsage
from openai.types.shared import ErrorObject

from aoa_proxy import schema

PAIRS: list[tuple[Any, Any]] = [
    (schema.FunctionCall, tool.Function),
    (schema.ToolCall, tool.ChatCompletionMessageToolCall),
    (schema.ToolCallDelta, chunk.ChoiceDeltaToolCall),
    (schema.TopLogprob, lp.TopLogprob),
    (schema.TokenLogprob, lp.ChatCompletionTokenLogprob),
    (schema.ChoiceLogprobs, cc.ChoiceLogprobs),
    (schema.Usage, oa.CompletionUsage),
    (schema.Message, oa.chat.ChatCompletionMessage),
    (schema.Choice, cc.Choice),
    (schema.ChatCompletion, oa.chat.ChatCompletion),
    (schema.Delta, chunk.ChoiceDelta),
    (schema.ChunkChoice, chunk.Choice),
    (schema.ChatCompletionChunk, oa.chat.ChatCompletionChunk),
    (schema.CompletionChoice, oa.CompletionChoice),
    (schema.Completion, oa.Completion),
    (schema.Embedding, oa.Embedding),
    (schema.EmbeddingUsage, EmbeddingUsage),
    (schema.EmbeddingList, oa.CreateEmbeddingResponse),
    (schema.ModelObject, oa.Model),
    (schema.ErrorObject, ErrorObject),
    (schema.Annotation, message.Annotation),
    (schema.UrlCitation, message.AnnotationURLCitation),
    (schema.ImagesResponse, oa.ImagesResponse),
    (schema.ImageData, oa.Image),
]
# Non-standard fields aoa writes on purpose (docs/gemini.md): Gemini's thought signatures in
# Google's own OpenAI-compatible carrier, thought text under both names clients read, Gemini's
# drawn images, what Google asks to show with grounded answers, and citations in a stream
# (OpenAI's placement unknown).
_THOUGHTS = frozenset({"extra_content", "reasoning_content", "reasoning"})
EXTENSIONS: dict[Any, frozenset[str]] = {
    schema.Message: _THOUGHTS | {"images", "grounding"},
    schema.Delta: _THOUGHTS | {"images", "grounding", "annotations"},
}


@pytest.mark.parametrize(("ours", "sdk"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_typed_dict_fields_exist_in_the_sdk_model(ours: Any, sdk: Any) -> None:
    fields = (ours.__required_keys__ | ours.__optional_keys__) - EXTENSIONS.get(ours, _THOUGHTS)
    assert fields <= set(sdk.model_fields), fields - set(sdk.model_fields)
