"""Integration fixtures beyond tests/conftest.py: three fake providers at once (several.py)."""

from __future__ import annotations

from tests.several import fakes, gateway

__all__ = ["fakes", "gateway"]
