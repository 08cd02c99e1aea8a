"""Single instance: an OS lock per user, and a private, mutually authenticated "show" channel.

The channel is a Unix socket on POSIX and loopback TCP on Windows; both run here ("default" is
the socket, "tcp" the Windows path). The attacks tried: a stale instance.json whose port another
program took over, an impostor answering on the channel, a client trickling bytes, answers with
a phishing URL or terminal escapes, and a second OS user connecting.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aoa_desktop import instance
from aoa_desktop.instance import (
    INFO_FILE,
    InstanceLock,
    InstanceServer,
    ShowHandler,
    ask_running,
    instance_dir,
    printable,
    safe_settings_url,
)
from tests.desktop_shell.conftest import ROOT, Launcher
from tests.support import wait_for

_HOLD = """
import sys, pathlib
from aoa_desktop.instance import InstanceLock
lock = InstanceLock(pathlib.Path(sys.argv[1]))
print(lock.acquire(), flush=True)
sys.stdin.read()
"""
GOOD_URL = "http://127.0.0.1:9/settings?code=x"
TRANSPORTS = [pytest.param(None, id="default"), pytest.param("tcp", id="tcp")]


def _server(directory: Path, on_show: ShowHandler, transport: str | None) -> InstanceServer:
    """An InstanceServer on `transport` (None: this OS's default), started."""
    extra = {"transport": transport} if transport else {}
    server = InstanceServer(directory, on_show, **extra)
    server.start()
    return server


def _connect_raw(directory: Path) -> socket.socket:
    """A plain connection to the channel named in instance.json, as any local program could."""
    info = json.loads((directory / INFO_FILE).read_bytes())
    if "port" in info:
        return socket.create_connection(("127.0.0.1", info["port"]), timeout=5)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(5)
    conn.connect(str(directory / info["socket"]))
    return conn


HoldLock = Callable[[Path], subprocess.Popen[str]]


@pytest.fixture
def hold_lock() -> Iterator[HoldLock]:
    """Starts another process that holds the lock on a directory until the test ends."""
    procs: list[subprocess.Popen[str]] = []

    def start(directory: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(directory)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "True"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(10)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


class Squatter:
    """A program on another loopback port that answers like aoa would, with a phishing page."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.received = b""
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        phish = {"url": "http://evil.example/settings", "message": "\x1b]0;owned\x07 hi"}
        phish.update(nonce="n" * 24, proof="0" * 64)  # also try to look like a challenge
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    for _round in range(3):
                        data = conn.recv(4096)
                        if not data:
                            break
                        self.received += data
                        conn.sendall(json.dumps(phish).encode() + b"\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def squatter() -> Iterator[Squatter]:
    s = Squatter()
    yield s
    s.close()


# --------------------------------------------------------------------------- the lock


def test_lock_is_exclusive_across_processes(tmp_path: Path, hold_lock: HoldLock) -> None:
    hold_lock(tmp_path)
    assert InstanceLock(tmp_path).acquire() is False


def test_lock_is_freed_when_the_holder_dies(tmp_path: Path, hold_lock: HoldLock) -> None:
    holder = hold_lock(tmp_path)
    holder.kill()  # no clean-up code runs: the OS must release the lock
    holder.wait(10)
    lock = InstanceLock(tmp_path)
    assert lock.acquire() is True
    lock.release()


# --------------------------------------------------------------------------- the channel


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_second_launch_gets_the_answer_of_the_first(tmp_path: Path, transport: str | None) -> None:
    server = _server(tmp_path, lambda: {"url": GOOD_URL}, transport)
    try:
        assert ask_running(tmp_path, wait=5) == {"url": GOOD_URL}
    finally:
        server.stop()
    assert list(tmp_path.iterdir()) == []  # the info file and the socket are gone


def test_channel_is_a_private_unix_socket_on_posix(tmp_path: Path) -> None:
    server = _server(tmp_path, dict, None)
    try:
        info = json.loads((tmp_path / INFO_FILE).read_bytes())
        assert "port" not in info and info["socket"] == "instance.sock"
        sock = (tmp_path / "instance.sock").stat()
        assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / INFO_FILE).stat().st_mode) == 0o600
    finally:
        server.stop()


def test_a_folder_path_too_long_for_sun_path_still_gets_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    server = _server(deep, lambda: {"url": GOOD_URL}, None)
    try:
        assert server.transport == "unix"
        assert ask_running(deep, wait=5) == {"url": GOOD_URL}
    finally:
        server.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "request_line",
    [
        b'{"token": "wrong", "cmd": "show"}\n',
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # what a web page could send
        b'{"cmd": "show"}\n',
    ],
)
def test_requests_without_a_nonce_get_no_answer(
    tmp_path: Path, transport: str | None, request_line: bytes
) -> None:
    server = _server(tmp_path, lambda: {"url": "secret-url"}, transport)
    try:
        with _connect_raw(tmp_path) as conn:
            conn.sendall(request_line)
            conn.shutdown(socket.SHUT_WR)
            try:
                answer = conn.recv(4096)
            except ConnectionResetError:  # closed before reading everything: also no answer
                answer = b""
            assert answer == b""
    finally:
        server.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_that_cannot_prove_the_token_gets_no_answer(
    tmp_path: Path, transport: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    server = _server(tmp_path, lambda: {"url": "secret-url"}, transport)
    try:
        with _connect_raw(tmp_path) as conn:
            conn.sendall(b'{"cmd": "show", "nonce": "' + b"n" * 24 + b'"}\n')
            challenge = json.loads(conn.recv(4096))
            assert set(challenge) == {"nonce", "proof"}  # no URL before the proof
            conn.sendall(b'{"proof": "' + b"0" * 64 + b'"}\n')
            assert conn.recv(4096) == b""
    finally:
        server.stop()
    assert "without the right token" in caplog.text


def test_stale_instance_file_pointing_at_a_squatted_port_is_not_followed(
    tmp_path: Path, hold_lock: HoldLock, squatter: Squatter
) -> None:
    """aoa crashed and left instance.json; another program took its port. A new first instance
    is still starting (lock taken, no channel yet) when a second launch asks."""
    stale = {"pid": 999999, "port": squatter.port, "token": "stale-token-of-the-crashed-aoa"}
    (tmp_path / INFO_FILE).write_text(json.dumps(stale))
    hold_lock(tmp_path)  # the new first instance: its lock comes first, its channel later
    assert not (tmp_path / INFO_FILE).exists()
    assert ask_running(tmp_path, wait=1.0) is None
    assert squatter.connections == 0 and squatter.received == b""


def test_an_impostor_on_the_channel_learns_no_token_and_cannot_answer(
    tmp_path: Path, squatter: Squatter
) -> None:
    """Even when instance.json does name the impostor, the second launch ignores its answer."""
    token = "token-that-only-aoa-knows-0123456789"
    (tmp_path / INFO_FILE).write_text(json.dumps({"pid": 1, "port": squatter.port, "token": token}))
    assert ask_running(tmp_path, wait=0.5) is None
    assert squatter.connections >= 1  # it was asked ...
    assert token.encode() not in squatter.received  # ... but learnt nothing it can reuse


class Trickler:
    """A client that connects and sends one byte every 0.2 s, never a whole line."""

    def __init__(self, directory: Path) -> None:
        self.conn = _connect_raw(directory)
        self.started = time.monotonic()
        self.cut_after: float | None = None
        self._stop = threading.Event()
        self.conn.sendall(b"{")  # connected and talking before anyone else asks
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.conn.sendall(b" ")
            except OSError:  # the server closed the connection
                self.cut_after = time.monotonic() - self.started
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_trickling_client_does_not_delay_a_second_launch(
    tmp_path: Path, transport: str | None
) -> None:
    server = _server(tmp_path, lambda: {"url": GOOD_URL}, transport)
    trickler = Trickler(tmp_path)
    try:
        started = time.monotonic()
        assert ask_running(tmp_path, wait=5) == {"url": GOOD_URL}
        assert time.monotonic() - started < 1.5
    finally:
        trickler.close()
        server.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_trickling_client_is_cut_off_at_the_deadline(
    tmp_path: Path, transport: str | None
) -> None:
    server = _server(tmp_path, dict, transport)
    trickler = Trickler(tmp_path)
    try:
        cut = wait_for("the server to close the trickling connection", lambda: trickler.cut_after)
        assert cut < instance.DEADLINE + 1.5
    finally:
        trickler.close()
        server.stop()


def test_nobody_answering_is_reported_as_none(tmp_path: Path) -> None:
    assert ask_running(tmp_path, wait=0.2) is None


# --------------------------------------------------------------------------- the answer


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/settings?code=abc",
        "http://[::1]:8080/settings?s=abc",
        "http://localhost:8080/settings",
        "http://127.0.0.2:1/settings?code=x&lang=en",
    ],
)
def test_loopback_settings_addresses_are_accepted(url: str) -> None:
    assert safe_settings_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example/settings?code=abc",
        "https://127.0.0.1:8080/settings",
        "http://127.0.0.1:8080/login",
        "http://127.0.0.1:8080/settings/../phish",
        "http://127.0.0.1@evil.example/settings",
        "http://user:pw@127.0.0.1:8080/settings",
        "http://127.0.0.1.evil.example/settings",
        "http://0.0.0.0:8080/settings",
        "http://127.0.0.1:99999/settings",
        "http://127.0.0.1:8080/settings\n--new-window",
        "http://127.0.0.1:8080/settings#\x1b[2J",
        "javascript:alert(1)//127.0.0.1/settings",
        "file:///settings",
        "",
        None,
        42,
    ],
)
def test_other_addresses_are_refused(url: Any) -> None:
    assert safe_settings_url(url) is None


def test_printable_strips_terminal_escapes_and_line_breaks() -> None:
    text = "\x1b]0;owned\x07\x1b[2Jport in use\r\nforged: line\u202etxt.exe\x00"
    cleaned = printable(text)
    assert cleaned == "]0;owned [2Jport in use forged: line txt.exe"
    assert all(c.isprintable() for c in cleaned)
    assert printable(None) == "" and len(printable("x" * 10_000)) == 500


def _as_running_aoa(launcher: Launcher, reply: dict[str, Any]) -> Callable[[], None]:
    """Play the running aoa (lock + channel) in the launcher's instance folder; returns stop."""
    directory = Path(launcher.base_env["XDG_RUNTIME_DIR"]) / "aoa"
    directory.mkdir(mode=0o700)
    lock = InstanceLock(directory)
    assert lock.acquire()
    server = _server(directory, lambda: reply, None)

    def stop() -> None:
        server.stop()
        lock.release()

    return stop


@pytest.mark.parametrize(
    "url", ["http://evil.example/settings?code=x", "http://127.0.0.1:1/phish?code=x"]
)
def test_second_launch_refuses_a_phishing_address_and_strips_escapes(
    launcher: Launcher, url: str
) -> None:
    message = "\x1b]0;owned\x07\x1b[31mport in use\x1b[0m\nforged: line"
    stop = _as_running_aoa(launcher, {"url": url, "message": message})
    try:
        second = launcher.run()
    finally:
        stop()
    assert second.returncode == 1
    assert not (launcher.tmp / "browser.log").exists()  # nothing was opened
    assert "\x1b" not in second.stderr and "\x07" not in second.stderr
    assert "aoa: ]0;owned [31mport in use [0m forged: line\n" in second.stderr
    assert "not its settings page; not opening it" in second.stderr


def test_second_launch_opens_a_good_address(launcher: Launcher) -> None:
    stop = _as_running_aoa(launcher, {"url": GOOD_URL, "message": None})
    try:
        second = launcher.run()
    finally:
        stop()
    assert second.returncode == 0, second.stderr
    assert (launcher.tmp / "browser.log").read_text().split() == [GOOD_URL]


# --------------------------------------------------------------------------- another user

_PEER = """
import json, socket, sys, pathlib
from aoa_desktop.instance import ask_running
directory, address = pathlib.Path(sys.argv[1]), json.loads(sys.argv[2])
try:
    if "port" in address:
        conn = socket.create_connection(("127.0.0.1", address["port"]), timeout=2)
    else:
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(address["socket"])
    conn.close()
    connect = "connected"
except OSError as exc:
    connect = type(exc).__name__
print(json.dumps({"connect": connect, "reply": ask_running(directory, wait=0.5)}))
"""


@pytest.fixture(scope="module")
def other_user() -> Iterator[tuple[int, int, str]]:
    """A second OS user (uid, gid) and a Python it can run; created here, removed after."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("creating a second OS user needs root")
    missing = [t for t in ("useradd", "userdel", "setpriv") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"creating and becoming a second OS user needs {', '.join(missing)}")
    name = f"aoa-peer-{os.getpid()}"
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"useradd failed: {made.stderr.strip()}")
    try:
        user = pwd.getpwnam(name)
        ids = (user.pw_uid, user.pw_gid)
        python = next((p for p in (sys.executable, "/usr/bin/python3") if _runs_as(ids, p)), None)
        if python is None:
            pytest.skip("no Python interpreter that the second user may run")
        yield user.pw_uid, user.pw_gid, python
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def _runs_as(ids: tuple[int, int], python: str) -> bool:
    probe = _as_user(ids, python, "import sys; assert sys.version_info >= (3, 10)")
    return probe.returncode == 0


def _as_user(ids: tuple[int, int], python: str, *args: str) -> subprocess.CompletedProcess[str]:
    uid, gid = ids
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", python, "-c", *args],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_second_os_user_cannot_use_the_channel(
    other_user: tuple[int, int, str], caplog: pytest.LogCaptureFixture
) -> None:
    uid, gid, python = other_user
    directory = Path(tempfile.mkdtemp(prefix="aoa-peer-"))  # 0700, like instance_dir()
    server = _server(directory, lambda: {"url": GOOD_URL}, None)
    try:
        info = json.loads((directory / INFO_FILE).read_bytes())
        address = (
            {"port": info["port"]}
            if "port" in info
            else {"socket": str(directory / "instance.sock")}
        )

        def peer() -> dict[str, Any]:
            done = _as_user((uid, gid), python, _PEER, str(directory), json.dumps(address))
            assert done.returncode == 0, done.stderr
            out: dict[str, Any] = json.loads(done.stdout)
            return out

        # As set up: the folder and the socket are this user's alone.
        assert peer() == {"connect": "PermissionError", "reply": None}
        # Even with the folder opened up and the token readable, the server checks the uid.
        directory.chmod(0o755)
        (directory / INFO_FILE).chmod(0o644)
        if "socket" in address:
            (directory / "instance.sock").chmod(0o666)
        assert peer()["reply"] is None
        refusal = f"refused an instance connection from uid {uid}"
        wait_for("the server's refusal", lambda: refusal in caplog.text, 5)
        assert ask_running(directory, wait=2) == {"url": GOOD_URL}  # this user still may
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- the folder


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
