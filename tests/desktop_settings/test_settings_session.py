"""Issue 12, V1: the settings page is opened with one-time entry codes, never a long-lived secret.

The app's own wiring is used (Shell + GatewayThread + the settings page), and what it would hand
to the browser is captured where it hands it over: webbrowser.open.
"""

from __future__ import annotations

import logging
import secrets
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aoa_desktop.app import Shell
from aoa_desktop.controller import Controller
from aoa_desktop.gateway import GatewayThread
from aoa_desktop.keys import KeyStore
from aoa_desktop.settings_session import ENTRY_TTL, MAX_SESSIONS, SessionBook
from aoa_desktop.settings_web import SESSION_HEADER, add_settings_routes
from aoa_desktop.store import SettingsStore
from aoa_proxy.runtime import Runtime
from tests.desktop_settings.conftest import page_session
from tests.desktop_shell.conftest import health
from tests.support import free_port, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- the code book


def test_a_code_buys_one_session_once() -> None:
    book = SessionBook()
    code = book.mint_code()
    token = book.redeem(code)
    assert token and token != code and book.check(token)
    assert book.redeem(code) is None
    assert book.redeem("") is None and book.redeem("made-up") is None
    assert not book.check("") and not book.check(code)


def test_codes_expire_and_idle_sessions_end() -> None:
    clock = Clock()
    book = SessionBook(clock=clock)
    late, fresh = book.mint_code(), book.mint_code()
    clock.now += ENTRY_TTL + 1
    assert book.redeem(late) is None
    assert book.redeem(fresh) is None
    token = book.redeem(book.mint_code())
    assert token is not None
    clock.now += book.idle_ttl - 1
    assert book.check(token)  # a use restarts the idle time
    clock.now += book.idle_ttl - 1
    assert book.check(token)
    clock.now += book.idle_ttl
    assert not book.check(token)


def test_sessions_are_bounded_least_recently_used_first() -> None:
    book = SessionBook()
    tokens = [book.redeem(book.mint_code()) or "" for _ in range(MAX_SESSIONS)]
    assert book.check(tokens[0])  # now the most recently used
    extra = book.redeem(book.mint_code())
    assert extra and book.check(extra) and book.check(tokens[0])
    assert not book.check(tokens[1])


def test_a_code_used_twice_ends_the_session_it_bought(caplog: pytest.LogCaptureFixture) -> None:
    """Someone who read the code from the browser's command line and came first loses it when
    the browser presents the same code."""
    book = SessionBook()
    code = book.mint_code()
    thief = book.redeem(code)
    assert thief and book.check(thief)
    with caplog.at_level(logging.WARNING):
        assert book.redeem(code) is None
    assert not book.check(thief)
    assert "used twice" in caplog.text


# --------------------------------------------------------------------------- the app's URLs


@dataclass
class App:
    shell: Shell
    controller: Controller
    gateway: GatewayThread
    sessions: SessionBook
    clock: Clock
    port: int
    opened: list[str]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The desktop app's server side as `aoa` wires it, on a free port, with webbrowser.open
    recording what it is given."""
    opened: list[str] = []

    def record(url: str, *_args: Any, **_kwargs: Any) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", record)
    port = free_port()
    config = tmp_path / "config"
    SettingsStore(config).save({"port": port})
    env = {"OPENAI_API_KEY": "sk-env-" + secrets.token_hex(16)}
    controller = Controller(config, env, KeyStore())
    runtime = Runtime(controller.settings)
    controller.attach(runtime)
    clock = Clock()
    sessions = SessionBook(clock=clock)
    gateway = GatewayThread(lambda a: add_settings_routes(a, controller, sessions), grace=1.0)
    shell = Shell(tmp_path / "log")
    shell.wire(controller, runtime, gateway, sessions)
    gateway.start(controller.settings, runtime)
    try:
        yield App(shell, controller, gateway, sessions, clock, port, opened)
    finally:
        gateway.stop(1.0)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_every_opening_gets_its_own_one_time_code_and_no_secret(app: App) -> None:
    app.shell.open_settings()  # the tray's "Settings..."
    app.shell.open_settings()
    wait_for("two browser openings", lambda: len(app.opened) == 2)
    second_launch = app.shell.show_info()["url"]  # what a second `aoa` opens
    urls = [*app.opened, second_launch]
    codes = []
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
            "http",
            "127.0.0.1",
            app.port,
            "/settings",
        )
        query = parse_qs(parts.query)
        assert list(query) == ["code"]
        codes.append(query["code"][0])
    assert len(set(codes)) == 3
    for url in urls:
        status, body = _get(url)
        assert status == 200
        token = page_session(body)
        assert token not in urls and all(token not in c for c in codes)
        state = f"http://127.0.0.1:{app.port}/settings/api/state"
        assert _get(state, {SESSION_HEADER: token})[0] == 200
        # Used up: a copy from argv or history is worthless, and presenting it again ends the
        # session it bought (whoever raced the browser for it loses it).
        assert _get(url)[0] == 403
        assert _get(state, {SESSION_HEADER: token})[0] == 403


def test_an_unused_code_expires(app: App) -> None:
    url = app.shell.show_info()["url"]
    app.clock.now += ENTRY_TTL + 1
    status, body = _get(url)
    assert status == 403 and "Open the settings from the aoa tray menu" in body


def test_bind_address_change_on_the_same_port_rebinds_and_logs_the_real_address(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = _get(app.shell.show_info()["url"])
    token = page_session(body)
    with caplog.at_level(logging.INFO):
        problems = app.controller.save({"host": "0.0.0.0", "confirm_exposure": True})
        assert problems == []
        wait_for(
            "the gateway on 0.0.0.0",
            lambda: (
                app.gateway.status.bound_host == "0.0.0.0" and app.gateway.status.state == "running"
            ),
        )
    assert app.gateway.status.port == app.port
    assert f"listening on 0.0.0.0:{app.port}" in caplog.text
    assert "anyone who can reach this port can spend the key" in caplog.text
    assert health(app.port)
    # The open page keeps its session across the rebind, and the port check knows our listener.
    state = f"http://127.0.0.1:{app.port}/settings/api/state"
    assert _get(state, {SESSION_HEADER: token})[0] == 200
    assert app.controller.address == ("0.0.0.0", app.port)
    assert app.controller.save({"host": "127.0.0.1"}) == []
    wait_for("the gateway back on 127.0.0.1", lambda: app.gateway.status.bound_host == "127.0.0.1")
    assert health(app.port)


def test_moved_link_carries_a_fresh_code(app: App) -> None:
    status, body = _get(app.shell.show_info()["url"])
    token = page_session(body)
    new_port = free_port()
    answer = _post_save(app.port, token, {"port": new_port})
    assert answer["ok"] is True, answer["problems"]
    moved = answer["moved"]["url"]
    assert moved.startswith(f"http://127.0.0.1:{new_port}/settings?code=")
    wait_for("the gateway on the new port", lambda: health(new_port))
    status, body = _get(moved)
    assert status == 200 and page_session(body)
    assert _get(moved)[0] == 403


def _post_save(port: int, token: str, body: dict[str, Any]) -> Any:
    import json

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/settings/api/save",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Origin": f"http://127.0.0.1:{port}",
            SESSION_HEADER: token,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())
