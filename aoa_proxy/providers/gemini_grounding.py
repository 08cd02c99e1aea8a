"""Google Search grounding for OpenAI clients: `web_search_options` (or a function tool named
`google_search`) -> Gemini's `googleSearch` tool; `groundingMetadata` -> OpenAI `url_citation`
annotations on the message, and once at the end of a stream.

Wire reference: https://ai.google.dev/gemini-api/docs/google-search and
https://ai.google.dev/api/generate-content#GroundingMetadata (offsets are UTF-8 bytes into a
part; OpenAI's are characters into `content`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aoa_proxy.errors import RequestError
from aoa_proxy.providers.gemini_images import shown_text
from aoa_proxy.schema import Annotation, Grounding

# A function tool by this name (some clients declare search that way) means Google Search.
SEARCH_TOOL: Final = "google_search"
_GENERATION: Final = re.compile(r"gemini-(\d+)")


def wants_search(body: Mapping[str, Any]) -> bool:
    """The client asked for web search: `web_search_options` (any value but null)."""
    return body.get("web_search_options") is not None


def is_search_tool(entry: Any) -> bool:
    """`{"type": "function", "function": {"name": "google_search"}}` or a `google_search` type."""
    if not isinstance(entry, Mapping):
        return False
    if entry.get("type") == SEARCH_TOOL:
        return True
    fn = entry.get("function")
    return isinstance(fn, Mapping) and fn.get("name") == SEARCH_TOOL


def search_tools(
    model: str, api_version: str, with_functions: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(Gemini tools, toolConfig additions) for a grounded request on `model`.

    Gemini 2.x cannot mix built-in tools with function calling on generateContent; 3.x can
    once the request says `includeServerSideToolInvocations` (ai.google.dev tools docs).
    """
    if api_version == "v1":
        raise RequestError(
            "Google Search grounding needs Gemini's v1beta API (GEMINI_API_VER=v1beta); "
            "v1 has no tools",
            param="web_search_options",
            code="unsupported_parameter",
        )
    found = _GENERATION.search(model)
    generation = int(found.group(1)) if found else 99  # `-latest` and unknown names: newest
    if generation < 2:
        tool: dict[str, Any] = {"googleSearchRetrieval": {}}
    else:
        tool = {"googleSearch": {}}
    if not with_functions:
        return [tool], {}
    if generation < 3:
        raise RequestError(
            f"{model} cannot combine Google Search grounding with function tools (Gemini 2.x "
            "allows one or the other): drop web_search_options or the tools, or use a "
            "Gemini 3 model",
            param="web_search_options",
            code="unsupported_parameter",
        )
    return [tool], {"includeServerSideToolInvocations": True}


# --------------------------------------------------------------------------- answers


def citations(cand: Mapping[str, Any]) -> list[Annotation]:
    """A whole candidate's grounding -> url_citation annotations into its `content`."""
    meta = cand.get("groundingMetadata")
    if not isinstance(meta, Mapping):
        return []
    content = cand.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    texts: dict[int, str] = {}
    bases: dict[int, int] = {}
    offset = 0
    for p, part in enumerate(parts if isinstance(parts, list) else []):
        if not isinstance(part, Mapping) or part.get("thought") is True:
            continue
        shown = shown_text(part)
        if shown is None or "functionCall" in part:
            continue
        texts[p], bases[p] = shown, offset
        offset += len(shown)
    return _citations(meta, texts, bases, one_part=False)


def grounding(cand: Mapping[str, Any]) -> Grounding | None:
    """The search queries and Google's Search Suggestions, which its terms ask to show."""
    meta = cand.get("groundingMetadata")
    if not isinstance(meta, Mapping):
        return None
    out: Grounding = {}
    queries = meta.get("webSearchQueries")
    if isinstance(queries, list):
        out["web_search_queries"] = [str(q) for q in queries]
    entry = meta.get("searchEntryPoint")
    rendered = entry.get("renderedContent") if isinstance(entry, Mapping) else None
    if isinstance(rendered, str):
        out["search_entry_point"] = rendered
    return out or None


def _citations(
    meta: Mapping[str, Any], texts: Mapping[int, str], bases: Mapping[int, int], *, one_part: bool
) -> list[Annotation]:
    sources = _sources(meta.get("groundingChunks"))
    supports = meta.get("groundingSupports")
    out: list[Annotation] = []
    seen: set[tuple[int, int, int]] = set()
    offsets: dict[int, _Offsets] = {}
    for support in supports if isinstance(supports, list) else []:
        segment = support.get("segment") if isinstance(support, dict) else None
        indices = support.get("groundingChunkIndices") if isinstance(support, dict) else None
        if not isinstance(segment, dict) or not isinstance(indices, list):
            continue
        p = 0 if one_part else _int(segment.get("partIndex"))
        if p not in texts:
            continue
        chars = offsets.get(p)
        if chars is None:
            chars = offsets[p] = _Offsets(texts[p])
        start = bases[p] + chars.at(_int(segment.get("startIndex")))
        end = bases[p] + chars.at(_int(segment.get("endIndex")))
        for k in indices:
            source = sources.get(k) if isinstance(k, int) else None
            if source is None or end <= start or (start, end, k) in seen:
                continue
            seen.add((start, end, k))
            out.append(
                {
                    "type": "url_citation",
                    "url_citation": {
                        "start_index": start,
                        "end_index": end,
                        "url": source[0],
                        "title": source[1],
                    },
                }
            )
    return out


def _int(value: Any) -> int:
    """A proto3 JSON integer: zero is left out, and int64 may come as a string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


class _Offsets:
    """UTF-8 byte offsets into one text -> character offsets (a split character not counted)."""

    def __init__(self, text: str) -> None:
        self.raw = text.encode()
        self.ascii = len(self.raw) == len(text)

    def at(self, byte_offset: int) -> int:
        if self.ascii:
            return min(byte_offset, len(self.raw))
        return len(self.raw[:byte_offset].decode("utf-8", "ignore"))


def _sources(chunks: Any) -> dict[int, tuple[str, str]]:
    """Chunk index -> (url, title) of the web sources (maps and other kinds are not cited)."""
    out: dict[int, tuple[str, str]] = {}
    for k, chunk in enumerate(chunks if isinstance(chunks, list) else []):
        web = chunk.get("web") if isinstance(chunk, dict) else None
        uri = web.get("uri") if isinstance(web, dict) else None
        if isinstance(uri, str) and uri and isinstance(web, dict):
            out[k] = (uri, str(web.get("title") or ""))
    return out


@dataclass
class StreamGrounding:
    """One streamed choice: the content sent so far and the latest grounding metadata, which
    Gemini sends on the late chunks; the annotations go out once, before the finish."""

    text: list[str] = field(default_factory=list)
    meta: Mapping[str, Any] | None = None
    extra: Grounding | None = None

    def feed(self, cand: Mapping[str, Any], shown: str) -> None:
        if shown:
            self.text.append(shown)
        if isinstance(cand.get("groundingMetadata"), Mapping):
            self.meta = cand["groundingMetadata"]
            self.extra = grounding(cand)

    def finish(self) -> list[Annotation]:
        """The annotations into everything streamed (offsets count from the stream's start)."""
        if self.meta is None:
            return []
        whole = "".join(self.text)
        return _citations(self.meta, {0: whole}, {0: 0}, one_part=True)
