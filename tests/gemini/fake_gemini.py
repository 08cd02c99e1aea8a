"""A fake Gemini API on loopback that checks requests the way Gemini does and streams real SSE.

It answers from a script (`reply`: request body -> list of GenerateContentResponse chunks); the
non-streaming answer is the chunks merged, as Gemini's own is. Anything Gemini would reject
(unknown fields, roles out of order, unsupported schema keywords, keys in the URL...) gets the
400 INVALID_ARGUMENT Gemini sends, so a translation mistake fails the test loudly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import Received, RecordingServer
from tests.gemini import fake_gemini_rules as rules
from tests.gemini import fake_thinking
from tests.gemini.fake_gemini_rules import Invalid as Invalid

Reply = Callable[[dict[str, Any], str], list[Any]]  # chunks, or raw SSE lines as str

GOOD_KEYS = {"server-key", "client-gemini-key"}

_TOP_FIELDS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
}
_GEN_FIELDS = {
    "temperature": float,
    "topP": float,
    "topK": int,
    "candidateCount": int,
    "maxOutputTokens": int,
    "stopSequences": list,
    "responseMimeType": str,
    "responseSchema": dict,
    "presencePenalty": float,
    "frequencyPenalty": float,
    "seed": int,
    "thinkingConfig": dict,
    "responseLogprobs": bool,
    "logprobs": int,
    "responseJsonSchema": dict,
    "responseModalities": list,
    "imageConfig": dict,
}
_PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
_PART_EXTRA = {"thought", "thoughtSignature"}
_SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "example",
    "default",
    "anyOf",
    "propertyOrdering",
}
_SCHEMA_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_CATEGORIES = {
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
}
_THRESHOLDS = {
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
}


def error_body(
    code: int, status: str, message: str, reason: str | None = None, retry: str | None = None
) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        )
    if retry:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry})
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


# --------------------------------------------------------------------------- answer builders


def text_chunks(
    pieces: list[str],
    finish: str = "STOP",
    prompt: int = 7,
    thoughts: int = 0,
    index: int | None = None,
) -> list[dict[str, Any]]:
    """Chunks streaming `pieces`; the last carries finishReason and usage."""
    out = []
    for i, piece in enumerate(pieces):
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}}
        if index is not None:
            cand["index"] = index
        chunk: dict[str, Any] = {
            "candidates": [cand],
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp-1",
        }
        if i == len(pieces) - 1:
            cand["finishReason"] = finish
            chunk["usageMetadata"] = usage(prompt, len(pieces), thoughts)
        out.append(chunk)
    return out


def usage(prompt: int, candidates: int, thoughts: int = 0) -> dict[str, Any]:
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def call_chunk(
    calls: list[tuple[str, dict[str, Any]]],
    signature: str | None = None,
    text: str | None = None,
    ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One chunk holding function calls (Gemini never splits a call across chunks)."""
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"text": text})
    for i, (name, args) in enumerate(calls):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if ids:
            part["functionCall"]["id"] = ids[i]
        if signature and i == 0:  # only the first of parallel calls carries the signature
            part["thoughtSignature"] = signature
        parts.append(part)
    return [
        {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage(20, 5),
        }
    ]


def merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streaming answer: all chunks' parts per candidate, the last finish and usage."""
    cands: dict[int, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for chunk in chunks:
        for cand in chunk.get("candidates", []):
            i = cand.get("index", 0)
            merged = cands.setdefault(i, {"content": {"role": "model", "parts": []}, "index": i})
            rules.add_parts(
                merged["content"]["parts"], (cand.get("content") or {}).get("parts", [])
            )
            for key in ("finishReason", "groundingMetadata"):
                if key in cand:
                    merged[key] = cand[key]
            if "logprobsResult" in cand:
                result = merged.setdefault(
                    "logprobsResult", {"chosenCandidates": [], "topCandidates": []}
                )
                for key in ("chosenCandidates", "topCandidates"):
                    result[key] += cand["logprobsResult"].get(key, [])
        for key in ("usageMetadata", "promptFeedback", "modelVersion", "responseId"):
            if key in chunk:
                out[key] = chunk[key]
    if cands:
        out["candidates"] = [cands[i] for i in sorted(cands)]
    return out


def last_user_text(body: dict[str, Any]) -> str:
    for content in reversed(body["contents"]):
        if content["role"] == "user":
            texts = [p["text"] for p in content["parts"] if "text" in p]
            if texts:
                return " ".join(texts)
    return ""


def echo(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    chunks = text_chunks(["Echo: ", last_user_text(body)])
    rules.decorate(body, model, chunks)  # grounding metadata, drawn images
    return chunks


# --------------------------------------------------------------------------- validation


def validate_generate(body: Any, model: str) -> None:
    if not isinstance(body, dict):
        raise Invalid("Invalid JSON payload received.")
    for key in body:
        if key not in _TOP_FIELDS:
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    if contents[0].get("role") != "user":
        raise Invalid("Please ensure that multiturn requests start with a user turn.")
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        role = content.get("role")
        if set(content) - {"role", "parts"} or role not in ("user", "model"):
            raise Invalid(f"contents[{i}]: role must be user or model")
        if previous is not None and previous["role"] == role:
            raise Invalid("Please ensure that multiturn requests alternate between user and model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Invalid(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            )
        for part in parts:
            _validate_part(part, role, i)
        if previous is not None and previous["role"] == "model":
            calls = [p["functionCall"]["name"] for p in previous["parts"] if "functionCall" in p]
            answers = [p["functionResponse"]["name"] for p in parts if "functionResponse" in p]
            call_ids = [
                p["functionCall"].get("id") for p in previous["parts"] if "functionCall" in p
            ]
            answer_ids = [p["functionResponse"].get("id") for p in parts if "functionResponse" in p]
            if calls and (calls != answers or call_ids != answer_ids):
                raise Invalid(
                    "Please ensure that the number of function response parts is "
                    "equal to the number of function call parts of the function call "
                    "turn."
                )
        previous = content
    system = body.get("systemInstruction")
    if system is not None:
        if not isinstance(system, dict) or set(system) - {"role", "parts"}:
            raise Invalid("systemInstruction must be a Content")
        if not system.get("parts") or any(
            set(p) != {"text"} or not p["text"] for p in system["parts"]
        ):
            raise Invalid("systemInstruction parts must be non-empty text")
    _validate_generation_config(body.get("generationConfig"))
    _gemini3_rules(contents, body.get("generationConfig"), model)
    _validate_safety(body.get("safetySettings"))
    names = _validate_tools(body.get("tools"))
    _validate_tool_config(body.get("toolConfig"), names)
    rules.validate_builtins(body.get("tools") or [], body.get("toolConfig"), model, bool(names))
    rules.validate_function_results(contents, model)


def _gemini3_rules(contents: list[dict[str, Any]], config: Any, model: str) -> None:
    try:
        fake_thinking.check_signatures(contents, model)
        fake_thinking.check_thinking(config, model)
    except fake_thinking.Refused as exc:
        raise Invalid(str(exc)) from None


def _validate_part(part: Any, role: str, i: int) -> None:
    if not isinstance(part, dict):
        raise Invalid(f"contents[{i}].parts must hold objects")
    data = set(part) & _PART_DATA
    if len(data) != 1 or set(part) - _PART_DATA - _PART_EXTRA:
        raise Invalid(f"contents[{i}]: each part needs exactly one data field, got {sorted(part)}")
    if "text" in part and (not isinstance(part["text"], str) or not part["text"]):
        raise Invalid("Unable to submit request because it has an empty text parameter.")
    if "inlineData" in part:
        inline = part["inlineData"]
        if set(inline) != {"mimeType", "data"}:
            raise Invalid("inlineData needs mimeType and data")
        try:
            base64.b64decode(inline["data"], validate=True)
        except ValueError:
            raise Invalid(
                "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES), "
                "Base64 decoding failed"
            ) from None
    if "functionCall" in part:
        fc = part["functionCall"]
        if (
            role != "model"
            or not isinstance(fc.get("args", {}), dict)
            or set(fc) - {"name", "args", "id"}
        ):
            raise Invalid("functionCall must be in a model turn with object args")
    if "functionResponse" in part:
        fr = part["functionResponse"]
        if (
            role != "user"
            or not isinstance(fr.get("response"), dict)
            or set(fr) - {"name", "response", "id"}
        ):
            raise Invalid("functionResponse must be in a user turn with an object response")


def _validate_generation_config(config: Any) -> None:
    if config is None:
        return
    for key, value in config.items():
        kind = _GEN_FIELDS.get(key)
        if kind is None:
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}" at '
                "'generation_config': Cannot find field."
            )
        ok = isinstance(value, int | float) if kind is float else isinstance(value, kind)
        if not ok or isinstance(value, bool) and kind is not bool:
            raise Invalid(f"Invalid value at 'generation_config.{key}'")
    if "responseSchema" in config:
        if config.get("responseMimeType") not in ("application/json", "text/x.enum"):
            raise Invalid("responseSchema needs responseMimeType application/json")
        validate_schema(config["responseSchema"], "generation_config.response_schema")
    rules.validate_output_config(config)
    if len(config.get("stopSequences", [])) > 5:
        raise Invalid("stopSequences: at most 5")


def validate_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise Invalid(f"{where} must be an object")
    for key in schema:
        if key not in _SCHEMA_KEYS:
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}" at '
                f"'{where}': Cannot find field."
            )
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.upper() not in _SCHEMA_TYPES):
        raise Invalid(f"Invalid value at '{where}.type'")
    if "enum" in schema and (
        str(kind).upper() != "STRING" or not all(isinstance(v, str) for v in schema["enum"])
    ):
        raise Invalid(f"{where}: enum is only supported for STRING type")
    if str(kind).upper() == "OBJECT" and "properties" in schema and not schema["properties"]:
        raise Invalid(f"{where}.properties: should be non-empty for OBJECT type")
    for name, sub in (schema.get("properties") or {}).items():
        validate_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        validate_schema(schema["items"], f"{where}.items")
    for j, sub in enumerate(schema.get("anyOf") or []):
        validate_schema(sub, f"{where}.any_of[{j}]")
    for req in schema.get("required") or []:
        if req not in (schema.get("properties") or {}):
            raise Invalid(f"{where}.required[{req}]: property is not defined")


def _validate_safety(settings: Any) -> None:
    if settings is None:
        return
    seen = set()
    for s in settings:
        if s.get("category") not in _CATEGORIES or s.get("threshold") not in _THRESHOLDS:
            raise Invalid(f"Invalid safety setting {s}")
        if s["category"] in seen:
            raise Invalid("Duplicate safety setting category")
        seen.add(s["category"])


def _validate_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    names: list[str] = []
    for tool in tools:
        if len(tool) != 1:
            raise Invalid(f"Unknown name \"{sorted(tool)}\" at 'tools[0]'")
        for fn in tool.get("functionDeclarations", []):
            if set(fn) - {"name", "description", "parameters", "parametersJsonSchema"} or not (
                fn.get("name")
            ):
                raise Invalid(f"functionDeclarations: unknown fields {sorted(fn)}")
            where = f"tools[0].function_declarations[{fn['name']}]"
            if "parameters" in fn and "parametersJsonSchema" in fn:
                raise Invalid(f"{where}: parameters and parametersJsonSchema are exclusive")
            if "parameters" in fn:
                validate_schema(fn["parameters"], f"{where}.parameters")
            if "parametersJsonSchema" in fn:
                rules.validate_json_schema(
                    fn["parametersJsonSchema"], f"{where}.parameters_json_schema", root_object=True
                )
            names.append(fn["name"])
    return names


def _validate_tool_config(config: Any, names: list[str]) -> None:
    if config is None:
        return
    if set(config) - {"functionCallingConfig", "includeServerSideToolInvocations"}:
        raise Invalid("Invalid toolConfig")
    fcc = config.get("functionCallingConfig")
    if fcc is None:
        return
    if not names:
        raise Invalid("Function calling config is set without function_declarations.")
    if fcc.get("mode") not in (
        "AUTO",
        "ANY",
        "NONE",
        "VALIDATED",
    ):
        raise Invalid("Invalid toolConfig")
    allowed = fcc.get("allowedFunctionNames")
    if allowed is not None and (
        fcc["mode"] not in ("ANY", "VALIDATED") or set(allowed) - set(names)
    ):
        raise Invalid("allowedFunctionNames is only allowed with mode ANY and declared names")


# --------------------------------------------------------------------------- server


@dataclass
class FakeGemini(RecordingServer):
    reply: Reply = echo
    models: list[str] = field(
        default_factory=lambda: [
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-3-pro-preview",
            "gemini-embedding-001",
            "text-embedding-004",
        ]
    )
    page_size: int = 2  # small, so the model list needs several pages
    fail: tuple[int, dict[str, Any]] | None = None  # answer every POST with this error
    version: str = "v1beta"
    sse: bool = True  # False: answer streams with the JSON-array form even when alt=sse
    pause_after: int | None = None  # stop streaming after this many events until `resume`
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    raw: Callable[[web.Request, Received], Awaitable[web.StreamResponse]] | None = None

    @property
    def posts(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if "key" in request.query:
            return _error(400, "INVALID_ARGUMENT", "test: the API key must not be in the URL")
        key = request.headers.get("x-goog-api-key")
        if not key:
            return _error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers "
                "(callers without established identity). Please use API Key or other "
                "form of API consumer identity to call this API.",
            )
        if key not in GOOD_KEYS:
            return web.json_response(
                error_body(
                    400,
                    "INVALID_ARGUMENT",
                    "API key not valid. Please pass a valid API key.",
                    "API_KEY_INVALID",
                ),
                status=400,
            )
        prefix = f"/{self.version}/"
        if not request.path.startswith(prefix):
            return _error(404, "NOT_FOUND", f"path {request.path} not found")
        rest = request.path[len(prefix) :]
        if request.method == "GET" and rest == "models":
            return self._list(request)
        if request.method != "POST" or not rest.startswith("models/") or ":" not in rest:
            return _error(404, "NOT_FOUND", "not found")
        model, _, method = rest[len("models/") :].partition(":")
        if model not in self.models:
            return _error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version "
                f"{self.version}, or is not supported for generateContent.",
            )
        if self.fail is not None:
            return web.json_response(self.fail[1], status=self.fail[0])
        if self.raw is not None:  # not Gemini at all (a proxy's error page, say)
            return await self.raw(request, rec)
        try:
            body = json.loads(rec.body)
            if method == "batchEmbedContents":
                return web.json_response(_embed(body, model))
            if method == "countTokens":
                return web.json_response({"totalTokens": _count_tokens(body, model)})
            if method not in ("generateContent", "streamGenerateContent"):
                return _error(404, "NOT_FOUND", f"unknown method {method}")
            extra = set(request.query) - ({"alt"} if method == "streamGenerateContent" else set())
            if extra:
                raise Invalid(f"unexpected query parameters {sorted(extra)}")
            validate_generate(body, model)
        except Invalid as exc:
            return _error(400, "INVALID_ARGUMENT", str(exc))
        chunks = fake_thinking.hide_thoughts(self.reply(body, model), body)
        if method == "generateContent":
            return web.json_response(merge(chunks))
        if request.query.get("alt") != "sse" or not self.sse:
            return web.json_response(chunks)  # Gemini's JSON-array stream form
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i, chunk in enumerate(chunks):
            if i == self.pause_after:
                await self.resume.wait()
            raw = chunk if isinstance(chunk, str) else "data: " + json.dumps(chunk)
            await resp.write(raw.encode() + b"\r\n\r\n")  # Google separates events with CRLFs
        await resp.write_eof()
        return resp

    def _list(self, request: web.Request) -> web.Response:
        start = int(request.query.get("pageToken") or 0)
        size = min(int(request.query.get("pageSize", 50)), self.page_size)
        page = self.models[start : start + size]
        body: dict[str, Any] = {
            "models": [
                {
                    "name": f"models/{m}",
                    "baseModelId": m,
                    "version": "001",
                    "displayName": m,
                    "supportedGenerationMethods": ["generateContent"],
                }
                for m in page
            ]
        }
        if start + size < len(self.models):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)


def _error(code: int, status: str, message: str) -> web.Response:
    return web.json_response(error_body(code, status, message), status=code)


def _count_tokens(body: Any, model: str) -> int:
    """countTokens with a generateContentRequest: validated like generateContent; the count is
    the request's text length over 4 (the tests only need a number they can predict)."""
    if not isinstance(body, dict) or set(body) != {"generateContentRequest"}:
        raise Invalid("countTokens needs generateContentRequest (or contents)")
    request = dict(body["generateContentRequest"])
    if request.pop("model", None) != f"models/{model}":
        raise Invalid("generateContentRequest.model must name the model of the URL")
    validate_generate(request, model)
    return len(json.dumps(request)) // 4


def _embed(body: Any, model: str) -> dict[str, Any]:
    if set(body) != {"requests"} or not body["requests"]:
        raise Invalid("batchEmbedContents needs requests")
    out = []
    for req in body["requests"]:
        if req.get("model") != f"models/{model}":
            raise Invalid(f"Model name in request ({req.get('model')}) does not match the URL")
        if set(req) - {"model", "content", "outputDimensionality", "taskType", "title"}:
            raise Invalid(f"Unknown fields in {sorted(req)}")
        text = req["content"]["parts"][0]["text"]
        size = req.get("outputDimensionality", 8)
        digest = hashlib.sha256(text.encode()).digest()
        out.append({"values": [round((digest[i % 32] - 128) / 128, 4) for i in range(size)]})
    return {"embeddings": out}
