"""Single instance: the first `aoa` holds a lock; a second one asks it for the settings page.

The first instance holds an exclusive OS lock (fcntl/msvcrt) on `aoa.lock` for its lifetime, so
the lock vanishes with the process and no stale PID file can block a new start. It also listens on
an ephemeral loopback port and writes that port plus a random token to `instance.json` (mode
0600, in a 0700 directory of this user). A second launch reads the file, connects, proves it can
read the file by sending the token, and gets back a fresh settings-page URL to open. The wire
format is one JSON line each way, so a browser (which can only speak HTTP to the port) never gets
an answer, and another user cannot read the token.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

LOCK_FILE = "aoa.lock"
INFO_FILE = "instance.json"
_MAX_LINE = 4096

ShowHandler = Callable[[], dict[str, Any]]


def instance_dir(app: str = "aoa") -> Path:
    """This user's private directory for the lock and the instance file.

    Every launch must compute the same path, so on Linux/BSD this uses $XDG_RUNTIME_DIR only
    when it is a real per-user dir (never creating it) and otherwise the state dir; platformdirs'
    own runtime-dir fallback depends on the dir's mode, which could split two launches apart.
    """
    import platformdirs

    candidates: list[Path] = []
    if sys.platform.startswith(("win", "darwin")):
        candidates.append(Path(platformdirs.user_runtime_dir(app, appauthor=False)))
    else:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        if runtime and _owned_dir(Path(runtime)):
            candidates.append(Path(runtime) / app)
    candidates.append(Path(platformdirs.user_state_dir(app, appauthor=False)))
    for path in candidates:
        try:
            _private_dir(path)
        except OSError as exc:
            log.debug("cannot use %s: %s", path, exc)
            continue
        return path
    raise OSError(f"no usable directory for the instance lock (tried {candidates})")


def _owned_dir(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return path.is_dir() and (os.name != "posix" or st.st_uid == os.getuid())


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        st = path.stat()
        if st.st_uid != os.getuid():
            raise PermissionError(f"{path} belongs to another user")
        if st.st_mode & 0o077:
            path.chmod(0o700)


class InstanceLock:
    """An exclusive lock held while this process runs."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fh: IO[bytes] | None = None

    def acquire(self) -> bool:
        """True if this process is now the only instance."""
        fh = open(self.path, "a+b")  # noqa: SIM115 - kept open for the process lifetime
        try:
            _lock(fh)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                _unlock(self._fh)
            self._fh.close()
            self._fh = None


def _lock(fh: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(fh: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class InstanceServer:
    """Answers a second launch's "show" request with `on_show()` (e.g. {"url": ...})."""

    def __init__(self, directory: Path, on_show: ShowHandler) -> None:
        self.info_path = directory / INFO_FILE
        self._on_show = on_show
        self._token = secrets.token_urlsafe(32)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        sock = socket.create_server(("127.0.0.1", 0))
        sock.settimeout(1.0)  # lets the thread notice stop() even where shutdown() won't wake it
        self._sock = sock
        port = sock.getsockname()[1]
        _write_private(
            self.info_path,
            json.dumps({"pid": os.getpid(), "port": port, "token": self._token}).encode(),
        )
        self._thread = threading.Thread(target=self._serve, name="aoa-instance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            if self._read_info_pid() == os.getpid():
                self.info_path.unlink()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _read_info_pid(self) -> int | None:
        try:
            return int(json.loads(self.info_path.read_bytes())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._handle(conn)
                except (OSError, ValueError) as exc:
                    log.debug("instance request failed: %s", exc)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        request = json.loads(_read_line(conn))
        token = request.get("token") if isinstance(request, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(token, self._token):
            log.warning("refused an instance request without the right token")
            return
        if request.get("cmd") != "show":
            return
        try:
            reply = self._on_show()
        except Exception:
            log.exception("show handler failed")
            reply = {"url": None, "message": _("the running aoa could not answer")}
        conn.sendall(json.dumps(reply).encode() + b"\n")


def ask_running(directory: Path, wait: float = 10.0) -> dict[str, Any] | None:
    """Ask the running instance to show itself; None if it never answers within `wait` s.

    The first instance may still be starting (lock taken, info file not yet written), so this
    retries until `wait` runs out.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            info = json.loads((directory / INFO_FILE).read_bytes())
            port, token = int(info["port"]), str(info["token"])
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(json.dumps({"token": token, "cmd": "show"}).encode() + b"\n")
                reply = json.loads(_read_line(conn))
            if isinstance(reply, dict):
                return reply
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(_MAX_LINE)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_LINE:
            raise ValueError("line too long")
    return data.split(b"\n", 1)[0]


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only this user can read, atomically (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
