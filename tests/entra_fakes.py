"""Entra ID doubles for the real azure-identity: a fake `az` on PATH, a managed-identity endpoint.

Both as the spec (shared/specs/azure-modern.md, "Exercising each source offline") found
azure-identity 1.27 calls them. Every token they hand out is unique and recorded, so a test can
look for it in logs and files.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests.fakes import Received, RecordingServer

# The variables azure-identity reads; each test starts without any of the person's.
AZURE_IDENTITY_VARS = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_CONFIG_DIR",
)

_FAKE_AZ = """#!/bin/sh
echo "$@" >> "$FAKE_AZ_LOG"
if [ "$(cat "$FAKE_AZ_MODE_FILE")" = notlogged ]; then
  echo "ERROR: Please run 'az login' to setup account." >&2
  exit 1
fi
n=$(wc -l < "$FAKE_AZ_LOG" | tr -d ' ')
exp=$(( $(date +%s) + 3600 ))
printf '{"accessToken":"az-token-%s","expires_on":%s,"tokenType":"Bearer"}\\n' "$n" "$exp"
"""


def closed_port() -> int:
    """A loopback port nobody listens on (IMDS probes end there at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FakeAz:
    """An `az` executable first on PATH: prints a fresh token per call, or says to log in."""

    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / "az.log"

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def tokens(self) -> list[str]:
        """Every token handed out so far (the n-th call's suffix is its line number)."""
        return [f"az-token-{n}" for n in range(1, len(self.calls()) + 1)]

    def logged_out(self) -> None:
        (self.folder / "mode").write_text("notlogged")

    def logged_in(self) -> None:
        (self.folder / "mode").write_text("ok")


@dataclass
class NoIdentityImds(RecordingServer):
    """IMDS on a machine without a managed identity: a 400 at once.

    A closed port would do too, but azure-identity retries the probe for ~5 s.
    """

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        return web.json_response(
            {"error": "invalid_request", "error_description": "Identity not found"}, status=400
        )


def entra_env(monkeypatch: pytest.MonkeyPatch, home: Path, imds: str = "") -> None:
    """No Azure identity from the person's machine; IMDS at `imds` (default: nowhere)."""
    for var in AZURE_IDENTITY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(home / ".azure"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    imds = imds or f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no real az or azd


def write_az(folder: Path) -> tuple[FakeAz, dict[str, str]]:
    """The fake `az` in `folder`, and the variables a process needs to run it (PATH first)."""
    folder.mkdir(parents=True, exist_ok=True)
    az = folder / "az"
    az.write_text(_FAKE_AZ)
    az.chmod(az.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    fake = FakeAz(folder)
    fake.logged_in()
    env = {
        "FAKE_AZ_LOG": str(fake.log),
        "FAKE_AZ_MODE_FILE": str(folder / "mode"),
        "PATH": f"{folder}{os.pathsep}/usr/bin:/bin",
    }
    return fake, env


def install_az(monkeypatch: pytest.MonkeyPatch, folder: Path) -> FakeAz:
    fake, env = write_az(folder)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return fake


@contextlib.contextmanager
def imds_without_identity() -> Iterator[str]:
    """NoIdentityImds for other processes: a thread serving the 400, its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error":"invalid_request","error_description":"Identity not found"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class ManagedIdentity(RecordingServer):
    """App Service's managed-identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER).

    `lifetimes` are the seconds each successive token lives (the last repeats).
    """

    header: str = "mi-header-secret"
    lifetimes: list[float] = field(default_factory=lambda: [3600.0])
    issued: list[tuple[str, float]] = field(default_factory=list)  # (token, expires_on)
    _count: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def endpoint(self) -> str:
        return f"{self.url}/msi/token"

    async def handle(self, request: web.Request, rec: Received) -> web.StreamResponse:
        if rec.headers.get("X-IDENTITY-HEADER") != self.header:
            return web.json_response({"error": "bad header"}, status=400)
        n = next(self._count)
        life = self.lifetimes[min(n, len(self.lifetimes)) - 1]
        expires_on = time.time() + life
        token = f"mi-token-{n}-{os.getpid()}"
        self.issued.append((token, expires_on))
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(int(expires_on)),
                "expires_in": str(int(life)),
                "resource": rec.query.get("resource", ""),
                "token_type": "Bearer",
            }
        )
