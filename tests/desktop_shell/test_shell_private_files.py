"""Only this user can read what aoa writes: folders 0700, files 0600, older open ones tightened."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aoa_desktop.private import PrivateRotatingFileHandler
from tests.desktop_shell.conftest import Launcher, chat


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which plain mkdir/open give 0755/0644 (the app inherits it)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _folders(launcher: Launcher) -> tuple[Path, Path]:
    env = launcher.base_env
    return Path(env["XDG_CONFIG_HOME"]) / "aoa", Path(env["XDG_STATE_HOME"]) / "aoa" / "log"


def test_a_first_start_creates_a_private_log(launcher: Launcher) -> None:
    _config, logs = _folders(launcher)
    app = launcher.start()
    app.wait_healthy()
    app.wait_for("aoa.log", lambda: (logs / "aoa.log").exists())
    assert _mode(logs) == 0o700
    assert _mode(logs / "aoa.log") == 0o600
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_folders_and_files_left_open_by_older_versions_are_tightened(launcher: Launcher) -> None:
    config, logs = _folders(launcher)
    for folder in (config, logs):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    for file, text in ((config / "settings.json", '{"schema": 1}'), (logs / "aoa.log.1", "old")):
        file.write_text(text)
        file.chmod(0o644)
    (logs / "aoa.log").write_text("older run\n")
    (logs / "aoa.log").chmod(0o644)
    app = launcher.start()
    app.wait_healthy()
    assert _mode(config) == 0o700 and _mode(config / "settings.json") == 0o600
    assert _mode(logs) == 0o700
    assert _mode(logs / "aoa.log") == 0o600 and _mode(logs / "aoa.log.1") == 0o600
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_a_fifo_in_place_of_the_log_file_does_not_hang_the_start(launcher: Launcher) -> None:
    _config, logs = _folders(launcher)
    logs.mkdir(parents=True, mode=0o700)
    os.mkfifo(logs / "aoa.log")  # opening it for writing blocks until someone reads
    app = launcher.start()
    app.wait_healthy()
    assert "cannot write the log file" in app.stderr
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_rotated_log_files_stay_private(tmp_path: Path) -> None:
    handler = PrivateRotatingFileHandler(
        tmp_path / "aoa.log", maxBytes=300, backupCount=2, encoding="utf-8"
    )
    logger = logging.getLogger("tests.rotation")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for n in range(40):
            logger.warning("line %d %s", n, "x" * 60)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["aoa.log", "aoa.log.1", "aoa.log.2"]
    assert [_mode(f) for f in files] == [0o600] * 3


def test_the_desktop_keeps_a_private_usage_history_in_its_data_folder(launcher: Launcher) -> None:
    data = Path(launcher.base_env["XDG_DATA_HOME"]) / "aoa"
    app = launcher.start()  # the demo provider: answers offline, with token counts
    app.wait_healthy()
    assert chat(app.port, "count me") != ""
    history = data / "usage.sqlite3"
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0  # a clean stop writes what is queued
    assert _mode(data) == 0o700 and _mode(history) == 0o600
    db = sqlite3.connect(history)
    try:
        rows = db.execute("SELECT door, provider, status, prompt_tokens FROM requests").fetchall()
    finally:
        db.close()
    assert len(rows) == 1
    door, provider, status, prompt_tokens = rows[0]
    assert (door, provider, status) == ("chat", "demo", 200) and prompt_tokens > 0
    assert b"count me" not in history.read_bytes()
