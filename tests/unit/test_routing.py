"""The router: issue 14's order, prefixes, chains, compatibility with one provider."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aoa_proxy.aliases import Glob
from aoa_proxy.errors import ModelNotFound
from aoa_proxy.routing import (
    ModelLists,
    ProviderRouting,
    Route,
    Router,
    Rule,
    Target,
    parse_provider_list,
)

KNOWN = ("azure", "yi", "gemini", "openai", "demo")


def make_router(
    aliases: Mapping[str, Mapping[str, str]] | None = None,
    enabled: Sequence[str] = ("azure", "gemini", "openai"),
    default: str = "azure",
    listed: Mapping[str, Sequence[str]] | None = None,
    prefixes: bool = True,
    resolve: Mapping[str, Callable[[str], str]] | None = None,
) -> Router:
    aliases = aliases or {}
    resolve = resolve or {}
    lists = ModelLists()
    for name, ids in (listed or {}).items():
        lists.update(name, ids)
    return Router(
        [
            ProviderRouting(name, aliases.get(name, {}), resolve.get(name, lambda m: m))
            for name in enabled
        ],
        default,
        known=KNOWN,
        listed=lists,
        prefixes=prefixes,
    )


def azure_resolve(model: str) -> str:
    """Azure's rule: an empty model is AZURE_MODEL, dots are stripped."""
    return model.replace(".", "") if model.strip() else "gpt-35-turbo"


# ------------------------------------------------------------------ 1. provider/model prefix


def test_prefix_of_an_enabled_provider_picks_it_and_strips_the_prefix():
    route = make_router().route("gemini/gemini-2.5-pro")
    assert route == Route("gemini", "gemini-2.5-pro", Rule.PREFIX)
    assert (
        route.describe("gemini/gemini-2.5-pro") == "gemini/gemini-2.5-pro → gemini/gemini-2.5-pro"
    )


def test_prefix_rest_goes_through_the_providers_resolve():
    router = make_router(resolve={"azure": azure_resolve})
    assert router.route("azure/gpt-3.5-turbo").model == "gpt-35-turbo"
    assert router.route("azure/").model == "gpt-35-turbo"


def test_prefix_rest_may_be_that_providers_alias_or_glob():
    router = make_router(
        {"azure": {"gpt-4": "my-gpt4|gemini/gemini-2.5-pro"}, "gemini": {"claude-*": "flash"}}
    )
    route = router.route("azure/gpt-4")
    assert (route.provider, route.model, route.rule, route.via) == (
        "azure",
        "my-gpt4",
        Rule.PREFIX,
        "gpt-4",
    )
    assert route.fallbacks == (Target("gemini", "gemini-2.5-pro"),)
    assert router.route("gemini/claude-3").model == "flash"
    # another provider's alias does not apply under a prefix
    assert router.route("gemini/gpt-4") == Route("gemini", "gpt-4", Rule.PREFIX)


def test_prefix_keeps_the_whole_name_when_that_provider_lists_it():
    # vLLM and OpenRouter behind the openai provider name models "openai/gpt-oss-120b".
    router = make_router(listed={"openai": ["openai/gpt-oss-120b"]})
    assert router.route("openai/gpt-oss-120b") == Route(
        "openai", "openai/gpt-oss-120b", Rule.PREFIX
    )
    assert router.route("openai/gpt-4o").model == "gpt-4o"


def test_prefix_keeps_the_whole_name_when_that_provider_aliases_it():
    router = make_router({"openai": {"openai/gpt-4o": "openai/gpt-4o"}})
    assert router.route("openai/gpt-4o").model == "openai/gpt-4o"


def test_a_huge_model_name_is_shortened_in_the_404():
    with pytest.raises(ModelNotFound) as exc:
        make_router().route("yi/" + "x" * 100_000)
    assert len(exc.value.message) < 400


def test_prefix_naming_a_disabled_provider_is_a_404_listing_the_enabled_ones():
    with pytest.raises(ModelNotFound) as exc:
        make_router().route("yi/yi-large")
    err = exc.value
    assert err.status == 404
    body = orjson.loads(err.body())
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "model_not_found"
    assert body["error"]["param"] == "model"
    assert "'yi'" in err.message
    assert "azure, gemini, openai" in err.message


def test_disabled_prefix_is_served_when_an_enabled_provider_knows_the_whole_name():
    # LiteLLM behind the openai provider names its models "gemini/...".
    router = make_router(enabled=("azure", "openai"), listed={"openai": ["gemini/gemini-pro"]})
    assert router.route("gemini/gemini-pro") == Route("openai", "gemini/gemini-pro", Rule.LISTED)
    router = make_router(enabled=("azure", "openai"), aliases={"openai": {"yi/x": "y"}})
    assert router.route("yi/x").provider == "openai"


def test_a_prefix_that_is_no_provider_is_part_of_the_model_name():
    route = make_router().route("meta-llama/Llama-3.3-70B")
    assert route == Route("azure", "meta-llama/Llama-3.3-70B", Rule.DEFAULT)


def test_prefix_names_are_case_sensitive_like_model_names():
    assert make_router().route("Gemini/x").rule is Rule.DEFAULT


# ------------------------------------------------------------------ compatibility


def test_without_aoa_providers_every_name_goes_to_the_one_provider_unchanged():
    router = make_router(enabled=("openai",), default="openai", prefixes=False)
    for name in ("openai/gpt-oss-120b", "gemini/gemini-pro", "azure/x", "gpt-4o", ""):
        assert router.route(name) == Route("openai", name, Rule.DEFAULT)


def test_without_aoa_providers_old_aliases_mean_what_they_meant():
    router = make_router(
        {"openai": {"gpt-4": "openai/gpt-4o", "fast": "gemini/gemini-flash"}},
        enabled=("openai",),
        default="openai",
        prefixes=False,
    )
    assert router.route("gpt-4") == Route("openai", "openai/gpt-4o", Rule.ALIAS, "gpt-4")
    assert router.route("fast") == Route("openai", "gemini/gemini-flash", Rule.ALIAS, "fast")
    assert router.warnings == []


def test_single_azure_setup_resolves_like_before():
    router = make_router(
        {"azure": {"gpt-4": "my-gpt4"}},
        enabled=("azure",),
        prefixes=False,
        resolve={"azure": azure_resolve},
    )
    assert router.route("gpt-4").model == "my-gpt4"
    assert router.route("gpt-3.5-turbo").model == "gpt-35-turbo"
    assert router.route("").model == "gpt-35-turbo"


# ------------------------------------------------------------------ 2.-5. order


def test_exact_alias_first_enabled_provider_wins():
    router = make_router({"gemini": {"fast": "gemini-2.5-flash"}, "azure": {"fast": "my-mini"}})
    assert router.route("fast") == Route("azure", "my-mini", Rule.ALIAS, "fast")


def test_exact_alias_beats_an_earlier_providers_glob():
    router = make_router({"azure": {"claude-*": "my-gpt4o"}, "gemini": {"claude-3-haiku": "f"}})
    assert router.route("claude-3-haiku") == Route("gemini", "f", Rule.ALIAS, "claude-3-haiku")
    assert router.route("claude-3-opus").provider == "azure"


def test_longest_glob_wins_across_providers():
    router = make_router(
        {"azure": {"claude-*": "big"}, "gemini": {"claude-*-haiku*": "gemini-2.5-flash"}}
    )
    route = router.route("claude-3-5-haiku-latest")
    assert route == Route("gemini", "gemini-2.5-flash", Rule.GLOB, "claude-*-haiku*")
    assert router.route("claude-opus-4").model == "big"


def test_glob_tie_goes_to_provider_order_then_definition_order():
    router = make_router({"gemini": {"a*": "g1", "*z": "g2"}, "azure": {"b*": "a1", "*y": "a2"}})
    assert router.route("ay").model == "a2"  # azure ("*y") is before gemini ("a*")
    assert router.route("az").model == "g1"  # both gemini's: "a*" was defined first


def test_glob_beats_a_listed_model_and_listed_beats_the_default():
    router = make_router(
        {"openai": {"gemini-*": "gpt-4o-mini"}},
        listed={"gemini": ["gemini-2.5-pro", "text-embedding-004"]},
    )
    assert router.route("gemini-2.5-pro").provider == "openai"
    assert router.route("text-embedding-004") == Route("gemini", "text-embedding-004", Rule.LISTED)
    assert router.route("unlisted").rule is Rule.DEFAULT


def test_listed_model_goes_to_the_first_provider_in_order():
    router = make_router(listed={"openai": ["llama3"], "gemini": ["llama3"]})
    assert router.route("llama3").provider == "gemini"


def test_listed_names_go_through_resolve_and_alias_targets_do_not():
    upper = {"gemini": str.upper, "azure": str.upper}
    router = make_router({"azure": {"a": "Target.x"}}, listed={"gemini": ["m"]}, resolve=upper)
    assert router.route("a").model == "Target.x"
    assert router.route("m").model == "M"
    assert router.route("other") == Route("azure", "OTHER", Rule.DEFAULT)


def test_a_refreshed_listing_is_used_at_once_and_its_age_is_known():
    now = [100.0]
    lists = ModelLists(clock=lambda: now[0])
    router = Router(
        [ProviderRouting("azure"), ProviderRouting("gemini")],
        "azure",
        known=KNOWN,
        listed=lists,
    )
    assert lists.age("gemini") is None
    assert router.route("gemini-3-pro").provider == "azure"
    lists.update("gemini", ["gemini-3-pro"])
    now[0] = 107.5
    assert router.route("gemini-3-pro").provider == "gemini"
    assert lists.age("gemini") == 7.5


# ------------------------------------------------------------------ chains


def test_chain_targets_are_same_provider_names_or_other_enabled_providers():
    router = make_router({"azure": {"gpt-4o": "my-gpt4o|my-gpt4o-b|gemini/gemini-2.5-pro"}})
    route = router.route("gpt-4o")
    assert route.targets == (
        Target("azure", "my-gpt4o"),
        Target("azure", "my-gpt4o-b"),
        Target("gemini", "gemini-2.5-pro"),
    )
    assert route.describe("gpt-4o") == "gpt-4o → azure/my-gpt4o"


def test_a_plain_alias_may_send_a_model_to_another_enabled_provider():
    router = make_router({"azure": {"pro": "gemini/gemini-2.5-pro"}})
    assert router.route("pro") == Route("gemini", "gemini-2.5-pro", Rule.ALIAS, "pro")


def test_a_lone_target_prefixed_with_its_own_provider_is_a_whole_model_name():
    router = make_router({"openai": {"gpt-4": "openai/gpt-4o"}})  # OpenRouter's name
    assert router.route("gpt-4").targets == (Target("openai", "openai/gpt-4o"),)


def test_in_a_chain_every_known_prefix_names_its_provider_like_in_a_request():
    router = make_router({"openai": {"gpt-4": "openai/openai/gpt-4o|openai/gpt-4o-mini|x/y"}})
    assert router.route("gpt-4").targets == (
        Target("openai", "openai/gpt-4o"),
        Target("openai", "gpt-4o-mini"),
        Target("openai", "x/y"),
    )


def test_a_lone_target_naming_a_disabled_provider_keeps_its_old_meaning():
    router = make_router({"openai": {"pro": "yi/yi-large"}})  # LiteLLM-style name
    assert router.route("pro").targets == (Target("openai", "yi/yi-large"),)
    assert router.warnings == []


def test_chain_target_of_a_disabled_provider_is_skipped_with_a_warning():
    router = make_router({"azure": {"gpt-4o": "my-gpt4o|yi/yi-large|gemini/g"}})
    assert router.route("gpt-4o").targets == (Target("azure", "my-gpt4o"), Target("gemini", "g"))
    (warning,) = router.warnings
    assert "'yi/yi-large'" in warning and "AOA_PROVIDERS" in warning


def test_alias_whose_every_target_is_disabled_does_nothing():
    router = make_router({"gemini": {"x": "yi/a|demo/b"}})
    assert router.route("x") == Route("azure", "x", Rule.DEFAULT)
    assert len(router.warnings) == 2


def test_glob_aliases_carry_chains_too():
    router = make_router({"gemini": {"claude-*": "gemini-2.5-flash|openai/gpt-4o-mini"}})
    assert router.route("claude-x").fallbacks == (Target("openai", "gpt-4o-mini"),)


# ------------------------------------------------------------------ construction, AOA_PROVIDERS


def test_router_needs_the_default_among_the_enabled_providers():
    with pytest.raises(ValueError, match="default"):
        make_router(enabled=("gemini",), default="azure")
    with pytest.raises(ValueError, match="twice"):
        make_router(enabled=("gemini", "gemini"), default="gemini")


def test_provider_list_keeps_order_and_appends_the_default():
    assert parse_provider_list(" Azure, gemini,,openai ", KNOWN) == ("azure", "gemini", "openai")
    assert parse_provider_list("gemini,openai", KNOWN, "azure") == ("gemini", "openai", "azure")
    assert parse_provider_list("gemini,azure", KNOWN, "azure") == ("gemini", "azure")
    assert parse_provider_list("", KNOWN, "demo") == ("demo",)


def test_provider_list_rejects_unknown_names_listing_the_known_ones():
    with pytest.raises(ValueError) as exc:
        parse_provider_list("azure,gemni", KNOWN)
    assert "'gemni'" in str(exc.value) and "azure, yi, gemini, openai, demo" in str(exc.value)


def test_provider_list_rejects_duplicates():
    with pytest.raises(ValueError, match="'gemini' is listed twice"):
        parse_provider_list("gemini,azure,Gemini", KNOWN)


# ------------------------------------------------------------------ cost


def test_exact_names_never_touch_the_globs(monkeypatch):
    calls = []
    original = Glob.matches

    def counting(self, name):
        calls.append(name)
        return original(self, name)

    monkeypatch.setattr(Glob, "matches", counting)
    aliases = {f"m{i}": f"d{i}" for i in range(2000)}
    aliases |= {f"p{i}-*": f"g{i}" for i in range(2000)}
    router = make_router({"azure": aliases, "gemini": {"fast": "flash"}})
    assert router.route("m1999").model == "d1999"
    assert router.route("fast").provider == "gemini"
    assert router.route("gemini/x").provider == "gemini"
    assert calls == []


# ------------------------------------------------------------------ properties

_names = st.text(max_size=40) | st.sampled_from(
    ["gemini/x", "yi/", "azure/gpt-4.1", "demo/a/b", "/", "claude-3-haiku", "fast", ""]
)
_pattern = st.from_regex(r"[a-c]{0,2}\*[a-c]{0,2}(\*[a-c]{1,2})?", fullmatch=True).filter(
    lambda p: p.strip("*") != "" and "**" not in p
)
_alias_tables = st.dictionaries(
    st.sampled_from(["azure", "gemini", "openai"]),
    st.dictionaries(
        st.from_regex(r"[a-c]{1,3}", fullmatch=True) | _pattern,
        st.sampled_from(["t1", "t2|gemini/t3", "yi/t4", "openai/t5|t6"]),
        max_size=5,
    ),
    max_size=3,
)


@given(_alias_tables, _names)
def test_router_answers_any_name_with_a_route_or_model_not_found(aliases, name):
    router = make_router(aliases, listed={"gemini": ["fast", "abc"]})
    try:
        route = router.route(name)
    except ModelNotFound as exc:
        assert exc.status == 404
        assert name.partition("/")[0] in {"yi", "demo"}
        return
    assert route.provider in router.enabled
    assert all(t.provider in router.enabled for t in route.targets)
    assert isinstance(route.model, str)


@given(
    _alias_tables,
    st.from_regex(r"[a-c]{1,4}", fullmatch=True),
    st.sampled_from(["azure", "gemini", "openai"]),
)
def test_an_exact_alias_always_beats_any_glob(aliases, name, owner):
    aliases = {**aliases, owner: {**aliases.get(owner, {}), name: "exact"}}
    first = next(p for p in ("azure", "gemini", "openai") if name in aliases.get(p, {}))
    router = make_router(aliases)
    route = router.route(name)
    assert (route.rule, route.via) == (Rule.ALIAS, name)
    owned = router.route(f"{first}/{name}")  # that provider's own alias, under its prefix
    assert route.targets == owned.targets


@settings(suppress_health_check=[HealthCheck.filter_too_much])
@given(_alias_tables, st.from_regex(r"[a-c]{0,5}", fullmatch=True))
def test_the_chosen_glob_is_the_longest_then_first_by_provider_and_position(aliases, name):
    order = ("azure", "gemini", "openai")
    assume(not any(name in aliases.get(p, {}) for p in order))
    matching = [
        (-len(pattern), rank, pos, pattern)
        for rank, p in enumerate(order)
        for pos, pattern in enumerate(k for k in aliases.get(p, {}) if "*" in k)
        if Glob.compile(pattern).matches(name)
    ]
    route = make_router(aliases).route(name)
    if not matching:
        assert route.rule is Rule.DEFAULT
        return
    assert (route.rule, route.via) == (Rule.GLOB, min(matching)[3])
