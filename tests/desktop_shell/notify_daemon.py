"""A stand-in desktop notification daemon: owns org.freedesktop.Notifications on the session bus
and appends each notification as a JSON line to the file named on the command line.

Run by the desktop fixtures (`python -m tests.desktop_shell.notify_daemon FILE`); it prints
"ready" once it owns the name, so the tests can wait for it instead of sleeping.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import gi  # type: ignore[import-untyped,unused-ignore]

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # type: ignore[import-untyped,unused-ignore]  # noqa: E402

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
XML = f"""
<node><interface name="{NAME}">
  <method name="Notify">
    <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
    <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
    <arg type="a{{sv}}" direction="in"/><arg type="i" direction="in"/>
    <arg type="u" direction="out"/>
  </method>
  <method name="CloseNotification"><arg type="u" direction="in"/></method>
  <method name="GetCapabilities"><arg type="as" direction="out"/></method>
  <method name="GetServerInformation">
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
  </method>
</interface></node>
"""


def main(path: str) -> None:
    out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the daemon's lifetime
    counter = [0]
    node = Gio.DBusNodeInfo.new_for_xml(XML)

    def on_call(
        _conn: Any, _sender: str, _path: str, _iface: str, method: str, params: Any, call: Any
    ) -> None:
        if method == "Notify":
            _app, _replaces, _icon, summary, body = params.unpack()[:5]
            counter[0] += 1
            out.write(json.dumps({"summary": summary, "body": body}) + "\n")
            out.flush()
            call.return_value(GLib.Variant("(u)", (counter[0],)))
        elif method == "CloseNotification":
            call.return_value(None)
        elif method == "GetCapabilities":
            call.return_value(GLib.Variant("(as)", (["body"],)))
        else:
            call.return_value(GLib.Variant("(ssss)", ("fake", "aoa-tests", "1", "1.2")))

    def on_bus(conn: Any, _name: str) -> None:
        conn.register_object(PATH, node.interfaces[0], on_call, None, None)

    def on_name(_conn: Any, _name: str) -> None:
        print("ready", flush=True)

    def on_lost(_conn: Any, _name: str) -> None:
        sys.exit(f"could not own {NAME}")

    Gio.bus_own_name(
        Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus, on_name, on_lost
    )
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(sys.argv[1])
