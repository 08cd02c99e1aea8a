"""Non-secret settings: one JSON file in the user config dir, with a schema version.

Writes are atomic (temp file in the same directory, fsync, rename, mode 0600, folder 0700), so a
crash or a full disk leaves the old file intact. Reading never hangs or crashes: only a regular
file of at most 1 MiB is read (a FIFO or a link to a device is refused without blocking), nesting
is limited, and every known field is checked for its type. A file that cannot be used is moved
aside as a backup and the app starts with defaults; fields of the wrong type are dropped, the
original is kept as a backup and the file is rewritten. Either way `problem` says so, once. Keys
are never stored here (see keys.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import platformdirs

from aoa_desktop.private import DIR_MODE, FILE_MODE, private_dir, tighten
from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
FILE_NAME: Final = "settings.json"
MAX_BYTES: Final = 1 << 20  # a settings file is a few KiB; anything bigger is not ours
MAX_DEPTH: Final = 32  # known fields nest 4 deep; deeper would strain copy.deepcopy and json
_GLOBAL_TEXT: Final = ("provider", "host", "language")
_PROVIDER_TEXT: Final = ("endpoint", "model", "proxy", "api_version", "safety")


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
        """The stored settings without the schema field; {} if none or unusable."""
        self.problem = None
        tighten(self.dir, DIR_MODE)  # made 0755 by older versions
        try:
            raw = self._read()
        except FileNotFoundError:
            return {}
        except _Unusable as exc:
            return self._set_aside(str(exc))
        except OSError as exc:
            error = exc.strerror or str(exc)
            return self._set_aside(_("it could not be read ({error})").format(error=error))
        tighten(self.path, FILE_MODE)
        try:
            data = json.loads(raw.decode("utf-8"))
        except RecursionError:
            return self._set_aside(_("it is nested too deeply"))
        except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also 5000-digit numbers
            return self._set_aside(_("it is not valid JSON ({error})").format(error=exc))
        if not isinstance(data, dict):
            return self._set_aside(_("it does not hold a settings object"))
        if _depth(data) > MAX_DEPTH:
            return self._set_aside(_("it is nested too deeply"))
        version = data.pop("schema", None)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            return self._set_aside(_("it has no valid schema version"))
        data, dropped = check_shape(data)
        notes = []
        if version > SCHEMA_VERSION:
            # Written by a newer aoa: read what we understand, but do not destroy it on save.
            notes.append(
                _(
                    "{path} was written by a newer version of aoa (schema {version}); settings "
                    "this version does not know are ignored."
                ).format(path=self.path, version=version)
            )
        if dropped:
            notes.append(self._repair(raw, data, dropped, rewrite=version <= SCHEMA_VERSION))
        self.problem = " ".join(notes) or None
        return data

    def _read(self) -> bytes:
        """The file's bytes: a regular file only (checked without blocking), at most MAX_BYTES."""
        if not stat.S_ISREG(os.stat(self.path).st_mode):  # follows a link, like the open below
            raise _Unusable(_("it is not a regular file"))
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(self.path, flags)  # O_NONBLOCK: a FIFO swapped in meanwhile cannot hang us
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _Unusable(_("it is not a regular file"))
            if st.st_size > MAX_BYTES:
                raise _Unusable(_("it is larger than {size} KiB").format(size=MAX_BYTES // 1024))
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_BYTES and (chunk := os.read(fd, 65536)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        if size > MAX_BYTES:  # it grew after fstat
            raise _Unusable(_("it is larger than {size} KiB").format(size=MAX_BYTES // 1024))
        return b"".join(chunks)

    def _repair(self, raw: bytes, data: dict[str, Any], dropped: list[str], rewrite: bool) -> str:
        """Keep the original as a backup and (for our schema) store the repaired settings."""
        fields = ", ".join(dropped)
        if not rewrite:
            return _("These settings had the wrong type and are ignored: {fields}.").format(
                fields=fields
            )
        backup = self._backup_name()
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
        except OSError as exc:
            # Without a copy of the original, leave the file as it is: nothing is lost.
            return _(
                "These settings in {path} had the wrong type and are ignored: {fields} (no "
                "backup could be written: {error})."
            ).format(path=self.path, fields=fields, error=exc.strerror or exc)
        with contextlib.suppress(StoreError):  # then the next start says it again; no harm
            self.save(data)
        return _(
            "These settings in {path} had the wrong type and were dropped: {fields}; the "
            "original file was kept as {backup}."
        ).format(path=self.path, fields=fields, backup=backup)

    def save(self, data: dict[str, Any]) -> None:
        """Write atomically; raise StoreError with a clear message, leaving the old file."""
        text = json.dumps({"schema": SCHEMA_VERSION, **data}, indent=2, sort_keys=True) + "\n"
        tmp: str | None = None
        try:
            private_dir(self.dir)
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

    def _backup_name(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{FILE_NAME}.broken-{stamp}")
        n = 1
        while os.path.lexists(backup):  # never overwrite an earlier backup
            n += 1
            backup = self.path.with_name(f"{FILE_NAME}.broken-{stamp}-{n}")
        return backup

    def _set_aside(self, why: str) -> dict[str, Any]:
        backup = self._backup_name()
        try:
            os.replace(self.path, backup)  # a link or a FIFO is moved itself, never opened
            kept = _("it was kept as {backup}").format(backup=backup)
        except OSError as exc:
            kept = _("it could not be moved aside ({error})").format(error=exc.strerror)
        # The caller reports `problem` (log, tray, settings page): it is not logged here too.
        self.problem = _(
            "The settings file {path} could not be used: {why}; {kept}. aoa started with "
            "default settings."
        ).format(path=self.path, why=why, kept=kept)
        return {}


class _Unusable(Exception):
    """The settings file is there but must not be read; the message is for the user."""


def check_shape(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`data` without known fields of the wrong type, and the dotted names of those dropped.

    Unknown fields (a newer version's) are kept as they are; known ones must be text without
    control characters, `port` a whole number, `providers` a table of tables, and `aliases` a
    table of model names (an unusable entry is dropped alone).
    """
    out = dict(data)
    dropped: list[str] = []
    for name in _GLOBAL_TEXT:
        if name in out and not _is_text(out[name]):
            dropped.append(name)
            del out[name]
    port = out.get("port")
    if "port" in out and (not isinstance(port, int) or isinstance(port, bool)):
        dropped.append("port")
        del out["port"]
    if "providers" in out and not isinstance(out["providers"], dict):
        dropped.append("providers")
        del out["providers"]
    providers: dict[str, Any] = {}
    for name, values in (out.get("providers") or {}).items():
        if not isinstance(values, dict):
            dropped.append(f"providers.{name}")
            continue
        values = dict(values)
        for field in _PROVIDER_TEXT:
            if field in values and not _is_text(values[field]):
                dropped.append(f"providers.{name}.{field}")
                del values[field]
        aliases = values.get("aliases")
        if "aliases" in values and not isinstance(aliases, dict):
            dropped.append(f"providers.{name}.aliases")
            del values["aliases"]
        elif isinstance(aliases, dict):
            for alias in [a for a, target in aliases.items() if not _is_alias(a, target)]:
                dropped.append(f"providers.{name}.aliases.{alias}")
            values["aliases"] = {a: t for a, t in aliases.items() if _is_alias(a, t)}
        providers[name] = values
    if "providers" in out:
        out["providers"] = providers
    return out, dropped


def _is_text(value: object) -> bool:
    if not isinstance(value, str) or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return False
    try:
        value.encode("utf-8")  # a lone surrogate ("\\ud800" in JSON) breaks logs and the page
    except UnicodeEncodeError:
        return False
    return True


def _is_alias(name: str, target: object) -> bool:
    """Both model names usable in "name:target,..." (the form the gateway parses)."""
    for value in (name, target):
        if not isinstance(value, str) or not _is_text(value) or not value.strip():
            return False
        if value != value.strip() or "," in value or ":" in value:
            return False
    return True


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (iterative: never recurses itself)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((child, level + 1) for child in item)
    return deepest


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
