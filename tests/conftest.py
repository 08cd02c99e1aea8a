"""Shared fixtures: fake upstreams and a real gateway, both on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

import openai
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import settings

from aoa_proxy.app import RUNTIME, create_app
from aoa_proxy.config import load_settings
from aoa_proxy.i18n import set_language
from aoa_proxy.runtime import Runtime
from tests.fakes import FakeUpstream
from tests.guards import MemoryKeyring, loopback_only, memory_keyring
from tests.secret_service import PrivateKeyring, missing_tools, start_private_keyring


@dataclass
class Gateway:
    server: TestServer
    clients: list[openai.AsyncOpenAI] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def runtime(self) -> Runtime:
        return self.server.app[RUNTIME]

    def client(self, api_key: str = "client-key", **kw: object) -> openai.AsyncOpenAI:
        """The official SDK pointed at the gateway, no retries (tests see each answer)."""
        client = openai.AsyncOpenAI(
            base_url=f"{self.url}/v1",
            api_key=api_key,
            max_retries=0,
            **kw,  # type: ignore[arg-type]
        )
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.server.close()


StartGateway = Callable[[Mapping[str, str]], Awaitable[Gateway]]


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests assert English text whatever the developer's locale; each test starts in English."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "AOA_LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    set_language("en")
    yield
    set_language("en")  # a Controller may have switched the process-wide language


# Property tests draw the same examples on every run unless AOA_HYPOTHESIS_EXPLORE=1: the suite
# (and so CI) stays repeatable, and exploring for new failures is a deliberate run.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(
    "explore" if os.environ.get("AOA_HYPOTHESIS_EXPLORE") == "1" else "repeatable"
)

# The person's session bus leads to their keyring: neither this process nor any child it starts
# gets to see it. Tests that need a real keyring start their own (private_keyring).
os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)


@dataclass
class Sandbox:
    """What each test runs in: the in-memory keyring, and the connections refused so far."""

    keyring: MemoryKeyring
    refused: list[str]


@pytest.fixture(autouse=True)
def sandbox() -> Iterator[Sandbox]:
    """Every test: keys in memory (never the person's keyring) and no connection off loopback."""
    with memory_keyring() as backend, loopback_only() as refused:
        yield Sandbox(backend, refused)
    if refused:
        pytest.fail(f"the test tried to leave this machine: {', '.join(refused)}")


@pytest.fixture(scope="session")
def private_keyring() -> Iterator[PrivateKeyring]:
    """A Secret Service keyring of the tests own (own bus and HOME), for real-keyring tests."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"real keyring tests need {', '.join(missing)} (apt: dbus gnome-keyring)")
    keyring = start_private_keyring()
    yield keyring
    keyring.stop()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await FakeUpstream().start()
    yield fake
    await fake.close()


@pytest.fixture
async def start_gateway() -> AsyncIterator[StartGateway]:
    """Start gateways from env-style settings; all are stopped after the test."""
    gateways: list[Gateway] = []

    async def start(env: Mapping[str, str]) -> Gateway:
        server = TestServer(create_app(load_settings(env)), host="127.0.0.1")
        await server.start_server()
        gateways.append(Gateway(server))
        return gateways[-1]

    yield start
    for gateway in gateways:
        await gateway.close()
