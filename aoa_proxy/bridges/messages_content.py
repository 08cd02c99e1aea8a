"""Anthropic content -> chat messages: turns, system text and content blocks (front door).

Wire references: https://docs.anthropic.com/en/api/messages (content blocks) and
https://platform.openai.com/docs/api-reference/chat/create (messages). Part of
messages_request.py's translation; pure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aoa_proxy.bridges.messages_tools import short_name
from aoa_proxy.errors import RequestError
from aoa_proxy.providers.base import dumps

log = logging.getLogger(__name__)

# Claude Code's attribution line at the top of its system prompt: a per-request hash that only
# api.anthropic.com reads, and which would defeat every other provider's prefix cache.
_BILLING_LINE: Final = re.compile(r"^x-anthropic-billing-header:[^\n]*(?:\n|$)", re.MULTILINE)


def convert_message(message: Any, where: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """One Anthropic message -> the chat messages it becomes (none, one, or tool messages and
    a user message); `names` maps tool names to their chat names."""
    if not isinstance(message, Mapping):
        raise RequestError(f"{where}: must be an object", param=where)
    role = message.get("role")
    content = message.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise RequestError(f"{where}.content: must be a string or a list of blocks", param=where)
    if role == "system":  # mid-conversation system message: kept where it is
        text = system_text(content, f"{where}.content")
        return [{"role": "system", "content": text}] if text else []
    if role == "user":
        return _user(content, where)
    if role == "assistant":
        return _assistant(content, where, names)
    raise RequestError(
        f"{where}.role: must be 'user', 'assistant' or 'system'", param=f"{where}.role"
    )


def system_text(system: Any, where: str) -> str:
    """System text from a string or text blocks (cache_control dropped), joined by a blank line.

    Also takes `mid_conv_system` blocks, whose `content` is a list of text blocks.
    """
    if system is None:
        return ""
    if isinstance(system, str):
        return _BILLING_LINE.sub("", system)
    if not isinstance(system, list):
        raise RequestError(f"{where}: must be a string or a list of text blocks", param=where)
    texts: list[str] = []
    for j, block in enumerate(system):
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(_BILLING_LINE.sub("", block["text"]))
        elif kind == "mid_conv_system":
            texts.append(system_text(block.get("content"), f"{where}[{j}].content"))
        else:
            raise RequestError(f"{where}[{j}]: only text blocks are allowed", param=where)
    return "\n\n".join(t for t in texts if t)


def _user(blocks: Sequence[Any], where: str) -> list[dict[str, Any]]:
    """A user turn: its tool results first (as tool messages), then the rest, in order.

    Chat wants each tool message right after the assistant message that made the call, so the
    results go first; the turn's other blocks follow as one user message in their own order.
    Images and files inside a result cannot ride in a tool message: they go, at the result's
    place, into that user message.
    """
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        here = f"{where}.content[{j}]"
        kind = _kind(block, here)
        if kind == "tool_result":
            tool, media = _tool_result(block, here)
            tools.append(tool)
            parts += media
        else:
            parts += _user_part(block, kind, here)
    out = tools
    if parts:
        if all(p["type"] == "text" for p in parts):
            out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _user_part(block: Mapping[str, Any], kind: str, where: str) -> list[dict[str, Any]]:
    if kind == "text":
        return [{"type": "text", "text": _text(block, where)}]
    if kind == "image":
        return [_image(block.get("source"), where)]
    if kind == "document":
        return _document(block, where)
    if kind == "search_result":
        return [{"type": "text", "text": _search_result_text(block)}]
    if kind == "tool_use":
        raise RequestError(f"{where}: tool_use blocks belong in assistant turns", param=where)
    # thinking, server tool blocks, container_upload, ...: nothing chat can carry
    log.debug("messages: dropping a %s block from a user turn", kind)
    return []


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[Any]]:
    """tool_result -> (tool message, image/file parts it held).

    `is_error: true` has no field in chat: it becomes an "Error: " prefix on the content.
    """
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise RequestError(f"{where}.tool_use_id: Field required", param=where)
    content = block.get("content")
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, inner in enumerate(content):
            here = f"{where}.content[{j}]"
            kind = _kind(inner, here)
            for part in [] if kind == "tool_reference" else _user_part(inner, kind, here):
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    media.append(part)
    elif content is not None:
        raise RequestError(f"{where}.content: must be a string or a list of blocks", param=where)
    text = "\n\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, media


def _assistant(blocks: Sequence[Any], where: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        here = f"{where}.content[{j}]"
        kind = _kind(block, here)
        if kind == "text":
            text = _text(block, here)
            if text:
                texts.append(text)
        elif kind == "tool_use":
            calls.append(_tool_call(block, here, names))
        elif kind == "tool_result":
            raise RequestError(f"{here}: tool_result blocks belong in user turns", param=here)
        else:
            # thinking and redacted_thinking never become answer text; server tool blocks ran
            # on Anthropic's side and mean nothing to another provider.
            log.debug("messages: dropping a %s block from an assistant turn", kind)
    if not texts and not calls:
        return []  # only thinking: nothing a chat provider can take
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "\n\n".join(texts) if texts else None,
    }
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: Mapping[str, Any], where: str, names: Mapping[str, str]) -> dict[str, Any]:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise RequestError(f"{where}: tool_use needs an id and a name", param=where)
    return {
        "id": call_id,
        "type": "function",
        "function": {
            "name": names.get(name) or short_name(name),
            "arguments": dumps(args if args is not None else {}).decode(),
        },
    }


# --------------------------------------------------------------------------- blocks


def _kind(block: Any, where: str) -> str:
    kind = block.get("type") if isinstance(block, Mapping) else None
    if not isinstance(kind, str):
        raise RequestError(f"{where}: a content block needs a type", param=where)
    return kind


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise RequestError(f"{where}.text: Field required", param=where)
    return text


def _image(source: Any, where: str) -> dict[str, Any]:
    """image source -> image_url part: base64 as a data: URL, a URL as is."""
    kind = source.get("type") if isinstance(source, Mapping) else None
    if kind == "base64" and isinstance(source.get("data"), str):
        mime = source.get("media_type") or "image/png"
        url = f"data:{mime};base64,{source['data']}"
    elif kind == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    elif kind == "file":
        raise RequestError(
            f"{where}.source: file_id images live in Anthropic's Files API, which this provider "
            "cannot read; send the image as base64 or a URL",
            param=where,
        )
    else:
        raise RequestError(f"{where}.source: must be a base64 or url source", param=where)
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """document -> a chat `file` part (PDF), text parts (text/content sources) or the URL."""
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise RequestError(f"{where}.source: Field required", param=where)
    kind = source.get("type")
    title = block.get("title") if isinstance(block.get("title"), str) else None
    heading = "\n".join(t for t in (title, block.get("context")) if isinstance(t, str) and t)
    if kind == "base64" and isinstance(source.get("data"), str):
        mime = source.get("media_type") or "application/pdf"
        if mime != "application/pdf":
            raise RequestError(
                f"{where}.source.media_type: base64 documents must be application/pdf",
                param=where,
            )
        filename = title if title else "document.pdf"
        return [
            {
                "type": "file",
                "file": {"filename": filename, "file_data": f"data:{mime};base64,{source['data']}"},
            }
        ]
    if kind == "text" and isinstance(source.get("data"), str):
        return [{"type": "text", "text": "\n\n".join(t for t in (heading, source["data"]) if t)}]
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            inner = [{"type": "text", "text": inner}]
        parts = [{"type": "text", "text": heading}] if heading else []
        for j, block_j in enumerate(inner if isinstance(inner, list) else []):
            here = f"{where}.source.content[{j}]"
            kind_j = _kind(block_j, here)
            if kind_j not in ("text", "image"):
                raise RequestError(f"{here}: only text and image blocks are allowed", param=here)
            parts += _user_part(block_j, kind_j, here)
        return parts
    if kind == "url" and isinstance(source.get("url"), str):
        # Chat has no document-by-URL part; the model at least learns where it is (aoa choice).
        label = f"Document: {source['url']}"
        return [{"type": "text", "text": f"{heading}\n{label}" if heading else label}]
    if kind == "file":
        raise RequestError(
            f"{where}.source: file_id documents live in Anthropic's Files API, which this "
            "provider cannot read; send the PDF as base64",
            param=where,
        )
    raise RequestError(
        f"{where}.source: must be a base64, text, content or url source", param=where
    )


def _search_result_text(block: Mapping[str, Any]) -> str:
    head = f"[{block.get('source', '')}] {block.get('title', '')}".strip()
    texts = [
        b["text"]
        for b in block.get("content") or []
        if isinstance(b, Mapping) and isinstance(b.get("text"), str)
    ]
    return "\n".join([head, *texts])
