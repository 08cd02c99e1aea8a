"""The settings file: atomic writes, schema version, corrupt file -> backup + defaults, and
clear errors when it cannot be written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest

from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_web import state
from aoa_desktop.store import SCHEMA_VERSION, SettingsStore, StoreError


def test_save_writes_versioned_json_with_mode_0600_and_no_temp_left(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "aoa")
    store.save({"port": 8081})
    store.save({"port": 8082})
    data = json.loads(store.path.read_text())
    assert data == {"schema": SCHEMA_VERSION, "port": 8082}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in store.dir.iterdir()] == ["settings.json"]
    assert SettingsStore(tmp_path / "aoa").load() == {"port": 8082}


def test_corrupt_file_is_kept_as_backup_and_defaults_are_used(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    config.mkdir()
    (config / "settings.json").write_text('{"port": 80')  # cut off mid-write by some editor
    controller = Controller(config, {}, KeyStore())
    assert controller.settings.port == 8080 and controller.settings.provider == "demo"
    assert controller.load_problem is not None
    assert "not valid JSON" in controller.load_problem
    backups = list(config.glob("settings.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_text() == '{"port": 80'
    assert str(backups[0]) in controller.load_problem
    assert not (config / "settings.json").exists()
    # Saving afterwards writes a fresh file and keeps the backup.
    assert controller.save({"port": 8090}) == []
    assert json.loads((config / "settings.json").read_text())["port"] == 8090
    assert backups[0].exists()


def test_file_without_schema_or_not_an_object_is_set_aside(tmp_path: Path) -> None:
    for text in ('["port", 8080]', '{"port": 8081}', "\xff\xfe garbage"):
        store = SettingsStore(tmp_path / text[:2].encode().hex())
        store.dir.mkdir()
        store.path.write_bytes(text.encode("latin-1"))
        assert store.load() == {}
        assert store.problem and "default settings" in store.problem


def test_invalid_stored_values_are_dropped_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    SettingsStore(config).save(
        {"port": 99999, "providers": {"yi": {"endpoint": "http://not-loopback.example"}}}
    )
    controller = Controller(config, {}, KeyStore())
    assert controller.settings.port == 8080
    assert controller.settings.providers["yi"].endpoint == "https://api.lingyiwanwu.com"
    assert controller.load_problem and "AOA_PORT" in controller.load_problem


def test_newer_schema_is_read_but_reported(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path)
    store.path.write_text(json.dumps({"schema": SCHEMA_VERSION + 1, "port": 8085}))
    assert store.load() == {"port": 8085}
    assert store.problem and "newer version" in store.problem


def test_unwritable_location_gives_clear_error_and_keeps_old_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the config dir should be")
    try:
        SettingsStore(blocker / "aoa").save({"port": 1})
    except StoreError as exc:
        assert "Could not save settings" in str(exc) and str(blocker) in str(exc)
    else:
        raise AssertionError("saving under a file must fail")
    controller = Controller(blocker / "aoa", {}, KeyStore())
    problems = controller.save({"port": 8091})
    assert len(problems) == 1 and "Could not save settings" in problems[0]
    assert controller.settings.port == 8080  # nothing applied when nothing was stored


def test_disk_full_leaves_old_file_whole_and_no_temp_file(tmp_path: Path) -> None:
    """A real short write: the kernel refuses to grow files past RLIMIT_FSIZE (EFBIG)."""
    store = SettingsStore(tmp_path)
    store.save({"port": 8081})
    before = store.path.read_bytes()
    script = f"""
import resource, signal, sys
from pathlib import Path
from aoa_desktop.store import SettingsStore, StoreError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
try:
    SettingsStore(Path({str(tmp_path)!r})).save({{"note": "x" * 5000}})
except StoreError as exc:
    print(exc)
    sys.exit(0)
sys.exit("saved although the file may not grow")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Could not save settings" in done.stdout and "too large" in done.stdout
    assert store.path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["settings.json"]


# --------------------------------------------------------------------------- hostile files

_LOAD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # /dev/zero must not eat the box
from aoa_desktop.store import SettingsStore
store = SettingsStore(Path(sys.argv[1]))
print(json.dumps({"data": store.load(), "problem": store.problem}))
"""


def _load_in_a_process(config: Path) -> dict[str, Any]:
    """SettingsStore.load() in a child with a memory cap and a time limit (it must not hang)."""
    done = subprocess.run(
        [sys.executable, "-c", _LOAD, str(config)], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _backups(config: Path) -> list[Path]:
    return sorted(config.glob("settings.json.broken-*"))


def test_settings_file_linked_to_dev_zero_is_set_aside_without_reading_it(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    config.mkdir()
    (config / "settings.json").symlink_to("/dev/zero")
    out = _load_in_a_process(config)
    assert out["data"] == {}
    assert "not a regular file" in out["problem"] and "default settings" in out["problem"]
    assert [os.readlink(b) for b in _backups(config)] == ["/dev/zero"]  # the link moved aside
    assert not os.path.lexists(config / "settings.json")


def test_settings_file_that_is_a_fifo_does_not_hang_the_start(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    config.mkdir()
    os.mkfifo(config / "settings.json")  # opening it for reading blocks until a writer comes
    started = time.monotonic()
    out = _load_in_a_process(config)
    assert time.monotonic() - started < 15
    assert out["data"] == {} and "not a regular file" in out["problem"]
    assert [stat.S_ISFIFO(b.lstat().st_mode) for b in _backups(config)] == [True]


def test_oversized_settings_file_is_set_aside(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    config.mkdir()
    (config / "settings.json").write_bytes(b'{"schema": 1, "note": "' + b"x" * (2 << 20) + b'"}')
    store = SettingsStore(config)
    assert store.load() == {}
    assert store.problem and "larger than 1024 KiB" in store.problem
    assert len(_backups(config)) == 1


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_json_is_set_aside(tmp_path: Path, depth: int) -> None:
    """100 000 levels: the parser's RecursionError; 40 levels parse but would strain every
    later copy and dump (an unknown field is kept for newer versions, so it is nested in one)."""
    config = tmp_path / "aoa"
    config.mkdir()
    text = '{"schema": 1, "future": ' + "[" * depth + "]" * depth + "}"
    (config / "settings.json").write_text(text)
    controller = Controller(config, {}, KeyStore())
    assert controller.settings.provider == "demo"
    assert controller.load_problem and "nested too deeply" in controller.load_problem
    assert [b.read_text() for b in _backups(config)] == [text]
    assert not (config / "settings.json").exists()


def test_values_of_the_wrong_type_are_dropped_once_and_the_original_kept(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    config.mkdir()
    original = {
        "schema": 1,
        "port": "8090",
        "host": ["127.0.0.1"],
        "providers": {
            "openai": "str",
            "yi": {"aliases": "a:b", "endpoint": "http://127.0.0.1:9/v1", "model": 5},
            "azure": {"endpoint": "https://x.openai.azure.com/", "proxy": {"host": "p"}},
        },
    }
    (config / "settings.json").write_text(json.dumps(original))
    controller = Controller(config, {}, KeyStore())
    problem = controller.load_problem or ""
    for name in (
        "port",
        "host",
        "providers.openai",
        "providers.yi.aliases",
        "providers.yi.model",
        "providers.azure.proxy",
    ):
        assert name in problem
    # The fields of the right type are kept and used.
    assert controller.settings.providers["yi"].endpoint == "http://127.0.0.1:9/v1"
    assert controller.settings.providers["azure"].endpoint == "https://x.openai.azure.com/"
    state(controller)  # the page can show it
    [backup] = _backups(config)
    assert json.loads(backup.read_text()) == original
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert json.loads((config / "settings.json").read_text()) == {
        "schema": 1,
        "providers": {
            "yi": {"endpoint": "http://127.0.0.1:9/v1"},
            "azure": {"endpoint": "https://x.openai.azure.com/"},
        },
    }
    # Said once: the next start finds a clean file.
    assert Controller(config, {}, KeyStore()).load_problem is None


_BAD_VALUES: list[Any] = [None, True, 1.5, 10**30, "", "\x00", "\ud800", [], {}, [1, 2], {"a": 1}]
_FIELDS = [
    ("provider",),
    ("host",),
    ("port",),
    ("language",),
    ("providers",),
    ("providers", "azure"),
    ("providers", "gemini", "endpoint"),
    ("providers", "gemini", "model"),
    ("providers", "gemini", "aliases"),
    ("providers", "gemini", "proxy"),
    ("providers", "gemini", "api_version"),
    ("providers", "gemini", "safety"),
    ("providers", "gemini", "aliases", "m"),
]


@pytest.mark.parametrize("path", _FIELDS, ids=".".join)
def test_any_value_in_any_field_never_stops_a_start(tmp_path: Path, path: tuple[str, ...]) -> None:
    """Every known field, each replaced by values of every JSON type: the app starts, the page
    renders, and a save still works."""
    no_keys = KeyStore(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    for n, bad in enumerate(_BAD_VALUES):
        config = tmp_path / f"case{n}"
        config.mkdir()
        data: dict[str, Any] = {"schema": 1}
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = bad
        (config / "settings.json").write_text(json.dumps(data))
        controller = Controller(config, {}, no_keys)
        state(controller)
        assert controller.save({"port": 8093}) == [], (path, bad)
        assert Controller(config, {}, no_keys).settings.port == 8093


def test_an_open_config_folder_and_file_are_made_private(tmp_path: Path) -> None:
    config = tmp_path / "aoa"
    config.mkdir(mode=0o755)
    config.chmod(0o755)
    (config / "settings.json").write_text('{"schema": 1, "port": 8081}')
    (config / "settings.json").chmod(0o644)
    assert SettingsStore(config).load() == {"port": 8081}
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert stat.S_IMODE((config / "settings.json").stat().st_mode) == 0o600


def test_a_settings_file_linked_to_a_regular_file_is_read(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "aoa.json").write_text('{"schema": 1, "port": 8082}')
    config = tmp_path / "aoa"
    config.mkdir()
    (config / "settings.json").symlink_to(dotfiles / "aoa.json")
    store = SettingsStore(config)
    assert store.load() == {"port": 8082} and store.problem is None
