"""Responses message content parts -> chat content parts (spec responses.md §6a).

input_text -> text; input_image -> image_url (detail `original` -> `high`); input_file with
file_data -> file; input_audio -> input_audio; an assistant's output_text parts -> its content,
a refusal part -> `refusal`. Parts by file id or URL need OpenAI's file store and are refused.
Wire: https://platform.openai.com/docs/api-reference/responses/create#responses-create-input and
https://platform.openai.com/docs/api-reference/chat/create#chat-create-messages
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError

IMAGE_DETAIL: Final = {"auto": "auto", "low": "low", "high": "high", "original": "high"}


def text_content(content: str | list[Any], where: str) -> Any:
    """System/developer content: text parts only, a single one as a plain string."""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        part_where = f"{where}.content[{j}]"
        kind = _part_type(part, part_where)
        if kind not in ("input_text", "text", "output_text"):
            raise RequestError(
                f"{part_where}: a system or developer message holds text only, not {kind!r}",
                param=f"{part_where}.type",
                code="invalid_value",
            )
        texts.append(string_field(part, "text", part_where, empty=True))
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": t} for t in texts]


def user_content(content: str | list[Any], where: str) -> Any:
    """User content: a single text part as a plain string, else chat parts."""
    if isinstance(content, str):
        return content
    parts = [user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def user_part(part: Any, where: str) -> dict[str, Any]:
    """One user (or tool output) content part -> chat's."""
    kind = _part_type(part, where)
    if kind in ("input_text", "text"):
        return {"type": "text", "text": string_field(part, "text", where, empty=True)}
    if kind == "input_image":
        return _image(part, where)
    if kind == "input_file":
        return _file(part, where)
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, Mapping):
            raise RequestError(
                f"{where}.input_audio must be an object", param=f"{where}.input_audio"
            )
        return {"type": "input_audio", "input_audio": dict(audio)}
    raise RequestError(
        f"{where}.type: unknown content part {kind!r} (use input_text, input_image, input_file "
        "or input_audio)",
        param=f"{where}.type",
        code="invalid_value",
    )


def _image(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        if part.get("file_id") is not None:
            raise RequestError(
                f"{where}.file_id: images by file id need OpenAI's file store; send image_url "
                "(a URL or a data: URL) instead",
                param=f"{where}.file_id",
                code="unsupported_parameter",
            )
        raise RequestError(f"{where}.image_url is missing", param=f"{where}.image_url")
    image: dict[str, Any] = {"url": url}
    detail = part.get("detail")
    if detail is not None:
        if detail not in IMAGE_DETAIL:
            raise RequestError(
                f"{where}.detail must be auto, low, high or original",
                param=f"{where}.detail",
                code="invalid_value",
            )
        image["detail"] = IMAGE_DETAIL[detail]
    return {"type": "image_url", "image_url": image}


def _file(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    for key in ("file_id", "file_url"):
        if part.get(key) is not None:
            raise RequestError(
                f"{where}.{key}: files by id or URL need OpenAI's file store; send file_data "
                "(a data: URL) and filename instead",
                param=f"{where}.{key}",
                code="unsupported_parameter",
            )
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise RequestError(f"{where}.file_data is missing", param=f"{where}.file_data")
    file: dict[str, Any] = {"file_data": data}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def assistant_message(content: str | list[Any], where: str) -> dict[str, Any]:
    """An assistant message: output_text joined as content, a refusal part as `refusal`."""
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    refusals: list[str] = []
    for j, part in enumerate(content):
        part_where = f"{where}.content[{j}]"
        kind = _part_type(part, part_where)
        if kind in ("output_text", "input_text", "text"):
            texts.append(string_field(part, "text", part_where, empty=True))
        elif kind == "refusal":
            refusals.append(string_field(part, "refusal", part_where, empty=True))
        else:
            raise RequestError(
                f"{part_where}: an assistant message holds output_text and refusal parts, "
                f"not {kind!r}",
                param=f"{part_where}.type",
                code="invalid_value",
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if refusals:
        message["refusal"] = "".join(refusals)
    return message


def _part_type(part: Any, where: str) -> str:
    if not isinstance(part, Mapping):
        raise RequestError(f"{where} must be an object", param=where, code="invalid_type")
    kind = part.get("type")
    if not isinstance(kind, str):
        raise RequestError(f"{where}.type must be a string", param=f"{where}.type")
    return kind


def string_field(item: Mapping[str, Any], key: str, where: str, *, empty: bool = False) -> str:
    """`item[key]` as a string, or a RequestError naming `where.key`."""
    value = item.get(key)
    if not isinstance(value, str) or (not value and not empty):
        raise RequestError(
            f"{where}.{key} must be a {'' if empty else 'non-empty '}string",
            param=f"{where}.{key}",
        )
    return value
