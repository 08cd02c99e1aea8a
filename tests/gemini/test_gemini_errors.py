"""Gemini errors and safety blocks become OpenAI errors / answers the SDK understands."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import Gateway, StartGateway
from tests.gemini.conftest import gemini_env, strict_chat
from tests.gemini.fake_gemini import FakeGemini, error_body, text_chunks, usage

HELLO: Any = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("gemini_status", "name", "exc", "status", "kind", "code"),
    [
        (400, "INVALID_ARGUMENT", openai.BadRequestError, 400, "invalid_request_error", None),
        (400, "FAILED_PRECONDITION", openai.BadRequestError, 400, "invalid_request_error", None),
        (
            401,
            "UNAUTHENTICATED",
            openai.AuthenticationError,
            401,
            "invalid_request_error",
            "invalid_api_key",
        ),
        (403, "PERMISSION_DENIED", openai.PermissionDeniedError, 403, "permission_error", None),
        (404, "NOT_FOUND", openai.NotFoundError, 404, "invalid_request_error", "model_not_found"),
        (
            429,
            "RESOURCE_EXHAUSTED",
            openai.RateLimitError,
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (500, "INTERNAL", openai.InternalServerError, 500, "server_error", None),
        (503, "UNAVAILABLE", openai.InternalServerError, 503, "server_error", None),
        (504, "DEADLINE_EXCEEDED", openai.InternalServerError, 504, "timeout", None),
    ],
)
async def test_gemini_error_status_maps_to_openai(
    gw: Gateway,
    gemini: FakeGemini,
    gemini_status: int,
    name: str,
    exc: type[openai.APIError],
    status: int,
    kind: str,
    code: str | None,
) -> None:
    gemini.fail = (gemini_status, error_body(gemini_status, name, f"upstream says {name}"))
    with pytest.raises(exc) as info:
        await gw.client().chat.completions.create(model="gemini-2.5-flash", messages=HELLO)
    err = info.value
    assert isinstance(err, openai.APIStatusError) and err.status_code == status
    body: Any = err.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == kind and body["error"]["code"] == code
    assert body["error"]["message"].startswith(f"upstream says {name}")


async def test_gemini_rate_limit_passes_the_retry_delay(gw: Gateway, gemini: FakeGemini) -> None:
    gemini.fail = (
        429,
        error_body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", retry="17.2s"),
    )
    with pytest.raises(openai.RateLimitError) as info:
        await gw.client().chat.completions.create(model="gemini-2.5-flash", messages=HELLO)
    assert info.value.response.headers["retry-after"] == "18"


async def test_gemini_bad_key_is_a_401_invalid_api_key(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    gw = await start_gateway(gemini_env(gemini, GEMINI_API_KEY="AIzaWRONG"))
    with pytest.raises(openai.AuthenticationError) as info:
        await gw.client().chat.completions.create(model="gemini-2.5-flash", messages=HELLO)
    assert info.value.code == "invalid_api_key"
    assert "AIzaWRONG" not in info.value.response.text
    assert gemini.last.headers["x-goog-api-key"] == "AIzaWRONG" and not gemini.last.query


async def test_gemini_unknown_model_is_a_404_model_not_found(gw: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        await gw.client().chat.completions.create(model="gemini-0-nope", messages=HELLO)
    assert info.value.code == "model_not_found" and info.value.param == "model"
    assert "GEMINI_MODEL_ALIAS" in info.value.message


async def test_gemini_no_key_anywhere_is_a_401_naming_the_fix(
    gemini: FakeGemini, start_gateway: StartGateway
) -> None:
    env = gemini_env(gemini)
    del env["GEMINI_API_KEY"]
    gw = await start_gateway(env)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gw.url}/v1/chat/completions", json={"model": "gemini-2.5-flash", "messages": HELLO}
        ) as resp,
    ):
        body = await resp.json()
    assert resp.status == 401 and body["error"]["code"] == "invalid_api_key"
    assert "GEMINI_API_KEY" in body["error"]["message"] and not gemini.received


async def test_gemini_prompt_blocked_is_a_content_filter_answer(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: [
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage(6, 0)}
    ]
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=HELLO
    )
    completion = strict_chat(raw.http_response.json(), "gemini-2.5-flash")
    choice = completion.choices[0]
    assert choice.finish_reason == "content_filter" and choice.message.content is None
    assert "SAFETY" in (choice.message.refusal or "")
    assert completion.usage is not None and completion.usage.prompt_tokens == 6


async def test_gemini_answer_stopped_for_safety_keeps_its_text(
    gw: Gateway, gemini: FakeGemini
) -> None:
    gemini.reply = lambda body, model: text_chunks(["Partial "], finish="SAFETY")
    raw = await gw.client().chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=HELLO
    )
    choice = strict_chat(raw.http_response.json(), "gemini-2.5-flash").choices[0]
    assert choice.finish_reason == "content_filter" and choice.message.content == "Partial "


async def test_gemini_unreachable_is_a_502(start_gateway: StartGateway) -> None:
    fake = await FakeGemini().start()
    env = gemini_env(fake)
    await fake.close()
    gw = await start_gateway(env)
    with pytest.raises(openai.InternalServerError) as info:
        await gw.client().chat.completions.create(model="gemini-2.5-flash", messages=HELLO)
    assert info.value.status_code == 502


async def test_gemini_non_json_error_page_is_still_an_openai_error(
    gw: Gateway, gemini: FakeGemini
) -> None:
    from aiohttp import web

    async def html(request: web.Request, rec: object) -> web.Response:
        return web.Response(
            status=502, text="<html><body>Bad Gateway</body></html>", content_type="text/html"
        )

    gemini.fail = None
    gemini.raw = html
    with pytest.raises(openai.InternalServerError) as info:
        await gw.client().chat.completions.create(model="gemini-2.5-flash", messages=HELLO)
    body: Any = info.value.response.json()
    assert info.value.status_code == 502 and "Bad Gateway" in body["error"]["message"]
    assert set(body["error"]) == {"message", "type", "param", "code"}
