"""Single instance: an OS lock per user, and a token-checked loopback "show" request."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aoa_desktop.instance import (
    INFO_FILE,
    InstanceLock,
    InstanceServer,
    ask_running,
    instance_dir,
)
from tests.desktop_shell.conftest import ROOT

_HOLD = """
import sys, pathlib
from aoa_desktop.instance import InstanceLock
lock = InstanceLock(pathlib.Path(sys.argv[1]))
print(lock.acquire(), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "True"
    yield proc
    proc.kill()
    proc.wait(10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def test_lock_is_exclusive_across_processes(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    assert InstanceLock(tmp_path).acquire() is False


def test_lock_is_freed_when_the_holder_dies(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.kill()  # no clean-up code runs: the OS must release the lock
    holder.wait(10)
    lock = InstanceLock(tmp_path)
    assert lock.acquire() is True
    lock.release()


def test_second_launch_gets_the_answer_of_the_first(tmp_path: Path) -> None:
    server = InstanceServer(tmp_path, lambda: {"url": "http://127.0.0.1:9/settings?s=x"})
    server.start()
    try:
        assert ask_running(tmp_path, wait=5) == {"url": "http://127.0.0.1:9/settings?s=x"}
    finally:
        server.stop()
    assert not (tmp_path / INFO_FILE).exists()


def test_instance_file_is_private(tmp_path: Path) -> None:
    server = InstanceServer(tmp_path, dict)
    server.start()
    try:
        mode = stat.S_IMODE((tmp_path / INFO_FILE).stat().st_mode)
        assert mode == 0o600
    finally:
        server.stop()


@pytest.mark.parametrize(
    "request_line",
    [
        b'{"token": "wrong", "cmd": "show"}\n',
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # what a web page could send
        b'{"cmd": "show"}\n',
    ],
)
def test_requests_without_the_token_get_no_answer(tmp_path: Path, request_line: bytes) -> None:
    server = InstanceServer(tmp_path, lambda: {"url": "secret-url"})
    server.start()
    try:
        port = json.loads((tmp_path / INFO_FILE).read_bytes())["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(request_line)
            conn.shutdown(socket.SHUT_WR)
            try:
                answer = conn.recv(4096)
            except ConnectionResetError:  # closed before reading everything: also no answer
                answer = b""
            assert answer == b""
    finally:
        server.stop()


def test_nobody_answering_is_reported_as_none(tmp_path: Path) -> None:
    assert ask_running(tmp_path, wait=0.2) is None


def test_instance_dir_is_private_and_under_the_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    path = instance_dir()
    assert path == runtime / "aoa"
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert path.stat().st_uid == os.getuid()


def test_instance_dir_without_runtime_dir_uses_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert instance_dir() == tmp_path / "state" / "aoa"
    assert not (tmp_path / "missing").exists()  # never created behind the user's back
