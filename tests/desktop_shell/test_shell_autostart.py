"""Start at login: the XDG file for real (this is Linux), macOS and Windows by what they write."""

from __future__ import annotations

import plistlib
import shlex
import sys
from pathlib import Path

from aoa_desktop.autostart import (
    LaunchAgent,
    WindowsRunKey,
    XdgAutostart,
    default_command,
    desktop_entry,
    for_platform,
)


def test_linux_enable_writes_the_xdg_file_and_disable_removes_it(tmp_path: Path) -> None:
    item = for_platform("linux", env={"XDG_CONFIG_HOME": str(tmp_path)}, home=tmp_path / "h")
    assert isinstance(item, XdgAutostart)
    path = tmp_path / "autostart" / "aoa.desktop"
    assert not item.enabled()
    item.enable(["/opt/aoa/bin/aoa"])
    assert item.enabled()
    lines = path.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert {"Type=Application", "Name=aoa", "Exec=/opt/aoa/bin/aoa"} <= set(lines)
    item.disable()
    assert not path.exists() and not item.enabled()
    item.disable()  # twice is fine


def test_linux_without_xdg_config_home_uses_dot_config(tmp_path: Path) -> None:
    item = for_platform("linux", env={}, home=tmp_path)
    item.enable(["aoa"])
    assert (tmp_path / ".config" / "autostart" / "aoa.desktop").exists()


def test_linux_exec_line_quotes_spaces_and_reserved_characters() -> None:
    entry = desktop_entry(["/home/me/My Apps/python", "-m", "aoa_desktop", "100%"])
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/home/me/My Apps/python" -m aoa_desktop 100%%'
    # What a desktop environment runs, after un-escaping %%: the same argv.
    assert shlex.split(exec_line[5:].replace("%%", "%")) == [
        "/home/me/My Apps/python",
        "-m",
        "aoa_desktop",
        "100%",
    ]


def test_linux_entry_hidden_by_the_desktop_counts_as_disabled(tmp_path: Path) -> None:
    item = XdgAutostart(tmp_path)
    item.enable(["aoa"])
    item.path.write_text(item.path.read_text() + "Hidden=true\n")
    assert not item.enabled()


def test_macos_writes_a_launch_agent_plist(tmp_path: Path) -> None:
    item = for_platform("darwin", home=tmp_path)
    assert isinstance(item, LaunchAgent)
    item.enable(["/Applications/aoa.app/Contents/MacOS/aoa", "--headless"])
    path = tmp_path / "Library" / "LaunchAgents" / "io.github.aoa.plist"
    data = plistlib.loads(path.read_bytes())
    assert data == {
        "Label": "io.github.aoa",
        "ProgramArguments": ["/Applications/aoa.app/Contents/MacOS/aoa", "--headless"],
        "RunAtLoad": True,
        "ProcessType": "Interactive",
    }
    assert item.enabled()
    item.disable()
    assert not path.exists() and not item.enabled()


def test_windows_writes_the_run_key_value() -> None:
    registry: dict[str, str] = {}  # stands in for HKCU\Software\Microsoft\Windows\...\Run
    item = WindowsRunKey(registry)
    assert isinstance(for_platform("win32"), WindowsRunKey)
    item.enable([r"C:\Program Files\aoa\aoa.exe", "--port", "8081"])
    assert registry == {"aoa": r'"C:\Program Files\aoa\aoa.exe" --port 8081'}
    assert item.enabled()
    item.disable()
    assert registry == {} and not item.enabled()
    item.disable()


def test_default_command_starts_this_installation() -> None:
    assert default_command() == [sys.executable, "-m", "aoa_desktop"]
