"""Image output through the gateway, driven by the openai SDK: drawn images in chat answers
(markdown data URL in `content` plus an `images` list, whole and streamed), and
POST /v1/images/generations on Gemini's image models, passed through to OpenAI and Azure."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from aiohttp import web

from tests.conftest import Gateway, StartGateway
from tests.fakes import FakeUpstream, Received
from tests.gemini.conftest import gemini_env, strict_chat, strict_chunks
from tests.gemini.fake_gemini import FakeGemini, usage
from tests.gemini.fake_gemini_rules import PNG_B64, tiny_png

IMAGE_MODEL = "gemini-3.1-flash-image"
DATA_URL = f"data:image/png;base64,{PNG_B64}"


@pytest.fixture(autouse=True)
def _image_models(gemini: FakeGemini) -> None:
    gemini.models += [IMAGE_MODEL, "gemini-3-pro-image"]


async def test_chat_with_an_image_model_returns_markdown_and_images(
    gw: Gateway, gemini: FakeGemini
) -> None:
    raw = await gw.client().chat.completions.with_raw_response.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "A watercolor fox"}]
    )
    data = raw.http_response.json()
    message = strict_chat(data, IMAGE_MODEL).choices[0].message
    assert message.content == f"Echo: A watercolor fox\n\n![image]({DATA_URL})\n\n"
    images = data["choices"][0]["message"]["images"]
    assert images == [{"type": "image_url", "image_url": {"url": DATA_URL}}]
    assert base64.b64decode(images[0]["image_url"]["url"].split(",")[1]) == tiny_png()
    assert gemini.last.json["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]


async def test_chat_image_config_and_modalities_are_passed_on(
    gw: Gateway, gemini: FakeGemini
) -> None:
    await gw.client().chat.completions.create(
        model=IMAGE_MODEL,
        messages=[{"role": "user", "content": "A fox"}],
        extra_body={"modalities": ["image"], "image_config": {"aspect_ratio": "16:9"}},
    )
    config = gemini.last.json["generationConfig"]
    assert config["responseModalities"] == ["IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "16:9"}


async def test_streamed_image_arrives_as_content_and_images(
    gw: Gateway, gemini: FakeGemini
) -> None:
    events: list[str] = []
    async with gw.client().chat.completions.with_streaming_response.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "A fox"}], stream=True
    ) as response:
        async for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    chunks = strict_chunks(events, IMAGE_MODEL, usage=False)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content.endswith(f"![image]({DATA_URL})\n\n")
    drawn = [
        image
        for c in chunks
        for image in (c.choices[0].delta.model_extra or {}).get("images") or []
    ]
    assert drawn == [{"type": "image_url", "image_url": {"url": DATA_URL}}]


async def test_thought_images_are_not_shown(gw: Gateway, gemini: FakeGemini) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        draft = {"inlineData": {"mimeType": "image/png", "data": "AAAA"}, "thought": True}
        final = {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
        parts = [draft, final]
        cand = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}
        return [{"candidates": [cand], "usageMetadata": usage(3, 1290)}]

    gemini.reply = reply
    reply_ = await gw.client().chat.completions.create(
        model="gemini-3-pro-image", messages=[{"role": "user", "content": "A fox"}]
    )
    assert reply_.choices[0].message.content == f"\n\n![image]({DATA_URL})\n\n"


# --------------------------------------------------------------------------- /v1/images


async def test_images_generate_maps_to_a_gemini_image_model(
    gw: Gateway, gemini: FakeGemini
) -> None:
    result = await gw.client().images.generate(
        model="dall-e-3", prompt="A watercolor fox", size="1792x1024", quality="hd"
    )
    assert result.data is not None and len(result.data) == 1
    image = result.data[0]
    assert base64.b64decode(image.b64_json or "") == tiny_png()
    assert image.url is None and image.revised_prompt == "Echo: A watercolor fox"
    assert result.usage is not None and result.usage.input_tokens == 7
    got = gemini.last
    assert got.path == f"/v1beta/models/{IMAGE_MODEL}:generateContent"
    assert got.json == {
        "contents": [{"role": "user", "parts": [{"text": "A watercolor fox"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
        },
    }


async def test_images_model_defaults_and_aliases(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(
        gemini_env(gemini, GEMINI_MODEL_ALIAS="gpt-image-1:gemini-3-pro-image")
    )
    client = gw.client()
    await client.images.generate(model="gpt-image-1", prompt="A fox")
    assert gemini.last.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    await client.images.generate(prompt="A fox", size="1024x1536")  # OpenAI's default model
    assert gemini.last.path == f"/v1beta/models/{IMAGE_MODEL}:generateContent"
    assert gemini.last.json["generationConfig"]["imageConfig"] == {"aspectRatio": "2:3"}


async def test_several_images_come_from_several_candidates(gw: Gateway, gemini: FakeGemini) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        n = body["generationConfig"]["candidateCount"]
        image = {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
        cands = [
            {"index": i, "content": {"role": "model", "parts": [image]}, "finishReason": "STOP"}
            for i in range(n)
        ]
        return [{"candidates": cands, "usageMetadata": usage(3, 1290 * n)}]

    gemini.reply = reply
    result = await gw.client().images.generate(model="dall-e-3", prompt="Two foxes", n=2)
    data = result.data or []
    assert [d.b64_json for d in data] == [PNG_B64, PNG_B64]
    assert all(d.revised_prompt is None for d in data)


async def test_url_response_format_is_refused_with_the_reason(gw: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await gw.client().images.generate(model="dall-e-3", prompt="A fox", response_format="url")
    assert "b64_json" in err.value.message and err.value.param == "response_format"


async def test_a_refused_drawing_is_a_content_policy_400(gw: Gateway, gemini: FakeGemini) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        cand = {"content": {"role": "model", "parts": [{"text": "No."}]}}
        return [{"candidates": [{**cand, "finishReason": "IMAGE_SAFETY"}]}]

    gemini.reply = reply
    with pytest.raises(openai.BadRequestError) as err:
        await gw.client().images.generate(model="dall-e-3", prompt="Something bad")
    assert err.value.code == "content_policy_violation"
    assert "IMAGE_SAFETY" in err.value.message


async def test_images_bad_size_and_missing_prompt_are_400s(gw: Gateway) -> None:
    client = gw.client()
    with pytest.raises(openai.BadRequestError, match="size"):
        await client.images.generate(model="dall-e-3", prompt="A fox", size="big")
    with pytest.raises(openai.BadRequestError, match="prompt"):
        await client.post("/images/generations", body={"model": "dall-e-3"}, cast_to=object)


# --------------------------------------------------------------------------- other providers

IMAGES_ANSWER = {"created": 1718000000, "data": [{"b64_json": PNG_B64}]}


async def _images_answer(request: web.Request, rec: Received) -> web.StreamResponse:
    return web.json_response(IMAGES_ANSWER)


async def test_openai_compatible_upstream_gets_images_passed_through(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    upstream.responder = _images_answer
    gw = await start_gateway(
        {"AOA_TYPE": "openai", "OPENAI_ENDPOINT": upstream.url + "/v1", "OPENAI_API_KEY": "k"}
    )
    result = await gw.client().images.generate(model="gpt-image-1", prompt="A fox")
    assert (result.data or [])[0].b64_json == PNG_B64
    assert upstream.last.path == "/v1/images/generations"
    assert upstream.last.json == {"model": "gpt-image-1", "prompt": "A fox"}


async def test_azure_images_go_to_the_deployment_route(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    upstream.responder = _images_answer
    gw = await start_gateway(
        {
            "AOA_TYPE": "azure",
            "AZURE_ENDPOINT": upstream.url + "/",
            "AZURE_API_KEY": "k",
            "AZURE_API_VER": "2024-02-01",
        }
    )
    result = await gw.client().images.generate(model="dall-e-3", prompt="A fox")
    assert (result.data or [])[0].b64_json == PNG_B64
    assert upstream.last.path == "/openai/deployments/dall-e-3/images/generations"
    assert upstream.last.query == {"api-version": "2024-02-01"}


async def test_a_provider_without_images_says_so(
    upstream: FakeUpstream, start_gateway: StartGateway
) -> None:
    gw = await start_gateway({"AOA_TYPE": "yi", "YI_ENDPOINT": upstream.url, "YI_API_KEY": "k"})
    with pytest.raises(openai.NotFoundError) as err:
        await gw.client().images.generate(model="dall-e-3", prompt="A fox")
    assert "Yi" in err.value.message and "images/generations" in err.value.message
    assert upstream.received == []


async def test_a_multi_megabyte_image_event_streams_whole(gw: Gateway, gemini: FakeGemini) -> None:
    big = base64.b64encode(tiny_png() + bytes(3 * 1024 * 1024)).decode()  # one ~4 MB SSE event

    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        part = {"inlineData": {"mimeType": "image/png", "data": big}}
        cand = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
        return [{"candidates": [cand], "usageMetadata": usage(3, 1290)}]

    gemini.reply = reply
    stream = await gw.client().chat.completions.create(
        model=IMAGE_MODEL, messages=[{"role": "user", "content": "A big fox"}], stream=True
    )
    drawn = [
        image["image_url"]["url"]
        async for chunk in stream
        for image in (chunk.choices[0].delta.model_extra or {}).get("images") or []
    ]
    assert drawn == [f"data:image/png;base64,{big}"]


def test_sizes_map_to_the_nearest_aspect_ratio_and_names_to_image_models() -> None:
    from aoa_proxy.providers.gemini_images import generation_body, image_model

    def ratio(size: str) -> Any:
        config = generation_body({"prompt": "x", "size": size})["generationConfig"]
        return config.get("imageConfig", {}).get("aspectRatio")

    assert [ratio(s) for s in ("1024x1024", "1536x1024", "1024x1536", "1792x1024")] == [
        "1:1",
        "3:2",
        "2:3",
        "16:9",
    ]
    assert ratio("1024x1792") == "9:16" and ratio("2560x1080") == "21:9" and ratio("auto") is None
    assert image_model("gemini-3-pro-image") == "gemini-3-pro-image"
    assert image_model("imagen-4.0-ultra-generate-001") == "gemini-3-pro-image"
    assert image_model("imagen-4.0-generate-001") == IMAGE_MODEL
    assert image_model("gemini-2.5-flash") == IMAGE_MODEL
