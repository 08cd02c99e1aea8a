"""Chat and completions through the gateway to the fake Gemini, driven by the openai SDK."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.conftest import Gateway, StartGateway
from tests.gemini.conftest import gemini_env, strict_chat, strict_completion, tiny_png
from tests.gemini.fake_gemini import FakeGemini, text_chunks, usage


async def _chat(gw: Gateway, **kw: Any) -> dict[str, Any]:
    raw = await gw.client().chat.completions.with_raw_response.create(**kw)
    data: dict[str, Any] = raw.http_response.json()
    return data


async def test_gemini_multi_turn_chat_with_system_prompts(gw: Gateway, gemini: FakeGemini) -> None:
    data = await _chat(
        gw,
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        ],
    )
    completion = strict_chat(data, "gemini-2.5-flash")
    assert completion.choices[0].message.content == "Echo: How are you?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 7
    sent = gemini.last
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "server-key" and sent.query == {}
    body = sent.json
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be terse."}, {"text": "Answer in English."}]
    }
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "Hello."}]
    assert "generationConfig" not in body and "safetySettings" not in body


async def test_gemini_each_answer_has_a_fresh_id(gw: Gateway) -> None:
    msgs = [{"role": "user", "content": "x"}]
    first = await _chat(gw, model="gemini-2.5-flash", messages=msgs)
    second = await _chat(gw, model="gemini-2.5-flash", messages=msgs)
    assert first["id"] != second["id"]


async def test_gemini_zero_values_and_sampling_params_are_sent(
    gw: Gateway, gemini: FakeGemini
) -> None:
    await _chat(
        gw,
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "x"}],
        temperature=0,
        top_p=0,
        seed=0,
        max_tokens=50,
        max_completion_tokens=40,
        stop="END",
        n=1,
        presence_penalty=0.5,
        frequency_penalty=0,
        logit_bias={"50256": -100},
        user="u1",
        parallel_tool_calls=False,
        extra_body={"top_k": 0},
    )
    assert gemini.last.json["generationConfig"] == {
        "temperature": 0,
        "topP": 0,
        "seed": 0,
        "maxOutputTokens": 40,
        "stopSequences": ["END"],
        "candidateCount": 1,
        "presencePenalty": 0.5,
        "topK": 0,
    }


async def test_gemini_history_starting_with_assistant_and_repeated_roles_is_fixed(
    gw: Gateway, gemini: FakeGemini
) -> None:
    await _chat(
        gw,
        model="gemini-2.5-flash",
        messages=[
            {"role": "assistant", "content": "Welcome! Ask me anything."},
            {"role": "user", "content": "First"},
            {"role": "user", "content": "Second"},
            {"role": "assistant", "content": ""},
            {"role": "user", "name": "bob", "content": "Third"},
        ],
    )
    contents = gemini.last.json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"] == [{"text": "First"}, {"text": "Second"}, {"text": "Third"}]


async def test_gemini_only_a_system_message_still_sends_a_user_turn(
    gw: Gateway, gemini: FakeGemini
) -> None:
    data = await _chat(
        gw, model="gemini-2.5-flash", messages=[{"role": "system", "content": "Say hello."}]
    )
    strict_chat(data, "gemini-2.5-flash")
    assert gemini.last.json["contents"] == [{"role": "user", "parts": [{"text": " "}]}]


async def test_gemini_vision_data_url_is_inlined(gw: Gateway, gemini: FakeGemini) -> None:
    b64 = base64.b64encode(tiny_png()).decode()
    data = await _chat(
        gw,
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{b64}", "detail": "high"},
                    },
                ],
            }
        ],
    )
    strict_chat(data, "gemini-2.5-flash")
    assert gemini.last.json["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": b64}
    }


@pytest.mark.parametrize("path", ["/cat.png", "/octet"])
async def test_gemini_vision_http_url_is_fetched_and_inlined(
    gw: Gateway, gemini: FakeGemini, images: str, path: str
) -> None:
    data = await _chat(
        gw,
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": images + path}},
                    {"type": "text", "text": "Describe"},
                ],
            }
        ],
    )
    strict_chat(data, "gemini-2.5-flash")
    part = gemini.last.json["contents"][0]["parts"][0]
    assert part == {
        "inlineData": {"mimeType": "image/png", "data": base64.b64encode(tiny_png()).decode()}
    }


@pytest.mark.parametrize("path", ["/missing.png", "/page"])
async def test_gemini_unusable_image_url_is_a_400(gw: Gateway, images: str, path: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": images + path}}],
                }
            ],
        )
    assert info.value.code == "invalid_image_url"


async def test_gemini_audio_and_pdf_parts_are_inlined(gw: Gateway, gemini: FakeGemini) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    await _chat(
        gw,
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{pdf}",
                            "filename": "a.pdf",
                        },
                    },
                    {"type": "text", "text": "Summarise"},
                ],
            }
        ],
    )
    parts = gemini.last.json["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}}
    assert parts[1] == {"inlineData": {"mimeType": "application/pdf", "data": pdf}}


async def test_gemini_json_mode(gw: Gateway, gemini: FakeGemini) -> None:
    gemini.reply = lambda body, model: text_chunks(['{"answer": ', "42}"])
    data = await _chat(
        gw,
        model="gemini-2.5-flash",
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Reply in JSON"}],
    )
    assert strict_chat(data, "gemini-2.5-flash").choices[0].message.content == '{"answer": 42}'
    assert gemini.last.json["generationConfig"] == {"responseMimeType": "application/json"}


class City(BaseModel):
    name: str
    population: int | None
    tags: list[str]


class Answer(BaseModel):
    cities: list[City]
    kind: str = "list"


async def test_gemini_structured_output_sends_the_full_json_schema(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: text_chunks(
        ['{"cities": [{"name": "Paris", "population": null, "tags": ["fr"]}], "kind": "list"}']
    )
    completion = await gw.client().chat.completions.parse(
        model="gemini-2.5-flash",
        response_format=Answer,
        messages=[{"role": "user", "content": "Cities?"}],
    )
    parsed = completion.choices[0].message.parsed
    assert parsed == Answer(cities=[City(name="Paris", population=None, tags=["fr"])])
    config = gemini.last.json["generationConfig"]
    assert "responseSchema" not in config  # the two are mutually exclusive
    city = config["responseJsonSchema"]["properties"]["cities"]["items"]  # $ref inlined
    assert city["properties"]["population"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "title": "Population",
    }
    assert city["required"] == ["name", "population", "tags"]
    assert config["responseJsonSchema"]["additionalProperties"] is False


async def test_gemini_structured_output_schema_is_cleaned_for_older_models(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.models.append("gemini-2.0-flash")
    gemini.reply = lambda body, model: text_chunks(
        ['{"cities": [{"name": "Paris", "population": null, "tags": ["fr"]}], "kind": "list"}']
    )
    completion = await gw.client().chat.completions.parse(
        model="gemini-2.0-flash",
        response_format=Answer,
        messages=[{"role": "user", "content": "Cities?"}],
    )
    assert completion.choices[0].message.parsed is not None
    schema = gemini.last.json["generationConfig"]["responseSchema"]
    city = schema["properties"]["cities"]["items"]
    assert city["properties"]["population"] == {"type": "INTEGER", "nullable": True}
    assert city["required"] == ["name", "population", "tags"]


async def test_gemini_thoughts_come_as_reasoning_never_in_the_answer(
    gw: Gateway, gemini: FakeGemini
) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        return [
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [
                                {"text": "Let me think about it...", "thought": True},
                                {"text": "4", "thoughtSignature": "c2ln"},
                            ],
                        },
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {**usage(5, 1, thoughts=30), "cachedContentTokenCount": 2},
            }
        ]

    gemini.reply = reply
    data = await _chat(
        gw,
        model="gemini-2.5-flash",
        reasoning_effort="low",
        messages=[{"role": "user", "content": "2+2?"}],
    )
    completion = strict_chat(data, "gemini-2.5-flash")
    assert completion.choices[0].message.content == "4"
    message = data["choices"][0]["message"]
    assert message["reasoning_content"] == message["reasoning"] == "Let me think about it..."
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 31 and completion.usage.total_tokens == 36
    details = completion.usage.completion_tokens_details
    assert details is not None and details.reasoning_tokens == 30
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 2
    assert gemini.last.json["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}
    }


async def test_gemini_3_reasoning_effort_uses_thinking_level(
    gw: Gateway, gemini: FakeGemini
) -> None:
    await _chat(
        gw,
        model="gemini-3-pro-preview",
        reasoning_effort="high",
        messages=[{"role": "user", "content": "x"}],
    )
    assert gemini.last.json["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}
    }


async def test_gemini_n_maps_to_candidate_count(gw: Gateway, gemini: FakeGemini) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        return [
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": "A"}]},
                        "finishReason": "STOP",
                    },
                    {
                        "content": {"role": "model", "parts": [{"text": "B"}]},
                        "finishReason": "MAX_TOKENS",
                        "index": 1,
                    },
                ],
                "usageMetadata": usage(3, 2),
            }
        ]

    gemini.reply = reply
    data = await _chat(
        gw, model="gemini-2.5-flash", n=2, messages=[{"role": "user", "content": "x"}]
    )
    completion = strict_chat(data, "gemini-2.5-flash")
    assert [(c.message.content, c.finish_reason) for c in completion.choices] == [
        ("A", "stop"),
        ("B", "length"),
    ]
    assert gemini.last.json["generationConfig"] == {"candidateCount": 2}


async def test_gemini_legacy_completions_with_prompt(gw: Gateway, gemini: FakeGemini) -> None:
    raw = await gw.client().completions.with_raw_response.create(
        model="gemini-2.5-flash", prompt="Say hi", max_tokens=20, echo=True
    )
    completion = strict_completion(raw.http_response.json(), "gemini-2.5-flash")
    assert completion.choices[0].text == "Say hiEcho: Say hi"
    assert gemini.last.json == {
        "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
        "generationConfig": {"maxOutputTokens": 20},
    }


async def test_gemini_model_alias_and_default_model(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(gemini_env(gemini, GEMINI_MODEL_ALIAS="gpt-4o:gemini-2.5-pro"))
    data = await _chat(gw, model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    strict_chat(data, "gpt-4o")
    assert gemini.last.path == "/v1beta/models/gemini-2.5-pro:generateContent"


async def test_gemini_client_key_is_passed_through_without_a_server_key(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    env = gemini_env(gemini)
    del env["GEMINI_API_KEY"]
    gw = await start_gateway(env)
    data = await _chat_with_key(gw, "client-gemini-key")
    strict_chat(data, "gemini-2.5-flash")
    assert gemini.last.headers["x-goog-api-key"] == "client-gemini-key"
    assert "key" not in gemini.last.query and "client-gemini-key" not in gemini.last.path


async def _chat_with_key(gw: Gateway, key: str) -> dict[str, Any]:
    raw = await gw.client(api_key=key).chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
    )
    data: dict[str, Any] = raw.http_response.json()
    return data


async def test_gemini_server_key_wins_over_the_clients(gw: Gateway, gemini: FakeGemini) -> None:
    await _chat_with_key(gw, "client-gemini-key")
    assert gemini.last.headers["x-goog-api-key"] == "server-key"


async def test_gemini_safety_threshold_applies_to_every_category(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(gemini_env(gemini, GEMINI_SAFETY="off"))
    await _chat(gw, model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    settings = gemini.last.json["safetySettings"]
    assert {s["threshold"] for s in settings} == {"OFF"} and len(settings) == 5


async def test_gemini_v1_api_puts_system_text_into_the_first_turn(
    start_gateway: StartGateway,
) -> None:
    fake = await FakeGemini(version="v1").start()
    try:
        gw = await start_gateway(gemini_env(fake, GEMINI_API_VER="v1"))
        data = await _chat(
            gw,
            model="gemini-2.5-flash",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
        )
        strict_chat(data, "gemini-2.5-flash")
        assert fake.last.path == "/v1/models/gemini-2.5-flash:generateContent"
        assert fake.last.json["contents"][0]["parts"] == [{"text": "Be brief."}, {"text": "Hi"}]
    finally:
        await fake.close()


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"stop": [1, 2]}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop"),
        ({"temperature": "hot"}, "temperature"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
            "messages[0].content[0]",
        ),
    ],
)
async def test_gemini_bad_input_is_a_clear_400(
    gw: Gateway, gemini: FakeGemini, extra: dict[str, Any], param: str
) -> None:
    body: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "x"}],
        **extra,
    }
    with pytest.raises(openai.BadRequestError) as info:
        await gw.client().chat.completions.create(**body)
    assert info.value.param == param
    assert not gemini.posts


@pytest.mark.parametrize("name", ["gpt-3.5-turbo", "o3-mini", "gpt-4o"])
async def test_gemini_openai_model_names_use_the_default_model(
    gw: Gateway, gemini: FakeGemini, name: str
) -> None:
    data = await _chat(gw, model=name, messages=[{"role": "user", "content": "x"}])
    strict_chat(data, name)  # the answer names the model the client asked for
    assert gemini.last.path == "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_gemini_calls_and_image_fetches_go_through_the_configured_proxy(
    gemini: FakeGemini, start_gateway: StartGateway, images: str, kind: str
) -> None:
    from tests.proxies import TunnelProxy

    proxy = await TunnelProxy(kind).start()
    try:
        var = "GEMINI_HTTP_PROXY" if kind == "http" else "GEMINI_SOCKS_PROXY"
        gw = await start_gateway(gemini_env(gemini, **{var: proxy.url}))
        data = await _chat(
            gw,
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": f"{images}/cat.png"}}],
                }
            ],
        )
        strict_chat(data, "gemini-2.5-flash")
        ports = {port for _, port in proxy.tunnels}
        assert gemini.server is not None and gemini.server.port in ports
        assert int(images.rsplit(":", 1)[1]) in ports
    finally:
        await proxy.close()


def _with_logprobs(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    chunks = text_chunks(["Hi", "!"])
    for chunk, token in zip(chunks, ["Hi", "!"], strict=True):
        chunk["candidates"][0]["logprobsResult"] = {
            "chosenCandidates": [{"token": token, "tokenId": 1, "logProbability": -0.25}],
            "topCandidates": [
                {
                    "candidates": [
                        {"token": token, "tokenId": 1, "logProbability": -0.25},
                        {"token": "Yo", "tokenId": 2, "logProbability": -2},
                    ]
                }
            ],
        }
    return chunks


async def test_gemini_logprobs_map_both_ways(gw: Gateway, gemini: FakeGemini) -> None:
    gemini.reply = _with_logprobs
    data = await _chat(
        gw,
        model="gemini-2.5-flash",
        logprobs=True,
        top_logprobs=2,
        messages=[{"role": "user", "content": "x"}],
    )
    logprobs = strict_chat(data, "gemini-2.5-flash").choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert [(t.token, t.logprob) for t in logprobs.content] == [("Hi", -0.25), ("!", -0.25)]
    assert [t.token for t in logprobs.content[0].top_logprobs] == ["Hi", "Yo"]
    assert logprobs.content[0].bytes == [72, 105]
    assert gemini.last.json["generationConfig"] == {"responseLogprobs": True, "logprobs": 2}
    stream = await gw.client().chat.completions.create(
        model="gemini-2.5-flash",
        logprobs=True,
        messages=[{"role": "user", "content": "x"}],
        stream=True,
    )
    tokens = [
        t.token
        async for c in stream
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.content or []
    ]
    assert tokens == ["Hi", "!"]
