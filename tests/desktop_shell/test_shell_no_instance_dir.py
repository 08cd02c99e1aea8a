"""With no writable private folder for the instance lock, `aoa` says why in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_unusable_state_folder_is_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        HOME=str(tmp_path),
        XDG_STATE_HOME=str(blocker / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_RUNTIME_DIR="",
        LANG="C",
    )
    done = subprocess.run(
        [sys.executable, "-m", "aoa_desktop", "--headless"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "aoa: cannot start: no usable directory for the instance lock" in done.stderr
