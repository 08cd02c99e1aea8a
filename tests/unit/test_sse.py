from __future__ import annotations

from collections.abc import AsyncIterator

from aoa_proxy.sse import iter_data


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
