"""The settings page's "Test connection": one cheap real call (the model list) with a
provider's settings, its outcome in plain words. Nothing is stored; the key goes only where the
provider's own requests go (its endpoint, through its proxy)."""

from __future__ import annotations

import asyncio
import json
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from aoa_proxy.config import Settings
from aoa_proxy.i18n import _
from aoa_proxy.providers import REGISTRY, ProviderKind, get_provider

TEST_TIMEOUT: Final = 20.0


async def check_connection(settings: Settings, name: str, label: str) -> tuple[bool, str]:
    """(worked, what happened) for provider `name` (shown as `label`) with these settings."""
    if name not in REGISTRY:
        return False, _("{label} is not available in this version of aoa").format(label=label)
    ps = settings.providers.get(name)
    if ps is None:
        return False, _("Unknown provider {name!r}").format(name=name)
    provider = get_provider(ps)
    if provider.kind is ProviderKind.LOCAL:
        return True, _("The demo provider answers offline; there is nothing to connect to.")
    if not ps.endpoint:
        return False, _("Set the endpoint for {label} and save first.").format(label=label)
    if not ps.api_key:
        return False, _("No API key for {label}: add one first.").format(label=label)
    request = provider.models_request(provider.server_key)  # a pool's first key
    if request is None:
        return False, _("{label} has no model list to test with.").format(label=label)
    host = urlsplit(request.url).hostname or "?"
    try:
        async with (
            _session(ps.proxy) as session,
            session.request(
                request.method, request.url, headers=request.headers, data=request.body
            ) as response,
        ):
            status = response.status
            body = await response.content.read(1 << 20) if status == 200 else b""
    except asyncio.TimeoutError:
        return False, _("{label} did not answer within {seconds:g} seconds.").format(
            label=label, seconds=TEST_TIMEOUT
        )
    except aiohttp.ClientConnectorCertificateError:
        return False, _(
            "The security certificate of {host} was not accepted; check the endpoint."
        ).format(host=host)
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or str(exc.os_error)
        return False, _("Could not connect to {host}: {reason}. Check the endpoint{proxy}.").format(
            host=host, reason=reason, proxy=_(" and the proxy") if ps.proxy else ""
        )
    except (aiohttp.ClientError, OSError) as exc:
        return False, _("The connection to {host} failed ({error}).").format(
            host=host, error=type(exc).__name__
        )
    return _explain(label, status, body)


def _explain(label: str, status: int, body: bytes) -> tuple[bool, str]:
    """An HTTP status from the model list, in plain words."""
    if status == 200:
        try:
            count = len(json.loads(body).get("data") or [])
        except (ValueError, AttributeError, TypeError):
            count = 0
        return True, _("Connected to {label}: the key works (models listed: {count}).").format(
            label=label, count=count
        )
    if status in (401, 403):
        return False, _("{label} refused the key (HTTP {status}). Check the API key.").format(
            label=label, status=status
        )
    if status == 404:
        return False, _(
            '{label} answered "not found" (HTTP 404). Check the endpoint address and API version.'
        ).format(label=label)
    if status == 429:
        return True, _(
            "{label} is reachable but is limiting requests right now (HTTP 429); try again later."
        ).format(label=label)
    if status >= 500:
        return False, _(
            "{label} had a problem on its side (HTTP {status}); try again later."
        ).format(label=label, status=status)
    return False, _("{label} answered with HTTP {status}.").format(label=label, status=status)


def _session(proxy: str) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=TEST_TIMEOUT)
    connector: aiohttp.BaseConnector
    if proxy:
        from aiohttp_socks import ProxyConnector

        connector = ProxyConnector.from_url(proxy, rdns=True)
    else:
        connector = aiohttp.TCPConnector()
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=not proxy)
