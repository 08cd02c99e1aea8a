"""The image built with podman and run: health, a chat through the SDK, non-root, HEALTHCHECK,
configuration by environment, SIGTERM draining, and nothing in it but the gateway.

Built once per session (tests/packaging/podman.py: the recipe in shared/recipes/containers.md,
a debootstrapped base standing in for the official python slim image, which no registry here
serves). Skipped, saying why, where podman is not installed. Containers use the host's network
and bind 127.0.0.1, so the fake upstream is a plain loopback server in this process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from aoa_proxy import __version__
from tests.gated import GatedUpstream
from tests.packaging import podman
from tests.packaging.conftest import Build
from tests.support import free_port, get_json, wait_for

UID = "10001"
ACCESS_TOKEN = "aoa-container-token-0123456789"
SERVER_KEY = "sk-container-SERVERKEY-0123456789"


@pytest.fixture(scope="module")
def upstream() -> Iterator[GatedUpstream]:
    up = GatedUpstream()
    yield up
    up.close()


@dataclass
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def probe(self, path: str) -> tuple[int, dict[str, Any]] | None:
        return get_json(self.port, path)

    def client(self, token: str = ACCESS_TOKEN) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=token, max_retries=0)


def start(upstream: GatedUpstream, **env: str) -> Container:
    port = free_port()
    name = f"aoa-test-{port}"
    settings = {
        "AOA_HOST": "127.0.0.1",  # host network: stay on loopback
        "AOA_PORT": str(port),
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": f"{upstream.url}/v1",
        "OPENAI_API_KEY": SERVER_KEY,
        "AOA_ACCESS_TOKEN": ACCESS_TOKEN,
        **env,
    }
    flags = [f"--env={k}={v}" for k, v in settings.items()]
    podman.podman("run", "-d", "--name", name, "--network", "host", *flags, podman.IMAGE)
    box = Container(name, port)
    try:
        wait_for("the container's /health", lambda: box.probe("/health"), 30)
    except AssertionError:
        logs = podman.podman("logs", name, check=False)
        podman.podman("rm", "-f", name, check=False)
        raise AssertionError(f"container did not answer: {logs.stdout}{logs.stderr}") from None
    return box


def remove(box: Container) -> None:
    podman.podman("rm", "-f", "-t", "0", box.name, check=False)


@pytest.fixture(scope="module")
def running(image: Build, upstream: GatedUpstream) -> Iterator[Container]:
    box = start(upstream)
    yield box
    remove(box)


def test_health_answers_with_the_configured_provider(running: Container) -> None:
    assert running.probe("/health") == (
        200,
        {"status": "ok", "provider": "openai", "version": __version__},
    )
    assert running.probe("/ready") == (200, {"status": "ready"})


def test_chat_through_the_sdk_reaches_the_upstream_with_the_server_key(
    running: Container, upstream: GatedUpstream
) -> None:
    with running.client() as client:
        answer = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi from a container"}]
        )
    assert answer.choices[0].message.content == "Hello!"
    sent = upstream.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {SERVER_KEY}"  # OPENAI_API_KEY from env
    assert sent.json["messages"][0]["content"] == "hi from a container"


def test_access_token_from_the_environment_is_enforced(running: Container) -> None:
    with running.client("wrong-token") as client, pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_runs_as_the_unprivileged_user(running: Container) -> None:
    assert podman.podman("exec", running.name, "id", "-u").stdout.strip() == UID
    assert podman.podman("exec", running.name, "id", "-g").stdout.strip() == UID
    user = podman.podman("image", "inspect", "--format", "{{.Config.User}}", podman.IMAGE)
    assert user.stdout.strip() == f"{UID}:{UID}"


def test_image_keeps_the_healthcheck_and_it_passes(running: Container) -> None:
    raw = podman.podman(
        "image", "inspect", "--format", "{{json .Config.Healthcheck}}", podman.IMAGE
    )
    check = json.loads(raw.stdout)
    assert check["Test"][:2] == ["CMD", "python"]
    assert check["Interval"] == 30 * 10**9
    # podman runs the image's command inside the container: 0 = healthy
    assert podman.podman("healthcheck", "run", running.name, check=False).returncode == 0


def test_image_holds_no_compiler_pip_or_sources(image: Build) -> None:
    script = (
        "for c in gcc cc c++ make pip pip3; do command -v $c; done;"
        " python -m pip --version 2>/dev/null;"
        " ls -d /src /opt/aoa/tests /opt/aoa/pyproject.toml 2>/dev/null;"
        " find / -xdev -name '*.c' -path '*aoa*' 2>/dev/null | head -1;"
        " ls /opt/aoa/lib/python3*/site-packages | grep -ix -e pip -e setuptools -e tests;"
        " true"
    )
    run = podman.podman(
        "run", "--rm", "--network", "host", "--entrypoint", "sh", podman.IMAGE, "-c", script
    )
    assert run.stdout.strip() == ""  # nothing found


def test_image_adds_little_to_its_base(image: Build) -> None:
    added = podman.image_size() - podman.image_size(podman.BASE_IMAGE)
    assert added < 60e6, f"aoa's layers are {added / 1e6:.1f} MB"


def test_sigterm_lets_the_stream_in_flight_finish_and_exits_0(
    image: Build, upstream: GatedUpstream
) -> None:
    box = start(upstream, AOA_SHUTDOWN_GRACE="20")
    try:
        with box.client() as client:
            stream = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            pieces = []
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                    break
            assert upstream.streaming.is_set()
            podman.podman("kill", "--signal", "TERM", box.name)
            wait_for("not ready", lambda: (box.probe("/ready") or (0,))[0] == 503, 10)
            assert box.probe("/ready") == (503, {"status": "draining", "inflight": 1})
            upstream.release()
            pieces += [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(pieces) == "Hello"
        waited = podman.podman("wait", box.name, timeout=30)
        assert waited.stdout.strip() == "0"
        assert "draining, 1 request(s) in flight" in podman.podman("logs", box.name).stderr
    finally:
        remove(box)


def test_build_time_and_size_are_reported(image: Build, record_property: Any) -> None:
    # Not a benchmark: recorded for docs/install.md (and visible with `-rP` / junit xml).
    size = podman.image_size() / 1e6
    record_property("image_build_seconds", round(image.image_seconds, 1))
    record_property("image_size_mb", round(size, 1))
    print(f"base {image.base_seconds:.1f} s, image {image.image_seconds:.1f} s, {size:.1f} MB")
    assert image.image_seconds < 600
