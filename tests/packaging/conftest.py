"""Helpers for the packaging tests: free loopback ports, condition waits, a clean environment."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

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
