"""Processes under test: start in their own process group, pin, watch RSS/CPU, always stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def core_count() -> int:
    return len(os.sched_getaffinity(0))


def pin_prefix(cores: str | None) -> list[str]:
    """`taskset -c CORES` when pinning is possible here, else nothing."""
    if cores is None or core_count() < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cores]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment: no proxy variables or provider keys leak in from the caller.

    PYTHONPATH is kept: it names the checkout under test (it wins over the installed copy).
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(extra)
    return env


def group_pids(pgid: int) -> list[int]:
    """Every live process in a process group (workers forked by the server included)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != b"Z":
            pids.append(int(entry.name))
    return pids


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes, from /proc/PID/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/statm", "rb") as f:
            total += int(f.read().split()[1]) * _PAGE
    return total


def http_status(port: int, path: str, timeout: float = 1.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@dataclass
class Server:
    """One server process; `start()` returns seconds from launch to the first health 200."""

    name: str
    argv: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cores: str | None = None
    health_path: str = "/health"
    start_timeout: float = 20.0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        if self.proc is not None:
            raise RuntimeError(f"{self.name} is already running")
        argv = pin_prefix(self.cores) + self.argv
        with open(self.log, "ab") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                argv,
                env=self.env or None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() reaches forked workers too
            )
        deadline = started + self.start_timeout
        while True:
            try:
                if http_status(self.port, self.health_path, timeout=1.0) == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self.log_tail()}")
            if time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer {self.health_path} in time")
            time.sleep(0.002)

    def log_tail(self, size: int = 600) -> str:
        try:
            data = self.log.read_bytes()[-size:]
        except OSError:
            return "(no log)"
        return data.decode(errors="replace").strip().replace("\n", " | ")

    def pids(self) -> list[int]:
        return [] if self.proc is None else group_pids(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM the whole group, then SIGKILL what is left after a few seconds."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=8)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
