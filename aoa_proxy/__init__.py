"""aoa gateway: one local, OpenAI-exact endpoint in front of Azure, Yi, Gemini and others."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
