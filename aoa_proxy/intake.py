"""A client's request before any upstream: read, size cap, parse, check, and the key to use.

Front doors call these in order. Apart from read_body they take plain data (bytes, dicts,
header mappings), so each step is unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from aoa_proxy.config import Settings
from aoa_proxy.errors import AuthError, NotFound, PayloadTooLarge, RequestError
from aoa_proxy.jsonutil import loads
from aoa_proxy.providers import Endpoint, Provider, ProviderKind
from aoa_proxy.security import bearer_token

# Re-encoding (aliases, Gemini) and schema translation recurse; real requests nest a few levels.
MAX_JSON_DEPTH = 200


async def read_body(request: web.Request) -> bytes:
    """The request body; a body that cannot be decoded (bad gzip, cut short) is a 400.

    aiohttp stops reading past the app's client_max_size (AOA_MAX_BODY_BYTES) with a 413, which
    the middleware words with `too_large`.
    """
    try:
        return await request.read()
    except RequestPayloadError as exc:
        reason = getattr(exc.__cause__, "message", "") or "it was cut short or badly encoded"
        raise RequestError(f"The request body could not be read: {reason}") from None


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 for a body over the size cap."""
    return PayloadTooLarge(f"Request body is larger than {limit} bytes (AOA_MAX_BODY_BYTES)")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The client's JSON object, or a 400 that says what is wrong with it."""
    if not raw.strip():
        raise RequestError("The request body is empty; send a JSON object")
    try:
        body = loads(raw)
    except UnicodeDecodeError:
        raise RequestError("The request body is not valid UTF-8") from None
    except ValueError as exc:
        raise RequestError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(f"The request body must be a JSON object, not {type(body).__name__}")
    # Each level needs its own bracket: most bodies have too few to nest that deep, so the
    # walk (a few microseconds per request) runs only when the bytes allow it.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _deeper_than(body, MAX_JSON_DEPTH):
        raise RequestError(f"The request body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """True if containers nest more than `limit` levels (iterative: no recursion to blow up)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return False


_REQUIRED = {Endpoint.CHAT: "messages", Endpoint.EMBEDDINGS: "input", Endpoint.IMAGES: "prompt"}
# OpenAI's images API has a default model; the others need one named.
_DEFAULT_MODEL = {Endpoint.IMAGES: "dall-e-2"}


def validate(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """The checks every upstream would make; anything finer is the upstream's to judge."""
    if "model" not in body and endpoint in _DEFAULT_MODEL:
        body["model"] = _DEFAULT_MODEL[endpoint]
    if "model" not in body:
        raise RequestError("You must provide a model parameter", param="model")
    if not isinstance(body["model"], str):
        raise RequestError("'model' must be a string", param="model", code="invalid_type")
    required = _REQUIRED.get(endpoint)
    if required is not None and body.get(required) is None:
        raise RequestError(f"Missing required parameter: '{required}'", param=required)
    if endpoint is Endpoint.CHAT:
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise RequestError(
                "'messages' must be a non-empty array", param="messages", code="invalid_type"
            )
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise RequestError(
                    f"messages[{i}] must be an object with a string 'role'",
                    param=f"messages[{i}]",
                    code="invalid_type",
                )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean", param="stream", code="invalid_type")


def key_or_empty(
    provider: Provider, headers: Mapping[str, str], settings: Settings, *, own: bool = True
) -> str:
    """The key to send upstream: the server's, else the client's own, else "".

    `own=False` for any provider but the default one: a client's key is meant for the
    default provider and never goes anywhere else.
    """
    if provider.tokens is not None:  # Entra ID: the client's key never reaches the upstream
        return ""
    if provider.server_key:
        return provider.server_key
    if settings.access_token or not own:  # the client's bearer is our token, never a key
        return ""
    return (
        bearer_token(headers.get("Authorization"))
        or headers.get("api-key", "").strip()
        or headers.get("x-goog-api-key", "").strip()
        or headers.get("x-api-key", "").strip()  # Anthropic clients
    )


def pick_key(
    provider: Provider, headers: Mapping[str, str], settings: Settings, *, own: bool = True
) -> str:
    """Server key first (the client's is ignored), else the client's own key (`own` only)."""
    key = key_or_empty(provider, headers, settings, own=own)
    if key or provider.kind is ProviderKind.LOCAL or provider.tokens is not None:
        return key
    hint = "" if settings.access_token or not own else " or send 'Authorization: Bearer <key>'"
    raise AuthError(
        f"No API key for {provider.name}: set {provider.key_env_var} (or add it in the tray "
        f"settings){hint}"
    )


# Client headers a native Messages upstream gets verbatim: anthropic-version, anthropic-beta and
# any later anthropic-* header (never an allowlist: new betas must reach Anthropic unchanged).
_FORWARDED_PREFIX = "anthropic-"
# Module constants and identity tests: an Enum member lookup and its hash both run Python code,
# and every chat request passes here.
_MESSAGES = Endpoint.MESSAGES
_COUNT_TOKENS = Endpoint.COUNT_TOKENS


def forwarded(endpoint: Endpoint, headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The client headers to pass to a native upstream of `endpoint` (none for OpenAI routes)."""
    if endpoint is not _MESSAGES and endpoint is not _COUNT_TOKENS:
        return ()
    return tuple(
        (k.lower(), v) for k, v in headers.items() if k.lower().startswith(_FORWARDED_PREFIX)
    )


def checked_body(endpoint: Endpoint, raw: bytes) -> dict[str, Any]:
    """The client's body parsed and checked for `endpoint` (a 400 naming what is wrong)."""
    body = parse_body(raw)
    validate(endpoint, body)
    return body


def check_endpoint(endpoint: Endpoint, provider: Provider) -> None:
    """A 404 when the provider has no such route (a chat-only upstream asked to embed)."""
    if endpoint not in provider.endpoints:
        raise NotFound(
            f"{provider.label} has no {endpoint.value} endpoint", code="unsupported_endpoint"
        )
