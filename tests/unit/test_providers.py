"""The provider contract every registered provider keeps (see providers/base.py)."""

from __future__ import annotations

import pytest

from aoa_proxy.providers import REGISTRY, ProviderKind


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_provider_states_how_it_answers(name: str) -> None:
    assert isinstance(REGISTRY[name].kind, ProviderKind)


def test_kinds_match_what_each_upstream_speaks() -> None:
    kinds = {name: cls.kind for name, cls in REGISTRY.items()}
    assert kinds == {
        "azure": ProviderKind.PASSTHROUGH,
        "openai": ProviderKind.PASSTHROUGH,
        "yi": ProviderKind.PASSTHROUGH,
        "gemini": ProviderKind.TRANSLATING,
        "demo": ProviderKind.LOCAL,
    }
