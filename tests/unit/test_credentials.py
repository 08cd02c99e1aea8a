"""Key pools and rate-limit hints: rotation, cool-downs, backoff, every header spelling."""

from __future__ import annotations

import email.utils

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aoa_proxy.credentials import (
    BACKOFF_CAP,
    HINT_CAP,
    CoolReason,
    KeyPool,
    duration_seconds,
    is_rate_limit_header,
    parse_keys,
    retry_after_seconds,
    should_cool,
)
from aoa_proxy.errors import RateLimited

KEYS = ("sk-aaaaaaaaaaaa1111", "sk-bbbbbbbbbbbb2222", "sk-cccccccccccc3333")


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def pool(keys=KEYS, clock=None) -> KeyPool:
    return KeyPool("azure", keys, clock=clock or Clock())


# ------------------------------------------------------------------ parsing


def test_keys_are_comma_separated_with_spaces_and_blanks_ignored():
    assert parse_keys(" k1 ,k2,, k3 ") == ("k1", "k2", "k3")
    assert parse_keys("only") == ("only",)


def test_a_key_listed_twice_is_an_error_that_shows_only_its_end():
    with pytest.raises(ValueError) as exc:
        parse_keys(f"{KEYS[0]},{KEYS[1]}, {KEYS[0]}")
    assert "****1111" in str(exc.value)
    assert KEYS[0] not in str(exc.value)
    with pytest.raises(ValueError, match="listed twice"):
        KeyPool("azure", [KEYS[0], KEYS[0]])


# ------------------------------------------------------------------ rotation


def test_keys_are_handed_out_in_turn():
    p = pool()
    assert [p.acquire() for _ in range(6)] == [*KEYS, *KEYS]


def test_a_cooling_key_is_skipped_until_its_time_is_up():
    clock = Clock()
    p = pool(clock=clock)
    assert p.acquire() == KEYS[0]
    p.cool_down(KEYS[1], 5.0)
    assert [p.acquire() for _ in range(4)] == [KEYS[2], KEYS[0], KEYS[2], KEYS[0]]
    clock.t += 5.0
    assert p.acquire() == KEYS[1]


def test_acquire_skips_keys_this_request_already_tried_and_then_gives_up():
    p = pool()
    assert p.acquire(tried={KEYS[0]}) == KEYS[1]
    assert p.acquire(tried=set(KEYS)) is None


def test_all_keys_cooling_is_a_429_with_the_soonest_retry_after():
    clock = Clock()
    p = pool(clock=clock)
    p.cool_down(KEYS[0], 30)
    p.cool_down(KEYS[1], 12.2)
    p.cool_down(KEYS[2], 40)
    clock.t += 2
    with pytest.raises(RateLimited) as exc:
        p.acquire()
    err = exc.value
    assert err.status == 429
    assert err.retry_after == pytest.approx(10.2)
    assert err.headers == {"retry-after": "11", "retry-after-ms": "10200"}
    body = orjson.loads(err.body())["error"]
    assert body["type"] == "rate_limit_error" and body["code"] == "rate_limit_exceeded"
    assert "azure" in body["message"] and "sk-" not in body["message"]


def test_after_a_try_with_every_other_key_cooling_acquire_returns_none():
    p = pool()
    p.cool_down(KEYS[1], 30)
    p.cool_down(KEYS[2], 30)
    assert p.acquire(tried={KEYS[0]}) is None


def test_a_single_key_is_never_held_back():
    clock = Clock()
    p = pool((KEYS[0],), clock)
    p.cool_down(KEYS[0], 30)
    assert p.acquire() == KEYS[0]  # the upstream answers, as before pools existed
    assert p.acquire(tried={KEYS[0]}) is None  # but never twice in one request
    assert p.status()[0].cooling == 30


def test_when_every_key_was_rejected_the_upstream_gets_to_say_why():
    clock = Clock()
    p = pool(KEYS[:2], clock)
    p.cool_down(KEYS[0], None, CoolReason.KEY_REJECTED)
    p.cool_down(KEYS[1], None, CoolReason.KEY_REJECTED)
    p.cool_down(KEYS[1], None, CoolReason.KEY_REJECTED)
    assert p.acquire() == KEYS[0]  # the one whose rest ends first; no 429 masks the 401


def test_rejected_and_rate_limited_keys_mixed_give_a_429_for_the_rate_limited_one():
    clock = Clock()
    p = pool(KEYS[:2], clock)
    p.cool_down(KEYS[0], 5, CoolReason.KEY_REJECTED)
    p.cool_down(KEYS[1], 20, CoolReason.RATE_LIMITED)
    with pytest.raises(RateLimited) as exc:
        p.acquire()
    assert exc.value.retry_after == 20


# ------------------------------------------------------------------ cool-down lengths


def test_backoff_without_a_hint_doubles_to_a_minute_and_resets_on_success():
    p = pool()
    rests = [p.cool_down(KEYS[0], None) for _ in range(9)]
    assert rests == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    p.succeeded(KEYS[0])
    assert p.status()[0].cooling == 0 and p.status()[0].failures == 0
    assert p.cool_down(KEYS[0], None) == 1


def test_backoff_never_overflows():
    p = pool()
    for _ in range(5000):
        rest = p.cool_down(KEYS[0], None)
    assert rest == BACKOFF_CAP


@pytest.mark.parametrize(
    ("hint", "rest"),
    [(12.5, 12.5), (0, 0), (-3, 0), (10**9, HINT_CAP), (float("nan"), 1), (float("inf"), 1)],
)
def test_the_upstreams_hint_is_used_within_bounds(hint, rest):
    assert pool().cool_down(KEYS[0], hint) == rest


def test_cooling_a_key_the_pool_does_not_hold_is_ignored():
    p = pool()
    assert p.cool_down("sk-gone", 10) == 0
    p.succeeded("sk-gone")
    assert [s.cooling for s in p.status()] == [0, 0, 0]


def test_status_masks_keys_and_counts_down():
    clock = Clock()
    p = pool(clock=clock)
    p.cool_down(KEYS[1], 30)
    clock.t += 10
    status = p.status()
    assert [s.key for s in status] == ["****1111", "****2222", "****3333"]
    assert [s.cooling for s in status] == [0, 20, 0]
    assert status[1].reason is CoolReason.RATE_LIMITED and status[0].reason is None
    assert not any(k in repr(status) for k in KEYS)


def test_short_keys_are_not_shown_at_all():
    assert (
        pool(
            ("abcd1234", "x"),
        )
        .status()[0]
        .key
        == "****"
    )


def test_a_new_key_list_keeps_the_cool_downs_of_keys_still_in_it():
    clock = Clock()
    p = pool(clock=clock)
    p.cool_down(KEYS[1], 30)
    p.cool_down(KEYS[2], 30)
    q = p.with_keys([KEYS[2], "sk-dddddddddddd4444"])
    assert [s.cooling for s in q.status()] == [30, 0]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["acquire", "cool", "succeed", "tick"]),
            st.integers(0, 3),
            st.floats(0, 100) | st.none(),
        ),
        max_size=60,
    )
)
def test_a_pool_never_hands_out_a_cooling_key_while_another_is_free(steps):
    keys = ("k0-0000000000000", "k1-0000000000000", "k2-0000000000000", "k3-0000000000000")
    clock = Clock()
    p = KeyPool("gemini", keys, clock=clock)
    for op, index, amount in steps:
        key = keys[index]
        if op == "cool":
            p.cool_down(key, amount, CoolReason.RATE_LIMITED)
        elif op == "succeed":
            p.succeeded(key)
        elif op == "tick":
            clock.t += amount or 0
        else:
            free = [k for k, s in zip(keys, p.status(), strict=True) if s.cooling == 0]
            try:
                got = p.acquire()
            except RateLimited as exc:
                assert not free
                assert exc.retry_after == min(s.cooling for s in p.status())
                continue
            assert got in free


# ------------------------------------------------------------------ what to cool


AZURE_BAD_KEY = (
    b'{"error":{"code":"401","message":"Access denied due to invalid subscription key or '
    b"wrong API endpoint. Make sure to provide a valid key for an active subscription and "
    b'use a correct regional API endpoint for your resource."}}'
)
GEMINI_BAD_KEY = (
    b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", '
    b'"status": "INVALID_ARGUMENT", "details": [{"@type": '
    b'"type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}'
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, b"", CoolReason.RATE_LIMITED),
        (429, b'{"error":{"code":"insufficient_quota"}}', CoolReason.RATE_LIMITED),
        (401, AZURE_BAD_KEY, CoolReason.KEY_REJECTED),
        (
            401,
            b'{"error":{"code":"invalid_api_key","message":"Incorrect API key"}}',
            CoolReason.KEY_REJECTED,
        ),
        (401, b"", CoolReason.KEY_REJECTED),
        (402, b'{"error":{"message":"Insufficient credits"}}', CoolReason.KEY_REJECTED),
        (400, GEMINI_BAD_KEY, CoolReason.KEY_REJECTED),
        (
            403,
            b'{"error":{"code":403,"message":"Your API key was reported as leaked."}}',
            CoolReason.KEY_REJECTED,
        ),
        (
            403,
            b'{"error":{"message":"Consumer \'api_key:AIza\' has been suspended."}}',
            CoolReason.KEY_REJECTED,
        ),
        # Not the key: every key would fail the same way.
        (
            403,
            b'{"error":{"code":"AuthenticationTypeDisabled","message":"Key based '
            b'authentication is disabled for this resource."}}',
            None,
        ),
        (
            401,
            b'{"error":{"code":"PermissionDenied","message":"Principal does not have '
            b'access to API/Operation."}}',
            None,
        ),
        (403, b'{"error":{"code":"unsupported_country_region_territory"}}', None),
        (
            403,
            b'{"error":{"status":"PERMISSION_DENIED","message":"You do not have '
            b'permission to access tuned model"}}',
            None,
        ),
        (400, b'{"error":{"message":"Invalid JSON payload received."}}', None),
        (404, b'{"error":{"code":"DeploymentNotFound"}}', None),
        (500, b"", None),
        (503, b"api key", None),
        (200, b"", None),
    ],
)
def test_should_cool_only_for_rate_limits_and_bad_keys(status, body, expected):
    assert should_cool(status, body) is expected
    assert should_cool(status, body.decode()) is expected


# ------------------------------------------------------------------ rate-limit hints


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins, as in the SDKs
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9),
        ({"retry-after": "-4"}, 0),
        ({"retry-after": "1e400"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "tomorrow"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers, seconds):
    assert retry_after_seconds(429, headers) == seconds


def test_retry_after_as_an_http_date_uses_the_wall_clock():
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 42, usegmt=True)
    assert retry_after_seconds(503, {"retry-after": header}, now=lambda: now) == 42
    past = email.utils.formatdate(now - 42, usegmt=True)
    assert retry_after_seconds(503, {"retry-after": past}, now=lambda: now) == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1),
        ("6m0s", 360),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5s", 0.5),
        ("10", 10),
        ("300", 300),
        ("", None),
        ("5 minutes", None),
        ("1x", None),
        ("s", None),
    ],
)
def test_durations(text, seconds):
    result = duration_seconds(text)
    assert result == (pytest.approx(seconds) if seconds is not None else None)


def test_openai_reset_headers_use_the_exhausted_limit():
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert retry_after_seconds(429, headers) == 360
    headers["x-ratelimit-remaining-requests"] = "0"
    headers["x-ratelimit-remaining-tokens"] = "100"
    assert retry_after_seconds(429, headers) == 1


def test_reset_headers_without_remaining_take_the_longest():
    headers = {"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "3s"}
    assert retry_after_seconds(429, headers) == 3


def test_azures_hyphenated_reset_header_is_understood():
    assert retry_after_seconds(429, {"x-rate-limit-reset-tokens": "12"}) == 12
    assert retry_after_seconds(429, {"X-Rate-Limit-Reset-Tokens": "2s"}) == 2


def test_reset_headers_on_a_success_or_server_error_are_no_hint():
    headers = {"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "0"}
    assert retry_after_seconds(200, headers) is None
    assert retry_after_seconds(500, headers) is None


def gemini_429(delay: object) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
                ],
            }
        }
    )


def test_geminis_retry_info_in_the_body():
    assert retry_after_seconds(429, {}, gemini_429("12s")) == 12
    assert retry_after_seconds(429, {}, gemini_429("0.5s")) == 0.5
    assert retry_after_seconds(429, {}, gemini_429({"seconds": 3, "nanos": 500000000})) == 3.5
    assert retry_after_seconds(429, {}, b"[" + gemini_429("4s") + b"]") == 4
    assert retry_after_seconds(429, {}, gemini_429("12s").decode()) == 12
    assert retry_after_seconds(429, {"retry-after": "2"}, gemini_429("12s")) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"RetryInfo but not json",
        b'{"error": {"details": "RetryInfo"}}',
        b'{"error": {"details": [1, {"@type": "x.RetryInfo", "retryDelay": 5}]}}',
        b'{"error": ["RetryInfo"]}',
        b"[1, 2, RetryInfo]",
    ],
)
def test_odd_retry_info_bodies_are_no_hint(body):
    assert retry_after_seconds(500, {}, body) is None


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease", 6),
        ("Rate limit of 300000 per 60s exceeded. Please wait 23 seconds before retrying.", 23),
        ("Rate limit reached for gpt-4o. Please try again in 20s. Visit ...", 20),
        ("Rate limit reached for gpt-4o. Please try again in 6ms.", 0.006),
        ("System is experiencing high demand", None),
    ],
)
def test_azure_and_openai_wording_in_a_429_message(message, seconds):
    body = orjson.dumps({"error": {"code": "429", "message": message}})
    result = retry_after_seconds(429, {}, body)
    assert result == (pytest.approx(seconds) if seconds is not None else None)
    assert retry_after_seconds(400, {}, body) is None


@given(
    st.integers(100, 599),
    st.dictionaries(
        st.sampled_from(
            [
                "retry-after",
                "retry-after-ms",
                "x-ratelimit-reset-tokens",
                "x-rate-limit-reset-requests",
                "x-ratelimit-remaining-tokens",
                "x-other",
            ]
        ),
        st.text(max_size=12),
    ),
    st.binary(max_size=80) | st.text(max_size=80),
)
def test_hints_are_a_finite_non_negative_number_or_none_for_anything(status, headers, body):
    result = retry_after_seconds(status, headers, body)
    assert result is None or (0 <= result < float("inf"))
    assert should_cool(status, body) in (None, *CoolReason)


def test_every_rate_limit_header_spelling_is_relayed():
    for name in (
        "retry-after",
        "Retry-After-Ms",
        "x-ratelimit-reset-tokens",
        "x-rate-limit-reset-tokens",
        "X-RateLimit-Remaining-Requests",
    ):
        assert is_rate_limit_header(name)
    assert not is_rate_limit_header("x-request-id")
    assert not is_rate_limit_header("authorization")
