"""Runtime keeps provider instances (and so what they remember) while their settings stay."""

from __future__ import annotations

from dataclasses import replace

from aoa_proxy.config import load_settings
from aoa_proxy.runtime import Runtime

ENV = {"AOA_TYPE": "gemini", "GEMINI_API_KEY": "k", "GEMINI_MODEL": "gemini-2.5-flash"}


def test_same_provider_settings_keep_the_provider_instance() -> None:
    settings = load_settings(ENV)
    rt = Runtime(settings)
    gemini = rt.provider
    rt.apply(replace(settings, access_token="t", read_timeout=5.0))  # other settings changed
    assert rt.provider is gemini
    rt.switch("demo")
    assert rt.provider.name == "demo"
    rt.switch("gemini")  # away and back
    assert rt.provider is gemini


def test_new_provider_settings_make_a_new_provider() -> None:
    rt = Runtime(load_settings(ENV))
    gemini = rt.provider
    rt.apply(load_settings({**ENV, "GEMINI_MODEL": "gemini-2.5-pro"}))
    assert rt.provider is not gemini and rt.provider.settings.model == "gemini-2.5-pro"
