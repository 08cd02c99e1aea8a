"""Tool-call arguments (JSON text) <-> tool_use input (a JSON object), shared by both bridges."""

from __future__ import annotations

import json
from typing import Any


def parse_arguments(text: str) -> dict[str, Any] | None:
    """The JSON object in `text`, or None if it is not one ("" is the empty object).

    The stdlib parser keeps integers past 64 bits exact (orjson turns them into floats); tool
    arguments are small enough that its speed does not matter.
    """
    if not text.strip():
        return {}
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None
