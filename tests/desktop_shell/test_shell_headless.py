"""`aoa` without a tray: no display, --headless, signals, port in use, a second launch."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.desktop_shell.conftest import Launcher, chat, get_json, health, open_page, page_session
from tests.support import free_port, wait_for


def _headless_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "running the gateway headless" in line]


def test_no_display_says_so_in_one_line_and_serves(launcher: Launcher) -> None:
    app = launcher.start()
    assert app.wait_healthy()["status"] == "ok"
    lines = wait_for("the headless line", lambda: _headless_lines(app.stderr))
    assert len(lines) == 1
    assert "no display found" in lines[0]
    assert f"http://127.0.0.1:{app.port}/v1" in lines[0]
    assert chat(app.port) == "Echo: hi"  # the offline demo provider answers


def test_headless_flag_never_touches_the_display(launcher: Launcher) -> None:
    # A display that does not exist: importing pystray (or probing GTK) would fail on it.
    app = launcher.start("--headless", env={"DISPLAY": ":93", "PYSTRAY_BACKEND": "gtk"})
    app.wait_healthy()
    line = wait_for("the headless line", lambda: _headless_lines(app.stderr))[0]
    assert "headless mode" in line
    assert "Traceback" not in app.stderr


def test_sigterm_ends_cleanly_with_status_0(launcher: Launcher) -> None:
    app = launcher.start()
    app.wait_healthy()
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0
    assert "stopped" in app.stderr


def test_sigint_ends_cleanly_with_status_0(launcher: Launcher) -> None:
    app = launcher.start()
    app.wait_healthy()
    app.signal(signal.SIGINT)
    assert app.wait_exit() == 0
    assert "Traceback" not in app.stderr


def test_sigterm_right_after_start_still_exits_0(launcher: Launcher) -> None:
    app = launcher.start()
    # As soon as the process logs anything, its handlers are in place (installed before listening).
    wait_for("first output", lambda: app.stderr.strip())
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_port_in_use_is_a_clear_message_and_the_page_stays_reachable(launcher: Launcher) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        app = launcher.start(port=port)
        line = wait_for("the headless line", lambda: _headless_lines(app.stderr))[0]
        assert f"Port {port} on 127.0.0.1 is already in use" in line
        assert "choose another port in Settings" in line
        assert app.proc.poll() is None, "aoa must keep running so the port can be changed"
        # A second launch still reaches the settings page, on a fallback loopback port.
        second = launcher.run()
        assert second.returncode == 0, second.stderr
        url = wait_for("the opened URL", app.opened_urls)[-1]
        assert f":{port}/" not in url
        assert open_page(url)[0] == 200
        app.signal(signal.SIGTERM)
        assert app.wait_exit() == 0


def test_second_launch_opens_the_running_settings_page_and_exits_0(launcher: Launcher) -> None:
    app = launcher.start()
    app.wait_healthy()
    second = launcher.run()
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    url = wait_for("the URL given to $BROWSER", app.opened_urls)[-1]
    assert url.startswith(f"http://127.0.0.1:{app.port}/settings?code=")
    status, content_type, _body = open_page(url)
    assert status == 200
    assert "text/html" in content_type
    assert app.proc.poll() is None  # the first one keeps running
    # What went to the browser's command line is worthless now: used up, and new every time.
    assert open_page(url)[0] == 403
    assert launcher.run().returncode == 0
    urls = wait_for("a second URL", lambda: app.opened_urls()[1:] and app.opened_urls())
    assert urls[1] != url and open_page(urls[1])[0] == 200
    assert get_json(f"http://127.0.0.1:{app.port}/health")["status"] == "ok"
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_version_and_help(launcher: Launcher) -> None:
    version = launcher.run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("aoa ")
    helptext = launcher.run("--help")
    assert helptext.returncode == 0
    for option in ("--headless", "--port", "--version"):
        assert option in helptext.stdout


@pytest.mark.parametrize("port", ["0", "70000", "x"])
def test_bad_port_option_is_refused(launcher: Launcher, port: str) -> None:
    out = launcher.run("--port", port)
    assert out.returncode == 2
    assert "port" in out.stderr.lower()
    assert "Traceback" not in out.stderr


def test_gtk_missing_display_falls_back_to_headless(launcher: Launcher) -> None:
    # DISPLAY is set but unusable: the tray cannot start, so say why and keep serving.
    app = launcher.start(env={"DISPLAY": ":94", "PYSTRAY_BACKEND": "gtk"})
    app.wait_healthy()
    line = wait_for("the headless line", lambda: _headless_lines(app.stderr))[0]
    assert "no tray icon" in line
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0


def test_xorg_backend_has_no_menu_so_it_is_refused(launcher: Launcher) -> None:
    app = launcher.start(env={"DISPLAY": ":94", "PYSTRAY_BACKEND": "xorg"})
    app.wait_healthy()
    line = wait_for("the headless line", lambda: _headless_lines(app.stderr))[0]
    assert "PYSTRAY_BACKEND=xorg has no menu" in line


def test_changing_the_port_in_the_settings_page_moves_the_gateway(launcher: Launcher) -> None:
    import json
    import urllib.request

    from aoa_desktop.store import SettingsStore

    # The port comes from the stored settings (--port, like AOA_PORT, could not be changed).
    port = free_port()
    SettingsStore(Path(launcher.base_env["XDG_CONFIG_HOME"]) / "aoa").save({"port": port})
    app = launcher.start(port=port, port_option=False)
    app.wait_healthy()
    assert launcher.run().returncode == 0  # a second launch hands us the page URL
    url = wait_for("the settings URL", app.opened_urls)[-1]
    status, _type, body = open_page(url)  # the entry code buys the page a session
    assert status == 200
    new_port = free_port()
    save = urllib.request.Request(
        f"http://127.0.0.1:{app.port}/settings/api/save",
        data=json.dumps({"port": new_port}).encode(),
        headers={
            "Content-Type": "application/json",
            "Origin": f"http://127.0.0.1:{app.port}",
            "X-Aoa-Session": page_session(body),
        },
        method="POST",
    )
    with urllib.request.urlopen(save, timeout=10) as r:
        answer = json.loads(r.read())
    assert answer["ok"] is True, answer["problems"]
    wait_for("the gateway on the new port", lambda: health(new_port))
    wait_for("the old port to close", lambda: health(app.port) is None)
    assert chat(new_port) == "Echo: hi"
    app.signal(signal.SIGTERM)
    assert app.wait_exit() == 0
