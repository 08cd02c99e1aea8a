"""Three fake upstreams at once (Azure, Gemini, OpenAI-compatible) and the env enabling them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestServer

from aoa_proxy.app import create_app
from aoa_proxy.config import load_settings
from aoa_proxy.runtime import Runtime
from tests.conftest import Gateway
from tests.fakes import FakeUpstream
from tests.gemini.fake_gemini import FakeGemini

AZURE_KEY = "azure-server-key-0001"
GEMINI_KEY = "server-key"  # one of the fake Gemini's good keys
OPENAI_KEY = "openai-server-key-0003"


@dataclass
class Fakes:
    azure: FakeUpstream
    gemini: FakeGemini
    openai: FakeUpstream

    async def close(self) -> None:
        for fake in (self.azure, self.gemini, self.openai):
            await fake.close()


async def start_fakes() -> Fakes:
    return Fakes(
        await FakeUpstream().start(), await FakeGemini().start(), await FakeUpstream().start()
    )


def three_env(fakes: Fakes, providers: str = "azure,gemini,openai", **extra: str) -> dict[str, str]:
    """AOA_PROVIDERS with all three configured (server keys); the first listed is the default."""
    return {
        "AOA_PROVIDERS": providers,
        "AZURE_ENDPOINT": fakes.azure.url + "/",
        "AZURE_API_KEY": AZURE_KEY,
        "GEMINI_ENDPOINT": fakes.gemini.url,
        "GEMINI_API_KEY": GEMINI_KEY,
        "OPENAI_ENDPOINT": fakes.openai.url + "/v1",
        "OPENAI_API_KEY": OPENAI_KEY,
        **extra,
    }


StartAt = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    started = await start_fakes()
    yield started
    await started.close()


@pytest.fixture
async def gateway() -> AsyncIterator[StartAt]:
    """`await gateway(env, clock=...)`: a gateway whose key pools read `clock` (tests move it
    instead of sleeping through a cool-down)."""
    started: list[Gateway] = []

    async def start(env: Mapping[str, str], clock: Callable[[], float] = time.monotonic) -> Gateway:
        settings = load_settings(env)
        app = create_app(settings, Runtime(settings, clock=clock))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append(Gateway(server))
        return started[-1]

    yield start
    for gw in started:
        await gw.close()
