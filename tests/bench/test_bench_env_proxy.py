"""HTTPS_PROXY / NO_PROXY still apply after the per-request trust_env lookup was replaced."""

from __future__ import annotations

import pytest

from aoa_proxy.runtime import env_proxy


def test_env_proxy_applies_to_https_upstreams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert env_proxy("https://example.openai.azure.com/") == "http://127.0.0.1:3128"


def test_no_proxy_exempts_the_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "openai.azure.com")
    assert env_proxy("https://example.openai.azure.com/") is None


def test_no_proxy_variables_means_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://example.openai.azure.com/") is None
