"""Build and run the Dockerfile with podman, following shared/recipes/containers.md.

No registry is reachable here, so the official python:3.x-slim base is replaced by a Debian
bookworm root built with debootstrap (cached as BASE_IMAGE, so it is built once per machine).
podman runs with runc, cgroupfs and no default ulimits: the sandbox refuses crun's rlimits.
`python -m tests.packaging.podman` builds both images and prints how long each took.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/aoa-base:bookworm"
IMAGE = "localhost/aoa:test"
LABEL = "org.aoa.test"  # on every image the tests build, so they can clean up after themselves
MIRROR = "http://deb.debian.org/debian"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_CONF = Path(tempfile.gettempdir()) / "aoa-containers.conf"


def unavailable() -> str:
    """Why podman cannot build here, or "" when it can."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return "podman and runc are not installed (scripts/system-deps.sh installs them)"
    if not has_image(BASE_IMAGE) and (shutil.which("debootstrap") is None or os.getuid() != 0):
        return f"no {BASE_IMAGE} and no root debootstrap to build it"
    return ""


def env() -> dict[str, str]:
    _CONF.write_text(
        '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n',
        encoding="utf-8",
    )
    return {**os.environ, "CONTAINERS_CONF": str(_CONF)}


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`podman --runtime runc ARGS`, its output captured as text."""
    done = subprocess.run(
        ["podman", "--runtime", "runc", *args],
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def has_image(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def build_base() -> float:
    """Import a debootstrapped bookworm with python3 as BASE_IMAGE (skipped when it exists).

    Returns the seconds it took (0 when cached).
    """
    if has_image(BASE_IMAGE):
        return 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aoa-base-") as tmp:
        root = Path(tmp) / "root"
        # The recipe's python3-pip is left out: python3-venv gives the build stage's venv its own
        # pip, and the final image must hold none.
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates"]
            + ["bookworm", str(root), MIRROR],
            check=True,
            capture_output=True,
            timeout=900,
        )
        # Package downloads pass a TLS-inspecting proxy here: pip must trust this machine's CAs.
        shutil.copy(CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        (root / "etc/pip.conf").write_text(
            "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n", encoding="utf-8"
        )
        (root / "usr/bin/python").symlink_to("python3")  # the official image has `python`
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()  # debootstrap's downloads: 30 MB the image does not need
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "--runtime", "runc", "import", "-", BASE_IMAGE],
            stdin=tar.stdout,
            env=env(),
            capture_output=True,
            timeout=300,
        )
        tar.wait(60)
        if imported.returncode != 0:
            raise RuntimeError(imported.stderr.decode(errors="replace"))
    return time.monotonic() - started


def build_image(extra: Sequence[str] = ()) -> float:
    """`podman build` the repository's Dockerfile on BASE_IMAGE as IMAGE; returns seconds."""
    started, stamp, before = time.monotonic(), int(time.time()), image_id()
    podman(
        "build",
        "--format", "docker",  # OCI format would drop HEALTHCHECK
        "--network", "host",  # pip reaches the package index (through this machine's proxy)
        "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}",
        "--layers",  # an unchanged tree rebuilds from cache in seconds
        "--label", f"{LABEL}=1",
        "-t", IMAGE,
        *extra,
        str(ROOT),
        timeout=900,
    )  # fmt: skip
    if image_id() != before:
        # The sources changed: the replaced test image and its build stage would pile up.
        podman("image", "prune", "-f", "--filter", f"label={LABEL}=1", "--filter", f"until={stamp}")
    return time.monotonic() - started


def image_id(name: str = IMAGE) -> str:
    """The image's id, or "" when there is none."""
    done = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def image_size(name: str = IMAGE) -> int:
    """The image's size in bytes, as podman reports it (uncompressed layers)."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())


if __name__ == "__main__":
    print(f"base: {build_base():.1f} s")
    print(f"image: {build_image():.1f} s, {image_size() / 1e6:.1f} MB")
