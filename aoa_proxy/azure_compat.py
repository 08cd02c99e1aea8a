"""Azure deployments that need help: what their 400s mean, and what aoa remembers about them.

Two kinds of deployment reject chat requests that every chat UI sends:

- Responses-only models (the codex family, codex-mini, o3-pro, ...) answer chat completions
  with `OperationNotSupported`: the request goes again to `/responses`, bridged
  (bridges/chat_responses.py), and every later chat request for that deployment goes there first.
- Reasoning models (o-series, GPT-5) reject `max_tokens` ("use max_completion_tokens") and
  sampling fields (`temperature`, `top_p`, `stop`, penalties, `logprobs`): the request goes again
  with the field renamed or left out, and later requests are sent that way from the start.

Learned facts live on the provider instance (`Learned`): per process, for as long as the Azure
settings stay the same. A request whose deployment has learned nothing is sent byte for byte;
error bodies are parsed only on a 400. `AZURE_COMPAT=off` turns all of this off.
Error texts: the spec azure-modern.md §3; https://learn.microsoft.com/azure/foundry/openai/how-to/reasoning
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

log = logging.getLogger(__name__)

# Fields a reasoning deployment may refuse; each is left out once Azure names it.
DROPPABLE: Final = frozenset(
    {
        "temperature",
        "top_p",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
    }
)
# Left out together: top_logprobs is refused without logprobs.
_ALSO_DROP: Final = {"logprobs": ("top_logprobs",)}
RENAMED: Final = {"max_tokens": "max_completion_tokens"}
_UNSUPPORTED_CODES: Final = frozenset({"unsupported_parameter", "unsupported_value"})
_QUOTED = re.compile(r"^Unsupported (?:parameter|value): '([a-z_]+)'")
# The Foundry / v1 wording of OperationNotSupported (its other fields are unconfirmed).
_UNSUPPORTED_OPERATION = "The requested operation is unsupported."


@dataclass(frozen=True, slots=True)
class Fixes:
    """What one deployment needs: chat sent to /responses, or fields renamed / left out."""

    responses: bool = False
    renamed: frozenset[str] = frozenset()  # keys of RENAMED
    dropped: frozenset[str] = frozenset()  # members of DROPPABLE

    def knows(self, field: str) -> bool:
        return field in self.renamed or field in self.dropped

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The body with the fields fixed, or None when it has none of them (send it as is)."""
        if not any(f in body for f in (*self.renamed, *self.dropped)):
            return None
        out = {k: v for k, v in body.items() if k not in self.dropped}
        for old in self.renamed:
            if old in out:
                value = out.pop(old)
                out.setdefault(RENAMED[old], value)  # the client's own new-style value wins
        return out


@dataclass(frozen=True, slots=True)
class Advice:
    """What an error answer asks for: a route change or one field fixed."""

    responses: bool = False
    field: str = ""

    def change(self, deployment: str) -> str:
        """The INFO line that says what changes from now on."""
        if self.responses:
            return (
                f"Azure deployment {deployment!r} does not serve chat completions "
                "(OperationNotSupported): its chat requests go to /responses from now on"
            )
        if self.field in RENAMED:
            return (
                f"Azure deployment {deployment!r} rejects {self.field}: sending "
                f"{RENAMED[self.field]} instead from now on"
            )
        return f"Azure deployment {deployment!r} rejects {self.field}: leaving it out from now on"


def advice(status: int, body: bytes, sent: Mapping[str, Any]) -> Advice | None:
    """What a chat request's error answer asks for, or None (the error goes to the client).

    Only 400s are read; a field counts only when the request `sent` has it, so the same
    error can never ask twice.
    """
    if status != 400:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None
    text = error.get("message")
    message = text if isinstance(text, str) else ""
    if error.get("code") == "OperationNotSupported" or message == _UNSUPPORTED_OPERATION:
        return Advice(responses=True)
    if error.get("code") not in _UNSUPPORTED_CODES and not _QUOTED.match(message):
        return None
    field = error.get("param")
    if not isinstance(field, str) or not field:
        match = _QUOTED.match(message)
        field = match.group(1) if match else ""
    if field in sent and (field in RENAMED or field in DROPPABLE):
        return Advice(field=field)
    return None


class Learned(dict[str, Fixes]):
    """Deployment -> its fixes, for one provider instance (so: per process). A dict, so that
    `if not learned` on every request costs what an empty dict's truth test costs."""

    def learn(self, deployment: str, what: Advice) -> Fixes:
        """Remember `what` for `deployment`; logs the change once."""
        previous = self.get(deployment)
        fixes = previous or Fixes()
        if what.responses:
            fixes = dataclasses.replace(fixes, responses=True)
        elif what.field in RENAMED:
            fixes = dataclasses.replace(fixes, renamed=fixes.renamed | {what.field})
        else:
            also = _ALSO_DROP.get(what.field, ())
            fixes = dataclasses.replace(fixes, dropped=fixes.dropped | {what.field, *also})
        if previous != fixes:
            log.info("%s", what.change(deployment))
        self[deployment] = fixes
        return fixes
