"""A Secret Service keyring that belongs to the tests: its own D-Bus bus, its own HOME.

The real keyring tests use this and nothing else, so they can empty and fill aoa's entries
freely: the person's session bus (DBUS_SESSION_BUS_ADDRESS of the shell that ran pytest) is
never contacted. `PrivateKeyring.env` is what a child process needs to use the same keyring.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keyring.backend import KeyringBackend

TOOLS = ("dbus-daemon", "gnome-keyring-daemon")
_PASSWORD = b"aoa-tests"
# A bus without service activation: nothing starts behind the tests' back (no GUI prompter).
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={folder}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class PrivateKeyring:
    """A running dbus-daemon + unlocked gnome-keyring, with the folder they live in."""

    bus: str
    home: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.bus,
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
        }

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)


def secret_service_backend() -> KeyringBackend:
    """keyring's Secret Service backend; it talks to whatever bus the environment names."""
    from keyring.backends.SecretService import Keyring

    backend: KeyringBackend = Keyring()  # type: ignore[no-untyped-call]
    return backend


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def start_private_keyring() -> PrivateKeyring:
    """Start a bus and an unlocked keyring in a new temporary HOME; stop() ends both."""
    home = Path(tempfile.mkdtemp(prefix="aoa-keyring-"))
    (home / "run").mkdir(mode=0o700)
    config = home / "bus.conf"
    config.write_text(_BUS_CONFIG.format(folder=home / "run"))
    keyring = PrivateKeyring(bus="", home=home)
    try:
        bus_proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        keyring.procs.append(bus_proc)
        assert bus_proc.stdout is not None
        keyring.bus = bus_proc.stdout.readline().decode().strip()
        bus_proc.stdout.close()  # the address is all it prints
        if not keyring.bus:
            raise RuntimeError("dbus-daemon printed no address")
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env={**os.environ, **keyring.env},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        keyring.procs.append(daemon)
        assert daemon.stdin is not None
        daemon.stdin.write(_PASSWORD)
        daemon.stdin.close()  # --unlock reads the password up to end of input
        _wait_for_secret_service(keyring)
    except BaseException:
        keyring.stop()
        raise
    return keyring


def _wait_for_secret_service(keyring: PrivateKeyring, timeout: float = 20.0) -> None:
    """Until org.freedesktop.secrets answers on the private bus (a condition, not a sleep)."""
    from jeepney import DBusAddress, new_method_call  # type: ignore[import-untyped]
    from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

    dbus = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    with contextlib.closing(open_dbus_connection(keyring.bus)) as conn:
        deadline = time.monotonic() + timeout
        while True:
            reply = conn.send_and_get_reply(
                new_method_call(dbus, "NameHasOwner", "s", ("org.freedesktop.secrets",)),
                timeout=timeout,
            )
            if reply.body[0]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("gnome-keyring-daemon never took org.freedesktop.secrets")
            time.sleep(0.05)


@contextlib.contextmanager
def session_env(keyring: PrivateKeyring) -> Iterator[None]:
    """Point this process's D-Bus clients (secretstorage) at the private bus for the duration."""
    saved = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = keyring.bus
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = saved
