"""Chat messages -> Anthropic turns and content blocks (the `anthropic` provider).

Wire reference: https://docs.anthropic.com/en/api/messages. Part of anthropic_request.py's
translation: system hoisting, role merging, tool_result placement, the first-turn and prefill
rules, and the memory of thinking blocks that OpenAI clients drop. Pure, apart from that memory.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aoa_proxy.bridges.anthropic_models import ModelTraits
from aoa_proxy.bridges.arguments import parse_arguments
from aoa_proxy.errors import RequestError

log = logging.getLogger(__name__)

# https://docs.anthropic.com/en/api/messages ("image" source media_type)
IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PLACEHOLDER: Final = "."  # a user turn where Anthropic needs one and the client sent none


class ThinkingCache:
    """Bounded tool_use id -> the thinking blocks of the assistant turn that made the call.

    OpenAI clients drop thinking blocks, but Anthropic wants them back on the assistant turn of
    a tool loop when thinking is on. The provider owns one; answers fill it, requests read it.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def remember(self, call_ids: Sequence[str], blocks: Sequence[Mapping[str, Any]]) -> None:
        if not call_ids or not blocks:
            return
        for call_id in call_ids:
            self._items[call_id] = [dict(b) for b in blocks]
            self._items.move_to_end(call_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, call_id: str) -> list[dict[str, Any]] | None:
        blocks = self._items.get(call_id)
        return [dict(b) for b in blocks] if blocks else None


def convert_messages(
    messages: Any, cache: ThinkingCache | None, model: ModelTraits
) -> tuple[list[str], list[dict[str, Any]]]:
    """Chat messages -> (system texts, alternating Messages turns that open with a user)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array", param="messages")
    system: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    legacy_ids: list[tuple[str, str]] = []  # (name, id) of legacy function calls awaiting results
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise RequestError(f"{where} must be an object", param=where)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _plain_text(content, where)
            if text:
                system.append(text)
        elif role == "user":
            turns.append(("user", _user_blocks(content, where)))
        elif role == "assistant":
            turns.append(("assistant", _assistant_blocks(message, where, cache, legacy_ids)))
        elif role in ("tool", "function"):
            turns.append(("user", [_tool_result(message, where, legacy_ids)]))
        else:
            raise RequestError(f"{where}: unknown role {role!r}", param=f"{where}.role")
    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        if not blocks:
            continue  # Anthropic rejects empty turns
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] += blocks
        else:
            merged.append({"role": role, "content": list(blocks)})
    for turn in merged:
        if turn["role"] == "user":  # results must open the turn that follows the calls
            blocks = turn["content"]
            turn["content"] = [b for b in blocks if b["type"] == "tool_result"] + [
                b for b in blocks if b["type"] != "tool_result"
            ]
    if merged and merged[-1]["role"] == "assistant" and not _has_tool_use(merged[-1]):
        if not model.prefill:  # a trailing assistant turn is a prefill, which newer models refuse
            merged.pop()
        else:  # Anthropic refuses a prefill that ends in whitespace
            last = merged[-1]["content"][-1]
            if last["type"] == "text":
                last["text"] = last["text"].rstrip() or PLACEHOLDER
    if not merged or merged[0]["role"] != "user":
        merged.insert(0, {"role": "user", "content": [{"type": "text", "text": PLACEHOLDER}]})
    return system, merged


def _has_tool_use(turn: Mapping[str, Any]) -> bool:
    return any(b["type"] == "tool_use" for b in turn["content"])


def _plain_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or p.get("refusal") or "")
            for p in content
            if isinstance(p, Mapping) and p.get("type") in ("text", "refusal")
        )
    raise RequestError(f"{where}.content must be a string or an array", param=where)


def _text_block(text: str) -> list[dict[str, Any]]:
    # Anthropic rejects empty and whitespace-only text blocks.
    return [{"type": "text", "text": text}] if text.strip() else []


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return _text_block(content)
    if not isinstance(content, list):
        raise RequestError(f"{where}.content must be a string or an array", param=where)
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            out += _text_block(part["text"])
        elif kind == "image_url":
            out.append(_image(part.get("image_url"), here))
        elif kind == "file":
            out.append(_document(part.get("file"), here))
        elif kind == "input_audio":
            log.debug("anthropic: dropping an audio part (Claude takes no audio)")
        else:
            raise RequestError(f"{here}: unsupported content part {kind!r}", param=here)
    return out


def _image(image: Any, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise RequestError(f"{where}: image_url.url is required", param=where)
    if url.startswith("data:"):
        mime, data = _data_url(url, where)
        if mime not in IMAGE_TYPES:
            raise RequestError(
                f"{where}: Claude reads JPEG, PNG, GIF and WebP images, not {mime}",
                param=where,
                code="invalid_image_url",
            )
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    if url.lower().startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise RequestError(
        f"{where}: image URLs must be data: or http(s) URLs", param=where, code="invalid_image_url"
    )


def _document(file: Any, where: str) -> dict[str, Any]:
    data = file.get("file_data") if isinstance(file, Mapping) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        raise RequestError(
            f"{where}: only files sent inline as a data: URL in 'file_data' can go to Claude "
            "(uploaded file ids are OpenAI's own)",
            param=where,
        )
    mime, b64 = _data_url(data, where)
    block: dict[str, Any]
    if mime == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": mime, "data": b64}}
    elif mime.startswith("text/"):
        try:
            text = base64.b64decode(b64, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise RequestError(f"{where}: the file is not UTF-8 text", param=where) from exc
        block = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
        }
    else:
        raise RequestError(f"{where}: Claude reads PDF and text files, not {mime}", param=where)
    name = file.get("filename")
    if isinstance(name, str) and name:
        block["title"] = name
    return block


def _data_url(url: str, where: str) -> tuple[str, str]:
    header, sep, data = url[5:].partition(",")
    params = [p.strip().lower() for p in header.split(";")]
    if not sep or "base64" not in params[1:]:
        raise RequestError(f"{where}: expected a base64 data: URL", param=where)
    return params[0], "".join(data.split())


def _assistant_blocks(
    message: Mapping[str, Any],
    where: str,
    cache: ThinkingCache | None,
    legacy_ids: list[tuple[str, str]],
) -> list[dict[str, Any]]:
    out = _text_block(_plain_text(message.get("content"), where))
    calls = message.get("tool_calls")
    uses: list[dict[str, Any]] = []
    for j, call in enumerate(calls if isinstance(calls, list) else []):
        fn = call.get("function") if isinstance(call, Mapping) else None
        call_id = call.get("id") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(call_id, str) or not call_id:
            raise RequestError(f"{where}.tool_calls[{j}]: needs an id and a function", param=where)
        uses.append(_tool_use(call_id, fn))
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping) and not uses:
        call_id = f"toolu_legacy_{len(legacy_ids)}"
        uses.append(_tool_use(call_id, legacy))
        legacy_ids.append((str(legacy.get("name", "")), call_id))
    if uses and cache is not None:
        for use in uses:
            blocks = cache.get(use["id"])
            if blocks:
                out = blocks + out
                break
    return out + uses


def _tool_use(call_id: str, fn: Mapping[str, Any]) -> dict[str, Any]:
    args = fn.get("arguments")
    parsed = parse_arguments(args) if isinstance(args, str) else {}
    if parsed is None:
        log.debug("anthropic: a replayed tool call's arguments are not a JSON object; sending {}")
    return {
        "type": "tool_use",
        "id": call_id,
        "name": str(fn.get("name") or ""),
        "input": parsed or {},
    }


def _tool_result(
    message: Mapping[str, Any], where: str, legacy_ids: list[tuple[str, str]]
) -> dict[str, Any]:
    if message.get("role") == "function":
        name = message.get("name")
        found = next((i for i, (n, _) in enumerate(legacy_ids) if n == name), None)
        if found is None:
            raise RequestError(f"{where}: no function_call named {name!r} before it", param=where)
        call_id = legacy_ids.pop(found)[1]
    else:
        given = message.get("tool_call_id")
        if not isinstance(given, str) or not given:
            raise RequestError(f"{where}: tool_call_id is required", param=where)
        call_id = given
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, list):
        blocks = _user_blocks(content, where)
        if blocks:
            block["content"] = blocks
    else:
        text = _plain_text(content, where)
        if text:
            block["content"] = text
    return block
