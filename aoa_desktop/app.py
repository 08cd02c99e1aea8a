"""Entry point of `aoa` (placeholder until the tray lands): runs the headless gateway."""

from __future__ import annotations

import sys


def main() -> int:
    from aoa_proxy.cli import main as proxy_main

    print("aoa: the tray app is not built yet; running the headless gateway", file=sys.stderr)
    return proxy_main([])
