"""Schemathesis against docs/openapi.yaml (our own routes): schema-valid and schema-invalid
requests, generated per operation, to real gateways on loopback. Every answer must be a
documented status with a body of the documented shape; never a 5xx."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.conftest import ACCESS_TOKEN, ThreadedGateways, provider_env
from tests.reliability.test_rel_fuzz import _steady, check_answer

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SCALE = 10 if os.environ.get("AOA_SOAK") == "long" else 1
SCHEMA = schemathesis.openapi.from_path(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
COUNT: dict[str, int] = {}


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, str]]:
    tg = ThreadedGateways()
    tg.upstream.responder = _steady
    token = {"AOA_ACCESS_TOKEN": ACCESS_TOKEN, "AOA_MAX_BODY_BYTES": "65536", "AOA_METRICS": "on"}
    demo = tg.start({**provider_env("demo", ""), **token})
    relay = tg.start({**provider_env("openai", tg.upstream.url), **token})
    urls = {"demo": f"http://127.0.0.1:{demo}", "openai": f"http://127.0.0.1:{relay}"}
    yield urls
    tg.close()
    print("\nschemathesis cases:", COUNT)


def _strategy(mode: GenerationMode) -> st.SearchStrategy[Any]:
    return st.one_of([op.as_strategy(generation_mode=mode) for op in OPERATIONS])


@pytest.mark.parametrize("target", ["demo", "openai"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_cases_get_documented_answers(targets, target, mode):
    url = targets[target]

    @settings(
        max_examples=60 * SCALE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(mode))
    def run(case: Any) -> None:
        key = f"{target}/{mode.value}"
        COUNT[key] = COUNT.get(key, 0) + 1
        response = case.call(
            base_url=url, headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=20
        )
        headers = {
            k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()
        }
        if headers.get("content-type", "").startswith("text/event-stream"):
            # Streams are checked end to end by the fuzz tests (http.client); schemathesis's
            # transport stops reading SSE bodies early, so only the status is checked here.
            assert response.status_code == 200
            return
        if case.path.startswith("/v1/messages"):
            _check_anthropic(response.status_code, headers, response.content)
        else:
            check_answer(case.method, response.status_code, headers, response.content)
        case.validate_response(response, checks=CHECKS)

    run()


def _check_anthropic(status: int, headers: dict[str, str], data: bytes) -> None:
    """The Messages routes' contract: a success, or an Anthropic error with a request-id."""
    assert b"Traceback" not in data and b'File "' not in data
    assert status < 500, (status, data[:500])
    if status < 400:
        return
    assert headers.get("content-type", "").startswith("application/json"), headers
    body = json.loads(data)
    assert body["type"] == "error" and body["request_id"] == headers["request-id"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
