"""Helpers for the packaging tests: free loopback ports, condition waits, a clean environment."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging import podman

ROOT = Path(__file__).resolve().parents[2]

# The parent's provider settings must not leak into the programs these tests start.
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("AOA_", "AZURE_", "YI_", "GEMINI_", "OPENAI_", "ANTHROPIC_", "PYSTRAY_"))
    and k != "DBUS_SESSION_BUS_ADDRESS"  # never the person's session bus, so never their keyring
}


def http_status(url: str) -> int | None:
    """The status of GET `url`, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass
class Build:
    base_seconds: float  # 0 when the cached base image was used
    image_seconds: float


@pytest.fixture(scope="session")
def image() -> Build:
    """The Dockerfile built with podman: the base once per machine, the image once per session."""
    why = podman.unavailable()
    if why:
        pytest.skip(why)
    return Build(podman.build_base(), podman.build_image())
