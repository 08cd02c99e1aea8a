"""The Usage view's numbers, charts and CSV, read from a real history file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from aoa_desktop.usage_chart import stacked_bars
from aoa_desktop.usage_report import Span, csv_rows, report
from aoa_proxy.runtime import RequestRecord
from aoa_proxy.usage import UsageStore

HOSTILE = '</title></svg><script>alert(1)</script><svg onload="x">'


def _history(path: Path, records: list[RequestRecord]) -> UsageStore:
    store = UsageStore(path)
    for rec in records:
        store.add(rec)
    store.close()
    return store


def _rec(model: str, status: int = 200, ms: float = 10.0, tokens: tuple[int, int] = (3, 2), **kw):
    rec = RequestRecord("POST", "/v1/chat/completions", provider="openai", model=model, **kw)
    rec.status, rec.duration_ms = status, ms
    rec.prompt_tokens, rec.completion_tokens = tokens
    return rec


def test_report_totals_percentiles_and_days(tmp_path):
    yesterday = time.time() - 86400
    records = [_rec("a", ms=float(ms)) for ms in range(1, 101)]  # 1..100 ms today
    records += [_rec("b", status=502, tokens=(0, 0), started=yesterday)]
    store = _history(tmp_path / "u.db", records)
    today = dt.date.today()
    with store.reader() as db:
        got = report(db, Span(today - dt.timedelta(days=1), today), "model")
    assert got["days"] == [(today - dt.timedelta(days=1)).isoformat(), today.isoformat()]
    assert got["totals"]["requests"] == 101 and got["totals"]["errors"] == 1
    assert got["totals"]["tokens"] == 500
    assert got["requests"] == [1, 100] and got["errors"] == [1, 0]
    assert got["latency"]["p50"] == 50.0 and got["latency"]["p99"] == 99.0
    assert [s["name"] for s in got["series"]] == ["a"]  # b used no tokens
    assert got["series"][0]["values"] == [0, 500]
    assert {r["model"]: r["requests"] for r in got["table"]} == {"a": 100, "b": 1}


def test_more_than_eight_series_are_summed_as_other(tmp_path):
    store = _history(tmp_path / "u.db", [_rec(f"m{i}", tokens=(i + 1, 0)) for i in range(11)])
    today = dt.date.today()
    with store.reader() as db:
        got = report(db, Span(today, today), "model")
    names = [s["name"] for s in got["series"]]
    assert len(names) == 9 and names[-1] == ""  # the page calls it "other"
    assert got["series"][-1]["values"] == [1 + 2 + 3]  # the three smallest


def test_no_history_file_is_an_empty_report(tmp_path):
    store = UsageStore(tmp_path / "missing.db")
    with store.reader() as db:
        assert db is None
        got = report(db, Span.parse("", ""), "provider")
    assert got["totals"]["requests"] == 0 and len(got["days"]) == 30


def test_span_parse_swaps_and_bounds_ranges():
    today = dt.date(2026, 12, 2)
    assert Span.parse("2026-12-10", "2026-12-01", today) == Span(
        dt.date(2026, 12, 1), dt.date(2026, 12, 10)
    )
    assert Span.parse("nonsense", "", today) == Span(dt.date(2026, 11, 3), today)
    long = Span.parse("2000-01-01", "2026-12-02", today)
    assert (long.last - long.first).days == 365


def test_chart_text_from_requests_is_escaped():
    svg = stacked_bars(["2026-12-01", "2026-12-02"], [(HOSTILE, [5, 7], "#0072b2")], "Tokens")
    root = ET.fromstring(svg)  # well-formed SVG, one root, nothing smuggled out of a <title>
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert not root.findall(f".//{ns}script") and not root.findall(".//script")
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert titles == [f"2026-12-01 {HOSTILE}: 5", f"2026-12-02 {HOSTILE}: 7"]
    assert "onload" not in "".join(f"{k}" for e in root.iter() for k in e.attrib)


def test_csv_has_every_row_and_defuses_formulas(tmp_path):
    store = _history(tmp_path / "u.db", [_rec("=HYPERLINK(1)"), _rec("plain", key_hint="9876")])
    today = dt.date.today()
    with store.reader() as db:
        text = "".join(csv_rows(db, Span(today, today)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["model"] for r in rows] == ["'=HYPERLINK(1)", "plain"]
    assert rows[1]["key_last4"] == "9876" and rows[0]["door"] == "chat"
    assert dt.datetime.fromisoformat(rows[0]["time"]).tzinfo is not None
