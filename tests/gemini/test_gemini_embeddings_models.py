"""Embeddings via batchEmbedContents and the model list with all its pages."""

from __future__ import annotations

import base64
import struct
from typing import Any

import openai
import pytest
from openai.types import CreateEmbeddingResponse, Model

from tests.conftest import Gateway, StartGateway
from tests.gemini.conftest import gemini_env
from tests.gemini.fake_gemini import FakeGemini


async def _embed(gw: Gateway, **kw: Any) -> dict[str, Any]:
    raw = await gw.client().embeddings.with_raw_response.create(**kw)
    data: dict[str, Any] = raw.http_response.json()
    if kw.get("encoding_format") == "float":
        CreateEmbeddingResponse.model_validate(data)
    assert data["object"] == "list" and data["usage"]["prompt_tokens"] > 0
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"]
    return data


async def test_gemini_embeddings_as_floats_with_dimensions(gw: Gateway, gemini: FakeGemini) -> None:
    data = await _embed(
        gw,
        model="gemini-embedding-001",
        input=["alpha", "beta"],
        dimensions=4,
        encoding_format="float",
    )
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 4 for d in data["data"])
    assert data["model"] == "gemini-embedding-001"
    assert gemini.last.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert gemini.last.json["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "beta"}]},
        "outputDimensionality": 4,
    }


async def test_gemini_embeddings_asked_as_a_stream_answer_whole(
    gw: Gateway, gemini: FakeGemini
) -> None:
    # Embeddings have no stream form: `stream: true` still gets the JSON list.
    data = await _embed(
        gw,
        model="text-embedding-3-small",
        input="hello",
        encoding_format="float",
        extra_body={"stream": True},
    )
    assert data["model"] == "text-embedding-3-small" and len(data["data"]) == 1
    assert gemini.last.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"


async def test_gemini_embeddings_base64_is_little_endian_float32(gw: Gateway) -> None:
    floats = await _embed(gw, model="text-embedding-004", input="hello", encoding_format="float")
    packed = await _embed(gw, model="text-embedding-004", input="hello", encoding_format="base64")
    raw = base64.b64decode(packed["data"][0]["embedding"])
    values = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert values == pytest.approx(floats["data"][0]["embedding"], abs=1e-6)
    # The SDK's default (base64, decoded for the caller) gives the same vector.
    default = await gw.client().embeddings.create(model="text-embedding-004", input="hello")
    assert default.data[0].embedding == pytest.approx(floats["data"][0]["embedding"], abs=1e-6)


async def test_gemini_openai_embedding_names_use_gemini_embedding_model(
    gw: Gateway, gemini: FakeGemini
) -> None:
    data = await _embed(gw, model="text-embedding-3-small", input="x")
    assert data["model"] == "text-embedding-3-small"
    assert gemini.last.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"


@pytest.mark.parametrize("bad", [[1, 2, 3], [[1, 2]], "", ["ok", ""], ["x"] * 101])
async def test_gemini_embeddings_bad_input_is_a_400(
    gw: Gateway, gemini: FakeGemini, bad: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().embeddings.create(model="gemini-embedding-001", input=bad)
    assert info.value.param == "input" and not gemini.posts


async def test_gemini_model_list_reads_every_page_and_adds_aliases(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(gemini_env(gemini, GEMINI_MODEL_ALIAS="gpt-4o:gemini-2.5-pro"))
    raw = await gw.client().models.with_raw_response.list()
    data = raw.http_response.json()
    assert data["object"] == "list"
    ids = [m["id"] for m in data["data"]]
    assert ids == [*gemini.models, "gpt-4o"]
    for entry in data["data"]:
        assert set(entry) == {"id", "object", "created", "owned_by"}
        Model.model_validate(entry)
    pages = [r for r in gemini.received if r.method == "GET"]
    assert len(pages) == 3 and all(r.headers["x-goog-api-key"] == "server-key" for r in pages)
    assert all("key" not in r.query for r in pages)
    one = await gw.client().models.retrieve("gemini-3-pro-preview")
    assert one.id == "gemini-3-pro-preview" and one.owned_by == "google"
    with pytest.raises(openai.NotFoundError):
        await gw.client().models.retrieve("gemini-0-nope")


async def test_gemini_model_list_without_upstream_still_lists_configured_names(
    start_gateway: StartGateway,
) -> None:
    fake = await FakeGemini().start()
    env = gemini_env(fake, GEMINI_MODEL_ALIAS="fast:gemini-2.5-flash")
    await fake.close()
    gw = await start_gateway(env)
    models = await gw.client().models.list()
    assert [m.id for m in models.data] == ["gemini-2.5-flash", "fast"]
