""" "Sign in with Microsoft" on the Azure tab, in headless Chromium, as far as it runs offline.

The browser half of the flow (login.microsoftonline.com) cannot run here, so a fake stands in
for InteractiveBrowserCredential and finishes when the test says so; everything around it is
real: the page's button, the settings API behind its session and origin checks, the keyring
(the test's private Secret Service), and the gateway sending the sign-in's token to a fake Azure.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from azure.core.credentials import AccessToken
from playwright.async_api import expect

from aoa_desktop.keys import KeyStore
from aoa_desktop.signin import RECORD_ENTRY, MicrosoftSignIn
from tests.desktop_settings.conftest import Launcher, enter, files_containing, open_settings
from tests.entra_fakes import NoIdentityImds, entra_env
from tests.fakes import FakeUpstream

ACCOUNT = "person@contoso.example"
SECRET = "client-secret-value-1234"


@dataclass
class FakeRecord:
    username: str

    def serialize(self) -> str:
        return json.dumps(
            {
                "authority": "login.microsoftonline.com",
                "clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                "homeAccountId": "uid.utid",
                "tenantId": "utid",
                "username": self.username,
                "version": "1.0",
            }
        )


@dataclass
class FakeMicrosoft:
    """Stands in for InteractiveBrowserCredential: the flow waits for `finish`."""

    started: threading.Event = field(default_factory=threading.Event)
    finish: threading.Event = field(default_factory=threading.Event)
    scopes: list[list[str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    silent_records: list[str] = field(default_factory=list)

    def factory(self, record: str | None, tenant: str) -> Any:
        return _FakeCredential(self, record)


@dataclass
class _FakeCredential:
    fake: FakeMicrosoft
    record: str | None

    def authenticate(self, *, scopes: list[str]) -> FakeRecord:
        self.fake.scopes.append(scopes)
        self.fake.started.set()
        assert self.fake.finish.wait(30), "the test never finished the sign-in"
        return FakeRecord(ACCOUNT)

    def get_token(self, *scopes: str) -> AccessToken:
        assert self.record is not None  # the gateway only ever asks silently, from the record
        self.fake.silent_records.append(self.record)
        token = f"signin-token-{len(self.fake.issued) + 1}"
        self.fake.issued.append(token)
        return AccessToken(token, int(time.time()) + 3600)

    def close(self) -> None:
        pass


@pytest.fixture
async def azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeUpstream]:
    """A fake Azure; no other Entra ID source on this machine (no az, no managed identity)."""
    imds = await NoIdentityImds().start()
    entra_env(monkeypatch, tmp_path / "home", imds.url)
    upstream = await FakeUpstream().start()
    yield upstream
    await upstream.close()
    await imds.close()


def _secret_tool(entry: str) -> str:
    return subprocess.run(
        ["secret-tool", "lookup", "service", "aoa", "username", entry],
        capture_output=True,
        text=True,
    ).stdout


async def _chat(port: int) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-client-key", max_retries=0
    )
    try:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        await client.close()


async def test_sign_in_with_microsoft_shows_the_account_and_the_gateway_uses_it(
    browser: Any,
    launcher: Launcher,
    config_dir: Path,
    real_keys: KeyStore,
    azure: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake = FakeMicrosoft()
    signin = MicrosoftSignIn(real_keys, fake.factory)
    desktop = await launcher.launch(config_dir, real_keys, signin=signin)
    entra = {"endpoint": azure.url + "/", "auth": "entra"}
    assert desktop.controller.save({"provider": "azure", "providers": {"azure": entra}}) == []
    assert desktop.controller.is_configured("azure")  # no key needed with Entra ID
    page = await open_settings(browser, desktop)
    await expect(page.locator("#g-provider option[value='azure']")).to_have_text("Azure OpenAI")
    await page.get_by_role("tab", name="Azure OpenAI").click()
    panel = page.locator(".panel:not([hidden])")
    await expect(panel.locator(".key")).to_be_hidden()  # the API key row is for AZURE_AUTH=key
    scope = panel.locator("#p-azure-scope")
    await expect(scope).to_have_attribute(
        "placeholder", "https://cognitiveservices.azure.com/.default"
    )
    box = panel.locator(".signin")
    await expect(box.locator(".signin-state")).to_have_text("Not signed in")

    # Nobody signed in, no az, no managed identity: a 401 naming the fix, and no client key.
    with pytest.raises(openai.AuthenticationError, match="az login"):
        await _chat(desktop.port)
    assert azure.received == []

    await box.get_by_role("button", name="Sign in with Microsoft").click()
    assert await _wait(fake.started)
    assert fake.scopes == [["https://cognitiveservices.azure.com/.default"]]
    await expect(box.locator(".signin-state")).to_have_text(
        "Finish signing in in the browser window that opened..."
    )
    fake.finish.set()
    await expect(box.locator(".signin-state")).to_have_text(f"Signed in as {ACCOUNT}")
    await expect(box.get_by_role("button", name="Sign out")).to_be_visible()

    # The account record (no token) is in the keyring; the gateway signs in with it silently.
    assert json.loads(_secret_tool(RECORD_ENTRY))["username"] == ACCOUNT
    await _chat(desktop.port)
    chat = azure.last
    assert chat.headers["Authorization"] == "Bearer signin-token-1"
    assert "api-key" not in {k.lower() for k in chat.headers}
    assert json.loads(fake.silent_records[0])["username"] == ACCOUNT
    assert files_containing(tmp_path, "signin-token-1") == []

    await box.get_by_role("button", name="Sign out").click()
    await expect(box.locator(".signin-state")).to_have_text("Not signed in")
    assert _secret_tool(RECORD_ENTRY) == ""
    with pytest.raises(openai.AuthenticationError):
        await _chat(desktop.port)
    assert len(fake.issued) == 1


async def test_client_secret_goes_to_the_keyring_and_never_back_to_the_page(
    browser: Any,
    launcher: Launcher,
    config_dir: Path,
    real_keys: KeyStore,
    azure: FakeUpstream,
    tmp_path: Path,
) -> None:
    desktop = await launcher.launch(config_dir, real_keys, signin=MicrosoftSignIn(real_keys))
    sp = {"endpoint": azure.url + "/", "auth": "entra", "tenant_id": "t1", "client_id": "c1"}
    assert desktop.controller.save({"provider": "azure", "providers": {"azure": sp}}) == []
    page = await open_settings(browser, desktop)
    await page.get_by_role("tab", name="Azure OpenAI").click()
    box = page.locator(".panel:not([hidden]) [data-entry='azure.client_secret']")
    await box.locator("input").fill(SECRET)
    await box.get_by_role("button", name="Store key").click()
    await expect(box.locator(".secret-state")).to_have_text("A key ending in 1234 is stored")
    assert _secret_tool("azure.client_secret") == SECRET
    assert desktop.controller.settings.active.client_secret == SECRET
    assert files_containing(tmp_path, SECRET) == []
    headers = await enter(desktop)
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{desktop.url}/settings/api/state", headers=headers) as r,
    ):
        assert SECRET not in await r.text()


async def test_sign_in_needs_the_page_session_and_its_origin(
    launcher: Launcher, config_dir: Path, real_keys: KeyStore, azure: FakeUpstream
) -> None:
    fake = FakeMicrosoft()
    desktop = await launcher.launch(
        config_dir, real_keys, signin=MicrosoftSignIn(real_keys, fake.factory)
    )
    headers = await enter(desktop)
    url = f"{desktop.url}/settings/api/signin"
    async with aiohttp.ClientSession() as s:
        for sent in (
            {"Origin": desktop.url},  # no session
            {**headers, "Origin": "http://evil.example"},  # another page
            {**headers},  # no Origin: not a page of ours
        ):
            async with s.post(url, json={}, headers=sent) as r:
                assert r.status == 403
    assert not fake.started.is_set()


async def _wait(event: threading.Event) -> bool:
    return await asyncio.to_thread(event.wait, 10)
