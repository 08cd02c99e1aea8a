"""The fake Gemini's Gemini 3 rules: thought signatures, thinkingConfig per model, thought parts.

Written from the spec (specs/gemini3.md §1-2), not from aoa's code, so a translation mistake
fails here the way it fails on Google's servers: the same 400 messages.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

BYPASS = {
    "skip_thought_signature_validator",
    "context_engineering_is_the_way_to_go",
    base64.b64encode(b"skip_thought_signature_validator").decode(),
}
MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
# Accepted thinking levels per model family (thinking docs, Vertex 3.5 guide); first match wins.
_LEVELS = (
    (r"gemini-3-pro", {"LOW", "HIGH"}),
    (r"gemini-3\.1-pro", {"LOW", "MEDIUM", "HIGH"}),
    (r"gemini-3(\.[156])?-flash", {"MINIMAL", "LOW", "MEDIUM", "HIGH"}),
    (r"gemini-3\.[78]-flash", {"LOW", "MEDIUM", "HIGH"}),
)
# (lowest, highest) thinkingBudget per 2.5 model besides -1 (dynamic) and, if allowed, 0 (off).
_BUDGETS = (
    ("gemini-2.5-flash-lite", (512, 24576), True),
    ("gemini-2.5-pro", (128, 32768), False),
    ("gemini-2.5-flash", (0, 24576), True),
)


class Refused(Exception):
    """A request Gemini answers with 400 INVALID_ARGUMENT (this message)."""


def version(model: str) -> tuple[int, int]:
    found = re.search(r"gemini-(\d+)(?:\.(\d+))?", model)
    return (int(found.group(1)), int(found.group(2) or 0)) if found else (0, 0)


def check_signatures(contents: list[dict[str, Any]], model: str) -> None:
    """Gemini 3: the first functionCall of each model step in the current turn must carry a
    signature; any signature given must be base64 (or a documented bypass value)."""
    flat = [(i, part) for i, content in enumerate(contents) for part in content["parts"]]
    for _, part in flat:
        given = part.get("thoughtSignature")
        if given is not None and (not isinstance(given, str) or not _decodes(given)):
            raise Refused("Corrupted thought signature.")
    if version(model) < (3, 0) or "-image" in model:
        return
    start = 0
    for i, content in enumerate(contents):
        if content["role"] == "user" and any("functionResponse" not in p for p in content["parts"]):
            start = i + 1
    for i, content in enumerate(contents[start:], start):
        if content["role"] != "model":
            continue
        calls = [p for p in content["parts"] if "functionCall" in p]
        if calls and "thoughtSignature" not in calls[0]:
            position = next(n for n, (c, p) in enumerate(flat, 1) if c == i and p is calls[0])
            name = calls[0]["functionCall"]["name"]
            raise Refused(MISSING.format(name=name, position=position))


def _decodes(signature: str) -> bool:
    if signature in BYPASS:
        return True
    try:
        base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_thinking(config: Any, model: str) -> None:
    thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
    if thinking is None:
        return
    unknown = set(thinking) - {"includeThoughts", "thinkingBudget", "thinkingLevel"}
    if unknown:
        raise Refused(
            f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" at '
            "'generation_config.thinking_config': Cannot find field."
        )
    if version(model) < (2, 5):
        raise Refused(f"Thinking is not enabled for models/{model}")
    level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
    if level is not None and budget is not None:
        raise Refused("You can only set one of thinking budget and thinking level.")
    if level is not None:
        _check_level(str(level).upper(), model)
    if budget is not None:
        _check_budget(budget, model)
    if thinking.get("includeThoughts") is True and budget == 0:
        raise Refused(
            "Unable to submit request because Thinking_config.include_thoughts is only enabled "
            "when thinking is enabled."
        )


def _check_level(level: str, model: str) -> None:
    if version(model) < (3, 0):
        raise Refused("Thinking level is not supported for this model.")
    allowed = next((a for p, a in _LEVELS if re.search(p, model)), {"LOW", "MEDIUM", "HIGH"})
    if level not in allowed:
        raise Refused(
            f"Thinking level {level} is not supported for this model. "
            "Please retry with other thinking level."
        )


def _check_budget(budget: Any, model: str) -> None:
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise Refused("Invalid value at 'generation_config.thinking_config.thinking_budget'")
    for prefix, (low, high), off in _BUDGETS:
        if model.startswith(prefix):
            if budget == -1 or (off and budget == 0) or low <= budget <= high:
                return
            raise Refused(f"The thinking budget {budget} is invalid for models/{model}.")


def hide_thoughts(chunks: list[Any], body: dict[str, Any]) -> list[Any]:
    """Thought parts leave a scripted answer unless the request set includeThoughts."""
    config = body.get("generationConfig") or {}
    if (config.get("thinkingConfig") or {}).get("includeThoughts") is True:
        return chunks
    out: list[Any] = []
    for chunk in chunks:
        if isinstance(chunk, dict) and "candidates" in chunk:
            chunk = {**chunk, "candidates": [_without_thoughts(c) for c in chunk["candidates"]]}
        out.append(chunk)
    return out


def _without_thoughts(cand: dict[str, Any]) -> dict[str, Any]:
    content = cand.get("content")
    if not isinstance(content, dict):
        return cand
    parts = [p for p in content.get("parts", []) if p.get("thought") is not True]
    return {**cand, "content": {**content, "parts": parts}}
