"""OpenAI request bodies -> Gemini `generateContent` / `batchEmbedContents` bodies.

Wire reference: https://ai.google.dev/api/generate-content#request-body
Everything here is pure (dicts in, dicts out) so it is unit-testable; remote images are fetched
beforehand by the provider's `prepare` and handed in as `media`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from aoa_proxy.errors import RequestError
from aoa_proxy.providers import gemini_signatures as sig
from aoa_proxy.providers import gemini_thinking as thinking
from aoa_proxy.providers.gemini_images import output_config
from aoa_proxy.providers.gemini_schema import (
    accepts_json_schema,
    clean_schema,
    holds_ref,
    response_json_schema,
)
from aoa_proxy.providers.gemini_tools import SignatureCache, tools_and_config

log = logging.getLogger(__name__)

# https://ai.google.dev/api/generate-content#harmcategory - the categories Gemini models accept;
# GEMINI_SAFETY applies one threshold to all of them.
SAFETY_CATEGORIES: Final = (
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
)

# OpenAI message role -> Gemini content role (None: goes to systemInstruction).
# https://ai.google.dev/api/caching#Content - only "user" and "model" exist.
ROLES: Final[dict[str, str | None]] = {
    "system": None,
    "developer": None,
    "user": "user",
    "assistant": "model",
    "tool": "user",
    "function": "user",
}

# OpenAI input_audio formats -> MIME types Gemini accepts.
# https://ai.google.dev/gemini-api/docs/audio#supported-formats
AUDIO_MIME: Final = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
}

# Request fields Gemini has no equivalent for: ignored (logged at debug), never an error.
IGNORED_FIELDS: Final = (
    "logit_bias",
    "user",
    "parallel_tool_calls",
    "service_tier",
    "store",
    "metadata",
    "prediction",
    "modalities",
    "audio",
    "suffix",
    "best_of",
    "safety_identifier",
    "prompt_cache_key",
    "verbosity",
)

MAX_STOP_SEQUENCES: Final = 5
MAX_EMBED_BATCH: Final = 100
MEDIA_LIMIT: Final = 20 * 1024 * 1024  # Gemini's inline request limit is about 20 MB


Part = dict[str, Any]
Media = Mapping[str, tuple[str, str]]  # url -> (mime type, base64 data)


# --------------------------------------------------------------------------- messages


def remote_media_urls(body: Mapping[str, Any]) -> list[str]:
    """The http(s) image URLs in the user messages: the gateway fetches and inlines them."""
    urls: list[str] = []
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            url = _image_url(part) if isinstance(part, dict) else None
            if url and url.lower().startswith(("http://", "https://")) and url not in urls:
                urls.append(url)
    return urls


def _image_url(part: Mapping[str, Any]) -> str | None:
    if part.get("type") != "image_url":
        return None
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    return url if isinstance(url, str) else None


def convert_messages(
    messages: Sequence[Any], media: Media, files_prefix: str = "", *, signatures: SignatureCache
) -> tuple[list[Part], list[dict[str, Any]]]:
    """OpenAI messages -> (systemInstruction parts, Gemini contents that Gemini accepts).

    Replayed tool calls and answers get their thought signatures back (gemini_signatures).
    """
    names = _tool_call_names(messages)
    system: list[Part] = []
    turns: list[tuple[str, list[Part]]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(
                f"Unknown message role {role!r} in {where}; use system, developer, user, "
                "assistant or tool",
                param=f"{where}.role",
                code="invalid_value",
            )
        target = ROLES[role]
        if target is None:
            system += [{"text": t} for t in _texts(message.get("content"), where) if t]
        elif role == "user":
            turns.append(("user", _user_parts(message.get("content"), media, where, files_prefix)))
        elif role == "assistant":
            turns.append(("model", _assistant_parts(message, where, signatures)))
        else:
            turns.append(("user", [_function_response(message, names, where, signatures)]))
    contents = _normalise(turns)
    sig.add_bypass(contents)
    return system, contents


def _normalise(turns: list[tuple[str, list[Part]]]) -> list[dict[str, Any]]:
    """Drop empty turns, merge same-role neighbours, make the conversation start with the user."""
    contents: list[dict[str, Any]] = []
    for role, parts in turns:
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": list(parts)})
    if not contents or contents[0]["role"] != "user":
        # Gemini wants a user turn first (a history may open with an assistant greeting, or the
        # request may hold only system messages); a blank one changes nothing for the model.
        contents.insert(0, {"role": "user", "parts": [{"text": " "}]})
    return contents


def _texts(content: Any, where: str) -> list[str]:
    """Text of a string-or-parts content (system, assistant, tool messages)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        out = []
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                raise RequestError(f"{where}.content[{j}] must be an object", param=where)
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                out.append(part["text"])
            elif part.get("type") != "refusal":
                raise RequestError(
                    f"{where}.content[{j}]: only text parts are allowed in this message",
                    param=f"{where}.content",
                    code="invalid_value",
                )
        return out
    raise RequestError(f"{where}.content must be a string or an array", param=where)


def _user_parts(content: Any, media: Media, where: str, files_prefix: str) -> list[Part]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or an array", param=where)
    parts: list[Part] = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "image_url" and isinstance(part, dict):
            parts.append(_image_part(_image_url(part), media, here, files_prefix))
        elif kind == "input_audio" and isinstance(part, dict):
            parts.append(_audio_part(part.get("input_audio"), here))
        elif kind == "file" and isinstance(part, dict):
            parts.append(_file_part(part.get("file"), here))
        else:
            raise RequestError(
                f"{here}: unsupported content part type {kind!r}; use text, image_url, "
                "input_audio or file",
                param=here,
                code="invalid_value",
            )
    return parts


def _image_part(url: str | None, media: Media, where: str, files_prefix: str) -> Part:
    if not url:
        raise RequestError(f"{where}.image_url.url is missing", param=where)
    if url.startswith("data:"):
        mime, data = parse_data_url(url, where)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if files_prefix and url.startswith(files_prefix):
        return {"fileData": {"fileUri": url}}  # Gemini's own Files API: it reads these itself
    if url in media:
        mime, data = media[url]
        return {"inlineData": {"mimeType": mime, "data": data}}
    raise RequestError(
        f"{where}: image URLs must be https://, http:// or data: URLs",
        param=where,
        code="invalid_image_url",
    )


def _audio_part(audio: Any, where: str) -> Part:
    if not isinstance(audio, Mapping) or not isinstance(audio.get("data"), str):
        raise RequestError(f"{where}.input_audio needs 'data' (base64) and 'format'", param=where)
    fmt = str(audio.get("format", "wav")).lower()
    mime = AUDIO_MIME.get(fmt)
    if mime is None:
        raise RequestError(
            f"{where}.input_audio.format {fmt!r} is not one of {', '.join(AUDIO_MIME)}",
            param=where,
            code="invalid_value",
        )
    return {"inlineData": {"mimeType": mime, "data": audio["data"]}}


def _file_part(file: Any, where: str) -> Part:
    data = file.get("file_data") if isinstance(file, Mapping) else None
    if not isinstance(data, str) or not data:
        raise RequestError(
            f"{where}: only files sent inline as 'file_data' can be passed to Gemini "
            "(uploaded file ids are OpenAI's own)",
            param=where,
            code="invalid_value",
        )
    if data.startswith("data:"):
        mime, b64 = parse_data_url(data, where)
    else:  # bare base64: guess the type from the file name
        import mimetypes

        name = str(file.get("filename") or "")
        mime = mimetypes.guess_type(name)[0] or "application/pdf"
        b64 = data
    return {"inlineData": {"mimeType": mime, "data": b64}}


def parse_data_url(url: str, where: str) -> tuple[str, str]:
    """`data:<mime>[;base64],<data>` -> (mime, base64 data); base64 is passed on untouched."""
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise RequestError(f"{where}: malformed data: URL", param=where, code="invalid_image_url")
    params = header.split(";")
    mime = params[0].strip() or "text/plain"
    if "base64" in (p.strip().lower() for p in params[1:]):
        return mime, "".join(data.split())
    return mime, base64.b64encode(unquote_to_bytes(data)).decode()


def _assistant_parts(
    message: Mapping[str, Any], where: str, signatures: SignatureCache
) -> list[Part]:
    parts: list[Part] = [{"text": t} for t in _texts(message.get("content"), where) if t]
    if parts:  # a text answer's signature sat on its last part
        text_signature = sig.replay_text(message, "".join(p["text"] for p in parts), signatures)
        if text_signature:
            parts[-1]["thoughtSignature"] = text_signature
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise RequestError(f"{where}.tool_calls must be an array", param=f"{where}.tool_calls")
    for k, call in enumerate(calls or []):
        here = f"{where}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise RequestError(f"{here}.function.name is missing", param=here)
        part: Part = {"functionCall": {"name": fn["name"], "args": _args(fn, here)}}
        native_id, signature = sig.replay_call(call, signatures)
        if native_id:
            part["functionCall"]["id"] = native_id
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping) and isinstance(legacy.get("name"), str):
        parts.append({"functionCall": {"name": legacy["name"], "args": _args(legacy, where)}})
    return parts


def _args(fn: Mapping[str, Any], where: str) -> dict[str, Any]:
    raw = fn.get("arguments")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        args = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise RequestError(
            f"{where}.function.arguments must be a JSON object encoded as a string",
            param=f"{where}.function.arguments",
            code="invalid_value",
        )
    return args


def _tool_call_names(messages: Sequence[Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, Mapping) and isinstance(message.get("tool_calls"), list):
            for call in message["tool_calls"]:
                fn = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(fn, Mapping) and isinstance(call.get("id"), str):
                    names[call["id"]] = str(fn.get("name", ""))
    return names


def _function_response(
    message: Mapping[str, Any], names: Mapping[str, str], where: str, signatures: SignatureCache
) -> Part:
    if message.get("role") == "tool":
        call_id = message.get("tool_call_id")
        name = names.get(call_id) if isinstance(call_id, str) else None
        if not name:
            raise RequestError(
                f"{where}: tool_call_id {call_id!r} does not match a tool call of an earlier "
                "assistant message",
                param=f"{where}.tool_call_id",
                code="invalid_value",
            )
    else:
        name = message.get("name")
        if not isinstance(name, str) or not name:
            raise RequestError(f"{where}: a function message needs a 'name'", param=where)
    text = "".join(_texts(message.get("content"), where))
    response: Part = {"name": name, "response": _response_object(text)}
    ref = sig.parse_call_id(message.get("tool_call_id"), signatures)
    if ref.native:
        response["id"] = ref.base
    return {"functionResponse": response}


def _response_object(text: str) -> dict[str, Any]:
    """Gemini wants the result as a JSON object: parse it, else wrap it."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    if holds_ref(value):  # Gemini 3 would chase its $refs (a JSON Schema, say): keep it text
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


# --------------------------------------------------------------------------- parameters


def generation_config(
    body: Mapping[str, Any], model: str, *, thoughts: bool = False
) -> dict[str, Any]:
    """OpenAI sampling fields -> Gemini generationConfig (zeros are sent, not dropped)."""
    config: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP")):
        value = _number(body, src)
        if value is not None:
            config[dst] = value
    for src, dst in (
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        value = _number(body, src)
        # 0 is OpenAI's and Gemini's default; several Gemini models reject the field outright
        # ("Penalty is not enabled"), so a 0 that changes nothing is not sent.
        if value:
            config[dst] = value
    for src, dst in (("top_k", "topK"), ("seed", "seed"), ("n", "candidateCount")):
        ivalue = _integer(body, src)
        if ivalue is not None:
            config[dst] = ivalue
    limit = _integer(body, "max_completion_tokens")
    if limit is None:
        limit = _integer(body, "max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = _stop(body.get("stop"))
    if stop:
        config["stopSequences"] = stop
    if body.get("logprobs") is True:  # chat only: /v1/completions' `logprobs` is a number
        config["responseLogprobs"] = True
        top = _integer(body, "top_logprobs")
        if top:
            config["logprobs"] = top
    config.update(_response_format(body.get("response_format")))
    thinking_config = thinking.thinking_config(body.get("reasoning_effort"), model, thoughts)
    if thinking_config:
        config["thinkingConfig"] = thinking_config
    return config


def _number(body: Mapping[str, Any], key: str) -> float | int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"'{key}' must be a number", param=key, code="invalid_type")
    return value


def _integer(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"'{key}' must be an integer", param=key, code="invalid_type")
    return value


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise RequestError("'stop' must be a string or an array of strings", param="stop")
    items = [s for s in items if s]
    if len(items) > MAX_STOP_SEQUENCES:
        raise RequestError(
            f"Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences", param="stop"
        )
    return items


def _response_format(fmt: Any) -> dict[str, Any]:
    if fmt is None:
        return {}
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema is not None:
            out["responseSchema"] = clean_schema(schema, where="response_format.json_schema.schema")
        return out
    raise RequestError(
        "'response_format.type' must be text, json_object or json_schema",
        param="response_format",
        code="invalid_value",
    )


# --------------------------------------------------------------------------- whole bodies


def generate_body(
    body: Mapping[str, Any],
    *,
    model: str,
    chat: bool,
    media: Media,
    safety: str,
    api_version: str,
    files_prefix: str = "",
    signatures: SignatureCache,
    thoughts: bool = False,
    temperature_policy: str = "keep",
) -> dict[str, Any]:
    """The Gemini generateContent body for an OpenAI chat (or legacy completions) request."""
    _log_ignored(body)
    if chat:
        system, contents = convert_messages(
            body["messages"], media, files_prefix, signatures=signatures
        )
        full = accepts_json_schema(model, api_version)
        tools, tool_config = tools_and_config(body, model=model, api_version=api_version, full=full)
    else:
        system, contents = [], [{"role": "user", "parts": [{"text": completion_prompt(body)}]}]
        tools, tool_config = [], {}
    out: dict[str, Any] = {"contents": contents}
    if system and api_version == "v1":
        # v1 lacks systemInstruction on older revisions: put the instructions first in the
        # opening user turn, which every version accepts.
        contents[0]["parts"][:0] = system
    elif system:
        out["systemInstruction"] = {"parts": system}
    if tools:
        out["tools"] = tools
    if tool_config:
        out["toolConfig"] = tool_config
    if safety and safety != "HARM_BLOCK_THRESHOLD_UNSPECIFIED":
        out["safetySettings"] = [{"category": c, "threshold": safety} for c in SAFETY_CATEGORIES]
    config = generation_config(body, model, thoughts=thoughts)
    thinking.apply_temperature_policy(config, model, temperature_policy)
    if chat:
        response_json_schema(config, body, model, api_version)
        output_config(config, body, model)
    if config:
        out["generationConfig"] = config
    return out


def completion_prompt(body: Mapping[str, Any]) -> str:
    """The one text prompt of a /v1/completions request."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        if not prompt:
            raise RequestError("'prompt' must not be empty", param="prompt")
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        raise RequestError(
            "Gemini answers one prompt per request: send each prompt separately",
            param="prompt",
            code="invalid_value",
        )
    raise RequestError(
        "'prompt' must be a string (Gemini cannot take token arrays)",
        param="prompt",
        code="invalid_type",
    )


def embed_body(body: Mapping[str, Any], model_path: str) -> dict[str, Any]:
    """The Gemini batchEmbedContents body for an OpenAI embeddings request."""
    texts = embedding_inputs(body.get("input"))
    dims = _integer(body, "dimensions")
    if dims is not None and dims < 1:
        raise RequestError("'dimensions' must be a positive integer", param="dimensions")
    fmt = body.get("encoding_format")
    if fmt not in (None, "float", "base64"):
        raise RequestError("'encoding_format' must be float or base64", param="encoding_format")
    requests = []
    for text in texts:
        request: dict[str, Any] = {"model": model_path, "content": {"parts": [{"text": text}]}}
        if dims is not None:
            request["outputDimensionality"] = dims
        requests.append(request)
    return {"requests": requests}


def embedding_inputs(raw: Any) -> list[str]:
    """The texts to embed: a string or a list of strings, none empty, at most 100."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
        raise RequestError(
            "'input' must be a string or an array of strings (Gemini cannot embed token arrays)",
            param="input",
            code="invalid_type",
        )
    if any(not t for t in items):
        raise RequestError("'input' must not contain empty strings", param="input")
    if len(items) > MAX_EMBED_BATCH:
        raise RequestError(
            f"Gemini embeds at most {MAX_EMBED_BATCH} inputs per request; split the list",
            param="input",
        )
    return list(items)


def _log_ignored(body: Mapping[str, Any]) -> None:
    dropped = [k for k in IGNORED_FIELDS if body.get(k) is not None]
    if dropped:
        log.debug("gemini: ignoring fields it has no equivalent for: %s", ", ".join(dropped))
