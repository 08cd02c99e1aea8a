"""A fake Azure OpenAI resource on loopback: classic and v1 routes, reasoning and Responses-only
deployments that refuse what the real ones refuse, with the exact error bodies of the spec
(azure-modern.md §3). It records every request, so tests count tries and read paths and bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import Received, RecordingServer, chat_chunks, chat_completion

# The exact bodies (spec §3).
OPERATION_NOT_SUPPORTED = (
    b'{"error":{"code":"OperationNotSupported","message":"The chatCompletion operation does not '
    b"work with the specified model, gpt-5.1-codex. Please choose different model and try again. "
    b"You can learn more about which models can be used with each operation here: "
    b'https://go.microsoft.com/fwlink/?linkid=2197993."}}'
)
OPERATION_UNSUPPORTED_FOUNDRY = b'{"error":{"message":"The requested operation is unsupported."}}'
MAX_TOKENS_UNSUPPORTED = (
    b'{"error":{"message":"Unsupported parameter: \'max_tokens\' is not supported with this '
    b'model. Use \'max_completion_tokens\' instead.","type":"invalid_request_error",'
    b'"param":"max_tokens","code":"unsupported_parameter"}}'
)
TEMPERATURE_VALUE_UNSUPPORTED = (
    b'{"error":{"message":"Unsupported value: \'temperature\' does not support 0.2 with this '
    b'model. Only the default (1) value is supported.","type":"invalid_request_error",'
    b'"param":"temperature","code":"unsupported_value"}}'
)


def unsupported_parameter(name: str) -> bytes:
    """The spec's `Unsupported parameter` body (exact for temperature and stop, the pattern for
    the others)."""
    return (
        f'{{"error":{{"message":"Unsupported parameter: \'{name}\' is not supported with this '
        f'model.","type":"invalid_request_error","param":"{name}","code":"unsupported_parameter"}}}}'
    ).encode()


RESPONSE_TEXT = "Hello from codex"


def response_object(deployment: str, *, tool: bool = False) -> dict[str, Any]:
    """A completed Response as Azure's /openai/v1/responses answers it."""
    if tool:
        output: list[dict[str, Any]] = [
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_42",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
                "status": "completed",
            }
        ]
    else:
        output = [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": RESPONSE_TEXT, "annotations": []}],
            },
        ]
    return {
        "id": "resp_abc123",
        "object": "response",
        "created_at": 1718000000,
        "status": "completed",
        "model": deployment,
        "output": output,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 5,
            "total_tokens": 17,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 2},
        },
    }


def response_events(deployment: str) -> list[dict[str, Any]]:
    """The Responses event stream for the same answer, two text deltas."""
    done = response_object(deployment)
    start = {**done, "status": "in_progress", "output": [], "usage": None}
    message = done["output"][1]
    return [
        {"type": "response.created", "sequence_number": 0, "response": start},
        {"type": "response.in_progress", "sequence_number": 1, "response": start},
        {
            "type": "response.output_item.added",
            "sequence_number": 2,
            "output_index": 0,
            "item": {**message, "status": "in_progress", "content": []},
        },
        {
            "type": "response.output_text.delta",
            "sequence_number": 3,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hello ",
        },
        {
            "type": "response.output_text.delta",
            "sequence_number": 4,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "from codex",
        },
        {
            "type": "response.output_item.done",
            "sequence_number": 5,
            "output_index": 0,
            "item": message,
        },
        {"type": "response.completed", "sequence_number": 6, "response": done},
    ]


DEPLOYMENTS = [
    {
        "id": "gpt-4o",
        "model": "gpt-4o",
        "owner": "organization-owner",
        "object": "deployment",
        "created_at": 1718000000,
        "status": "succeeded",
    },
    {
        "id": "o3",
        "model": "o3",
        "owner": "organization-owner",
        "object": "deployment",
        "created_at": 1718000001,
        "status": "succeeded",
    },
]


@dataclass
class FakeAzure(RecordingServer):
    """Deployments: `codex` (Responses only), `foundry-codex` (the v1 wording of the same),
    `o3` (a reasoning model: no max_tokens, no sampling knobs), anything else plain chat."""

    reasoning_refuses: tuple[str, ...] = ("temperature", "top_p", "stop", "presence_penalty")
    responses_refuse_temperature: tuple[str, ...] = ()  # deployments refusing it on /responses
    cut_responses_stream: bool = False  # end the Responses stream before response.completed
    calls: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> int:
        return self.calls.get(what, 0)

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        path = request.path
        if request.method == "GET":
            return self._get(request, rec)
        body = rec.json
        if path.startswith("/openai/deployments/"):
            deployment, route = path.removeprefix("/openai/deployments/").split("/", 1)
        else:
            route = path.rsplit("/openai/v1/", 1)[-1]
            deployment = body.get("model", "")
        key = f"{deployment} {route}"
        self.calls[key] = self.calls.get(key, 0) + 1
        if route == "responses":
            if "temperature" in body and deployment in self.responses_refuse_temperature:
                return web.Response(
                    status=400,
                    body=unsupported_parameter("temperature"),
                    content_type="application/json",
                )
            return await self._responses(request, deployment, body)
        if route == "embeddings":
            return web.json_response(
                {
                    "object": "list",
                    "model": deployment,
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
                    "usage": {"prompt_tokens": 2, "total_tokens": 2},
                }
            )
        refusal = self._refusal(deployment, body)
        if refusal is not None:
            return web.Response(
                status=400,
                body=refusal,
                content_type="application/json",
                headers={"apim-request-id": "apim-1"},
            )
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for chunk in chat_chunks(["Hel", "lo"], model=deployment):
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            return resp
        return web.json_response(chat_completion(model=deployment))

    def _refusal(self, deployment: str, body: dict[str, Any]) -> bytes | None:
        if deployment == "codex":
            return OPERATION_NOT_SUPPORTED
        if deployment == "foundry-codex":
            return OPERATION_UNSUPPORTED_FOUNDRY
        if deployment != "o3":
            return None
        if "max_tokens" in body:
            return MAX_TOKENS_UNSUPPORTED
        for name in self.reasoning_refuses:
            if name in body:
                if name == "temperature" and body[name] != 1:
                    return TEMPERATURE_VALUE_UNSUPPORTED
                return unsupported_parameter(name)
        return None

    async def _responses(
        self, request: web.Request, deployment: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            events = response_events(deployment)
            for event in events[:-1] if self.cut_responses_stream else events:
                data = json.dumps(event)
                await resp.write(f"event: {event['type']}\ndata: {data}\n\n".encode())
            return resp
        return web.json_response(response_object(deployment, tool=bool(body.get("tools"))))

    def _get(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if request.path == "/openai/deployments":
            if rec.query.get("api-version") != "2023-03-15-preview":
                return web.json_response(
                    {"error": {"code": "404", "message": "Resource not found"}}, status=404
                )
            return web.json_response({"object": "list", "data": DEPLOYMENTS})
        if "/openai/v1/responses/" in request.path:  # a Response Azure stored
            return web.json_response(response_object("codex"))
        if request.path.endswith("/openai/v1/models"):  # the model catalogue, not deployments
            return web.json_response(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": "gpt-4.1-2025-04-14",
                            "object": "model",
                            "created": 1744588800,
                            "owned_by": "system",
                        }
                    ],
                }
            )
        return web.json_response(
            {"error": {"code": "404", "message": "Resource not found"}}, status=404
        )
