"""example/*.yml: valid Compose files whose aoa settings load, published on loopback only.

Each file is validated against the Compose Specification's JSON schema and read by
podman-compose (`docker compose config` too where that plugin is installed). The Open WebUI
pairing's aoa service is started for real with podman-compose on the image the container tests
build; the other files need a real upstream key, and the UI's image comes from a registry, so
those stay checked, not run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from aoa_proxy.config import ENV_VARS, load_settings
from tests.packaging import podman
from tests.packaging.conftest import ROOT, Build
from tests.packaging.dockerfile import parse
from tests.support import wait_for

EXAMPLES = ROOT / "example"
ORIGINALS = ("azure", "azure-gpt4v", "yi", "gemini")  # the upstream project's four examples
FILES = sorted(EXAMPLES.glob("docker-compose.*.yml"))
SCHEMA = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
KNOWN_VARS = {v.name for v in ENV_VARS if v.name.isupper() and " " not in v.name}

# Stand-ins for the "<your ... key>" placeholders, so the settings can be loaded for real.
PLACEHOLDERS = {
    "AZURE_ENDPOINT": "https://example-resource.openai.azure.com/",
    "AZURE_API_KEY": "azure-test-key",
    "YI_API_KEY": "yi-test-key",
    "GEMINI_API_KEY": "gemini-test-key",
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, with ${VAR:-default} resolved to its default."""
    raw = service.get("environment", {})
    pairs = dict(item.split("=", 1) for item in raw) if isinstance(raw, list) else dict(raw)
    return {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in pairs.items()}


def _aoa(data: dict[str, Any]) -> dict[str, Any]:
    service = data["services"]["aoa"]
    assert isinstance(service, dict)
    return service


def test_the_originals_examples_all_exist() -> None:
    names = {p.name for p in FILES}
    for kind in ORIGINALS:
        assert f"docker-compose.{kind}.yml" in names
    assert len(FILES) > len(ORIGINALS)  # plus at least one pairing with a chat UI


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_compose_file_matches_the_compose_schema(path: Path) -> None:
    validator = jsonschema_rs.validator_for(SCHEMA)
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(_load(path))]
    assert errors == []


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="the docker compose plugin is not installed (schema check above still ran)",
)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_docker_compose_config_accepts_the_file(path: Path) -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_schema_check_catches_a_broken_file() -> None:
    # guards the check above against a schema that accepts anything
    validator = jsonschema_rs.validator_for(SCHEMA)
    broken = {"services": {"aoa": {"image": 1, "enviroment": ["AOA_TYPE=yi"]}}}
    assert len(list(validator.iter_errors(broken))) == 2


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_aoa_service_builds_this_repository(path: Path) -> None:
    build = _aoa(_load(path))["build"]
    context = (path.parent / (build if isinstance(build, str) else build["context"])).resolve()
    assert context == ROOT
    assert (context / "Dockerfile").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_aoa_settings_in_the_file_load(path: Path) -> None:
    env = _environment(_aoa(_load(path)))
    assert set(env) <= KNOWN_VARS, set(env) - KNOWN_VARS  # no typos: aoa would ignore them
    image_env = parse(ROOT / "Dockerfile")[1][-1].env()
    real = {**image_env, **env}
    real.update({k: v for k, v in PLACEHOLDERS.items() if k in env})
    settings = load_settings(real)
    assert settings.provider == env["AOA_TYPE"]
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_published_ports_stay_on_loopback(path: Path) -> None:
    # A server-side key on an open port lets anyone spend it, so the examples publish on
    # 127.0.0.1 (a service reachable only over the compose network publishes nothing).
    for name, service in _load(path)["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_chat_ui_pairing_points_at_aoa_with_its_token() -> None:
    data = _load(EXAMPLES / "docker-compose.open-webui.yml")
    aoa_env = _environment(_aoa(data))
    ui = next(s for name, s in data["services"].items() if name != "aoa")
    ui_env = _environment(ui)
    port = parse(ROOT / "Dockerfile")[1][-1].env()["AOA_PORT"]
    assert ui_env["OPENAI_API_BASE_URL"] == f"http://aoa:{port}/v1"
    assert aoa_env["AOA_ACCESS_TOKEN"]
    assert ui_env["OPENAI_API_KEY"] == aoa_env["AOA_ACCESS_TOKEN"]
    assert ui["depends_on"]["aoa"]["condition"] == "service_healthy"  # the image's HEALTHCHECK


def test_prometheus_pairing_scrapes_aoa_metrics_with_its_token() -> None:
    data = _load(EXAMPLES / "docker-compose.prometheus.yml")
    aoa_env = _environment(_aoa(data))
    settings = load_settings({**parse(ROOT / "Dockerfile")[1][-1].env(), **aoa_env})
    assert settings.metrics and settings.access_token  # /metrics on, and behind the token
    port = parse(ROOT / "Dockerfile")[1][-1].env()["AOA_PORT"]
    prometheus = data["services"]["prometheus"]
    mounted = {c["source"]: c["target"] for c in prometheus["configs"]}
    config_file = EXAMPLES / data["configs"]["prometheus"]["file"]
    (job,) = yaml.safe_load(config_file.read_text(encoding="utf-8"))["scrape_configs"]
    assert mounted["prometheus"] == "/etc/prometheus/prometheus.yml"
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"aoa:{port}"]
    assert job["authorization"]["credentials_file"] == mounted["aoa_token"]
    # The token file and aoa's token come from the same variable with the same default.
    token = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", data["configs"]["aoa_token"]["content"])
    assert token == aoa_env["AOA_ACCESS_TOKEN"]


def _podman_compose(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podman_compose", "--podman-args=--runtime runc", *args],
        env=podman.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


needs_podman_compose = pytest.mark.skipif(
    shutil.which("podman") is None or not shutil.which("runc"),
    reason="podman is not installed (scripts/system-deps.sh installs it)",
)


@needs_podman_compose
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_podman_compose_reads_the_file_as_written(path: Path) -> None:
    done = _podman_compose("-f", str(path), "config")
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    aoa = resolved["services"]["aoa"]
    assert Path(aoa["build"]["context"]) == ROOT
    # what podman-compose will hand the container is what the loader test above checked
    assert {k: str(v) for k, v in aoa["environment"].items()} == _environment(_aoa(_load(path)))


@pytest.fixture
def webui_aoa(image: Build, tmp_path: Path) -> Iterator[str]:
    """The Open WebUI file's aoa service, up with podman-compose on the tests' image."""
    path = EXAMPLES / "docker-compose.open-webui.yml"
    # Use the image built for the tests (the file's own `build` needs the official base).
    override = tmp_path / "override.yml"
    override.write_text(f"services:\n  aoa:\n    image: {podman.IMAGE}\n", encoding="utf-8")
    files = ["-p", f"aoatest{uuid.uuid4().hex[:8]}", "-f", str(path), "-f", str(override)]
    up = _podman_compose(*files, "up", "-d", "--no-build", "aoa")
    try:
        assert up.returncode == 0, up.stderr
        ps = podman.podman("ps", "--filter", f"label=com.docker.compose.project={files[1]}",
                           "--format", "{{.Names}}")  # fmt: skip
        (name,) = ps.stdout.split()
        yield name
    finally:
        _podman_compose(*files, "down", "-t", "5")


def test_open_webui_pairs_aoa_service_runs_with_podman_compose(webui_aoa: str) -> None:
    # Not published on the host: only the UI reaches it, so ask from inside the container.
    chat = (
        "import json, os, urllib.request as u;"
        "body = json.dumps({'model': 'gpt-4o', 'messages': [{'role': 'user', 'content': 'hi'}]});"
        "req = u.Request('http://127.0.0.1:8080/v1/chat/completions', body.encode(),"
        " {'Content-Type': 'application/json',"
        "  'Authorization': 'Bearer ' + os.environ['AOA_ACCESS_TOKEN']});"
        "print(json.load(u.urlopen(req, timeout=10))['choices'][0]['message']['content'])"
    )

    def healthy() -> bool:
        return podman.podman("healthcheck", "run", webui_aoa, check=False).returncode == 0

    wait_for("the compose service's HEALTHCHECK", healthy, 30)  # what the UI's depends_on waits for
    env = podman.podman("exec", webui_aoa, "printenv", "AOA_TYPE").stdout.strip()
    assert env == "demo"
    answer = podman.podman("exec", webui_aoa, "python", "-c", chat).stdout
    assert answer.startswith("Echo: hi")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_stop_grace_outlasts_the_drain(path: Path) -> None:
    # compose's default 10 s would kill aoa while it still waits for streams in flight
    aoa = _aoa(_load(path))
    period = re.fullmatch(r"(\d+)s", aoa["stop_grace_period"])
    assert period is not None
    drain = load_settings(_environment(aoa) | PLACEHOLDERS).shutdown_grace
    assert int(period[1]) > drain
