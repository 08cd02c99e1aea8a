"""The settings file: atomic writes, schema version, corrupt file -> backup + defaults, and
clear errors when it cannot be written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from aoa_desktop.controller import Controller
from aoa_desktop.keys import KeyStore
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
