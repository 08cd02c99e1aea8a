"""Google Search grounding through the gateway, driven by the openai SDK: web_search_options
(or a `google_search` function tool) turns on Gemini's googleSearch, groundingMetadata comes
back as url_citation annotations whose offsets point at the cited text, whole and streamed."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, StartGateway
from tests.gemini.conftest import gemini_env, strict_chat, strict_chunks
from tests.gemini.fake_gemini import FakeGemini, call_chunk
from tests.gemini.fake_gemini_rules import SOURCES

# Multi-byte text: Gemini counts UTF-8 bytes, OpenAI clients slice characters.
QUESTION = "Spain won Euro 2024 in Berlin. Café prices rose by 5 €. Ünïcode ✓ works."
SENTENCES = ["Echo: Spain won Euro 2024 in Berlin.", "Café prices rose by 5 €.", "Ünïcode ✓ works."]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
SEARCH_TOOL: Any = {"type": "function", "function": {"name": "google_search", "parameters": {}}}


def _check_citations(content: str, annotations: list[dict[str, Any]]) -> None:
    assert len(annotations) == len(SENTENCES)
    for n, (note, sentence) in enumerate(zip(annotations, SENTENCES, strict=True)):
        assert note["type"] == "url_citation"
        cite = note["url_citation"]
        assert content[cite["start_index"] : cite["end_index"]] == sentence
        assert (cite["url"], cite["title"]) == SOURCES[n % len(SOURCES)]


async def test_web_search_options_ground_the_answer_with_url_citations(
    gw: Gateway, gemini: FakeGemini
) -> None:
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": QUESTION}],
        web_search_options={"search_context_size": "low"},
    )
    data = raw.http_response.json()
    message = strict_chat(data, "gemini-2.5-flash").choices[0].message
    assert message.content == "Echo: " + QUESTION
    sent = gemini.last.json
    assert sent["tools"] == [{"googleSearch": {}}] and "toolConfig" not in sent
    notes = data["choices"][0]["message"]["annotations"]
    _check_citations(message.content, notes)
    assert message.annotations and message.annotations[0].url_citation.title == "uefa.com"
    grounding = data["choices"][0]["message"]["grounding"]
    assert grounding["search_entry_point"].startswith("<div")
    assert grounding["web_search_queries"] == [message.content[:40]]
    assert data["usage"]["prompt_tokens"] == 7 + 50  # the search results were read


async def test_streamed_answer_gets_its_citations_once_before_the_finish(
    gw: Gateway, gemini: FakeGemini
) -> None:
    events: list[str] = []
    async with gw.client().chat.completions.with_streaming_response.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": QUESTION}],
        web_search_options={},
        stream=True,
    ) as response:
        async for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    chunks = strict_chunks(events, "gemini-2.5-flash", usage=False)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == "Echo: " + QUESTION
    cited = [c for c in chunks if (c.choices[0].delta.model_extra or {}).get("annotations")]
    assert len(cited) == 1 and cited[0] is chunks[-2] and chunks[-1].choices[0].finish_reason
    extra = cited[0].choices[0].delta.model_extra or {}
    _check_citations(content, extra["annotations"])
    assert extra["grounding"]["search_entry_point"]


async def test_google_search_tool_mixes_with_functions_on_gemini_3(
    gw: Gateway, gemini: FakeGemini
) -> None:
    def reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        chunks = call_chunk([("get_weather", {"city": "Paris"})], "c2ln", text="Checking.")
        parts = chunks[0]["candidates"][0]["content"]["parts"]
        # With includeServerSideToolInvocations Gemini also shows its own search call.
        parts[:0] = [
            {"toolCall": {"id": "s1", "toolType": "GOOGLE_SEARCH_WEB", "args": {"q": "x"}}},
            {"toolResponse": {"id": "s1", "toolType": "GOOGLE_SEARCH_WEB", "response": {}}},
        ]
        return chunks

    gemini.reply = reply
    reply_ = await gw.client().chat.completions.create(
        model="gemini-3-pro-preview",
        messages=[{"role": "user", "content": "Weather in Paris, and search the news"}],
        tools=[WEATHER, SEARCH_TOOL],
        tool_choice="auto",
    )
    message = reply_.choices[0].message
    assert message.content == "Checking."
    assert [c.function.name for c in message.tool_calls or []] == ["get_weather"]  # type: ignore[union-attr]
    sent = gemini.last.json
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "parametersJsonSchema": json.loads(
                        json.dumps(WEATHER["function"]["parameters"])
                    ),
                }
            ]
        },
        {"googleSearch": {}},
    ]
    assert sent["toolConfig"] == {
        "functionCallingConfig": {"mode": "AUTO"},
        "includeServerSideToolInvocations": True,
    }


async def test_google_search_tool_alone_is_plain_grounding(gw: Gateway, gemini: FakeGemini) -> None:
    reply = await gw.client().chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": QUESTION}],
        tools=[SEARCH_TOOL],
        tool_choice={"type": "function", "function": {"name": "google_search"}},
    )
    assert reply.choices[0].message.annotations
    assert gemini.last.json["tools"] == [{"googleSearch": {}}]
    assert "toolConfig" not in gemini.last.json


async def test_gemini_2_cannot_mix_search_and_functions_and_says_so(
    gw: Gateway, gemini: FakeGemini
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        await gw.client().chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "x"}],
            tools=[WEATHER],
            web_search_options={},
        )
    assert "cannot combine Google Search grounding with function tools" in err.value.message
    assert err.value.param == "web_search_options"
    assert gemini.posts == []  # refused before Gemini, never a silently dropped tool


async def test_grounding_on_the_v1_api_is_a_clear_400(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    gemini.version = "v1"
    gw = await start_gateway(gemini_env(gemini, GEMINI_API_VER="v1"))
    with pytest.raises(openai.BadRequestError) as err:
        await gw.client().chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "x"}],
            web_search_options={},
        )
    assert "GEMINI_API_VER=v1beta" in err.value.message
    assert gemini.posts == []


def test_the_fake_refuses_mixing_without_the_opt_in_as_gemini_3_does() -> None:
    from tests.gemini.fake_gemini import Invalid, validate_generate

    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}],
    }
    with pytest.raises(Invalid, match="include_server_side_tool_invocations"):
        validate_generate(body, "gemini-3-pro-preview")
    with pytest.raises(Invalid, match="unsupported"):
        validate_generate(body, "gemini-2.5-flash")


def test_citation_offsets_follow_parts_bytes_and_proto_quirks() -> None:
    from aoa_proxy.providers.gemini_grounding import citations

    cand: dict[str, Any] = {
        "content": {
            "parts": [
                {"text": "plan", "thought": True},  # not in content: does not shift offsets
                {"text": "Ça va. "},
                {"text": "Très bien."},
            ]
        },
        "groundingMetadata": {
            "groundingChunks": [{"web": {"uri": "https://a", "title": "a.fr"}}, {"maps": {}}],
            "groundingSupports": [
                {"segment": {"endIndex": 7}, "groundingChunkIndices": [0]},  # part 0 is thought
                {"segment": {"partIndex": 1, "endIndex": "7"}, "groundingChunkIndices": [0, 1, 9]},
                {
                    "segment": {"partIndex": 2, "startIndex": 1, "endIndex": 11},
                    "groundingChunkIndices": [0],
                },
                {"segment": {"partIndex": 2, "startIndex": 6}, "groundingChunkIndices": [0]},
            ],
        },
    }
    content = "Ça va. Très bien."
    found = [
        (
            content[c["url_citation"]["start_index"] : c["url_citation"]["end_index"]],
            c["url_citation"]["url"],
        )
        for c in citations(cand)
    ]
    # "Ça va." is 7 bytes (Ç is two); a segment starting inside "è" counts from the next char.
    assert found == [("Ça va.", "https://a"), ("rès bien.", "https://a")]
