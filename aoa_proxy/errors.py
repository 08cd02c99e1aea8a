"""Every error the gateway sends, made in one place.

    AoaError                 base: status, message, type, param, code -> OpenAI error JSON
    ├── ConfigError          start-up only: ConfigProblems (variable, message) (exit status 2)
    ├── RequestError         400 bad client input
    ├── AuthError            401 missing/wrong access token, no API key anywhere
    │   └── EntraError       401 no Entra ID token for Azure (entra_error names the fix)
    ├── ForbiddenError       403 foreign origin or host (CORS / DNS rebinding)
    ├── NotFound             404 unknown path or model
    ├── MethodNotAllowed     405
    ├── PayloadTooLarge      413
    ├── RateLimited          429 every key of a provider is cooling down (carries retry-after)
    ├── ServiceUnavailable   503 (gateway paused)
    ├── UpstreamError        upstream answered with an error: its status, its error object
    │   └── NativeError      ...already in the client's dialect (Anthropic's): relayed as is
    ├── UpstreamUnreachable  502 connection refused / reset / bad answer
    └── UpstreamTimeout      504

OpenAI clients pick their exception class from the status, so the status matters most; the body is
always {"error": {"message", "type", "param", "code"}} with all four keys present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from aoa_proxy.schema import ErrorBody


class AoaError(Exception):
    """An error that becomes an OpenAI-format JSON response."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def payload(self) -> ErrorBody:
        """The JSON body OpenAI clients expect."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        # Messages can quote the client or an upstream HTML page: with `<`, `>` and `&` escaped
        # (still the same JSON) the bytes hold no markup even for a client that sniffs them.
        return (
            orjson.dumps(self.payload())
            .replace(b"<", b"\\u003c")
            .replace(b">", b"\\u003e")
            .replace(b"&", b"\\u0026")
        )


@dataclass(frozen=True)
class ConfigProblem:
    """One bad variable: its name (never translated) and what is wrong, in the user's language."""

    var: str
    message: str

    def __str__(self) -> str:
        return f"{self.var}: {self.message}"


class ConfigError(AoaError):
    """Invalid configuration found at start-up: one `ConfigProblem` per bad variable."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.lines))

    @property
    def lines(self) -> list[str]:
        """The problems as shown: "VAR: message", one each."""
        return [str(p) for p in self.problems]


class RequestError(AoaError):
    status = 400
    type = "invalid_request_error"


class AuthError(AoaError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class EntraError(AuthError):
    """No Entra ID token could be had (AZURE_AUTH=entra); the message names the fix."""

    code = "entra_token_unavailable"


# What a credential's own words mean, and what to do about it (first match wins). AADSTS codes:
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes
_ENTRA_FIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("aadsts7000215", "aadsts7000222", "invalid client secret"),
        "AZURE_CLIENT_SECRET is wrong or expired: create a new client secret for the app "
        "registration and set it",
    ),
    (
        ("aadsts700016", "aadsts700038"),
        "AZURE_CLIENT_ID is wrong: no such application in that tenant",
    ),
    (("aadsts90002", "aadsts900023"), "AZURE_TENANT_ID is wrong: no such tenant"),
    (("run 'az login'", "az login --"), "run `az login`"),
    (("run 'azd auth login' from",), "run `azd auth login`"),
    (
        ("aadsts50173", "aadsts700082", "aadsts70043", "expired"),
        "the sign-in has expired: run `az login` again (or sign in again in the aoa settings)",
    ),
)
_ENTRA_DEFAULT_FIX = (
    "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a "
    "service principal, or run aoa where a managed identity is assigned"
)


def entra_error(reason: str) -> EntraError:
    """The 401 a client gets when Entra ID gives aoa no token: what failed and the fix.

    `reason` is the credential's own message (azure-identity never puts a token in it).
    """
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    for marks, fix in _ENTRA_FIXES:
        # A chain's message has one line per credential tried: quote the one that matched.
        said = next((line for line in lines if any(m in line.lower() for m in marks)), None)
        if said is not None:
            return EntraError(f"No Entra ID token for Azure: {fix} ({_snippet(said.encode())})")
    said = f" ({_snippet(lines[0].encode())})" if lines else ""
    return EntraError(f"No Entra ID token for Azure: {_ENTRA_DEFAULT_FIX}{said}")


def azure_refusal(status: int, body: bytes, *, entra: bool) -> AoaError | None:
    """Azure's refusals that only a change of sign-in fixes, worded with that fix; else None.

    Bodies from shared/specs/azure-modern.md section 3 (troubleshoot-errors.md).
    """
    if status == 403 and b"AuthenticationTypeDisabled" in body:
        return ForbiddenError(
            "Key authentication is disabled for this Azure resource (disableLocalAuth): "
            "set AZURE_AUTH=entra and run `az login` (or sign in in the aoa settings)",
            code="authentication_type_disabled",
        )
    if entra and status in (401, 403) and b"PermissionDenied" in body:
        return ForbiddenError(
            "Entra ID signed you in, but your identity has no data role on this Azure resource: "
            "assign it 'Cognitive Services OpenAI User' (Azure OpenAI models) or 'Cognitive "
            "Services User' (all Foundry models); a new assignment takes up to 5 minutes. "
            f"Azure said: {_snippet(body)}",
            code="permission_denied",
        )
    return None


class ForbiddenError(AoaError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(AoaError):
    status = 404
    type = "invalid_request_error"
    code = "unknown_url"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(AoaError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(AoaError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(AoaError):
    """429 from the gateway itself; `retry_after` (seconds) also goes out as headers."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = max(0.0, retry_after)
        super().__init__(
            message,
            headers={
                # rounded first: 10.2 s is 10200 ms, not the 10201 float error would give
                "retry-after": str(max(1, math.ceil(round(self.retry_after, 6)))),
                "retry-after-ms": str(max(1, math.ceil(round(self.retry_after * 1000, 3)))),
            },
        )


class ServiceUnavailable(AoaError):
    status = 503
    type = "server_error"
    code = "service_unavailable"


class UpstreamError(AoaError):
    """The upstream answered with an error; `raw` (if set) is its OpenAI-shaped body, kept as is."""

    type = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        raw: bytes | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, param=param, headers=headers)
        self.raw = raw
        self.type = type or _type_for_status(status)

    def body(self) -> bytes:
        return self.raw if self.raw is not None else super().body()


class NativeError(UpstreamError):
    """An upstream error in the client's own dialect (a native Messages call to Anthropic):
    the Messages door relays `raw` and the status unchanged; `message`/`type` are for logs."""


class UpstreamUnreachable(AoaError):
    status = 502
    type = "server_error"
    code = "upstream_unreachable"


class UpstreamTimeout(AoaError):
    status = 504
    type = "timeout"
    code = "upstream_timeout"


_KEYS = {"message", "type", "param", "code"}

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def _type_for_status(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def upstream_error(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> UpstreamError:
    """Wrap an upstream error body: OpenAI-shaped bodies pass through untouched, others are wrapped.

    Azure's own errors (content filter with `innererror`, string codes) already have an
    `{"error": {"message": ...}}` shape and reach the client byte for byte.
    """
    parsed: Any = None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        err = parsed["error"]
        message = str(err.get("message") or f"upstream returned HTTP {status}")
        code = err.get("code")
        code_text = str(code) if code is not None else None
        kind = err.get("type") if isinstance(err.get("type"), str) else None
        if not err.keys() >= _KEYS or not isinstance(code, (str, type(None))):
            # Fill in what OpenAI clients expect; every other field (innererror...) is kept.
            err = {
                **err,
                "message": message,
                "type": kind or _type_for_status(status),
                "param": err.get("param"),
                "code": code_text,
            }
            body = orjson.dumps({**parsed, "error": err})
        return UpstreamError(
            message, status=status, raw=body, type=kind, code=code_text, headers=headers
        )
    text = _snippet(body)
    message = f"upstream returned HTTP {status}" + (f": {text}" if text else "")
    return UpstreamError(message, status=status, headers=headers)


def _snippet(body: bytes, limit: int = 300) -> str:
    """A short, printable excerpt of a non-JSON upstream body (HTML error pages, plain text)."""
    text = body[: limit * 4].decode("utf-8", "replace")
    if not text.isprintable():  # newlines, terminal escapes, NULs: a space each
        text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")
