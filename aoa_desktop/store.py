"""Non-secret settings: one JSON file in the user config dir, with a schema version.

Writes are atomic (temp file in the same directory, fsync, rename, mode 0600), so a crash or a
full disk leaves the old file intact. A file that cannot be read or parsed is moved aside as a
backup; the app then starts with defaults and `problem` tells the user. Keys are never stored
here (see keys.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import platformdirs

from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
FILE_NAME: Final = "settings.json"


class StoreError(Exception):
    """Settings could not be written; the message is for the user."""


def default_config_dir() -> Path:
    return Path(platformdirs.user_config_dir("aoa", appauthor=False))


class SettingsStore:
    """Load and save the settings dict (`{"schema": 1, ...}`) in `config_dir/settings.json`."""

    def __init__(self, config_dir: Path) -> None:
        self.dir = config_dir
        self.path = config_dir / FILE_NAME
        self.problem: str | None = None

    def load(self) -> dict[str, Any]:
        """The stored settings without the schema field; {} if none or unreadable."""
        self.problem = None
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            return self._set_aside(_("it could not be read ({error})").format(error=exc.strerror))
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._set_aside(_("it is not valid JSON ({error})").format(error=exc))
        if not isinstance(data, dict):
            return self._set_aside(_("it does not hold a settings object"))
        version = data.pop("schema", None)
        if not isinstance(version, int) or version < 1:
            return self._set_aside(_("it has no valid schema version"))
        if version > SCHEMA_VERSION:
            # Written by a newer aoa: read what we understand, but do not destroy it on save.
            self.problem = _(
                "{path} was written by a newer version of aoa (schema {version}); settings "
                "this version does not know are ignored."
            ).format(path=self.path, version=version)
            log.warning("%s", self.problem)
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write atomically; raise StoreError with a clear message, leaving the old file."""
        text = json.dumps({"schema": SCHEMA_VERSION, **data}, indent=2, sort_keys=True) + "\n"
        tmp: str | None = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            # mkstemp creates the file with mode 0600, in the same directory so rename is atomic.
            fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=self.dir)
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            tmp = None
            _fsync_dir(self.dir)
        except OSError as exc:
            message = _("Could not save settings to {path}: {error}").format(
                path=self.path, error=exc.strerror or exc
            )
            log.error("%s", message)
            raise StoreError(message) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _set_aside(self, why: str) -> dict[str, Any]:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{FILE_NAME}.broken-{stamp}")
        n = 1
        while backup.exists():  # never overwrite an earlier backup
            n += 1
            backup = self.path.with_name(f"{FILE_NAME}.broken-{stamp}-{n}")
        try:
            os.replace(self.path, backup)
            kept = _("it was kept as {backup}").format(backup=backup)
        except OSError as exc:
            kept = _("it could not be moved aside ({error})").format(error=exc.strerror)
        self.problem = _(
            "The settings file {path} could not be used: {why}; {kept}. aoa started with "
            "default settings."
        ).format(path=self.path, why=why, kept=kept)
        log.error("%s", self.problem)
        return {}


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
