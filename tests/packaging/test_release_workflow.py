""".github/workflows/release.yml (cannot run here): its structure, and that what it calls exists."""

from __future__ import annotations

from typing import Any

import yaml

from tests.packaging.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_binary_job_builds_and_smoke_tests_on_three_systems() -> None:
    job = _workflow()["jobs"]["binary"]
    systems = {entry["os"].split("-")[0] for entry in job["strategy"]["matrix"]["include"]}
    assert systems == {"ubuntu", "macos", "windows"}
    steps = _steps_text(job)
    assert "scripts/build_binary.sh" in steps
    assert "scripts/smoke_binary.py ${{ matrix.built }}" in steps
    assert "tests/packaging/test_binary.py" in steps  # the tray check, Linux
    for script in ("scripts/build_binary.sh", "scripts/smoke_binary.py", "build/pyinstaller.spec"):
        assert (ROOT / script).is_file(), script


def test_release_job_attaches_the_binaries_only_for_tags() -> None:
    data = _workflow()
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on".
    triggers = data["on"] if "on" in data else data[True]
    assert triggers["push"]["tags"] == ["v*"]
    release = data["jobs"]["release"]
    assert release["needs"] == "binary"
    assert release["if"].startswith("startsWith(github.ref, 'refs/tags/v')")
    assert release["permissions"] == {"contents": "write"}
    assert data["permissions"] == {"contents": "read"}  # everything else stays read-only
    assert "action-gh-release" in _steps_text(release)
