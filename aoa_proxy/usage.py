"""The usage history: one row per model call in a local SQLite file, written off the request path.

A request's record reaches `UsageStore.add` through `Runtime.record` (observe.py): the request's
loop only puts a small tuple on a bounded queue. One writer thread takes the rows in batches and
commits them (WAL, so the settings page reads while it writes) and drops rows older than the
retention. Never bodies, never keys: the key appears as its last 4 characters at most.

A database that is locked, unwritable or corrupt never stops the gateway: the writer logs the
problem once, drops what it cannot write, and tries again with the next batch. A file that is not
a database is set aside (`usage.sqlite3.corrupt-<time>`) and a new one begun, as store.py does
with a broken settings file. With AOA_WORKERS > 1 every process writes to the same file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from aoa_proxy.i18n import _
from aoa_proxy.observe import door_of
from aoa_proxy.runtime import RequestRecord

log = logging.getLogger(__name__)

BATCH: Final = 500  # rows per transaction at most
QUEUE_SIZE: Final = 20_000  # rows waiting at most; more are dropped (the disk is stuck)
PRUNE_EVERY: Final = 3600.0  # seconds between retention sweeps
BUSY_MS: Final = 2000  # how long a write waits for another process's lock

COLUMNS: Final = (
    "time",
    "door",
    "provider",
    "model",
    "upstream_model",
    "status",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "key_last4",
    "stream",
)
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS requests (
    time REAL NOT NULL,
    door TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    upstream_model TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cached_tokens INTEGER,
    reasoning_tokens INTEGER,
    key_last4 TEXT NOT NULL,
    stream INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_time ON requests (time);
"""
_INSERT: Final = (
    f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)

Row = tuple[Any, ...]


def row_of(rec: RequestRecord) -> Row | None:
    """The history's row for a finished request, or None when it is not a model call."""
    door = door_of(rec)
    if door is None:
        return None
    return (
        rec.started,
        door,
        rec.provider,
        rec.model,
        rec.upstream_model,
        rec.status,
        round(rec.duration_ms, 1),
        rec.prompt_tokens,
        rec.completion_tokens,
        rec.cached_tokens,
        rec.reasoning_tokens,
        rec.key_hint,
        int(rec.stream),
    )


class UsageStore:
    """The history file and its writer thread; `add` is the Runtime listener."""

    def __init__(
        self, path: Path, retention_days: int = 90, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self._clock = clock
        # SimpleQueue: a put is a C call without Queue's condition variable (~5x cheaper).
        self._queue: queue.SimpleQueue[Row | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._said: set[str] = set()  # problems logged already (each once)
        self.problem = ""  # the last one, for the settings page
        self.dropped = 0
        self.busy_ms = BUSY_MS

    # ------------------------------------------------------------------ the request side

    def add(self, rec: RequestRecord) -> None:
        """Queue a finished request's row (cheap: no disk, no lock held while writing)."""
        row = row_of(rec)
        if row is None:
            return
        if self._thread is None:
            self._start()
        if self._queue.qsize() >= QUEUE_SIZE:
            self.dropped += 1
            self._say(
                "full",
                _(
                    "The usage history's writer is behind; requests are not recorded until it "
                    "catches up."
                ),
            )
            return
        self._queue.put(row)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aoa-usage", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the writer (the next `add` starts it again)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        pruned = 0.0
        try:
            while True:
                first = self._queue.get()
                batch = [first] if first is not None else []
                while first is not None and len(batch) < BATCH:
                    try:
                        row = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if row is None:
                        first = None
                        break
                    batch.append(row)
                rows = [r for r in batch if r is not None]
                if rows:
                    db = self._write(db, rows)
                if db is not None and self._clock() - pruned > PRUNE_EVERY:
                    pruned = self._clock()
                    db = self._prune(db)
                if first is None:
                    return
        finally:
            if db is not None:
                db.close()

    def _write(self, db: sqlite3.Connection | None, rows: list[Row]) -> sqlite3.Connection | None:
        try:
            if db is None:
                db = self._open()
            with db:
                db.executemany(_INSERT, rows)
            self.problem = ""
            return db
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            if _is_corrupt(exc):
                self._set_aside(exc)
                with contextlib.suppress(sqlite3.Error, OSError):
                    db = self._open()
                    with db:
                        db.executemany(_INSERT, rows)
                    return db
            else:
                self._say(
                    f"write:{exc}",
                    _(
                        "The usage history could not write to {path} ({error}); those requests "
                        "are not recorded."
                    ).format(path=self.path, error=exc),
                )
            return None
        except OSError as exc:
            self._say(
                f"os:{exc}",
                _(
                    "The usage history could not open {path} ({error}); requests are not recorded."
                ).format(path=self.path, error=exc),
            )
            return None

    def _prune(self, db: sqlite3.Connection) -> sqlite3.Connection | None:
        cutoff = self._clock() - self.retention_days * 86400.0
        try:
            with db:
                db.execute("DELETE FROM requests WHERE time < ?", (cutoff,))
            return db
        except sqlite3.Error as exc:
            self._say(
                f"prune:{exc}",
                _("The usage history could not delete old rows from {path} ({error}).").format(
                    path=self.path, error=exc
                ),
            )
            db.close()
            return None

    def _open(self) -> sqlite3.Connection:
        _private_file(self.path)
        db = connect(self.path, busy_ms=self.busy_ms)
        db.executescript(_SCHEMA)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _set_aside(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}")
        self._say(
            "corrupt",
            _(
                "{path} is not a usable usage history ({error}); it was moved to {aside} and a "
                "new one begun."
            ).format(path=self.path, error=exc, aside=aside.name),
        )
        with contextlib.suppress(OSError):
            self.path.replace(aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                self.path.with_name(self.path.name + suffix).unlink()

    def _say(self, key: str, message: str) -> None:
        """Log a problem once per kind; the settings page shows the last one."""
        self.problem = message
        if key in self._said:
            return
        self._said.add(key)
        log.warning("%s", message)

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection | None]:
        """A connection for queries (None when there is no history yet); use from a thread."""
        if not self.path.exists():
            yield None
            return
        db = connect(self.path, readonly=True)
        try:
            yield db
        finally:
            db.close()


def connect(path: Path, *, readonly: bool = False, busy_ms: int = BUSY_MS) -> sqlite3.Connection:
    """A connection that waits a while for another writer's lock instead of failing at once."""
    if readonly:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=busy_ms / 1000)
    else:
        db = sqlite3.connect(path, timeout=busy_ms / 1000, isolation_level="DEFERRED")
    return db


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """Not a database (or a damaged one), as opposed to busy, locked or read-only."""
    if isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _private_file(path: Path) -> None:
    """Create the folder (0700 when new) and the file (0600) before SQLite opens it: SQLite
    gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    os.close(fd)
