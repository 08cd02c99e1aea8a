"""Alias syntax: plain pairs as before, `*` globs, `|` failover chains."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aoa_proxy.aliases import Glob, compile_aliases, format_aliases, parse_aliases, parse_chain


@pytest.mark.parametrize(
    "text",
    [
        "gpt-4:my-gpt4,gpt-3.5-turbo:gpt-35-turbo",
        "gpt-4:openai/gpt-4o",  # OpenRouter-style target: one string, as always
        "a:/x",
        "x/y:z",
    ],
)
def test_plain_aliases_parse_exactly_as_before(text):
    expected = dict(piece.split(":") for piece in text.split(","))
    assert parse_aliases(text) == expected
    assert format_aliases(parse_aliases(text)) == text


def test_chain_and_glob_are_kept_raw_in_the_stored_form():
    text = "gpt-4o:my-gpt4o|gemini/gemini-2.5-pro,claude-*-haiku*:gemini-2.5-flash"
    assert parse_aliases(text) == {
        "gpt-4o": "my-gpt4o|gemini/gemini-2.5-pro",
        "claude-*-haiku*": "gemini-2.5-flash",
    }
    assert format_aliases(parse_aliases(text)) == text


def test_chain_splits_in_order_and_ignores_spaces():
    assert parse_chain(" a | gemini/b |openai/c") == ("a", "gemini/b", "openai/c")


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("x:a|", "'a|'"),
        ("x:a||b", "'a||b'"),
        ("x:|a", "'|a'"),
        ("x:a|gemini/", "'gemini/'"),
        ("x:a|a", "'a'"),
        ("x:gpt-*", "'gpt-*'"),
        ("*:gemini-2.5-flash", "'*'"),
        ("**:x", "'**'"),
        ("claude-**:x", "'claude-**'"),
    ],
)
def test_malformed_chain_or_glob_is_a_value_error_naming_the_piece(text, piece):
    with pytest.raises(ValueError) as exc:
        parse_aliases(f"ok:fine,{text}")
    assert piece in str(exc.value)


def test_compile_splits_exact_names_from_globs_keeping_order():
    table = compile_aliases({"a": "x", "b*": "y|gemini/z", "c": "w", "*d": "v"})
    assert dict(table.exact) == {"a": ("x",), "c": ("w",)}
    assert [(g.pattern, chain) for g, chain in table.globs] == [
        ("b*", ("y", "gemini/z")),
        ("*d", ("v",)),
    ]


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("claude-*-haiku*", "claude-3-5-haiku-20241022", True),
        ("claude-*-haiku*", "claude-haiku-4-5", False),
        ("claude-*", "claude-", True),
        ("*-mini", "gpt-4o-mini", True),
        ("*-mini", "gpt-4o-mini-2024", False),
        ("a*a", "a", False),  # head and tail may not overlap
        ("a*a", "aa", True),
        ("gpt-?.5*", "gpt-?.5-turbo", True),  # only * is special
        ("gpt-?.5*", "gpt-3.5-turbo", False),
        ("x*[ab]", "xyz[ab]", True),
    ],
)
def test_glob_matches_whole_names_with_star_as_the_only_wildcard(pattern, name, hit):
    assert Glob.compile(pattern).matches(name) is hit


def _reference(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)


_alphabet = st.sampled_from("ab-.*\n")


@given(
    st.text(_alphabet, min_size=1, max_size=8).filter(
        lambda p: "*" in p and "**" not in p and p.strip("*") != ""
    ),
    st.text(st.sampled_from("ab-.*\n"), max_size=12),
)
def test_glob_agrees_with_a_regex_reference(pattern, name):
    assert Glob.compile(pattern).matches(name) is bool(_reference(pattern).fullmatch(name))


def test_a_name_without_a_star_is_not_a_glob():
    with pytest.raises(ValueError):
        Glob.compile("gpt-4")


def test_glob_on_a_huge_hostile_name_is_linear():
    # A backtracking matcher takes ages on this; the piecewise one does one find per piece.
    glob = Glob.compile("a*a*a*a*a*a*a*a*b")
    assert not glob.matches("a" * 200_000)


def test_a_malformed_chain_in_the_environment_is_a_config_problem_naming_the_variable():
    from aoa_proxy.config import load_settings
    from aoa_proxy.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        load_settings({"AOA_TYPE": "gemini", "GEMINI_MODEL_ALIAS": "ok:fine,gpt-4o:a||b"})
    (problem,) = exc.value.problems
    assert problem.var == "GEMINI_MODEL_ALIAS" and "'a||b'" in problem.message
