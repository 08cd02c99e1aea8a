"""The output-hygiene helpers: key redaction and log-safe text."""

from __future__ import annotations

import pytest

from aoa_proxy.hardening import REDACTED, loggable, redact, redact_text

KEY = "sk-proj-AbCdEfGh0123456789wxyz"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (f"bad key {KEY}.", f"bad key {REDACTED}."),
        (f"Authorization: Bearer {KEY}", f"Authorization: Bearer {REDACTED}"),
        (f"{KEY}{KEY}", f"{REDACTED}{REDACTED}"),
        (f"seen as {KEY[:8]}***{KEY[-4:]}", f"seen as {REDACTED}***{KEY[-4:]}"),
        (f"seen as {KEY[:15]}…", f"seen as {REDACTED}…"),
        (f"too short to tell: {KEY[:7]}…", f"too short to tell: {KEY[:7]}…"),
        (f"a longer run stays one mark: {KEY}zz", f"a longer run stays one mark: {REDACTED}zz"),
        ("nothing here", "nothing here"),
    ],
)
def test_redact_masks_the_key_and_any_echo_of_its_head(text: str, want: str) -> None:
    assert redact_text(text, [KEY]) == want
    assert redact(text.encode(), [KEY]) == want.encode()


def test_redact_takes_several_keys_and_skips_empty_or_short_ones() -> None:
    other = "AIzaSyOTHERKEY-1234"
    text = f"{KEY} and {other} and server"
    assert redact_text(text, ["", "server", KEY, other]) == f"{REDACTED} and {REDACTED} and server"


def test_redact_keeps_json_intact() -> None:
    body = b'{"error": {"message": "Incorrect API key provided: %s"}}'
    assert redact(body % KEY.encode(), [KEY]) == body % REDACTED.encode()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("gpt-4o", "gpt-4o"),
        ("模型 é", "模型 é"),
        ("a\nb", "a\\nb"),
        ("a\r\nb\t", "a\\r\\nb\\t"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\u2028b\u200bc", "a\\u2028b\\u200bc"),
        ("\x00\x7f\x85", "\\x00\\x7f\\x85"),
    ],
)
def test_loggable_escapes_what_could_break_or_fake_a_line(text: str, want: str) -> None:
    assert loggable(text) == want
