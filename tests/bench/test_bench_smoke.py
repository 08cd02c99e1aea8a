"""`python -m bench --smoke` runs end to end: every available column gets measured, every chunk
arrives. Timing is never asserted here (speed is judged from docs/performance.md, not CI)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aoa_proxy.providers import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    md, raw = out / "performance.md", out / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(md), "--json", str(raw)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return md.read_text(), json.loads(raw.read_text())


def _columns(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in data["columns"]}


def _header(text: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith("| figure |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_bench_smoke_measures_every_available_column(smoke: tuple[str, dict[str, Any]]) -> None:
    text, data = smoke
    cols = _columns(data)
    header = _header(text)
    always = ("direct", "bare", "aoa", "aoa-3p", "aoa-metrics", "aoa-1w", "aoa-2w")
    for key in (*always, "aoa-resp", "aoa-resp-gemini", "aoa-msg", "aoa-msg-gemini"):
        assert cols[key]["available"], cols[key]["reason"]
    nginx_installed = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
    assert cols["nginx"]["available"] == nginx_installed, cols["nginx"]["reason"]
    assert cols["aoa-gemini"]["available"] == ("gemini" in REGISTRY), cols["aoa-gemini"]["reason"]
    for col in cols.values():
        if col["available"]:
            assert col["title"] in header
            assert col["errors"] == 0, col
        else:
            assert col["title"] not in header
            assert col["reason"] and col["reason"] in text


def test_bench_smoke_streams_deliver_every_chunk(smoke: tuple[str, dict[str, Any]]) -> None:
    _, data = smoke
    streamed = [c for c in data["columns"] if c["available"] and c["streams"]]
    assert {c["key"] for c in streamed} >= {"direct", "bare", "aoa", "aoa-3p", "aoa-metrics"}
    for col in streamed:
        assert col["chunks_expected"] > 0
        assert col["chunks_received"] == col["chunks_expected"], col
        assert col["stream_failures"] == [], col


def test_bench_smoke_writes_the_targets_and_table(smoke: tuple[str, dict[str, Any]]) -> None:
    text, data = smoke
    assert "## Targets (aoa, from this run)" in text
    assert "`python -m bench --smoke" in text
    for label in ("req/s, c=64", "RSS idle (MiB)", "CPU-s per 1,000 requests", "start-up"):
        assert label in text
