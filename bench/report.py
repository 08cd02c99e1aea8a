"""The Markdown table (docs/performance.md) and a JSON dump of one bench run."""

from __future__ import annotations

import datetime
import json
import math
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.load import percentile

if TYPE_CHECKING:
    from bench.run import Measured, Profile

MIB = 1024 * 1024
# Everything below this line in docs/performance.md is hand-written and kept across runs.
KEEP_MARKER = "<!-- bench: generated above; hand-written notes below are kept on re-runs -->"


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else math.nan


def rps(m: Measured, conns: int) -> float:
    return _median([r.rps for r in m.plain.get(conns, [])])


def latency_us(m: Measured, q: str) -> float:
    runs = m.plain.get(1, [])
    return _median([r.p50_us if q == "p50" else r.p99_us for r in runs])


def cpu_per_1k(m: Measured) -> float:
    return m.cpu_s / m.cpu_requests * 1000 if m.cpu_requests else math.nan


def stream_stat(m: Measured, conns: int, which: str, q: float) -> float:
    s = m.streams.get(conns)
    if s is None:
        return math.nan
    return percentile(s.ttfc_ms if which == "ttfc" else s.chunk_ms, q)


def errors(m: Measured) -> int:
    return sum(r.errors for runs in m.plain.values() for r in runs)


def _fmt(value: float, digits: int = 0, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def _version(argv: list[str], pattern: str) -> str:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        return "not installed"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "?"
    found = re.search(pattern, out.stdout + out.stderr)
    return found.group(1) if found else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


Cell = Callable[["Measured"], str]


def _rps_cell(c: int) -> Cell:
    return lambda m: _fmt(rps(m, c))


def _share_cell(c: int, ref: Measured) -> Cell:
    return lambda m: _fmt(100 * _ratio(rps(m, c), rps(ref, c)), 0, " %")


def _times_cell(c: int, ref: Measured) -> Cell:
    return lambda m: _fmt(_ratio(rps(m, c), rps(ref, c)), 1, "×")


def _latency_cell(q: str, ref: Measured | None) -> Cell:
    def cell(m: Measured) -> str:
        base = latency_us(ref, q) if ref else 0.0
        return _fmt((latency_us(m, q) - base) / 1000, 3)

    return cell


def _stream_cell(c: int, which: str, qs: tuple[float, ...], ref: Measured | None) -> Cell:
    def cell(m: Measured) -> str:
        parts = []
        for q in qs:
            base = stream_stat(ref, c, which, q) if ref else 0.0
            parts.append(_fmt(stream_stat(m, c, which, q) - base, 2))
        return " / ".join(parts)

    return cell


def _chunks_cell(m: Measured) -> str:
    return " + ".join(f"{s.received}/{s.expected}" for s in m.streams.values()) or "–"


def _stream_cpu_cell(m: Measured) -> str:
    return _fmt(m.stream_cpu_s / m.stream_count * 1000, 1) if m.stream_count else "–"


def render(
    results: list[Measured],
    *,
    prof: Profile,
    command: str,
    use_wrk: bool,
    pinned: tuple[str, str] | None,
    elapsed: float,
    soak_note: str,
    smoke: bool,
    load: tuple[float, float],
    litellm: str,
) -> str:
    by = {m.col.key: m for m in results}
    shown = [m for m in results if m.ok]
    direct, nginx, bare = by.get("direct"), by.get("nginx"), by.get("bare")
    lite = by.get("litellm")

    def ref(m: Measured | None) -> Measured | None:
        return m if m is not None and m.ok else None

    nginx, bare, lite, direct = ref(nginx), ref(bare), ref(lite), ref(direct)

    rows: list[tuple[str, Cell]] = [(f"req/s, c={c}", _rps_cell(c)) for c in (1, 16, 64)]
    for c in (16, 64):
        for label, other in (("direct", direct), ("nginx", nginx), ("bare aiohttp", bare)):
            if other:
                rows.append((f"% of {label}, c={c}", _share_cell(c, other)))
        if lite:
            rows.append((f"× LiteLLM, c={c}", _times_cell(c, lite)))
    rows += [
        ("latency p50, c=1 (ms)", _latency_cell("p50", None)),
        ("latency p99, c=1 (ms)", _latency_cell("p99", None)),
    ]
    if direct:
        rows += [
            ("added p50 vs direct (ms)", _latency_cell("p50", direct)),
            ("added p99 vs direct (ms)", _latency_cell("p99", direct)),
        ]
    for c in prof.streams:
        rows.append((f"stream TTFC p50, c={c} (ms)", _stream_cell(c, "ttfc", (50,), None)))
        if direct:
            rows.append((f"added TTFC p50, c={c} (ms)", _stream_cell(c, "ttfc", (50,), direct)))
        rows.append((f"chunk delay p99, c={c} (ms)", _stream_cell(c, "chunk", (99,), None)))
        if direct:
            label = f"added chunk delay p50 / p99, c={c} (ms)"
            rows.append((label, _stream_cell(c, "chunk", (50, 99), direct)))
    rows += [
        ("chunks delivered", _chunks_cell),
        ("RSS idle (MiB)", lambda m: _fmt(m.rss_idle / MIB, 1)),
        ("RSS peak under load (MiB)", lambda m: _fmt(m.rss_peak / MIB, 1)),
        ("CPU-s per 1,000 requests", lambda m: _fmt(cpu_per_1k(m), 3)),
        ("CPU-s per 1,000 streams", _stream_cpu_cell),
        ("start-up to /health 200 (s)", lambda m: _fmt(_median(m.startup_s), 2)),
        ("failed requests", lambda m: str(errors(m))),
    ]
    nginx_v = _version(["nginx", "-v"], r"nginx/(\S+)")
    wrk_v = _version(["wrk", "--version"], r"wrk (\S+)") if use_wrk else "not used"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Performance",
        "",
        f"Generated by `{command}` on {now} in {elapsed:.0f} s"
        + (" (**smoke mode: tiny counts, not a measurement**)" if smoke else "")
        + ".",
        "",
        f"Machine: {_cpu_count()} cores ({_cpu_model()}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; "
        f"nginx {nginx_v}, wrk {wrk_v}, LiteLLM {litellm}. Load average (1 min) at start "
        f"{load[0]:.1f}, at end {load[1]:.1f}: other work on the machine adds noise.",
        "",
        _method(prof, use_wrk, pinned),
        "",
        "| figure | " + " | ".join(m.col.title for m in shown) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(m) for m in shown) + " |")
    missing = [m for m in results if not m.ok]
    if missing:
        lines += ["", "Columns not measured in this run:"]
        for m in missing:
            lines.append(f"- **{m.col.title}**: {m.failed or m.col.reason}")
    lines += ["", *_targets(by, prof), "", *_workers(by), *_soak(by.get("aoa"), soak_note)]
    lines += ["", KEEP_MARKER]
    return "\n".join(lines) + "\n"


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _method(prof: Profile, use_wrk: bool, pinned: tuple[str, str] | None) -> str:
    load = (
        f"`wrk -t1 -cN -d{prof.seconds}s -s bench/post.lua` (small non-streaming chat request)"
        if use_wrk
        else "the asyncio client in bench/load.py (fixed request counts, time-bounded)"
    )
    pin = "Only one core is available, so nothing is pinned."
    if pinned:
        gen_core, sut = pinned
        pin = (
            f"Each server under test is pinned to core {sut} (`taskset -c {sut}`); wrk, the "
            f"stream client and the mock upstream share core {gen_core}. The ×2-workers column "
            "runs on both."
        )
    return (
        f"Method: {load}; each req/s and latency figure is the median of {prof.runs} runs, taken "
        "in rounds across all columns. Streams: the mock writes "
        f"{prof.chunks} chunks {prof.gap_ms:g} ms apart, each stamped with its send time "
        "(CLOCK_MONOTONIC); the client records time to first chunk (TTFC) and each chunk's "
        "delay from send to receipt; 'added' = column minus direct. CPU from /proc/PID/stat over "
        "the c=16 and c=64 runs; RSS of the whole process group (idle = after start, before any "
        f"request; peak = sampled every 50 ms under load). {pin} aoa logs one access line per "
        "request (INFO); nginx's access log is off."
    )


def _targets(by: dict[str, Measured], prof: Profile) -> list[str]:
    aoa = by.get("aoa")
    if aoa is None or not aoa.ok:
        return ["Targets: aoa was not measured."]
    checks: list[tuple[str, str, bool | None]] = []

    def add(target: str, value: float, ok: bool, digits: int = 2, suffix: str = "") -> None:
        checks.append((target, _fmt(value, digits, suffix), None if math.isnan(value) else ok))

    nginx, bare, lite, direct = (by.get(k) for k in ("nginx", "bare", "litellm", "direct"))
    for c in (16, 64):
        if nginx and nginx.ok:
            v = 100 * _ratio(rps(aoa, c), rps(nginx, c))
            add(f"req/s c={c} ≥ 35 % of nginx", v, v >= 35, 0, " %")
        if bare and bare.ok:
            v = 100 * _ratio(rps(aoa, c), rps(bare, c))
            add(f"req/s c={c} ≥ 90 % of bare aiohttp", v, v >= 90, 0, " %")
        if lite and lite.ok:
            v = _ratio(rps(aoa, c), rps(lite, c))
            add(f"req/s c={c} ≥ 50× LiteLLM", v, v >= 50, 1, "×")
    v = cpu_per_1k(aoa)
    add("CPU ≤ 0.10 CPU-s per 1,000 requests", v, v <= 0.10, 3)
    if direct and direct.ok:
        v = (latency_us(aoa, "p50") - latency_us(direct, "p50")) / 1000
        add("added latency p50 c=1 ≤ 0.3 ms", v, v <= 0.3, 3, " ms")
        v = (latency_us(aoa, "p99") - latency_us(direct, "p99")) / 1000
        add("added latency p99 c=1 ≤ 3 ms", v, v <= 3, 3, " ms")
        hi = max(prof.streams)
        v = stream_stat(aoa, hi, "chunk", 99) - stream_stat(direct, hi, "chunk", 99)
        add(f"added per-chunk delay p99 c={hi} ≤ 4 ms", v, v <= 4, 2, " ms")
        v = stream_stat(aoa, 1, "ttfc", 50) - stream_stat(direct, 1, "ttfc", 50)
        add("added TTFC c=1 ≤ 1 ms", v, v <= 1, 2, " ms")
        v = stream_stat(aoa, hi, "ttfc", 50) - stream_stat(direct, hi, "ttfc", 50)
        add(f"added TTFC c={hi} ≤ 3 ms", v, v <= 3, 2, " ms")
    got = sum(s.received for s in aoa.streams.values())
    want = sum(s.expected for s in aoa.streams.values())
    checks.append(("all chunks delivered", f"{got}/{want}", got == want))
    three = by.get("aoa-3p")
    if three is not None and three.ok:
        for c in (16, 64):
            v = 100 * _ratio(rps(three, c), rps(aoa, c))
            add(f"3 providers: req/s c={c} ≥ 95 % of one", v, v >= 95, 0, " %")
        v = _ratio(cpu_per_1k(three), cpu_per_1k(aoa))
        add("3 providers: CPU ≤ 1.05× one provider", v, v <= 1.05, 2, "×")
    counted = by.get("aoa-metrics")
    if counted is not None and counted.ok:
        for c in (16, 64):
            v = 100 * _ratio(rps(counted, c), rps(aoa, c))
            add(f"metrics on: req/s c={c} ≥ 95 % of off", v, v >= 95, 0, " %")
        v = _ratio(cpu_per_1k(counted), cpu_per_1k(aoa))
        add("metrics on: CPU ≤ 1.05× off", v, v <= 1.05, 2, "×")
    gem = by.get("aoa-gemini")
    if gem is not None and gem.ok:
        v = _ratio(cpu_per_1k(gem), cpu_per_1k(aoa))
        add("Gemini translation CPU ≤ 1.5× pass-through (requests)", v, v <= 1.5, 2, "×")
        if gem.stream_count and aoa.stream_count:
            v = _ratio(gem.stream_cpu_s / gem.stream_count, aoa.stream_cpu_s / aoa.stream_count)
            add("Gemini translation CPU ≤ 1.5× pass-through (streams)", v, v <= 1.5, 2, "×")
    for key, what in (("aoa-resp", "pass-through"), ("aoa-resp-gemini", "bridged to Gemini")):
        resp = by.get(key)
        if resp is not None and resp.ok:  # reported beside chat; no target set
            v = _ratio(cpu_per_1k(resp), cpu_per_1k(aoa))
            checks.append((f"Responses {what}: CPU vs chat pass-through", f"{v:.2f}×", None))
    for key, what in (("aoa-msg", "pass-through"), ("aoa-msg-gemini", "bridged to Gemini")):
        msg = by.get(key)
        if msg is not None and msg.ok:  # reported beside chat; no target set
            v = _ratio(cpu_per_1k(msg), cpu_per_1k(aoa))
            checks.append((f"Messages {what}: CPU vs chat pass-through", f"{v:.2f}×", None))
    add("idle RSS ≤ 45 MiB", aoa.rss_idle / MIB, aoa.rss_idle / MIB <= 45, 1, " MiB")
    add("peak RSS ≤ 80 MiB at c=64", aoa.rss_peak / MIB, aoa.rss_peak / MIB <= 80, 1, " MiB")
    v = _median(aoa.startup_s)
    add("start-up to /health ≤ 0.5 s", v, v <= 0.5, 2, " s")
    if len(aoa.soak) > 2:
        growth = (aoa.soak[-1][1] - aoa.soak[1][1]) / MIB
        add(
            f"RSS flat over {aoa.soak[-1][0]:,} requests (growth after warm-up)",
            growth,
            growth <= 2,
            1,
            " MiB",
        )
    out = ["## Targets (aoa, from this run)", "", "| target | measured | met |", "|---|---:|:---:|"]
    for target, value, ok in checks:
        out.append(f"| {target} | {value} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    return out


def _workers(by: dict[str, Measured]) -> list[str]:
    one, two = by.get("aoa-1w"), by.get("aoa-2w")
    if one is None or two is None or not one.ok or not two.ok:
        return []
    parts = [
        f"c={c}: {_fmt(rps(one, c))} → {_fmt(rps(two, c))} req/s "
        f"({_fmt(_ratio(rps(two, c), rps(one, c)), 2)}×)"
        for c in (16, 64)
    ]
    return [
        "## 1 → 2 workers",
        "",
        "`AOA_WORKERS=1` vs `AOA_WORKERS=2` (SO_REUSEPORT), both unpinned so the scheduler can "
        "use whatever the load generator and the mock leave of the two cores: "
        + "; ".join(parts)
        + ".",
        "",
    ]


def _soak(aoa: Measured | None, note: str) -> list[str]:
    if aoa is None or not aoa.soak:
        return []
    points = ", ".join(f"{n:,}: {rss / MIB:.1f}" for n, rss in aoa.soak)
    text = f"Memory across the soak (requests served: RSS MiB): {points}."
    if note:
        text += f" Note: {note}."
    return ["## Memory soak", "", text]


def write(path: Path, text: str) -> None:
    """Write the generated part, keeping hand-written notes below the marker."""
    kept = ""
    if path.exists():
        old = path.read_text()
        if KEEP_MARKER in old:
            kept = old.split(KEEP_MARKER, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n" + kept.lstrip("\n") if kept.strip() else text)


def to_json(results: list[Measured], prof: Profile) -> str:
    out = []
    for m in results:
        out.append(
            {
                "key": m.col.key,
                "title": m.col.title,
                "available": m.ok,
                "reason": m.failed or m.col.reason,
                "rps": {str(c): rps(m, c) for c in m.plain},
                "errors": errors(m),
                "chunks_expected": sum(s.expected for s in m.streams.values()),
                "chunks_received": sum(s.received for s in m.streams.values()),
                "stream_failures": [f for s in m.streams.values() for f in s.failures][:10],
                "streams": m.col.streams,
                "rss_idle": m.rss_idle,
                "rss_peak": m.rss_peak,
                "cpu_per_1k": cpu_per_1k(m),
                "startup_s": m.startup_s,
            }
        )
    return json.dumps({"chunks": prof.chunks, "columns": out}, indent=2, allow_nan=True)
