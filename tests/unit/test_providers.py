"""The provider contract every registered provider keeps (see providers/base.py)."""

from __future__ import annotations

import pytest

from aoa_proxy.config import ProviderSettings
from aoa_proxy.errors import AoaError, ModelNotFound
from aoa_proxy.providers import REGISTRY, Call, Endpoint, ProviderKind, get_provider


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
        "anthropic": ProviderKind.TRANSLATING,
        "demo": ProviderKind.LOCAL,
    }


_ERROR_BODIES = (
    b"",
    b"<html>bad gateway</html>",
    b'{"error": {"message": "nope", "type": "invalid_request_error"}}',
    b'{"error": {"code": "DeploymentNotFound", "message": "The API deployment does not exist."}}',
    b'{"error": {"code": 404, "status": "NOT_FOUND", "message": "models/x is not found"}}',
)


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_translate_error_returns_the_error_for_the_route_to_raise(name: str, status: int) -> None:
    provider = get_provider(ProviderSettings(name=name, endpoint="http://127.0.0.1:1/", model="m"))
    call = Call(
        endpoint=Endpoint.CHAT,
        body={"model": "gpt-4"},
        raw=b'{"model":"gpt-4"}',
        model="gpt-4",
        upstream_model="gpt-4",
        stream=False,
        key="k",
    )
    for body in _ERROR_BODIES:
        err = provider.translate_error(call, status, body, {"x-request-id": "r1"})
        assert isinstance(err, AoaError) and 400 <= err.status < 600


def test_azure_missing_deployment_is_returned_as_model_not_found() -> None:
    provider = get_provider(
        ProviderSettings(name="azure", endpoint="https://x.openai.azure.com/", model="gpt35")
    )
    call = Call(Endpoint.CHAT, {"model": "gpt-5"}, b"{}", "gpt-5", "gpt-5", False, "k")
    err = provider.translate_error(call, 404, _ERROR_BODIES[3], {})
    assert isinstance(err, ModelNotFound) and err.param == "model" and "gpt35" in err.message
