"""i18n fixtures: every test leaves the process language as it found it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from aoa_proxy.i18n import current_language, set_language

ROOT = Path(__file__).resolve().parents[2]
# Locale variables are dropped from the inherited environment so each test states its own.
_LOCALE_VARS = ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "AOA_LANG")

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _restore_language() -> Iterator[None]:
    before = current_language()
    yield
    set_language(before)


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment minus locale and AOA_/provider settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _LOCALE_VARS
        and not k.startswith(("AOA_", "AZURE_", "YI_", "GEMINI_", "ANTHROPIC_"))
    }
    env.update(extra)
    return env


@pytest.fixture
def run_cli() -> RunCli:
    """Run `python -m aoa_proxy ARGS` in a fresh process with the given environment additions."""

    def run(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aoa_proxy", *args],
            env=clean_env(**env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )

    return run


# The settings page's fixtures (real gateway + page on 127.0.0.1, Debian Chromium), shared
# rather than copied so both areas drive the page the same way.
from tests.desktop_settings.conftest import browser, config_dir, launcher  # noqa: E402, F401
