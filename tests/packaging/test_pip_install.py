"""`pip install .` into a fresh venv gives both commands, the catalogues, one version.

This is what `pipx install .` does too (a private venv + the console scripts). The desktop
dependencies are the `desktop` extra, so a headless server install stays small.
"""

from __future__ import annotations

import re
import signal
import subprocess
import venv
from pathlib import Path

import pytest

from aoa_proxy import __version__
from tests.packaging.conftest import CLEAN_ENV, ROOT, http_status
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _fresh_venv(target: Path, requirement: str) -> Path:
    """bin/ of a new venv at `target` with `pip install <requirement>` done in it."""
    venv.create(target, with_pip=True)
    done = subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            requirement,
        ],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install .` (no extras): what a headless server or `pipx install .` gets."""
    return _fresh_venv(tmp_path_factory.mktemp("venv"), str(ROOT))


@pytest.fixture(scope="module")
def installed_desktop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install .[desktop]`: what `pipx install '.[desktop]'` gets."""
    return _fresh_venv(tmp_path_factory.mktemp("venv-desktop"), f"{ROOT}[desktop]")


def _run(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=bin_dir,  # not the source tree: the installed package must be the one imported
        env={**CLEAN_ENV, "LANG": "C.UTF-8", **env},
    )


def test_install_gives_both_commands(installed: Path) -> None:
    assert (installed / "aoa").is_file()
    assert (installed / "aoa-proxy").is_file()


def test_aoa_proxy_reports_the_one_version(installed: Path) -> None:
    done = _run(installed, "aoa-proxy", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aoa-proxy {__version__}"


def test_aoa_without_the_desktop_extra_still_answers_version(installed: Path) -> None:
    done = _run(installed, "aoa", "--version")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aoa {__version__}"


def test_aoa_without_the_desktop_extra_serves_headless(installed: Path, tmp_path: Path) -> None:
    log = _serve_and_stop(installed / "aoa", tmp_path)
    assert "Traceback" not in log
    assert "aoa[desktop]" in log  # names the fix for the missing tray


def test_install_ships_the_chinese_catalogue(installed: Path) -> None:
    done = _run(installed, "aoa-proxy", "--help", LANG="zh_CN.UTF-8")
    assert done.returncode == 0, done.stderr
    assert re.search(r"[\u4e00-\u9fff]", done.stdout), done.stdout[:500]


def test_install_without_extras_leaves_out_the_desktop_dependencies(installed: Path) -> None:
    probe = (
        "import importlib.util as u;"
        "print([m for m in ('pystray', 'PIL', 'keyring') if u.find_spec(m)])"
    )
    done = _run(installed, "python", "-c", probe)
    assert done.stdout.strip() == "[]"


def test_version_is_written_in_one_place() -> None:
    pattern = re.escape(__version__)
    hits = [
        str(path.relative_to(ROOT))
        for path in [*ROOT.glob("aoa_*/**/*.py"), ROOT / "pyproject.toml", *ROOT.glob("build/*")]
        if path.is_file() and re.search(rf"""["']{pattern}["']""", path.read_text(errors="ignore"))
    ]
    assert hits == ["aoa_proxy/__init__.py"]


def _serve_and_stop(program: Path, home: Path) -> str:
    """Run `program --headless` as a fresh user until /health answers, stop it; its output."""
    port = free_port()
    run_dir = home / "run"
    run_dir.mkdir(mode=0o700)
    env = {**CLEAN_ENV, "HOME": str(home), "XDG_RUNTIME_DIR": str(run_dir), "LANG": "C.UTF-8"}
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env.pop(var, None)
    out = home / "out.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [str(program), "--headless", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/health"
        wait_for(url, lambda: http_status(url) == 200 or proc.poll() is not None, 60)
        assert proc.poll() is None, out.read_text(errors="replace")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
    assert rc == 0
    return out.read_text(errors="replace")


def test_desktop_extra_gives_a_working_aoa(installed_desktop: Path, tmp_path: Path) -> None:
    done = _run(installed_desktop, "aoa", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aoa {__version__}"
    log = _serve_and_stop(installed_desktop / "aoa", tmp_path)
    assert "desktop extra is not installed" not in log
