"""What a Claude model accepts, read from its name: thinking style, structured output, prefill.

Names: https://docs.anthropic.com/en/docs/about-claude/models/overview. New names put the family
first (`claude-opus-4-6`, `claude-sonnet-4-5-20250929`, `claude-opus-4-20250514` = 4.0), old
ones the version first (`claude-3-7-sonnet-20250219`). A name we cannot read (a Foundry
deployment called `prod-claude`) is taken as a current model, as Claude Code does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_NEW: Final = re.compile(
    r"claude-(?P<family>opus|sonnet|haiku|fable|mythos)(?:-(?P<major>\d+)(?:-(?P<minor>\d{1,2}))?)?(?!\d)"
)
_OLD: Final = re.compile(
    r"claude-(?P<major>\d+)(?:-(?P<minor>\d{1,2}))?-(?P<family>opus|sonnet|haiku)"
)

# First versions with a feature (https://docs.anthropic.com/en/docs/build-with-claude/...):
# adaptive thinking and the end of assistant prefill came with 4.6 (extended-thinking,
# "adaptive"); structured outputs with Opus 4.1 / the 4.5 family (structured-outputs).
ADAPTIVE_SINCE: Final = (4, 6)
STRUCTURED_SINCE: Final = (4, 5)
STRUCTURED_OPUS_SINCE: Final = (4, 1)


@dataclass(frozen=True)
class ModelTraits:
    """The request shapes a model takes."""

    adaptive_thinking: bool  # thinking {type: adaptive} + output_config.effort, not budgets
    structured_outputs: bool  # output_config.format (else a forced tool stands in)
    prefill: bool  # a trailing assistant message continues the answer (else: 400)
    max_effort: bool  # output_config.effort "max" (Opus-class models)


def traits(model: str) -> ModelTraits:
    """The traits of `model`; unknown names get a current model's."""
    name = model.lower()
    found = _NEW.search(name) or _OLD.search(name)
    if found is None:
        return ModelTraits(True, True, False, True)
    family = found["family"]
    if family in ("fable", "mythos") or found["major"] is None:
        return ModelTraits(True, True, False, True)
    version = (int(found["major"]), int(found["minor"] or 0))
    adaptive = version >= ADAPTIVE_SINCE
    structured = version >= STRUCTURED_SINCE or (
        family == "opus" and version >= STRUCTURED_OPUS_SINCE
    )
    return ModelTraits(adaptive, structured, not adaptive, adaptive and family == "opus")
