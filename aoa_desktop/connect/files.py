"""Reading, previewing, writing and undoing a tool's file, with timestamped backups.

Before aoa first changes a file it copies it beside itself (`config.toml.aoa-backup-<UTC time>`,
same mode); every later change makes another such copy. A small record in aoa's config folder
(connections.json: the file, its first backup, a hash of what aoa wrote; never a key) lets
Disconnect restore the file byte for byte while nobody else has touched it since, and otherwise
take out only aoa's settings, putting back what the first backup held in their place.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from aoa_desktop.connect.base import PLACEHOLDER, ConnectError, Context, Tool
from aoa_desktop.private import private_dir
from aoa_proxy.i18n import _

log = logging.getLogger(__name__)

RECORD: Final = "connections.json"
NEW_FILE_MODE: Final = 0o600  # the file may hold the access token


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectError(_("Cannot read {path}: {error}").format(path=path, error=exc)) from exc


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` atomically: a crash leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _backup(path: Path, clock: Callable[[], float]) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock()))
    target = path.with_name(f"{path.name}.aoa-backup-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.aoa-backup-{stamp}-{n}")
    shutil.copy2(path, target)  # keeps the mode: a 0600 file stays private
    return target


# `name = "value"` (TOML), `"name": "value"` (JSON), `name: value` (YAML) where the name says
# it holds a secret: the preview shows such values as ****abcd, whatever file they come from.
_SECRET_VALUE: Final = re.compile(
    r"""(?ix)
    (?P<name>["']?[\w.-]*(?:key|token|secret|password|passwd|auth)[\w.-]*["']?\s*[:=]\s*)
    (?P<quote>["']?)(?P<value>[^"'\s,}#][^"'\n,}#]*?)(?P=quote)(?P<end>\s*(?:[,}#].*)?)$"""
)


_NOT_SECRET: Final = re.compile(r"(?i)(name|count|env|env_key|_id|helper)[\"']?\s*[:=]\s*$")


def _redact(line: str) -> str:
    def masked(m: re.Match[str]) -> str:
        value = m["value"]
        prefix = "Bearer " if value.startswith("Bearer ") else ""
        value = value[len(prefix) :]
        if value.startswith("****") or value == PLACEHOLDER or value.isdigit():
            return m[0]
        if _NOT_SECRET.search(m["name"]):  # api_key_name, env_key: names, not secrets
            return m[0]
        shown = "****" + value[-4:] if len(value) >= 12 else "****"
        return f"{m['name']}{m['quote']}{prefix}{shown}{m['quote']}{m['end']}"

    return _SECRET_VALUE.sub(masked, line)


def diff(path: Path, old: str | None, new: str | None) -> str:
    """A unified diff of the change, as `diff -u` would print it."""
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=str(path) if old is not None else "/dev/null",
        tofile=str(path) if new is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class Connections:
    """Connect and disconnect tools; safe to use from any thread."""

    def __init__(
        self,
        record_dir: Path,
        tools: Mapping[str, Tool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tools = dict(tools)
        self._record = record_dir / RECORD
        self._clock = clock
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def status(self, name: str, ctx: Context) -> dict[str, Any]:
        """Installed? Connected (the file holds exactly aoa's current settings)? Or connected
        with settings that have since changed (a new port, a new token)?"""
        tool = self.tools[name]
        path = tool.path(ctx)
        entry: dict[str, Any] = {
            "path": str(path),
            "installed": tool.installed(ctx),
            "connected": False,
            "outdated": False,
            "problem": None,
        }
        try:
            text = _read(path)
            entry["connected"] = text is not None and tool.apply(text, ctx) == text
        except ConnectError as exc:
            entry["problem"] = str(exc)
            return entry
        entry["outdated"] = not entry["connected"] and name in self._load()
        return entry

    def preview(self, name: str, ctx: Context) -> dict[str, Any]:
        """The change Connect would make, as a diff, with the token shown as ****abcd."""
        tool = self.tools[name]
        path = tool.path(ctx)
        text = _read(path)
        new = tool.apply(text, ctx)
        shown = diff(path, text, new)
        if ctx.token:  # the page never gets the token itself
            shown = shown.replace(ctx.token, ctx.masked().token)
        # Nor another secret the file holds (a real Anthropic key set aside, say).
        shown = "".join(_redact(line) + "\n" for line in shown.splitlines())
        return {"path": str(path), "diff": shown, "change": new != text}

    # ------------------------------------------------------------------ writing

    def connect(self, name: str, ctx: Context) -> dict[str, Any]:
        """Merge aoa's settings into the tool's file (a backup first). Idempotent."""
        tool = self.tools[name]
        path = tool.path(ctx)
        with self._lock:
            text = _read(path)
            new = tool.apply(text, ctx)
            if new == text:
                return {"changed": False, "backup": None}
            record = self._load()
            mine = record.get(name)
            backup = None
            if text is not None:
                backup = _backup(path, self._clock)
                mode = stat.S_IMODE(path.stat().st_mode)
            else:
                mode = NEW_FILE_MODE
            if mine is None or mine.get("path") != str(path):
                mine = {"path": str(path), "backup": str(backup) if backup else None}
            _write(path, new.encode("utf-8"), mode)
            mine["written"] = _sha(new)
            record[name] = mine
            self._save(record)
        log.info("connected %s: wrote %s%s", name, path, f" (backup {backup})" if backup else "")
        return {"changed": True, "backup": str(backup) if backup else None}

    def disconnect(self, name: str, ctx: Context) -> dict[str, Any]:
        """Undo Connect: the file as it was, byte for byte, if nobody changed it since; else
        only aoa's settings taken out (the person's later edits stay)."""
        tool = self.tools[name]
        with self._lock:
            record = self._load()
            mine = record.get(name) or {}
            path = Path(mine.get("path") or tool.path(ctx))
            text = _read(path)
            first = Path(mine["backup"]) if mine.get("backup") else None
            if text is not None and mine and _sha(text) == mine.get("written"):
                if first is None:
                    path.unlink()
                    how = "removed"
                elif first.exists():
                    mode = stat.S_IMODE(first.stat().st_mode)
                    _write(path, first.read_bytes(), mode)
                    how = f"restored from {first}"
                else:
                    how = self._take_out(tool, path, text, None)
            elif text is not None:
                before = _read(first) if first is not None and first.exists() else None
                how = self._take_out(tool, path, text, before, keep=mine.get("backup") is not None)
            else:
                how = "nothing to do (no file)"
            record.pop(name, None)
            self._save(record)
        log.info("disconnected %s: %s", name, how)
        return {"changed": not how.startswith("nothing")}

    def _take_out(
        self, tool: Tool, path: Path, text: str, before: str | None, keep: bool = True
    ) -> str:
        new = tool.revert(text, before)
        if new is None and keep:
            new = ""
        if new == text:
            return "nothing to do (aoa's settings are not there)"
        backup = _backup(path, self._clock)
        if new is None:
            path.unlink()
            return f"removed (backup {backup})"
        _write(path, new.encode("utf-8"), stat.S_IMODE(path.stat().st_mode))
        return f"took out aoa's settings (backup {backup})"

    # ------------------------------------------------------------------ the record

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._record.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self._record, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, record: Mapping[str, Any]) -> None:
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        private_dir(self._record.parent)  # aoa's config folder: 0700, as the settings keep it
        _write(self._record, text.encode("utf-8"), 0o600)
