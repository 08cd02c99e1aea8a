"""Model listings: each provider's /models, fetched concurrently, each within LIST_TIMEOUT.

GET /v1/models and the router's background refresh (rule 4) both list through here. A listing
that fails or is slow never holds up the others: its provider shows its configured names
(default model, aliases) and the router keeps the list it had.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aoa_proxy.aliases import WILDCARD
from aoa_proxy.providers import Provider, ProviderKind, UpstreamRequest
from aoa_proxy.providers.base import model_entry
from aoa_proxy.runtime import Runtime
from aoa_proxy.schema import ModelObject
from aoa_proxy.upstream import fetch_json

log = logging.getLogger(__name__)

LIST_TIMEOUT: Final = 3.0  # seconds for one provider's whole listing (Gemini pages included)


@dataclass(frozen=True, slots=True)
class Listing:
    provider: Provider
    models: list[ModelObject]
    fresh: bool  # the upstream answered every page; False: configured names only


async def list_models(
    rt: Runtime,
    providers: Sequence[Provider],
    keys: Mapping[str, str],
    timeout: float | None = LIST_TIMEOUT,
) -> list[Listing]:
    """Every provider's listing, in the order given, fetched at once; fresh ones are cached.

    `timeout=None` waits as long as the upstream takes (one provider: as aoa always did).
    """
    listings = await asyncio.gather(
        *(_one(rt, p, keys.get(p.name, ""), timeout) for p in providers)
    )
    for listing in listings:
        if listing.fresh:
            rt.note_listing(listing.provider, [m["id"] for m in listing.models])
    return listings


async def _one(rt: Runtime, provider: Provider, key: str, timeout: float | None) -> Listing:
    if provider.kind is ProviderKind.LOCAL:
        return Listing(provider, await provider.list_models(_no_upstream, key), True)
    base = fetch_json(rt.session(provider), provider.name)
    answers: list[int] = []

    async def fetch(req: UpstreamRequest) -> tuple[int, Any]:
        status, payload = await base(req)
        answers.append(status)
        return status, payload

    try:
        models = await asyncio.wait_for(provider.list_models(fetch, key), timeout)
    except TimeoutError:
        log.warning("model list from %s: no answer within %g s", provider.name, timeout)
        return Listing(provider, configured(provider), False)
    except Exception:  # an odd listing must not take the other providers' down with it
        log.exception("model list from %s failed", provider.name)
        return Listing(provider, configured(provider), False)
    fresh = bool(answers) and all(status == 200 for status in answers)
    return Listing(provider, models, fresh)


def configured(provider: Provider) -> list[ModelObject]:
    """The names the settings give a provider (default model, aliases), as model objects."""
    return [model_entry(name, provider.name) for name in provider.known_models()]


def merged(listings: Sequence[Listing]) -> list[ModelObject]:
    """One list for several providers: each id once (the first provider wins), `owned_by` the
    provider that serves it, glob aliases left out (they are patterns, not models)."""
    seen: set[str] = set()
    out: list[ModelObject] = []
    for listing in listings:
        for entry in listing.models:
            model_id = entry["id"]
            if model_id in seen or WILDCARD in model_id:
                continue
            seen.add(model_id)
            out.append({**entry, "owned_by": listing.provider.name})
    return out


async def _no_upstream(req: UpstreamRequest) -> tuple[int, Any]:
    raise AssertionError("a local provider has no upstream to ask")
