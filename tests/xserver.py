"""A private X display for tray tests: Xvfb on a number it picks itself, and trayer as the
XEMBED tray host. Shared by the desktop shell, the packaged binary and the i18n screenshots.

trayer now and then starts without ever mapping its panel (seen on loaded CI machines), so it
is started up to three times, each bounded by waiting for its window, never by a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from tests.support import wait_for

TRAYER = [
    "trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
    "--transparent", "false", "--tint", "0x444444",
]  # fmt: skip
TRAYER_ATTEMPTS = 3


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def _x(display: str, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env={**env, "DISPLAY": display}, capture_output=True, text=True, timeout=30
    )


def start_xvfb(procs: list[subprocess.Popen[bytes]], size: str = "800x600x24") -> str:
    """Start Xvfb (appended to `procs`) and return ":N" once it answers. -displayfd lets the
    server pick a free number, so two runs at once never share one."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(xvfb)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        ready, _w, _x_ = select.select([pipe], [], [], 30)
        number = pipe.readline().strip() if ready else b""
    if not number.isdigit():
        raise AssertionError(f"Xvfb did not report its display number (exit {xvfb.poll()})")
    display = f":{number.decode()}"
    wait_for(
        f"Xvfb on {display}",
        lambda: xvfb.poll() is not None or _x(display, os.environ, "xdpyinfo").returncode == 0,
        30,
    )
    assert xvfb.poll() is None, f"Xvfb on {display} exited with {xvfb.returncode}"
    return display


def _shown_or_gone(panel: Callable[[], str | None], trayer: subprocess.Popen[bytes]) -> bool:
    return bool(panel()) or trayer.poll() is not None


def start_trayer(
    procs: list[subprocess.Popen[bytes]], display: str, env: Mapping[str, str] | None = None
) -> str:
    """Start trayer on `display` (appended to `procs`) and return its panel's window id."""
    env = dict(os.environ if env is None else env)
    log = Path(tempfile.mkdtemp(prefix="aoa-trayer-")) / "trayer.log"

    def panel() -> str | None:
        found = _x(display, env, "xdotool", "search", "--name", "^panel$").stdout.split()
        return found[0] if found else None

    for attempt in range(1, TRAYER_ATTEMPTS + 1):
        with log.open("wb") as sink:
            trayer = subprocess.Popen(
                TRAYER, env={**env, "DISPLAY": display}, stdout=sink, stderr=subprocess.STDOUT
            )
        procs.append(trayer)
        # Wait until the panel shows or trayer dies, whichever is first.
        with contextlib.suppress(AssertionError):  # alive but no panel: start it again
            wait_for("trayer's panel", partial(_shown_or_gone, panel, trayer), 15)
        found = panel()
        if found:
            return found
        stop(trayer)
        procs.remove(trayer)
        if attempt == TRAYER_ATTEMPTS:
            raise AssertionError(
                f"trayer showed no panel on {display} after {attempt} tries "
                f"(last exit {trayer.returncode}): " + log.read_text(errors="replace")[-1000:]
            )
    raise AssertionError("unreachable")
