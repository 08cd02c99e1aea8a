"""GET /metrics in Prometheus' text format, through prometheus-client (AOA_METRICS=on).

Counters and the latency histogram follow `Runtime.record` (observe.py), on the request's loop:
a few dict lookups and integer additions per request. What is state rather than
events (streams open now, keys cooling down) is read when Prometheus scrapes, so it costs the
request path nothing. The route sits behind AOA_ACCESS_TOKEN like /v1/ (admission.py).

Each process has its own numbers (with AOA_WORKERS > 1 a scrape reaches one of them), like the
key cool-downs themselves. The model label is the client's word: past MAX_SERIES label sets new
ones count as model "other", so a client cannot grow the gateway's memory with invented names.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Iterator
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
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
    """Plain numbers bumped on the request's loop; prometheus-client families made from them
    when Prometheus scrapes (on the same loop, so no lock). Incrementing prometheus-client's own
    Counter and Histogram children cost ~4x more per request (each takes a lock).

    One registry per runtime, not prometheus-client's global one: tests build many apps.
    """

    def __init__(self, rt: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Counted(self))
        self.registry.register(_LiveState(rt))
        # (door, provider, model, status) -> requests
        self.requests: dict[tuple[str, str, str, int], int] = {}
        # (door, provider, model) -> [prompt, completion, cached, reasoning]
        self.tokens: dict[tuple[str, str, str], list[int]] = {}
        # (door, provider) -> [count per bucket (the last: above every bound)], and the sum
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.seconds: dict[tuple[str, str], float] = {}

    def observe(self, rec: RequestRecord) -> None:
        """Count a finished request (the Runtime listener)."""
        door = door_of(rec)
        if door is None:
            return
        provider, model = rec.provider, rec.model
        key = (door, provider, model, rec.status)
        requests = self.requests
        if key not in requests:
            if len(requests) >= MAX_SERIES:
                model = "other"
                key = (door, provider, model, rec.status)
            requests.setdefault(key, 0)
        requests[key] += 1
        timed = (door, provider)
        seconds = rec.duration_ms / 1000
        counts = self.buckets.get(timed)
        if counts is None:
            counts = self.buckets[timed] = [0] * (len(BUCKETS) + 1)
            self.seconds[timed] = 0.0
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.seconds[timed] += seconds
        if rec.prompt_tokens is None and rec.completion_tokens is None:
            return
        tokens = self.tokens.get((door, provider, model))
        if tokens is None:
            tokens = self.tokens[(door, provider, model)] = [0, 0, 0, 0]
        tokens[0] += rec.prompt_tokens or 0
        tokens[1] += rec.completion_tokens or 0
        tokens[2] += rec.cached_tokens or 0
        tokens[3] += rec.reasoning_tokens or 0

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics."""
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _Counted(Collector):
    """The counters and the latency histogram, as prometheus-client families."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        requests = CounterMetricFamily(
            "aoa_requests", "Model calls answered", labels=("door", "provider", "model", "status")
        )
        for (door, provider, model, status), count in sorted(m.requests.items()):
            requests.add_metric((door, provider, model, str(status)), count)
        yield requests
        tokens = CounterMetricFamily(
            "aoa_tokens",
            "Tokens the upstreams reported (kind: prompt, completion, cached, reasoning)",
            labels=("door", "provider", "model", "kind"),
        )
        for (door, provider, model), counts in sorted(m.tokens.items()):
            for kind, count in zip(_TOKEN_KINDS, counts, strict=True):
                tokens.add_metric((door, provider, model, kind), count)
        yield tokens
        latency = HistogramMetricFamily(
            "aoa_request_duration_seconds",
            "Time from the request to the answer's last byte (streams: the whole stream)",
            labels=("door", "provider"),
        )
        for (door, provider), counts in sorted(m.buckets.items()):
            cumulative, running = [], 0
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric((door, provider), cumulative, m.seconds[(door, provider)])
        yield latency


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
