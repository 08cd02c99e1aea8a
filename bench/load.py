"""Load generators: `wrk` for plain requests, an asyncio client for plain requests and streams."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.procs import pin_prefix

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}'
STREAM_BODY = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Count"}],"stream":true}'
)
# LiteLLM refuses to start without a master key; every column gets this same bearer token.
CLIENT_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"}
LUA = Path(__file__).with_name("post.lua")
_TS = re.compile(rb"ts:(\d+)")


@dataclass
class PlainResult:
    requests: int
    seconds: float
    errors: int
    p50_us: float
    p99_us: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class StreamResult:
    ttfc_ms: list[float] = field(default_factory=list)  # request sent -> first chunk read
    chunk_ms: list[float] = field(default_factory=list)  # mock wrote chunk -> client read it
    received: int = 0
    expected: int = 0
    failures: list[str] = field(default_factory=list)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    conns: int,
    seconds: int,
    core: str | None,
    tick: Callable[[], None],
    body: bytes | None = None,
) -> PlainResult:
    """One wrk run; `tick` is called about every 50 ms while it runs (for RSS sampling)."""
    argv = pin_prefix(core) + [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "BENCH_BODY": body.decode()} if body is not None else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        while proc.poll() is None:
            tick()
            time.sleep(0.05)
        out = proc.stdout.read().decode() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out[-400:]}")
    r = json.loads(line[6:])
    return PlainResult(
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        errors=r["errors"] + r["non2xx"],
        p50_us=r["p50_us"],
        p99_us=r["p99_us"],
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def plain_load(
    url: str, conns: int, count: int, seconds: float = 30.0, body: bytes = BODY
) -> PlainResult:
    """`count` POSTs over `conns` keep-alive connections, or fewer if `seconds` run out first
    (smoke mode, or when wrk is missing)."""
    latencies: list[float] = []
    errors = 0
    left = count
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal left, errors
            while left > 0 and time.perf_counter() < deadline:
                left -= 1
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=HEADERS) as r:
                        await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1e6)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.perf_counter() - started
    return PlainResult(
        len(latencies), elapsed, errors, percentile(latencies, 50), percentile(latencies, 99)
    )


async def stream_load(url: str, conns: int, streams: int, chunks: int) -> StreamResult:
    """`streams` streaming requests, `conns` at a time; each must deliver `chunks` ts-chunks."""
    result = StreamResult(expected=streams * chunks)
    left = streams
    connector = aiohttp.TCPConnector(limit=conns)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            seen = 0
            tail = b""
            t0 = time.monotonic_ns()
            async with session.post(url, data=STREAM_BODY, headers=HEADERS) as r:
                if r.status != 200:
                    result.failures.append(f"HTTP {r.status}: {(await r.read())[:200]!r}")
                    return
                buf = b""
                async for data in r.content.iter_any():
                    now = time.monotonic_ns()
                    buf += data
                    # a timestamp may be split across reads: only parse up to the last newline
                    cut = buf.rfind(b"\n")
                    if cut < 0:
                        continue
                    done, buf = buf[: cut + 1], buf[cut + 1 :]
                    for m in _TS.finditer(done):
                        if seen == 0:
                            result.ttfc_ms.append((now - t0) / 1e6)
                        result.chunk_ms.append((now - int(m.group(1))) / 1e6)
                        seen += 1
                    tail = (tail + done)[-256:]
            result.received += seen
            if seen != chunks:
                result.failures.append(f"got {seen} of {chunks} chunks")
            elif b"[DONE]" not in tail:
                result.failures.append("stream did not end with [DONE]")

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                try:
                    await one()
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    result.failures.append(type(exc).__name__)

        await asyncio.gather(*(worker() for _ in range(conns)))
    return result
