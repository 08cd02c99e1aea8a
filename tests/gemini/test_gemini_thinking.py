"""Visible thinking, thinkingConfig per model family, GEMINI_TEMPERATURE_POLICY and countTokens.

The fake Gemini only sends thought parts when includeThoughts was asked for and refuses the
thinkingConfig a model would refuse (tests/gemini/fake_thinking.py, written from the spec).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anthropic
import pytest

from aoa_proxy.config import ProviderSettings
from aoa_proxy.providers import Call, Endpoint, gemini_thinking
from aoa_proxy.providers.gemini import GeminiProvider
from aoa_proxy.providers.gemini_thinking import EFFORTS, thinking_config
from tests.conftest import Gateway, StartGateway
from tests.gemini.conftest import gemini_env, strict_chat, strict_chunks
from tests.gemini.fake_gemini import FakeGemini, usage
from tests.gemini.fake_thinking import Refused, check_thinking

THOUGHT = "**Planning** the sum first."
HI: Any = [{"role": "user", "content": "2+2?"}]


def thinking_reply(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """A thought part in the first chunk, the answer in the second (the fake drops the thought
    unless includeThoughts was sent)."""
    return [
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": THOUGHT, "thought": True}]}}
            ]
        },
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "4", "thoughtSignature": "c2ln"}],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": usage(5, 1, thoughts=40),
        },
    ]


@pytest.fixture
def thinking_gemini(gemini: FakeGemini) -> FakeGemini:
    gemini.reply = thinking_reply
    gemini.models += ["gemini-3-flash-preview", "gemini-3.6-flash", "gemini-2.0-flash"]
    return gemini


async def test_reasoning_effort_shows_thoughts_as_reasoning_and_counts_them(
    gw: Gateway, thinking_gemini: FakeGemini
) -> None:
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gemini-3-pro-preview", messages=HI, reasoning_effort="medium"
    )
    data = raw.http_response.json()
    completion = strict_chat(data, "gemini-3-pro-preview")
    message = data["choices"][0]["message"]
    assert message["content"] == "4"
    assert message["reasoning_content"] == message["reasoning"] == THOUGHT
    assert completion.usage is not None and completion.usage.completion_tokens == 41
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 40
    # 3 Pro has no MEDIUM level: the next one up.
    assert thinking_gemini.last.json["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "HIGH",
        "includeThoughts": True,
    }


async def test_streamed_thoughts_come_as_reasoning_deltas_before_the_answer(
    gw: Gateway, thinking_gemini: FakeGemini
) -> None:
    events: list[str] = []
    async with gw.client().chat.completions.with_streaming_response.create(
        model="gemini-3-flash-preview",
        messages=HI,
        reasoning_effort="minimal",
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        events = [line[6:] async for line in resp.iter_lines() if line.startswith("data: ")]
    chunks = strict_chunks(events, "gemini-3-flash-preview", usage=True)
    deltas = [c.choices[0].delta.model_dump() for c in chunks if c.choices]
    reasoning = [d for d in deltas if d.get("reasoning_content")]
    assert [(d["reasoning_content"], d["reasoning"]) for d in reasoning] == [(THOUGHT, THOUGHT)]
    assert deltas.index(reasoning[0]) < next(i for i, d in enumerate(deltas) if d.get("content"))
    assert "".join(d.get("content") or "" for d in deltas) == "4"
    final = chunks[-1].usage
    assert final is not None and final.completion_tokens_details is not None
    assert final.completion_tokens_details.reasoning_tokens == 40
    assert thinking_gemini.last.json["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "MINIMAL",
        "includeThoughts": True,
    }


async def test_without_a_request_thoughts_stay_hidden_but_are_counted(
    gw: Gateway, thinking_gemini: FakeGemini
) -> None:
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=HI
    )
    data = raw.http_response.json()
    message = data["choices"][0]["message"]
    assert message["content"] == "4" and "reasoning_content" not in message
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] == 40
    assert "generationConfig" not in thinking_gemini.last.json


async def test_gemini_thoughts_on_asks_for_them_without_changing_the_budget(
    start_gateway: StartGateway, thinking_gemini: FakeGemini
) -> None:
    gw = await start_gateway(gemini_env(thinking_gemini, GEMINI_THOUGHTS="on"))
    data = await gw.client().chat.completions.create(model="gemini-2.5-flash", messages=HI)
    assert data.choices[0].message.model_dump()["reasoning_content"] == THOUGHT
    assert thinking_gemini.last.json["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True}
    }
    # reasoning_effort "none" switches thinking off, so there is nothing to show.
    await gw.client().chat.completions.create(
        model="gemini-2.5-flash", messages=HI, reasoning_effort="none"
    )
    assert thinking_gemini.last.json["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0}
    }


async def test_a_model_that_cannot_think_gets_no_thinking_config(
    gw: Gateway, thinking_gemini: FakeGemini
) -> None:
    await gw.client().chat.completions.create(
        model="gemini-2.0-flash", messages=HI, reasoning_effort="high"
    )
    assert "generationConfig" not in thinking_gemini.last.json


MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3.1-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-flash-lite",
    "gemini-3.5-flash",
    "gemini-3.6-flash",
    "gemini-3.7-flash",
    "gemini-3.8-flash",
    "gemini-2.0-flash",
)


@pytest.mark.parametrize("model", MODELS)
def test_every_effort_gives_a_config_the_model_accepts(model: str) -> None:
    for effort in (None, *EFFORTS):
        for thoughts in (False, True):
            config = thinking_config(effort, model, thoughts)
            try:
                check_thinking({"thinkingConfig": config} if config else {}, model)
            except Refused as exc:
                raise AssertionError(f"{model} {effort} {thoughts}: {exc}") from None


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128}),
        ("gemini-2.5-pro", "max", {"thinkingBudget": 32768}),
        ("gemini-2.5-flash", "minimal", {"thinkingBudget": 512}),
        ("gemini-2.5-flash", "xhigh", {"thinkingBudget": 24576}),
        ("gemini-3-pro-preview", "minimal", {"thinkingLevel": "LOW"}),
        ("gemini-3.1-pro-preview", "medium", {"thinkingLevel": "MEDIUM"}),
        ("gemini-3.5-flash", "none", {"thinkingLevel": "MINIMAL"}),
        ("gemini-3.8-flash", "minimal", {"thinkingLevel": "LOW"}),
        ("gemini-9-ultra", "medium", {"thinkingLevel": "MEDIUM"}),
    ],
)
def test_effort_maps_to_the_models_own_control(
    model: str, effort: str, expected: dict[str, Any]
) -> None:
    assert thinking_config(effort, model, False) == expected


# --------------------------------------------------------------------------- the other doors


async def test_responses_reasoning_becomes_a_reasoning_item(
    gw: Gateway, thinking_gemini: FakeGemini
) -> None:
    client = gw.client()
    response = await client.responses.create(
        model="gemini-2.5-flash", input="2+2?", reasoning={"effort": "low", "summary": "auto"}
    )
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"] and response.output_text == "4"
    summary = response.output[0].summary  # type: ignore[union-attr]
    assert [s.text for s in summary] == [THOUGHT]
    assert response.usage is not None
    assert response.usage.output_tokens_details.reasoning_tokens == 40
    async with client.responses.stream(
        model="gemini-2.5-flash", input="2+2?", reasoning={"effort": "low", "summary": "auto"}
    ) as stream:
        texts = [e.delta async for e in stream if e.type == "response.reasoning_summary_text.delta"]
        final = await stream.get_final_response()
    assert "".join(texts) == THOUGHT and final.output_text == "4"


async def test_anthropic_thinking_becomes_a_thinking_block(
    gw: Gateway, thinking_gemini: FakeGemini
) -> None:
    async with anthropic.AsyncAnthropic(base_url=gw.url, api_key="x", max_retries=0) as claude:
        message = await claude.messages.create(
            model="gemini-2.5-flash",
            max_tokens=2000,
            messages=[{"role": "user", "content": "2+2?"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        assert [b.type for b in message.content] == ["thinking", "text"]
        assert message.content[0].thinking == THOUGHT  # type: ignore[union-attr]
        async with claude.messages.stream(
            model="gemini-2.5-flash",
            max_tokens=2000,
            messages=[{"role": "user", "content": "2+2?"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        ) as stream:
            final = await stream.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text"]
        assert final.content[0].thinking == THOUGHT  # type: ignore[union-attr]
    config = thinking_gemini.last.json["generationConfig"]["thinkingConfig"]
    assert config["includeThoughts"] is True


# --------------------------------------------------------------------------- temperature


@pytest.mark.parametrize(
    ("policy", "model", "sent", "expected"),
    [
        ("keep", "gemini-3-pro-preview", {"temperature": 0.2}, {"temperature": 0.2}),
        ("drop", "gemini-3-pro-preview", {"temperature": 1.5, "top_p": 0.9}, {"topP": 0.9}),
        ("drop", "gemini-2.5-flash", {"temperature": 0.2}, {"temperature": 0.2}),
        ("default", "gemini-3-pro-preview", {"temperature": 0.2}, {}),
        ("default", "gemini-3-pro-preview", {"temperature": 1.3}, {"temperature": 1.3}),
        ("default", "gemini-3.6-flash", {"temperature": 1.3, "top_p": 0.5, "top_k": 4}, {}),
    ],
)
async def test_temperature_policy_and_its_one_log_line(
    start_gateway: StartGateway,
    thinking_gemini: FakeGemini,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    model: str,
    sent: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    monkeypatch.setattr(gemini_thinking, "_logged", set())
    gw = await start_gateway(gemini_env(thinking_gemini, GEMINI_TEMPERATURE_POLICY=policy))
    caplog.set_level(logging.INFO, logger="aoa_proxy.providers.gemini_thinking")
    for _ in range(2):
        await gw.client().chat.completions.create(model=model, messages=HI, extra_body=sent)
        assert thinking_gemini.last.json.get("generationConfig", {}) == expected
    notes = [
        r.getMessage() for r in caplog.records if "GEMINI_TEMPERATURE_POLICY" in r.getMessage()
    ]
    changed = len(expected) < len(sent)
    assert len(notes) == (1 if changed else 0)
    assert all(model in note for note in notes)


# --------------------------------------------------------------------------- countTokens


async def test_count_request_is_the_whole_generate_request_never_a_stream() -> None:
    provider = GeminiProvider(
        ProviderSettings(name="gemini", endpoint="http://127.0.0.1:1", model="gemini-2.5-flash")
    )
    body = {
        "model": "gemini-2.5-flash",
        "stream": True,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    }
    call = Call(Endpoint.CHAT, body, b"", "gemini-2.5-flash", "gemini-2.5-flash", True, "k")

    async def no_fetch(url: str, limit: int) -> tuple[str, bytes]:
        raise AssertionError("nothing to fetch")

    request = await provider.count_request(call, no_fetch)
    assert request is not None
    assert request.url == "http://127.0.0.1:1/v1beta/models/gemini-2.5-flash:countTokens"
    sent = json.loads(request.body or b"")["generateContentRequest"]
    assert sent["model"] == "models/gemini-2.5-flash"
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert provider.count_answer({"totalTokens": 31}) == 31
    assert provider.count_answer({"totalTokens": True}) is None
