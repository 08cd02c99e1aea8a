"""Gemini thought signatures that travel with the answer, so no gateway memory is needed.

Gemini 3 refuses a replayed function call without the signature it came with
(https://ai.google.dev/gemini-api/docs/thought-signatures). OpenAI clients drop unknown fields,
but they always send a tool call's `id` back, so each signature rides along in two places:

* inside the tool call id: `<base id>__gsig<a|n>_<signature as unpadded base64url>` (the LiteLLM
  approach). `a` = aoa chose the base id, `n` = Gemini did (it goes back on the functionCall and
  functionResponse). base64url keeps the id within Anthropic's `[A-Za-z0-9_-]` and any JSON
  string, so it survives the Responses (`call_id`) and Messages (`tool_use.id`) doors unchanged.
  A call with Gemini's own id but no signature (the later ones of parallel calls) still gets
  the marker, with nothing after it, so the id goes back to Gemini after a restart too.
* in `extra_content.google.thought_signature`, the field Google's own OpenAI-compatible
  endpoint uses, on tool calls and (for text answers) on the message or delta.

Why no HMAC-protected short reference instead: a reference needs a store every worker and every
restart can read, which is the state this removes; and the signature needs no protection from
the client: it is opaque, it is the client's own conversation, and Gemini checks it itself
("Invalid thought signature."). The price is long ids; OpenAI's own API caps ids at 40 characters,
which only matters if the client later sends this history to OpenAI directly.

Replay order for each functionCall: `extra_content` -> the id -> the process cache (last resort,
keyed by the base id, for clients that cut ids) -> the documented bypass value on the first call
of each model step of the current turn (`add_bypass`); otherwise none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from aoa_proxy.providers.gemini_tools import DUMMY_SIGNATURE, SignatureCache
from aoa_proxy.schema import ToolCall

MARK: Final = "__gsig"
_URL_SAFE: Final = re.compile(r"[A-Za-z0-9_-]*")
_AOA, _NATIVE = "a", "n"


@dataclass(frozen=True, slots=True)
class CallRef:
    """What a tool call id tells: the id Gemini sees, whose it is, and the signature."""

    base: str
    native: bool  # Gemini chose `base`: it goes back on functionCall/functionResponse
    signature: str | None  # None: unknown; "": a Gemini call that had none


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def _to_url(signature: str) -> str | None:
    """Standard base64 -> unpadded base64url; None when it does not round-trip exactly."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode() != signature:
        return None
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _from_url(text: str) -> str | None:
    if not _URL_SAFE.fullmatch(text) or len(text) % 4 == 1:
        return None  # not something encode_call_id wrote (a client changed the id)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return base64.b64encode(raw).decode()


def encode_call_id(given: str | None, signature: str, cache: SignatureCache) -> str:
    """The OpenAI tool call id for a Gemini functionCall (remembered in `cache` as well)."""
    native = bool(given)
    base = given if given else new_call_id()
    cache.remember(base, signature, native)
    packed = _to_url(signature) if signature else ""
    if packed is None or not (packed or native):
        # Not plain base64 (only the cache and extra_content carry it), or nothing to carry.
        return base
    return f"{base}{MARK}{_NATIVE if native else _AOA}_{packed}"


def tool_call(fc: Mapping[str, Any], signature: Any, cache: SignatureCache) -> ToolCall:
    """A Gemini functionCall part -> OpenAI tool call carrying its signature both ways."""
    given = fc.get("id")
    signature = signature if isinstance(signature, str) else ""
    call: ToolCall = {
        "id": encode_call_id(given if isinstance(given, str) else None, signature, cache),
        "type": "function",
        "function": {
            "name": str(fc.get("name", "")),
            "arguments": orjson.dumps(fc.get("args") or {}).decode(),
        },
    }
    if signature:
        call["extra_content"] = extra_content(signature)
    return call


def parse_call_id(call_id: Any, cache: SignatureCache) -> CallRef:
    """Base id, nativeness and signature of a replayed id (the cache fills gaps)."""
    if not isinstance(call_id, str):
        return CallRef("", False, None)
    base, mark, rest = call_id.partition(MARK)
    if mark and len(rest) >= 2 and rest[0] in (_AOA, _NATIVE) and rest[1] == "_":
        signature = _from_url(rest[2:]) if rest[2:] else ""
        if signature is not None:
            return CallRef(base, rest[0] == _NATIVE, signature)
    base = base if mark else call_id
    return CallRef(base, cache.is_native(base), cache.get(base))


def extra_content(signature: str) -> dict[str, Any]:
    """Google's OpenAI-compatible carrier: `{"google": {"thought_signature": ...}}`."""
    return {"google": {"thought_signature": signature}}


def from_extra(holder: Any) -> str | None:
    """The signature in `holder.extra_content.google.thought_signature`, if any."""
    extra = holder.get("extra_content") if isinstance(holder, Mapping) else None
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    return signature if isinstance(signature, str) and signature else None


def replay_call(call: Mapping[str, Any], cache: SignatureCache) -> tuple[str | None, str | None]:
    """(id to send Gemini or None, signature or None) for a replayed OpenAI tool call."""
    ref = parse_call_id(call.get("id"), cache)
    signature = from_extra(call) or ref.signature
    return (ref.base if ref.native else None), signature


def text_key(text: str) -> str:
    """Cache key of a text answer's signature (the text itself is not kept)."""
    return "text:" + hashlib.sha256(text.encode()).hexdigest()


def remember_text(text: str, signature: str, cache: SignatureCache) -> None:
    if text and signature:
        cache.remember(text_key(text), signature)


def replay_text(message: Mapping[str, Any], text: str, cache: SignatureCache) -> str | None:
    """The signature of a replayed assistant text: its extra_content, else the cache."""
    return from_extra(message) or (cache.get(text_key(text)) if text else None) or None


def add_bypass(contents: list[dict[str, Any]]) -> None:
    """Give the first functionCall of each model step in the current turn the bypass value
    when it has no signature: Gemini 3 validates exactly those (earlier turns never).

    The current turn starts after the last user content holding more than function responses.
    """
    start = 0
    for i, content in enumerate(contents):
        if content["role"] == "user" and any("functionResponse" not in p for p in content["parts"]):
            start = i + 1
    for content in contents[start:]:
        if content["role"] != "model":
            continue
        first = next((p for p in content["parts"] if "functionCall" in p), None)
        if first is not None and not first.get("thoughtSignature"):
            first["thoughtSignature"] = DUMMY_SIGNATURE
