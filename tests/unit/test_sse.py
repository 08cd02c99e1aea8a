from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from aoa_proxy.sse import EventGate, iter_data


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def collect(*chunks: bytes) -> list[bytes]:
    return [d async for d in iter_data(Chunks(*chunks))]


async def test_events_split_anywhere_are_joined():
    assert await collect(b"da", b'ta: {"a"', b":1}\r\n", b"\r\ndata: [DONE]\n\n") == [
        b'{"a":1}',
        b"[DONE]",
    ]


async def test_comments_event_and_id_lines_are_skipped_and_multiline_data_joined():
    assert await collect(b": ping\nevent: x\nid: 3\ndata: a\ndata: b\n\n") == [b"a\nb"]


async def test_last_event_without_blank_line_is_kept():
    assert await collect(b"data: 1\n\ndata: 2") == [b"1", b"2"]


async def test_bare_json_error_after_events_is_yielded_whole_at_the_end():
    out = await collect(b"data: 1\n\n", b'[{\n  "error": {\n    "code": 500\n  }\n}]\n')
    assert out == [b"1", b'[{\n  "error": {\n    "code": 500\n  }\n}]']


# ------------------------------------------------------------------ EventGate (the relay's view)


def gate_run(*chunks: bytes, finish: bool = True) -> tuple[bytes, str | None, EventGate]:
    gate = EventGate()
    out = b""
    for chunk in chunks:
        out += gate.feed(chunk)
        if gate.problem:
            return out, gate.problem, gate
    if finish:
        out += gate.finish()
    return out, gate.problem, gate


def test_gate_forwards_whole_events_only_and_holds_back_a_cut_one():
    out, problem, gate = gate_run(b'data: {"a":1}\n\ndata: {"b"', finish=False)
    assert (out, problem) == (b'data: {"a":1}\n\n', None)
    assert not gate.done


def test_gate_stops_before_an_event_that_is_not_json():
    out, problem, _ = gate_run(b'data: {"a":1}\r\n\r\ndata: {nope\n\ndata: [DONE]\n\n')
    assert out == b'data: {"a":1}\r\n\r\n'
    assert problem == "The upstream sent a stream event that is not JSON"


def test_gate_passes_bytes_unchanged_and_sees_done():
    stream = b': keep-alive\nevent: x\ndata: {"a":\ndata: 1}\n\ndata: [DONE]\n\n'
    out, problem, gate = gate_run(*[stream[i : i + 3] for i in range(0, len(stream), 3)])
    assert (out, problem, gate.done) == (stream, None, True)
    assert gate.tail == stream


def test_gate_completes_a_last_event_without_its_blank_line():
    out, problem, gate = gate_run(b'data: {"a":1}\n\ndata: [DONE]')
    assert (out, problem, gate.done) == (b'data: {"a":1}\n\ndata: [DONE]\n\n', None, True)


def test_gate_checks_a_last_event_without_its_blank_line():
    out, problem, _ = gate_run(b'data: {"a":1}\n\ndata: {cut')
    assert out == b'data: {"a":1}\n\n'
    assert problem


# ------------------------------------------------- one parser: both views read a stream alike

_line_end = st.sampled_from([b"\n", b"\r\n"])
_value = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """An SSE stream and the data of its events."""
    stream, datas = b"", []
    for _ in range(draw(st.integers(0, 6))):
        lines = draw(st.lists(_value, min_size=1, max_size=3))
        if draw(st.booleans()):
            stream += b": comment" + draw(_line_end)
        for line in lines:
            space = b" " if line.startswith(b" ") else draw(st.sampled_from([b"", b" "]))
            stream += b"data:" + space + line + draw(_line_end)
        stream += draw(_line_end)
        datas.append(b"\n".join(lines))
    return stream, datas


@settings(max_examples=200, deadline=None)
@given(_streams(), st.lists(st.integers(0, 200), max_size=6))
def test_iter_data_and_the_gate_agree_however_the_stream_is_split(case, cuts):
    stream, datas = case
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert asyncio.run(collect(*chunks)) == datas
    seen: list[bytes] = []

    def accept(data: bytes) -> bool:  # the gate's JSON check off: the data here is any bytes
        seen.append(data)
        return True

    gate = EventGate()
    gate.event = accept  # type: ignore[method-assign]
    out = b"".join(gate.feed(c) for c in chunks) + gate.finish()
    assert (out, seen) == (stream, datas)
