from __future__ import annotations

import math

import orjson
import pytest

from aoa_proxy.jsonutil import JSONDecodeError, dumps, loads


def test_dumps_is_compact_and_keeps_integers_beyond_64_bits():
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    assert dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_loads_takes_what_only_the_stdlib_reads():
    assert math.isnan(loads(b"[NaN]")[0])
    assert loads(b'["\\ud800"]') == ["\ud800"]


def test_loads_refuses_bytes_that_are_not_utf8():
    with pytest.raises(UnicodeDecodeError):
        loads(b'{"a": "\xff"}')
    with pytest.raises(UnicodeDecodeError):
        loads("{}".encode("utf-16"))


@pytest.mark.parametrize(
    "text",
    [b"{", b"nope", b"\xef\xbb\xbf{}", b"[" * 100_000 + b"]" * 100_000, b"1" * 5000],
    ids=["cut", "garbage", "bom", "too deep for the stdlib", "over 4300 digits"],
)
def test_loads_failures_are_orjsons_error(text):
    with pytest.raises(JSONDecodeError) as err:
        loads(text)
    assert type(err.value) is orjson.JSONDecodeError
