"""The Dockerfile, checked by reading it and running its health check; the built image is run
for real in test_container_run.py (podman).

What is checked here: the stages and instructions that matter (non-root, AOA_HOST, health check,
nothing but the venv in the final image), that the build context holds exactly what the COPY
lines need, and that the HEALTHCHECK command really tells a running gateway from a dead port.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from aoa_proxy.config import load_settings
from tests.packaging.conftest import CLEAN_ENV, ROOT, http_status
from tests.packaging.dockerfile import Stage, exec_form, ignored, parse
from tests.support import free_port, wait_for

_ARGS, STAGES = parse(ROOT / "Dockerfile")
BUILD, FINAL = STAGES[0], STAGES[-1]


def _healthcheck(stage: Stage) -> list[str]:
    (args,) = stage.all("HEALTHCHECK")
    cmd = re.sub(r"^(--\S+\s+)*", "", args)  # drop --interval=... options
    assert cmd.startswith("CMD ")
    return exec_form(cmd[4:])


def test_dockerfile_is_multi_stage_on_one_slim_python() -> None:
    assert len(STAGES) == 2
    assert BUILD.base == FINAL.base  # the venv's interpreter path must exist in the final image
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", FINAL.base)


def test_final_stage_runs_as_non_root() -> None:
    users = FINAL.all("USER")
    assert users, "no USER in the final stage"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0") and group not in ("root", "0")
    # the uid and gid used must exist: created in the same stage
    runs = " ".join(FINAL.all("RUN"))
    assert f"useradd --system --uid {user} " in runs
    assert not group or f"groupadd --system --gid {group} " in runs


def test_final_stage_listens_on_all_interfaces() -> None:
    env = FINAL.env()
    assert env["AOA_HOST"] == "0.0.0.0"
    settings = load_settings({"AOA_HOST": env["AOA_HOST"], "AOA_PORT": env["AOA_PORT"]})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert FINAL.all("EXPOSE") == [env["AOA_PORT"]]


def test_final_stage_keeps_no_build_tools() -> None:
    runs = " ".join(FINAL.all("RUN"))
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", runs)
    copies = FINAL.all("COPY")
    assert copies == ["--from=build /opt/aoa /opt/aoa"]  # only the finished venv
    assert re.search(r"pip uninstall -y (-q )?pip setuptools", " ".join(BUILD.all("RUN")))


def test_entrypoint_is_the_headless_console_script() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    (entry,) = FINAL.all("ENTRYPOINT")
    assert exec_form(entry) == ["aoa-proxy"]
    assert scripts["aoa-proxy"] == "aoa_proxy.cli:main"
    install = " ".join(BUILD.all("RUN"))
    assert "pip install . " in install + " "  # no desktop extra in the server image


def test_build_context_holds_what_copy_needs_and_nothing_private() -> None:
    for args in BUILD.all("COPY"):
        *sources, _dest = args.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not ignored(ROOT, source), f"{source} is excluded by .dockerignore"
    shipped = ["aoa_proxy/app.py", "aoa_proxy/locale/zh_CN/LC_MESSAGES/aoa.mo", "pyproject.toml"]
    for path in shipped:
        assert not ignored(ROOT, path), path
    for private in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "dist/aoa", ".env"):
        assert ignored(ROOT, private), f"{private} would be sent to the Docker daemon"
    assert ignored(ROOT, "aoa_proxy/__pycache__/app.cpython-311.pyc")


@pytest.fixture
def image_gateway() -> Iterator[tuple[int, dict[str, str]]]:
    """aoa-proxy started with the image's environment (AOA_HOST=0.0.0.0) on a free port."""
    port = free_port()
    env = {**CLEAN_ENV, **FINAL.env(), "AOA_PORT": str(port), "LANG": "C"}
    env["PATH"] = os.environ["PATH"]  # the image's PATH names /opt/aoa, which is not here
    proc = subprocess.Popen(
        [sys.executable, "-m", "aoa_proxy"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("/health", lambda: http_status(f"http://127.0.0.1:{port}/health") == 200, 20)
        yield port, env
    finally:
        proc.terminate()
        proc.wait(10)


def test_healthcheck_command_passes_against_a_running_gateway(
    image_gateway: tuple[int, dict[str, str]],
) -> None:
    port, env = image_gateway
    cmd = _healthcheck(FINAL)
    assert cmd[0] == "python"  # the slim image has python but no curl
    done = subprocess.run([sys.executable, *cmd[1:]], env=env, timeout=30)
    assert done.returncode == 0


def test_healthcheck_command_fails_when_nothing_listens() -> None:
    cmd = _healthcheck(FINAL)
    env = {**CLEAN_ENV, "AOA_PORT": str(free_port())}
    done = subprocess.run([sys.executable, *cmd[1:]], env=env, capture_output=True, timeout=30)
    assert done.returncode != 0
