"""Start at login: one small interface, three implementations (XDG, LaunchAgent, HKCU Run key).

`for_platform()` picks the one for this OS. Every implementation takes its location as a
parameter so tests can point it at a temp dir (or, for Windows, a dict-like registry stand-in)
and read back exactly what would be written.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, Final

APP_NAME: Final = "aoa"
DESKTOP_FILE: Final = "aoa.desktop"
LAUNCH_AGENT_LABEL: Final = "io.github.aoa"
RUN_KEY: Final = r"Software\Microsoft\Windows\CurrentVersion\Run"


class Autostart(ABC):
    """Whether `aoa` starts when the user logs in."""

    @abstractmethod
    def enabled(self) -> bool:
        """True when a login item for aoa exists and is active."""

    @abstractmethod
    def enable(self, command: Sequence[str]) -> None:
        """Start `command` (argv list) at login, replacing any earlier entry."""

    @abstractmethod
    def disable(self) -> None:
        """Remove the login item; no error when there is none."""


def default_command() -> list[str]:
    """The argv that starts this same installation of the tray app."""
    if getattr(sys, "frozen", False):  # PyInstaller binary: the executable is the app
        return [sys.executable]
    return [sys.executable, "-m", "aoa_desktop"]


def for_platform(
    platform: str = sys.platform, env: Mapping[str, str] | None = None, home: Path | None = None
) -> Autostart:
    """The implementation for `platform` (sys.platform spelling)."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if platform.startswith("win"):
        return WindowsRunKey()
    if platform == "darwin":
        return LaunchAgent(home / "Library" / "LaunchAgents")
    config = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return XdgAutostart(Path(config) / "autostart")


# --------------------------------------------------------------------------- Linux / BSD


def _exec_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec (reserved characters -> "…")."""
    arg = arg.replace("%", "%%")  # field codes: a literal % is written %%
    if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{inner}"'


def desktop_entry(command: Sequence[str]) -> str:
    """The text of the XDG autostart file for `command`."""
    exec_line = " ".join(_exec_quote(a) for a in command)
    # The Exec value is itself a desktop-file string, where a backslash must be doubled again.
    exec_line = exec_line.replace("\\", "\\\\")
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name={APP_NAME}\n"
        "Comment=Local OpenAI-compatible gateway (tray)\n"
        f"Exec={exec_line}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


class XdgAutostart(Autostart):
    """`$XDG_CONFIG_HOME/autostart/aoa.desktop` (freedesktop Desktop Application Autostart)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DESKTOP_FILE

    def enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return False
        keys = dict(
            line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
        )
        # A desktop environment may "turn it off" by editing rather than deleting the file.
        return keys.get("Hidden", "false").strip() != "true" and (
            keys.get("X-GNOME-Autostart-enabled", "true").strip() != "false"
        )

    def enable(self, command: Sequence[str]) -> None:
        _write_atomic(self.path, desktop_entry(command).encode("utf-8"))

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- macOS


def launch_agent_plist(command: Sequence[str]) -> bytes:
    """The LaunchAgent property list for `command`."""
    return plistlib.dumps(
        {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "ProcessType": "Interactive",
        }
    )


class LaunchAgent(Autostart):
    """`~/Library/LaunchAgents/io.github.aoa.plist`; launchd reads it at the next login."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"{LAUNCH_AGENT_LABEL}.plist"

    def enabled(self) -> bool:
        try:
            data = plistlib.loads(self.path.read_bytes())
        except (OSError, plistlib.InvalidFileException, ValueError):
            return False
        return bool(data.get("RunAtLoad")) and not data.get("Disabled", False)

    def enable(self, command: Sequence[str]) -> None:
        _write_atomic(self.path, launch_agent_plist(command))

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- Windows


def run_value(command: Sequence[str]) -> str:
    """The command line stored in the Run key (quoted the way CreateProcess parses it)."""
    return subprocess.list2cmdline(list(command))


def _winreg() -> Any:
    """The winreg module (Windows only), typed loosely so the file checks on every OS."""
    import importlib

    return importlib.import_module("winreg")


class _WinregRunKey(MutableMapping[str, str]):
    """HKCU\\...\\Run as a mapping of value name -> command line (REG_SZ)."""

    def __getitem__(self, name: str) -> str:
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, name)
        except FileNotFoundError:
            raise KeyError(name) from None
        return str(value)

    def __setitem__(self, name: str, value: str) -> None:
        winreg = _winreg()
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)

    def __delitem__(self, name: str) -> None:
        winreg = _winreg()
        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, name)
        except FileNotFoundError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("listing the Run key is not needed")

    def __len__(self) -> int:
        raise NotImplementedError("listing the Run key is not needed")


class WindowsRunKey(Autostart):
    """A value named `aoa` under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run."""

    def __init__(self, registry: MutableMapping[str, str] | None = None) -> None:
        self.registry: MutableMapping[str, str] = _WinregRunKey() if registry is None else registry

    def enabled(self) -> bool:
        try:
            return bool(self.registry[APP_NAME])
        except KeyError:
            return False

    def enable(self, command: Sequence[str]) -> None:
        self.registry[APP_NAME] = run_value(command)

    def disable(self) -> None:
        with contextlib.suppress(KeyError):
            del self.registry[APP_NAME]


# --------------------------------------------------------------------------- helpers


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file + fsync + rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
