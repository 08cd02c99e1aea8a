"""`python -m bench`: start the mock and every column, load each in turn, write the table.

Layout on a 2-core machine: every server under test is pinned to one core; the load generators
(wrk, the asyncio stream client = this process) and the mock upstream share the other. Each
figure is the median of several short runs, taken in rounds across all columns so that noise from
other work on the machine hits every column alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shlex
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # `python bench/run.py`: make `import bench` work
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import columns as cols
from bench.load import (
    BODY,
    PlainResult,
    StreamResult,
    have_wrk,
    plain_load,
    run_wrk,
    stream_load,
)
from bench.procs import Server, cpu_seconds, rss_bytes

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Profile:
    """How much work one run does."""

    runs: int
    seconds: int  # per wrk run
    counts: dict[int, int]  # asyncio client: requests per concurrency (no wrk / smoke)
    chunks: int
    gap_ms: float
    streams: dict[int, int]  # streams per stream concurrency
    startups: int
    soak_requests: int
    litellm: bool


FULL = Profile(
    runs=5,
    seconds=2,
    counts={1: 2000, 16: 8000, 64: 8000},
    chunks=20,
    gap_ms=10.0,
    streams={1: 10, 64: 128},
    startups=3,
    soak_requests=50_000,
    litellm=True,
)
SMOKE = Profile(
    runs=1,
    seconds=1,
    counts={1: 20, 16: 160, 64: 320},
    chunks=5,
    gap_ms=2.0,
    streams={1: 2, 64: 64},
    startups=1,
    soak_requests=0,
    litellm=False,
)


@dataclass
class Measured:
    """Everything measured for one column."""

    col: cols.Column
    startup_s: list[float] = field(default_factory=list)
    rss_idle: int = 0
    rss_peak: int = 0
    plain: dict[int, list[PlainResult]] = field(default_factory=dict)
    cpu_s: float = 0.0  # CPU spent in plain runs at concurrency >= 16 ...
    cpu_requests: int = 0  # ... and the requests it served
    streams: dict[int, StreamResult] = field(default_factory=dict)
    stream_cpu_s: float = 0.0  # CPU spent in the concurrent stream run ...
    stream_count: int = 0  # ... and how many streams that was
    failed: str = ""
    soak: list[tuple[int, int]] = field(default_factory=list)  # (requests so far, RSS bytes)

    @property
    def ok(self) -> bool:
        return self.col.server is not None and not self.failed

    def sample_rss(self) -> None:
        if self.col.server is not None:
            self.rss_peak = max(self.rss_peak, rss_bytes(self.col.server.pids()))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    result: T = uvloop.run(coro)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few seconds, tiny counts, no LiteLLM")
    p.add_argument("--out", type=Path, default=None, help="Markdown output (default: docs/...)")
    p.add_argument("--json", type=Path, default=None, help="also write raw results as JSON")
    p.add_argument("--runs", type=int, default=None, help="runs per figure (median is reported)")
    p.add_argument("--seconds", type=int, default=None, help="seconds per wrk run")
    p.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM column")
    p.add_argument("--litellm-venv", type=Path, default=cols.LITELLM_VENV)
    p.add_argument("--no-wrk", action="store_true", help="use the asyncio client for everything")
    return p.parse_args(argv)


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the finally blocks stop every server."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prof = SMOKE if args.smoke else FULL
    if args.runs:
        prof = dataclasses.replace(prof, runs=args.runs)
    if args.seconds:
        prof = dataclasses.replace(prof, seconds=args.seconds)
    use_wrk = have_wrk() and not args.no_wrk and not args.smoke
    cpus = sorted(os.sched_getaffinity(0))  # may be any subset of the machine's cores
    two_cores = len(cpus) >= 2
    sut_core, load_core = (str(cpus[1]), str(cpus[0])) if two_cores else (None, None)
    if two_cores:
        os.sched_setaffinity(0, {cpus[0]})  # this process is the stream load generator
    out = args.out or ROOT / "docs" / "performance.md"
    command = "python -m bench" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    started = time.time()
    load_before = os.getloadavg()[0]

    with _terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="aoa-bench-") as tmpdir:
        tmp = Path(tmpdir)
        servers: list[Server] = []
        try:
            results, soak_note = _measure(args, prof, tmp, servers, use_wrk, sut_core, load_core)
        finally:
            for server in servers:
                server.stop()
    from bench.report import render, write

    text = render(
        results,
        prof=prof,
        command=command,
        use_wrk=use_wrk,
        pinned=(load_core, sut_core) if load_core and sut_core else None,
        elapsed=time.time() - started,
        soak_note=soak_note,
        smoke=args.smoke,
        load=(load_before, os.getloadavg()[0]),
        litellm=cols.litellm_version(args.litellm_venv),
    )
    write(out, text)
    print(f"bench: wrote {out} in {time.time() - started:.0f} s", flush=True)
    if args.json:
        from bench.report import to_json

        args.json.write_text(to_json(results, prof))
    return 0 if results and results[0].ok else 1


def _measure(
    args: argparse.Namespace,
    prof: Profile,
    tmp: Path,
    servers: list[Server],
    use_wrk: bool,
    sut_core: str | None,
    load_core: str | None,
) -> tuple[list[Measured], str]:
    mock = cols.mock(tmp, prof.chunks, prof.gap_ms, load_core)
    servers.append(mock)
    direct = Measured(cols.Column("direct", "direct (mock)", mock))
    for _ in range(prof.startups):
        mock.stop()
        direct.startup_s.append(mock.start())
    up = mock.port
    columns = [
        cols.nginx(tmp, up, sut_core),
        cols.litellm(tmp, up, sut_core, args.litellm_venv)
        if prof.litellm and not args.no_litellm
        else cols.Column("litellm", "LiteLLM", None, "skipped (--smoke or --no-litellm)"),
        cols.bare(tmp, up, sut_core),
        cols.aoa(tmp, up, sut_core),
        cols.aoa_three(tmp, up, sut_core),
        cols.aoa(tmp, up, sut_core, metrics=True),
        cols.aoa_gemini(tmp, up, sut_core),
        cols.aoa_responses(tmp, up, sut_core, gemini=False),
        cols.aoa_responses(tmp, up, sut_core, gemini=True),
        cols.aoa_messages(tmp, up, sut_core, gemini=False),
        cols.aoa_messages(tmp, up, sut_core, gemini=True),
        # Scaling: one core is busy with wrk and the mock, so both of these float on both cores.
        cols.aoa(tmp, up, None, workers=1, pinned=False),
        cols.aoa(tmp, up, None, workers=2, pinned=False),
    ]
    results = [direct] + [Measured(c) for c in columns]
    for m in results[1:]:
        if m.col.server is None:
            continue
        servers.append(m.col.server)
        say(f"starting {m.col.title}")
        try:
            for i in range(1 if m.col.key == "litellm" else prof.startups):
                if i:
                    m.col.server.stop()
                m.startup_s.append(m.col.server.start())
        except RuntimeError as exc:
            m.failed = str(exc)
            m.col.server.stop()
    time.sleep(0.5)
    for m in results:
        if m.ok:
            assert m.col.server is not None
            m.rss_idle = m.rss_peak = rss_bytes(m.col.server.pids())
    for m in results:
        if m.ok:
            _warm_up(m, prof.chunks)
    for r in range(prof.runs):
        say(f"round {r + 1}/{prof.runs}: non-streaming")
        for m in results:
            if m.ok:
                _plain_round(m, prof, use_wrk, load_core)
    for m in results:
        if m.ok and m.col.streams:
            say(f"streams through {m.col.title}")
            _stream_runs(m, prof)
    soak_note = ""
    aoa = next(m for m in results if m.col.key == "aoa")
    if prof.soak_requests and aoa.ok:
        soak_note = _soak(aoa, prof.soak_requests, use_wrk, load_core)
    return results, soak_note


def say(text: str) -> None:
    print(f"bench: {text}", flush=True)


def _url(m: Measured) -> str:
    assert m.col.server is not None
    return f"http://127.0.0.1:{m.col.server.port}{m.col.path}"


def _body(m: Measured) -> bytes:
    return m.col.body if m.col.body is not None else BODY


def _warm_up(m: Measured, chunks: int) -> None:
    """A few requests and one stream: proves the column works before it is timed."""
    try:
        r = run_async(plain_load(_url(m), 4, 40, body=_body(m)))
        if r.errors:
            raise RuntimeError(f"{r.errors} of {r.requests} warm-up requests failed")
        if m.col.streams:
            s = run_async(stream_load(_url(m), 1, 1, chunks))
            if not s.received:
                raise RuntimeError(f"a warm-up stream delivered no chunks: {s.failures[:1]}")
    except Exception as exc:  # report the column as failed, keep measuring the others
        assert m.col.server is not None
        m.failed = f"{exc} (log: {m.col.server.log_tail(300)})"
        m.col.server.stop()


def _plain_round(m: Measured, prof: Profile, use_wrk: bool, load_core: str | None) -> None:
    assert m.col.server is not None
    url = _url(m)
    try:
        for conns in m.col.concurrency:
            pids = m.col.server.pids()
            cpu0 = cpu_seconds(pids)
            if use_wrk:
                res = run_wrk(url, conns, prof.seconds, load_core, m.sample_rss, m.col.body)
            else:
                res = run_async(
                    plain_load(url, conns, prof.counts[conns], prof.seconds, body=_body(m))
                )
            m.sample_rss()
            if conns >= 16:
                m.cpu_s += cpu_seconds(pids) - cpu0
                m.cpu_requests += res.requests
            m.plain.setdefault(conns, []).append(res)
    except Exception as exc:
        m.failed = f"{type(exc).__name__}: {exc}"
        m.col.server.stop()


def _stream_runs(m: Measured, prof: Profile) -> None:
    assert m.col.server is not None
    url = _url(m)
    for conns, count in prof.streams.items():
        pids = m.col.server.pids()
        cpu0 = cpu_seconds(pids)
        m.streams[conns] = run_async(stream_load(url, conns, count, prof.chunks))
        m.sample_rss()
        if conns > 1:
            m.stream_cpu_s = cpu_seconds(pids) - cpu0
            m.stream_count = count


def _soak(m: Measured, total: int, use_wrk: bool, load_core: str | None) -> str:
    """RSS of aoa while it serves `total` more requests; stops early at a time cap."""
    assert m.col.server is not None
    say(f"memory soak: {total} requests through aoa")
    url, done, cap = _url(m), 0, time.monotonic() + 60
    m.soak.append((0, rss_bytes(m.col.server.pids())))
    while done < total and time.monotonic() < cap:
        if use_wrk:
            res = run_wrk(url, 64, 1, load_core, m.sample_rss)
        else:
            res = run_async(plain_load(url, 64, min(5000, total - done), 2))
        done += res.requests
        m.soak.append((done, rss_bytes(m.col.server.pids())))
    if done < total:
        return f"stopped at the 60 s cap after {done} of {total} requests"
    return ""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
