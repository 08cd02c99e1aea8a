"""JSON in and out: orjson for speed, the stdlib for what orjson refuses.

orjson cannot write integers beyond 64 bits, and refuses texts the stdlib reads (NaN, numbers
past a double's range, lone surrogate escapes). Each function falls back to the stdlib once,
which costs nothing until orjson has failed.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a ValueError


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes; integers orjson cannot hold go through the stdlib."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    """The parsed JSON text (UTF-8).

    Raises UnicodeDecodeError when `data` is not UTF-8 and orjson's JSONDecodeError when it is
    no JSON; both are ValueErrors.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return _loads_slow(data, exc)


def _loads_slow(data: bytes, first: orjson.JSONDecodeError) -> Any:
    text = data.decode("utf-8")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also integers over 4300 digits
        raise first from None
