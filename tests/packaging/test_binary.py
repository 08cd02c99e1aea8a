"""The one-file Linux binary, built here with PyInstaller and run as a user would run it.

Builds build/pyinstaller.spec into a temp dir (about a minute of CPU; AOA_TEST_BINARY=path
tests an already built binary instead), then proves the binary
serves /health and a demo chat completion through the openai SDK with `--headless`, and shows
its tray icon docked in a real XEMBED tray (Xvfb + trayer). Size and start-up time are printed
and recorded as junit properties (measured, never asserted).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from PIL import Image

from tests.entra_fakes import imds_without_identity, write_az
from tests.packaging.conftest import CLEAN_ENV, ROOT, http_status
from tests.secret_service import PrivateKeyring
from tests.support import free_port, wait_for
from tests.xserver import start_trayer, start_xvfb, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the build dominates: ~1 min of CPU, more on a busy machine
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux binary test"),
]

TRAY_TOOLS = ("Xvfb", "xdpyinfo", "trayer", "xdotool", "xwininfo", "import")
RUNNING_DOT = (0x2F, 0xBF, 0x5B)  # scripts/make_icons.py STATES["running"]


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The binary: built here, or AOA_TEST_BINARY when CI has just built it (release.yml)."""
    prebuilt = os.environ.get("AOA_TEST_BINARY")
    if prebuilt:
        return Path(prebuilt).resolve()
    out = tmp_path_factory.mktemp("pyinstaller")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_binary.sh"), str(out / "dist"), str(out / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    path = out / "dist" / "aoa"
    assert path.is_file() and os.access(path, os.X_OK)
    return path


def _user_env(home: Path, **extra: str) -> dict[str, str]:
    """A fresh user: own home, config, runtime dir (so no other aoa's instance lock is seen)."""
    run = home / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in CLEAN_ENV.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(run), LANG="C.UTF-8")
    env.update(extra)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env.pop(var, None)
    return env


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    started: float
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


Start = Callable[..., Running]
RecordProperty = Callable[[str, object], None]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start the binary as a fresh user on a free port: start(binary, *args, **env)."""
    runs: list[Running] = []

    def run(binary: Path, *args: str, **env: str) -> Running:
        port = free_port()
        log = tmp_path / f"aoa-{len(runs)}.log"
        with log.open("wb") as sink:
            started = time.monotonic()
            proc = subprocess.Popen(
                [str(binary), "--port", str(port), *args],
                env=_user_env(tmp_path, **env),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        runs.append(Running(proc, port, started, log))
        return runs[-1]

    yield run
    for r in runs:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait(10)


def test_headless_binary_serves_health_and_a_demo_chat(
    binary: Path, start: Start, record_property: RecordProperty
) -> None:
    app = start(binary, "--headless")
    wait_for(
        "/health from the binary",
        lambda: http_status(f"{app.base}/health") == 200 or app.proc.poll() is not None,
        60,
    )
    first_200 = time.monotonic() - app.started
    assert app.proc.poll() is None, app.log.read_text(errors="replace")
    size_mb = binary.stat().st_size / 1e6
    record_property("binary_size_mb", f"{size_mb:.1f}")
    record_property("start_to_first_health_200_s", f"{first_200:.2f}")
    print(f"\naoa binary: {size_mb:.1f} MB; start -> first 200 on /health: {first_200:.2f} s")

    client = openai.OpenAI(base_url=f"{app.base}/v1", api_key="any", max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello from the binary"}]
    )
    assert reply.choices[0].message.content
    assert "hello from the binary" in reply.choices[0].message.content
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "stream please" in text
    client.close()

    assert app.stop() == 0


def test_frozen_binary_reaches_the_secret_service_keyring(
    binary: Path, start: Start, private_keyring: PrivateKeyring
) -> None:
    # keyring finds its backends dynamically; this fails if the spec misses them (or
    # secretstorage/jeepney), because then the binary sees no usable keyring at all.
    app = start(binary, "--headless", DBUS_SESSION_BUS_ADDRESS=private_keyring.bus)
    wait_for(
        "/health from the binary",
        lambda: http_status(f"{app.base}/health") == 200 or app.proc.poll() is not None,
        60,
    )
    assert app.stop() == 0
    log = app.log.read_text(errors="replace")
    assert "keys are kept in the keyring backend Keyring" in log, log  # SecretService.Keyring


def test_frozen_binary_signs_in_to_azure_with_entra_id(
    binary: Path, start: Start, tmp_path: Path
) -> None:
    # azure-identity is imported only with AZURE_AUTH=entra: this fails if the spec misses it
    # (or azure-core's lazily chosen aiohttp transport, or msal's requests).
    az, az_env = write_az(tmp_path / "bin")
    with imds_without_identity() as imds:
        app = start(
            binary,
            "--headless",
            AOA_TYPE="azure",
            AZURE_ENDPOINT=f"http://127.0.0.1:{free_port()}/",
            AZURE_AUTH="entra",
            AZURE_POD_IDENTITY_AUTHORITY_HOST=imds,
            **az_env,
        )
        wait_for(
            "/health from the binary",
            lambda: http_status(f"{app.base}/health") == 200 or app.proc.poll() is not None,
            60,
        )
        assert app.stop() == 0
    log = app.log.read_text(errors="replace")
    assert "come from Azure CLI (az login)" in log, log
    assert az.calls() == [
        "account get-access-token --output json --resource https://cognitiveservices.azure.com"
    ]
    assert "az-token-1" not in log


def test_frozen_binary_speaks_chinese_under_a_chinese_locale(binary: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path, LANG="zh_CN.UTF-8")
    done = subprocess.run(
        [str(binary), "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "用法" in done.stdout, done.stdout[
        :300
    ]  # argparse's "usage", from the bundled catalogue


# ------------------------------------------------------------------------------ tray under Xvfb


@dataclass
class Screen:
    display: str
    panel: str  # trayer's panel window id; tray icons dock into it

    def run(self, *args: str) -> str:
        env = {**CLEAN_ENV, "DISPLAY": self.display}
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
        return done.stdout if done.returncode == 0 else ""


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    missing = [tool for tool in TRAY_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {' '.join(missing)} (scripts/system-deps.sh installs them)")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        display = start_xvfb(procs)
        panel = start_trayer(procs, display, CLEAN_ENV)
        yield Screen(display, panel)
    finally:
        for proc in reversed(procs):
            stop(proc)


def _docked_icon(screen: Screen) -> str | None:
    """The id of a window of class aoa inside trayer's panel, if one has docked."""
    tree = screen.run("xwininfo", "-tree", "-id", screen.panel)
    for line in tree.splitlines():
        if '("aoa" "aoa")' in line:
            return line.split()[0]
    return None


def _window_pixels(screen: Screen, window: str, tmp: Path) -> Image.Image | None:
    info = screen.run("xwininfo", "-id", window)
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in info.splitlines()) if v
    )
    try:
        x, y = int(fields["Absolute upper-left X"]), int(fields["Absolute upper-left Y"])
        w, h = int(fields["Width"]), int(fields["Height"])
    except (KeyError, ValueError):
        return None
    shot = tmp / "screen.png"
    screen.run("import", "-window", "root", str(shot))
    if not shot.exists():
        return None
    with Image.open(shot) as img:
        return img.convert("RGB").crop((x, y, x + w, y + h))


def _shows_running_dot(img: Image.Image | None) -> bool:
    """Whether the icon's green 'running' dot is drawn (a few near-exact pixels suffice)."""
    if img is None:
        return False
    raw = img.convert("RGB").tobytes()
    pixels = zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
    near = [p for p in pixels if all(abs(a - b) < 40 for a, b in zip(p, RUNNING_DOT, strict=True))]
    return len(near) >= 10


def test_binary_shows_its_tray_icon_under_xvfb(
    binary: Path, start: Start, screen: Screen, tmp_path: Path
) -> None:
    app = start(binary, DISPLAY=screen.display)
    wait_for(
        "/health from the tray app",
        lambda: http_status(f"{app.base}/health") == 200 or app.proc.poll() is not None,
        60,
    )
    assert app.proc.poll() is None, app.log.read_text(errors="replace")

    wait_for(
        "the aoa icon docked in trayer",
        lambda: _docked_icon(screen) is not None or app.proc.poll() is not None,
        30,
    )
    icon = _docked_icon(screen)
    assert icon is not None, app.log.read_text(errors="replace")
    wait_for(
        "the running-state icon drawn in the tray",
        lambda: _shows_running_dot(_window_pixels(screen, icon, tmp_path)),
        20,
    )
    assert "tray icon shown" in app.log.read_text(errors="replace")

    assert app.stop() == 0
