"""A fake Anthropic upstream and gateways that use it (AOA_TYPE=anthropic)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.anthropic_provider.fake_anthropic import FakeAnthropic
from tests.conftest import Gateway, StartGateway


@pytest.fixture
async def claude() -> AsyncIterator[FakeAnthropic]:
    fake = await FakeAnthropic().start()
    yield fake
    await fake.close()


async def claude_gw(start_gateway: StartGateway, fake: FakeAnthropic, **extra: str) -> Gateway:
    """A gateway whose default provider is the fake Anthropic, with the server key."""
    env = {
        "AOA_TYPE": "anthropic",
        "ANTHROPIC_ENDPOINT": fake.url,
        "ANTHROPIC_API_KEY": "server-key",
        **extra,
    }
    return await start_gateway(env)
