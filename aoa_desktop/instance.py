"""Single instance: the first `aoa` holds a lock; a second one asks it for the settings page.

The first instance holds an exclusive OS lock (fcntl/msvcrt) on `aoa.lock` for its lifetime, so
the lock vanishes with the process and no stale PID file can block a new start. Whoever takes the
lock first removes what a crashed instance left (`instance.json`, the socket) before anything else,
so a second launch never follows a stale address.

The channel, in this user's 0700 directory: on POSIX a Unix domain socket `instance.sock` (mode
0600) where each side checks the other's uid (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and
the BSDs); on Windows, or if the socket cannot be bound, an ephemeral loopback TCP port.
`instance.json` (mode 0600) names the channel and holds a random token; before anything is said
both sides prove they know the token (HMACs over a nonce from each side, the token itself never
travels), so a process squatting a stale port learns nothing and cannot answer. Each connection is
served in its own thread within a deadline, so a slow client cannot block other launches. The
wire format is one JSON line per message, so a browser (which can only speak HTTP) gets nowhere.
A second launch opens the answer's URL only if it is http://<loopback>/settings, and prints the
answer's text without control characters (see `safe_settings_url`, `printable`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import struct
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

LOCK_FILE = "aoa.lock"
INFO_FILE = "instance.json"
SOCKET_FILE = "instance.sock"
DEADLINE = 3.0  # seconds one connection may take in all, however it trickles
MAX_CLIENTS = 16  # connections served at once; more are closed at once
_MAX_LINE = 4096
_SUN_PATH = 100  # sun_path holds 104-108 bytes depending on the OS

ShowHandler = Callable[[], dict[str, Any]]


def default_transport() -> str:
    """The channel to use: Unix domain sockets where they exist (POSIX), else TCP (Windows)."""
    return "unix" if os.name == "posix" and hasattr(socket, "AF_UNIX") else "tcp"


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
        self.directory = directory
        self.path = directory / LOCK_FILE
        self._fh: IO[bytes] | None = None

    def acquire(self) -> bool:
        """True if this process is now the only instance (and left-overs are gone)."""
        fh = open(self.path, "a+b")  # noqa: SIM115 - kept open for the process lifetime
        try:
            _lock(fh)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        # Whatever a crashed instance left names a dead channel that anyone could take over.
        for name in (INFO_FILE, SOCKET_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
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


# --------------------------------------------------------------------------- the channel


@contextlib.contextmanager
def _unix_address(directory: Path) -> Iterator[str]:
    """An address for directory/instance.sock that fits in sun_path."""
    path = str(directory / SOCKET_FILE)
    if len(os.fsencode(path)) <= _SUN_PATH:
        yield path
        return
    if not sys.platform.startswith("linux"):
        raise OSError(f"the path {path} is too long for a Unix socket")
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)  # Linux resolves through the fd
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET_FILE}"
    finally:
        os.close(fd)


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket; None where the OS won't say."""
    try:
        if sys.platform.startswith("linux"):
            fmt = "iII"  # struct ucred: pid, uid, gid
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(fmt))
            return int(struct.unpack(fmt, raw)[1])
        if sys.platform.startswith("openbsd"):
            fmt = "IIi"  # struct sockpeercred: uid, gid, pid
            peercred = getattr(socket, "SO_PEERCRED", 0x1022)
            raw = sock.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize(fmt))
            return int(struct.unpack(fmt, raw)[0])
        if sys.platform == "darwin" or "bsd" in sys.platform:
            # struct xucred {u_int cr_version; uid_t cr_uid; ...} at SOL_LOCAL (0), LOCAL_PEERCRED
            raw = sock.getsockopt(0, getattr(socket, "LOCAL_PEERCRED", 1), 76)
            return int(struct.unpack_from("=II", raw)[1])
    except (OSError, struct.error) as exc:
        log.debug("cannot read the peer's uid: %s", exc)
    return None


def _own_peer(sock: socket.socket) -> bool:
    """False when the other end of a Unix socket is known to be another user."""
    if sock.family != getattr(socket, "AF_UNIX", None):
        return True
    uid = peer_uid(sock)
    if uid is not None and uid != os.getuid():
        log.warning("refused an instance connection from uid %d (not this user)", uid)
        return False
    return True


def _proof(token: str, side: str, client_nonce: str, server_nonce: str) -> str:
    message = f"aoa-instance\0{side}\0{client_nonce}\0{server_nonce}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def _is_nonce(value: object) -> bool:
    return isinstance(value, str) and 16 <= len(value) <= 64 and value.isascii()


class InstanceServer:
    """Answers a second launch's "show" request with `on_show()` (e.g. {"url": ...})."""

    def __init__(self, directory: Path, on_show: ShowHandler, transport: str | None = None) -> None:
        self.directory = directory
        self.info_path = directory / INFO_FILE
        self.transport = transport or default_transport()
        self._on_show = on_show
        self._token = secrets.token_urlsafe(32)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def start(self) -> None:
        info: dict[str, Any] = {"pid": os.getpid(), "token": self._token}
        sock = self._listen_unix() if self.transport == "unix" else None
        if sock is None:
            self.transport = "tcp"
            sock = socket.create_server(("127.0.0.1", 0))
            info["port"] = sock.getsockname()[1]
        else:
            info["socket"] = SOCKET_FILE
        sock.settimeout(1.0)  # lets the thread notice stop() even where shutdown() won't wake it
        self._sock = sock
        _write_private(self.info_path, json.dumps(info).encode())
        self._thread = threading.Thread(target=self._serve, name="aoa-instance", daemon=True)
        self._thread.start()

    def _listen_unix(self) -> socket.socket | None:
        path = self.directory / SOCKET_FILE
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a left-over: only the lock holder gets here
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _unix_address(self.directory) as address:
                sock.bind(address)
            os.chmod(path, 0o600)  # before listen(): nobody can have connected yet
            sock.listen(MAX_CLIENTS)
        except OSError as exc:
            sock.close()
            log.info("instance channel: no Unix socket (%s); using loopback TCP", exc)
            return None
        return sock

    def stop(self) -> None:
        self._stopping.set()
        if self._read_info_pid() == os.getpid():
            for name in (INFO_FILE, SOCKET_FILE):
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink()
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
            if not _own_peer(conn):
                conn.close()
                continue
            if not self._slots.acquire(blocking=False):
                log.warning("too many instance connections at once; closed one")
                conn.close()
                continue
            threading.Thread(
                target=self._serve_one, args=(conn,), name="aoa-instance-client", daemon=True
            ).start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._handle(conn, time.monotonic() + DEADLINE)
        except (OSError, ValueError) as exc:
            log.debug("instance request failed: %s", exc)
        finally:
            self._slots.release()

    def _handle(self, conn: socket.socket, deadline: float) -> None:
        hello = _read_json(conn, deadline)
        if not isinstance(hello, dict) or hello.get("cmd") != "show":
            return
        client_nonce = hello.get("nonce")
        if not isinstance(client_nonce, str) or not _is_nonce(client_nonce):
            return
        server_nonce = secrets.token_urlsafe(24)
        proof = _proof(self._token, "server", client_nonce, server_nonce)
        _send_json(conn, {"nonce": server_nonce, "proof": proof}, deadline)
        answer = _read_json(conn, deadline)
        given = answer.get("proof") if isinstance(answer, dict) else None
        wanted = _proof(self._token, "client", client_nonce, server_nonce)
        if not isinstance(given, str) or not hmac.compare_digest(given, wanted):
            log.warning("refused an instance request without the right token")
            return
        try:
            reply = self._on_show()
        except Exception:
            log.exception("show handler failed")
            reply = {"url": None, "message": _("the running aoa could not answer")}
        _send_json(conn, reply, deadline)


def ask_running(directory: Path, wait: float = 10.0) -> dict[str, Any] | None:
    """Ask the running instance to show itself; None if it never answers within `wait` s.

    The first instance may still be starting (lock taken, info file not yet written), so this
    retries until `wait` runs out. The reply is untrusted text: see safe_settings_url/printable.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            reply = _ask_once(directory)
            if reply is not None:
                return reply
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.debug("no answer from the running aoa yet: %s", exc)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _ask_once(directory: Path) -> dict[str, Any] | None:
    info = json.loads((directory / INFO_FILE).read_bytes())
    token = str(info["token"])
    with _connect(directory, info) as conn:
        deadline = time.monotonic() + DEADLINE
        client_nonce = secrets.token_urlsafe(24)
        _send_json(conn, {"cmd": "show", "nonce": client_nonce}, deadline)
        challenge = _read_json(conn, deadline)
        server_nonce = challenge.get("nonce") if isinstance(challenge, dict) else None
        proof = challenge.get("proof") if isinstance(challenge, dict) else None
        if not isinstance(server_nonce, str) or not _is_nonce(server_nonce):
            return None
        wanted = _proof(token, "server", client_nonce, server_nonce)
        if not isinstance(proof, str) or not hmac.compare_digest(proof, wanted):
            log.warning("the program on the instance channel is not the running aoa; ignored")
            return None
        _send_json(conn, {"proof": _proof(token, "client", client_nonce, server_nonce)}, deadline)
        reply = _read_json(conn, deadline)
    return reply if isinstance(reply, dict) else None


def _connect(directory: Path, info: dict[str, Any]) -> socket.socket:
    if "socket" in info:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(DEADLINE)
        try:
            with _unix_address(directory) as address:
                conn.connect(address)
            if not _own_peer(conn):
                raise PermissionError("the instance socket belongs to another user")
        except BaseException:
            conn.close()
            raise
        return conn
    return socket.create_connection(("127.0.0.1", int(info["port"])), timeout=DEADLINE)


def _send_json(conn: socket.socket, message: dict[str, Any], deadline: float) -> None:
    conn.settimeout(max(0.01, deadline - time.monotonic()))
    conn.sendall(json.dumps(message).encode() + b"\n")


def _read_json(conn: socket.socket, deadline: float) -> Any:
    """One JSON line, read within `deadline` (time.monotonic()) however slowly it arrives."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the other side was too slow")
        conn.settimeout(left)
        chunk = conn.recv(_MAX_LINE)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_LINE:
            raise ValueError("line too long")
    return json.loads(data.split(b"\n", 1)[0])


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


# --------------------------------------------------------------------------- the answer


def safe_settings_url(url: object) -> str | None:
    """`url` if it is http://<loopback>[:port]/settings[?query], else None.

    A second launch hands this address to the browser; whatever else an impostor might send
    (another host, https, a file: or javascript: URL, a login in the address) is refused.
    """
    if not isinstance(url, str) or not url.isascii() or len(url) > 2048:
        return None
    if any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if parts.scheme != "http" or "@" in parts.netloc or parts.fragment:
        return None
    if parts.path != "/settings" or not _is_loopback_name(parts.hostname or ""):
        return None
    return url


def _is_loopback_name(host: str) -> bool:
    """Like aoa_proxy.config.is_loopback_host (this module stays stdlib-only and fast)."""
    if host in ("localhost", "localhost.", "ip6-localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def printable(text: object, limit: int = 500) -> str:
    """`text` without control or format characters (terminal escapes, bidi overrides)."""
    if not isinstance(text, str):
        return ""
    kept = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return " ".join(kept.split())[:limit]
