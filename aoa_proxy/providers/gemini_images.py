"""Gemini's image output for OpenAI clients: drawn images in chat answers, and
POST /v1/images/generations on Gemini's image models.

Chat Completions has no image output part, so an image a model draws comes back twice (the
choice is documented in docs/gemini.md "Images"): as markdown `![image](data:...)` inside
`content`, which every chat UI renders, and as a non-standard `images` list of
`{"type": "image_url", "image_url": {"url": "data:..."}}` (OpenRouter's shape) for clients that
want the bytes. Interim "thought" images are skipped.
Wire reference: https://ai.google.dev/gemini-api/docs/image-generation
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError, UpstreamUnreachable
from aoa_proxy.schema import ImageData, ImageOutput, ImagesResponse

# Imagen is shut down for the Gemini API (2026-08-17); these replace it.
DEFAULT_IMAGE_MODEL: Final = "gemini-3.1-flash-image"
_PRO_IMAGE_MODEL: Final = "gemini-3-pro-image"
_IMAGE_MODEL: Final = re.compile(r"gemini-.*image")

# OpenAI `size` -> the aspect ratio it is closest to (Gemini takes ratios, not pixels).
# https://ai.google.dev/api/generate-content#ImageConfig
ASPECT_RATIOS: Final = {
    "1:1": 1.0,
    "2:3": 2 / 3,
    "3:2": 3 / 2,
    "3:4": 3 / 4,
    "4:3": 4 / 3,
    "9:16": 9 / 16,
    "16:9": 16 / 9,
    "21:9": 21 / 9,
}
# OpenAI `quality` -> Gemini imageSize (a design choice: "hd"/"high" ask for more pixels).
IMAGE_SIZES: Final = {
    "hd": "2K",
    "high": "2K",
    "standard": "1K",
    "medium": "1K",
    "low": "1K",
    "auto": None,
}
MAX_IMAGES: Final = 8
_BLOCKED: Final = frozenset(
    {"SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT"}
)


def is_image_model(model: str) -> bool:
    """`gemini-*-image*`: the models that can answer with images."""
    return bool(_IMAGE_MODEL.search(model))


def data_url(part: Mapping[str, Any]) -> str | None:
    """The data: URL of an image part (None for anything else)."""
    inline = part.get("inlineData")
    if not isinstance(inline, Mapping):
        return None
    mime, data = inline.get("mimeType"), inline.get("data")
    if not isinstance(mime, str) or not mime.startswith("image/") or not isinstance(data, str):
        return None
    return f"data:{mime};base64,{data}"


def shown_text(part: Mapping[str, Any]) -> str | None:
    """What a (non-thought) answer part adds to `content`: its text, or an image as markdown."""
    text = part.get("text")
    if isinstance(text, str):
        return text
    url = data_url(part)
    return f"\n\n![image]({url})\n\n" if url else None


def image_output(url: str) -> ImageOutput:
    return {"type": "image_url", "image_url": {"url": url}}


def output_config(config: dict[str, Any], body: Mapping[str, Any], model: str) -> None:
    """An image model answers with images only when asked: responseModalities (from the
    client's `modalities`, else text and image) and `image_config` (OpenRouter's field)."""
    if not is_image_model(model):
        return
    wanted = body.get("modalities")
    names = [str(m).upper() for m in wanted] if isinstance(wanted, list) else []
    names = [m for m in names if m in ("TEXT", "IMAGE")]
    config["responseModalities"] = names if "IMAGE" in names else ["TEXT", "IMAGE"]
    image = body.get("image_config")
    if isinstance(image, Mapping):
        out = {
            key: image[src]
            for src, key in (("aspect_ratio", "aspectRatio"), ("image_size", "imageSize"))
            if isinstance(image.get(src), str)
        }
        if out:
            config["imageConfig"] = out


# --------------------------------------------------------------------------- /v1/images


def image_model(requested: str) -> str:
    """The Gemini model for an images request: an image model as given (or as aliased); an
    OpenAI or Imagen name, or a chat model, goes to the default image model ("ultra" -> Pro)."""
    if is_image_model(requested):
        return requested
    if requested.startswith("imagen-") and "ultra" in requested:
        return _PRO_IMAGE_MODEL
    return DEFAULT_IMAGE_MODEL


def generation_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The generateContent body for an OpenAI images request."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError("'prompt' must be a non-empty string", param="prompt")
    if body.get("stream") is True:
        raise RequestError(
            "Gemini sends each image whole: streaming partial images is not available",
            param="stream",
            code="unsupported_parameter",
        )
    fmt = body.get("response_format")
    if fmt not in (None, "b64_json"):
        raise RequestError(
            "Gemini returns image bytes, not hosted URLs: use response_format 'b64_json' "
            "(the default here)",
            param="response_format",
            code="unsupported_parameter",
        )
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise RequestError(f"'n' must be an integer from 1 to {MAX_IMAGES}", param="n")
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if n > 1:
        config["candidateCount"] = n
    image: dict[str, str] = {}
    ratio = _aspect_ratio(body.get("size"))
    if ratio:
        image["aspectRatio"] = ratio
    quality = body.get("quality")
    if quality is not None:
        if quality not in IMAGE_SIZES:
            raise RequestError(
                f"'quality' must be one of {', '.join(IMAGE_SIZES)}", param="quality"
            )
        if IMAGE_SIZES[quality]:
            image["imageSize"] = str(IMAGE_SIZES[quality])
    if image:
        config["imageConfig"] = image
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": config,
    }


def _aspect_ratio(size: Any) -> str | None:
    """`1024x1536` -> the nearest ratio Gemini offers; `auto` or nothing -> None."""
    if size is None or size == "auto":
        return None
    found = re.fullmatch(r"(\d{1,5})x(\d{1,5})", size) if isinstance(size, str) else None
    if not found or not int(found.group(1)) or not int(found.group(2)):
        raise RequestError("'size' must be WIDTHxHEIGHT (e.g. 1024x1024) or auto", param="size")
    wanted = int(found.group(1)) / int(found.group(2))
    return min(ASPECT_RATIOS, key=lambda name: abs(ASPECT_RATIOS[name] - wanted))


def images_response(payload: Any) -> ImagesResponse:
    """A GenerateContentResponse -> OpenAI's images response (`b64_json` per image)."""
    data: list[ImageData] = []
    cands = payload.get("candidates") if isinstance(payload, Mapping) else None
    reasons: list[str] = []
    for cand in cands if isinstance(cands, list) else []:
        if not isinstance(cand, Mapping):
            continue
        content = cand.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        texts: list[str] = []
        images: list[str] = []
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, Mapping) or part.get("thought") is True:
                continue
            inline = part.get("inlineData")
            if data_url(part) and isinstance(inline, Mapping):
                images.append(str(inline["data"]))
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
        revised = "".join(texts).strip()
        for b64 in images:
            entry: ImageData = {"b64_json": b64}
            if revised:
                entry["revised_prompt"] = revised
            data.append(entry)
        reasons.append(str(cand.get("finishReason", "")))
    if not data:
        raise _no_image(payload, reasons)
    out: ImagesResponse = {"created": int(time.time()), "data": data}
    meta = payload.get("usageMetadata") if isinstance(payload, Mapping) else None
    if isinstance(meta, Mapping):
        prompt = meta.get("promptTokenCount")
        output = meta.get("candidatesTokenCount")
        if isinstance(prompt, int) and isinstance(output, int):
            out["usage"] = {
                "input_tokens": prompt,
                "output_tokens": output,
                "total_tokens": prompt + output,
            }
    return out


def _no_image(payload: Any, reasons: list[str]) -> RequestError | UpstreamUnreachable:
    """Why no image came back: a refusal is the client's 400 (as OpenAI's safety system)."""
    feedback = payload.get("promptFeedback") if isinstance(payload, Mapping) else None
    blocked = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    why = blocked or next((r for r in reasons if r in _BLOCKED), None)
    if why:
        return RequestError(
            f"Gemini refused to draw this prompt ({why}); rephrase it",
            param="prompt",
            code="content_policy_violation",
        )
    return UpstreamUnreachable(
        f"Gemini answered without an image (finish reason: {', '.join(reasons) or 'none'})"
    )
