"""Gemini thinking and sampling per model family: thinkingConfig, visible thoughts, temperature.

Sources: https://ai.google.dev/gemini-api/docs/thinking (levels and budgets per model),
https://ai.google.dev/gemini-api/docs/gemini-3 (keep temperature at 1.0) and the latest-model
guide (sampling parameters deprecated from 3.5 Flash-Lite / 3.6 Flash on); summary in
docs/gemini.md. Model ids move monthly, so families are recognised by name patterns and an
unknown newer model gets the levels every recent model accepts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from aoa_proxy.errors import RequestError

log = logging.getLogger(__name__)

EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

# reasoning_effort -> thinkingBudget (Gemini 2.5). Pro cannot switch thinking off (128 is its
# floor) and goes to 32768; Flash and Flash-Lite stop at 24576.
_BUDGETS: Final = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
_PRO_BUDGETS: Final = {**_BUDGETS, "none": 128, "high": 32768}

# reasoning_effort -> the thinkingLevel asked for (Gemini 3+), before clamping to the model's.
_LEVEL_WANTED: Final = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM"}
_ORDER: Final = ("MINIMAL", "LOW", "MEDIUM", "HIGH")

# Model name -> the thinking levels it accepts; first match wins.
LEVELS: Final = (
    (re.compile(r"gemini-3-pro"), ("LOW", "HIGH")),
    (re.compile(r"gemini-3\.1-pro"), ("LOW", "MEDIUM", "HIGH")),
    (re.compile(r"gemini-3(\.[156])?-flash"), ("MINIMAL", "LOW", "MEDIUM", "HIGH")),
)
_NEWER_LEVELS: Final = ("LOW", "MEDIUM", "HIGH")  # 3.7/3.8 Flash and unknown later models

_VERSION: Final = re.compile(r"gemini-(\d+)(?:\.(\d+))?")
# Models whose guide says to remove temperature/topP/topK from requests.
_NO_SAMPLING: Final = re.compile(
    r"gemini-3\.5-flash-lite|gemini-3\.([6-9]|\d\d)-|gemini-([4-9]|\d\d)"
)
_SAMPLING_KEYS: Final = ("temperature", "topP", "topK")

TEMPERATURE_POLICIES: Final = ("keep", "drop", "default")
_logged: set[tuple[str, str]] = set()


def _version(model: str) -> tuple[int, int] | None:
    found = _VERSION.search(model)
    return (int(found.group(1)), int(found.group(2) or 0)) if found else None


def wants_thoughts(body: Mapping[str, Any], always: bool) -> bool:
    """Whether to ask for thought summaries: GEMINI_THOUGHTS=on, or a reasoning_effort that
    does not switch reasoning off."""
    effort = body.get("reasoning_effort")
    return effort != "none" if effort is not None else always


def thinking_config(effort: Any, model: str, thoughts: bool) -> dict[str, Any]:
    """generationConfig.thinkingConfig for `reasoning_effort` and visible thoughts ({} = none)."""
    if effort is not None and effort not in EFFORTS:
        raise RequestError(
            f"'reasoning_effort' must be one of {', '.join(EFFORTS)}",
            param="reasoning_effort",
            code="invalid_value",
        )
    version = _version(model)
    if version is not None and version < (2, 5):
        return {}  # 1.5 / 2.0 refuse any thinkingConfig ("Thinking is not enabled for ...")
    config: dict[str, Any] = {}
    if effort is not None and version is not None and version >= (3, 0):
        config["thinkingLevel"] = _level(effort, model)
    elif effort is not None:
        budgets = _PRO_BUDGETS if "pro" in model else _BUDGETS
        config["thinkingBudget"] = budgets.get(effort, budgets["high"])
    off = config.get("thinkingBudget") == 0 or (
        effort is None and "flash-lite" in model and version == (2, 5)  # off by default
    )
    if thoughts and not off:
        config["includeThoughts"] = True
    return config


def _level(effort: str, model: str) -> str:
    """The model's accepted level nearest above the wanted one (HIGH when none is above)."""
    allowed = next((levels for name, levels in LEVELS if name.search(model)), _NEWER_LEVELS)
    wanted = _LEVEL_WANTED.get(effort, "HIGH")
    for level in _ORDER[_ORDER.index(wanted) :]:
        if level in allowed:
            return level
    return allowed[-1]


def apply_temperature_policy(config: dict[str, Any], model: str, policy: str) -> None:
    """GEMINI_TEMPERATURE_POLICY on a generationConfig, in place (Gemini 3+ only).

    keep: as sent. drop: the client's temperature is removed (plus topP/topK on models whose
    guide deprecates them). default: Google's guidance: temperature below 1.0 is removed
    (Gemini 3 loops with it), and all three go on models that deprecate them.
    """
    version = _version(model)
    if policy == "keep" or version is None or version < (3, 0):
        return
    deprecated = bool(_NO_SAMPLING.search(model))
    removed = []
    for key in _SAMPLING_KEYS if deprecated else ("temperature",):
        value = config.get(key)
        if value is None or (
            policy == "default" and key == "temperature" and not deprecated and value >= 1
        ):
            continue
        del config[key]
        removed.append(key)
    if removed and (policy, model) not in _logged:
        _logged.add((policy, model))
        log.info(
            "gemini: GEMINI_TEMPERATURE_POLICY=%s removes %s for %s (logged once)",
            policy,
            ", ".join(removed),
            model,
        )
