"""GET /metrics in Prometheus' text format, through prometheus-client (AOA_METRICS=on).

Counters and the latency histogram follow `Runtime.record` (observe.py), on the request's loop:
a dict lookup of the labelled child and a few increments per request. What is state rather than
events (streams open now, keys cooling down) is read when Prometheus scrapes, so it costs the
request path nothing. The route sits behind AOA_ACCESS_TOKEN like /v1/ (admission.py).

Each process has its own numbers (with AOA_WORKERS > 1 a scrape reaches one of them), like the
key cool-downs themselves. The model label is the client's word: past MAX_SERIES label sets new
ones count as model "other", so a client cannot grow the gateway's memory with invented names.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from aoa_proxy.observe import door_of
from aoa_proxy.runtime import RequestRecord, Runtime

PATH: Final = "/metrics"
MAX_SERIES: Final = 2000
# Seconds; chat answers range from tens of milliseconds (a cache) to minutes (long streams).
BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TOKEN_KINDS: Final = ("prompt", "completion", "cached", "reasoning")

_BY_RUNTIME: weakref.WeakKeyDictionary[Runtime, Metrics] = weakref.WeakKeyDictionary()


def metrics_for(rt: Runtime) -> Metrics:
    """The runtime's metrics, made (and listening) on first use: a rebound app keeps counting."""
    metrics = _BY_RUNTIME.get(rt)
    if metrics is None:
        metrics = _BY_RUNTIME[rt] = Metrics(rt)
        rt.listeners.append(metrics.observe)
        rt.in_flight = {}
    return metrics


class Metrics:
    """One registry per runtime (not prometheus-client's global one: tests build many apps)."""

    def __init__(self, rt: Runtime) -> None:
        self.registry = CollectorRegistry()
        labels = ("door", "provider", "model", "status")
        self.requests = Counter(
            "aoa_requests", "Model calls answered", labels, registry=self.registry
        )
        self.tokens = Counter(
            "aoa_tokens",
            "Tokens the upstreams reported (kind: prompt, completion, cached, reasoning)",
            ("door", "provider", "model", "kind"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "aoa_request_duration_seconds",
            "Time from the request to the answer's last byte (streams: the whole stream)",
            ("door", "provider"),
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_LiveState(rt))
        # Labelled children by label values: one dict lookup per request instead of labels().
        self._counted: dict[tuple[str, str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}
        self._tokened: dict[tuple[str, str, str], tuple[Any, ...]] = {}

    def observe(self, rec: RequestRecord) -> None:
        """Count a finished request (the Runtime listener)."""
        door = door_of(rec)
        if door is None:
            return
        model = rec.model
        key = (door, rec.provider, model, rec.status)
        counter = self._counted.get(key)
        if counter is None:
            if len(self._counted) >= MAX_SERIES:
                model = "other"
                key = (door, rec.provider, model, rec.status)
            counter = self._counted.get(key)
            if counter is None:
                counter = self._counted[key] = self.requests.labels(
                    door, rec.provider, model, str(rec.status)
                )
        counter.inc()
        timed = self._timed.get((door, rec.provider))
        if timed is None:
            timed = self._timed[(door, rec.provider)] = self.latency.labels(door, rec.provider)
        timed.observe(rec.duration_ms / 1000)
        if rec.prompt_tokens is None and rec.completion_tokens is None:
            return
        tokened = self._tokened.get((door, rec.provider, model))
        if tokened is None:
            tokened = self._tokened[(door, rec.provider, model)] = tuple(
                self.tokens.labels(door, rec.provider, model, kind) for kind in _TOKEN_KINDS
            )
        counts = (rec.prompt_tokens, rec.completion_tokens, rec.cached_tokens, rec.reasoning_tokens)
        for child, count in zip(tokened, counts, strict=True):
            if count:
                child.inc(count)

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics."""
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _LiveState(Collector):
    """Streams open now and key cool-downs, read at scrape time."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def collect(self) -> Iterator[Metric]:
        streams = GaugeMetricFamily(
            "aoa_streams_in_flight", "Streamed answers being written now", labels=("door",)
        )
        open_now: dict[str, int] = {}
        for rec in list((self._rt.in_flight or {}).values()):
            door = door_of(rec)
            if door is not None and rec.stream and rec.status:
                open_now[door] = open_now.get(door, 0) + 1
        for door, count in sorted(open_now.items()):
            streams.add_metric((door,), count)
        yield streams
        cooling = GaugeMetricFamily(
            "aoa_key_cooldown_seconds",
            "Seconds until a server key is used again (0 when usable); key: its place in the pool",
            labels=("provider", "key", "reason"),
        )
        for provider, keys in sorted(self._rt.key_status().items()):
            for place, status in enumerate(keys, 1):
                reason = status.reason.value if status.reason is not None else ""
                cooling.add_metric((provider, str(place), reason), round(status.cooling, 3))
        yield cooling
