"""What the settings page's Usage view shows, read from the usage history (aoa_proxy.usage).

Days are this computer's local days (SQLite's 'localtime' and Python's agree: both ask the C
library). Every function here runs in a worker thread: SQLite reads block.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from aoa_proxy.usage import COLUMNS

MAX_DAYS: Final = 366
TOP: Final = 8  # series drawn by name; the rest are summed as "other"
_DAY: Final = "date(time, 'unixepoch', 'localtime')"
_TOKENS: Final = "COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0)"


@dataclass(frozen=True)
class Span:
    """A range of whole local days, both ends included."""

    first: dt.date
    last: dt.date

    @classmethod
    def parse(cls, first: str, last: str, today: dt.date | None = None) -> Span:
        """From the page's YYYY-MM-DD fields; the last 30 days when missing or malformed."""
        today = today or dt.date.today()
        try:
            end = dt.date.fromisoformat(last) if last else today
            start = dt.date.fromisoformat(first) if first else end - dt.timedelta(days=29)
        except ValueError:
            end, start = today, today - dt.timedelta(days=29)
        if start > end:
            start, end = end, start
        start = max(start, end - dt.timedelta(days=MAX_DAYS - 1))
        return cls(start, end)

    @property
    def bounds(self) -> tuple[float, float]:
        """Unix times of the first day's local midnight and the one after the last day."""
        start = dt.datetime.combine(self.first, dt.time()).timestamp()
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time()).timestamp()
        return start, end

    def days(self) -> list[str]:
        count = (self.last - self.first).days + 1
        return [(self.first + dt.timedelta(days=i)).isoformat() for i in range(count)]


def report(db: sqlite3.Connection | None, span: Span, by: str) -> dict[str, Any]:
    """Totals, per-day series, latency percentiles and the table for `span`, grouped `by`
    provider or model (the tokens chart's stacks)."""
    days = span.days()
    empty: dict[str, Any] = {
        "days": days,
        "by": by,
        "series": [],
        "requests": [0] * len(days),
        "errors": [0] * len(days),
        "totals": _totals(0, 0, 0, 0, 0, 0),
        "latency": {"p50": None, "p90": None, "p99": None},
        "table": [],
    }
    if db is None:
        return empty
    column = "model" if by == "model" else "provider"
    where, args = "time >= ? AND time < ?", span.bounds
    index = {day: i for i, day in enumerate(days)}
    try:
        per_day = db.execute(
            f"SELECT {_DAY}, {column}, SUM({_TOKENS}), COUNT(*), SUM(status >= 400) "
            f"FROM requests WHERE {where} GROUP BY 1, 2",
            args,
        ).fetchall()
    except sqlite3.OperationalError:  # no table yet: nothing recorded
        return empty
    tokens: dict[str, list[int]] = {}
    requests, errors = [0] * len(days), [0] * len(days)
    for day, name, count, calls, failed in per_day:
        i = index.get(day)
        if i is None:
            continue  # a clock change put a row just outside
        tokens.setdefault(name or "-", [0] * len(days))[i] += int(count or 0)
        requests[i] += calls
        errors[i] += int(failed or 0)
    totals = db.execute(
        "SELECT COUNT(*), SUM(status >= 400), SUM(prompt_tokens), SUM(completion_tokens), "
        f"SUM(cached_tokens), SUM(reasoning_tokens) FROM requests WHERE {where}",
        args,
    ).fetchone()
    grouped = db.execute(
        "SELECT provider, model, COUNT(*), SUM(status >= 400), SUM(prompt_tokens), "
        "SUM(completion_tokens), SUM(cached_tokens), SUM(reasoning_tokens), AVG(duration_ms) "
        f"FROM requests WHERE {where} GROUP BY provider, model ORDER BY COUNT(*) DESC",
        args,
    )
    table = [
        {
            "provider": provider,
            "model": model,
            "requests": calls,
            "errors": int(failed or 0),
            "prompt_tokens": int(prompt or 0),
            "completion_tokens": int(completion or 0),
            "cached_tokens": int(cached or 0),
            "reasoning_tokens": int(reasoning or 0),
            "avg_ms": round(avg or 0.0, 1),
        }
        for provider, model, calls, failed, prompt, completion, cached, reasoning, avg in grouped
    ]
    return {
        **empty,
        "series": _top(tokens),
        "requests": requests,
        "errors": errors,
        "totals": _totals(*(int(v or 0) for v in totals)),
        "latency": _percentiles(db, where, args, int(totals[0] or 0)),
        "table": table,
    }


def _totals(
    calls: int, failed: int, prompt: int, completion: int, cached: int, reasoning: int
) -> dict[str, Any]:
    return {
        "requests": calls,
        "errors": failed,
        "error_rate": round(failed / calls, 4) if calls else 0.0,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
        "tokens": prompt + completion,
    }


def _top(tokens: dict[str, list[int]]) -> list[dict[str, Any]]:
    """The biggest series by name, the rest summed as "other" (a chart of 40 colours says
    nothing); names with no tokens at all are left out."""
    ranked = sorted(((sum(v), n, v) for n, v in tokens.items() if sum(v)), reverse=True)
    series = [{"name": name, "values": values} for _, name, values in ranked[:TOP]]
    if len(ranked) > TOP:
        rest = [sum(col) for col in zip(*(v for _, _, v in ranked[TOP:]), strict=True)]
        series.append({"name": "", "values": rest})  # "": the page says "other"
    return series


def _percentiles(
    db: sqlite3.Connection, where: str, args: tuple[float, float], count: int
) -> dict[str, float | None]:
    """Nearest-rank percentiles of the requests' durations, in milliseconds."""
    out: dict[str, float | None] = {}
    for name, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        if not count:
            out[name] = None
            continue
        rank = max(1, math.ceil(p * count))
        row = db.execute(
            f"SELECT duration_ms FROM requests WHERE {where} ORDER BY duration_ms LIMIT 1 OFFSET ?",
            (*args, rank - 1),
        ).fetchone()
        out[name] = round(row[0], 1) if row else None
    return out


def csv_rows(db: sqlite3.Connection | None, span: Span) -> Iterator[str]:
    """The span's rows as CSV text, a header first; times in local ISO 8601."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _take(buffer)
    if db is None:
        return
    try:
        rows = db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM requests WHERE time >= ? AND time < ? ORDER BY time",
            span.bounds,
        )
    except sqlite3.OperationalError:
        return
    for row in rows:
        when = dt.datetime.fromtimestamp(row[0]).astimezone().isoformat(timespec="seconds")
        writer.writerow((when, *(_cell(v) for v in row[1:])))
        if buffer.tell() > 64 * 1024:
            yield _take(buffer)
    yield _take(buffer)


def _cell(value: Any) -> Any:
    """A spreadsheet must not run a model name as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
