"""Folders and files only this user may read: 0700 and 0600 on POSIX (no-ops elsewhere).

Used for the settings folder, the log folder, and aoa.log with its rotated copies. Existing ones
made by older versions (0755/0644) are tightened, but only when they belong to this user: a
folder someone else owns is never changed behind their back.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import stat
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


def private_dir(path: Path) -> None:
    """Create `path` (and parents) if needed; the last folder ends up 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tighten(path, DIR_MODE)


def tighten(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if it is ours and others may read it; errors are only logged."""
    if os.name != "posix":
        return
    try:
        st = path.lstat()  # never follow a link to somewhere else
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
            return
        if stat.S_IMODE(st.st_mode) & ~mode:
            path.chmod(mode)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("could not make %s private: %s", path, exc)


def open_private(path: str, flags: int) -> int:
    """An `opener` for open(): new files get mode 0600; links, FIFOs and devices are refused."""
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags, FILE_MODE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    if os.name == "posix":
        with contextlib.suppress(OSError):
            os.fchmod(fd, FILE_MODE)  # an older, more open file
    return fd


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the log and each new one after a rollover) are 0600.

    Rotated copies are renamed, so they keep that mode. A log path that is a link, a FIFO or a
    device is refused (OSError) instead of followed or blocking the start.
    """

    def _open(self) -> Any:
        return open(
            self.baseFilename,
            self.mode,
            encoding=self.encoding,
            errors=self.errors,
            opener=open_private,
        )
