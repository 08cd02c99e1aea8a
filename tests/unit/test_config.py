from __future__ import annotations

import pytest

from aoa_proxy.aliases import parse_aliases
from aoa_proxy.config import load_settings, parse_bool
from aoa_proxy.errors import ConfigError, ConfigProblem

AZ = "https://res.openai.azure.com/"


def problems(env: dict[str, str]) -> list[str]:
    """The problem lines as shown ("VAR: message")."""
    with pytest.raises(ConfigError) as exc:
        load_settings(env)
    return exc.value.lines


def test_nothing_configured_starts_demo_on_loopback_8080():
    s = load_settings({})
    assert (s.provider, s.host, s.port) == ("demo", "127.0.0.1", 8080)
    assert s.provider_chosen_by_default


def test_azure_endpoint_alone_selects_azure_like_the_original():
    s = load_settings({"AZURE_ENDPOINT": AZ})
    assert s.provider == "azure"
    assert s.active.model == "gpt-3.5-turbo"
    assert s.active.api_version == "2023-05-15"


def test_original_defaults_for_every_provider():
    s = load_settings({})
    assert s.providers["yi"].model == "yi-34b-chat"
    assert s.providers["yi"].api_version == "2023-12-15-preview"
    assert s.providers["gemini"].endpoint == "https://generativelanguage.googleapis.com"
    assert s.providers["gemini"].api_version == "v1beta"
    assert s.providers["gemini"].safety == "HARM_BLOCK_THRESHOLD_UNSPECIFIED"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpt-4:my-deploy,a:b", {"gpt-4": "my-deploy", "a": "b"}),
        (" gpt-4 : my-deploy , a:b ,", {"gpt-4": "my-deploy", "a": "b"}),
        ("", {}),
    ],
)
def test_alias_syntax_tolerates_spaces(text, expected):
    assert parse_aliases(text) == expected


@pytest.mark.parametrize("bad", ["k:v:extra", "single", ":x", "x:"])
def test_malformed_alias_list_names_the_variable(bad):
    (line,) = problems({"AOA_TYPE": "yi", "YI_MODEL_ALIAS": f"a:b,{bad}"})
    assert line.startswith("YI_MODEL_ALIAS:")


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://res.openai.azure.com/",
        "https://res.openai.azure.com",
        "https://res.cognitiveservices.azure.com/",
        "https://ai.example.com",
        "http://127.0.0.1:9999",
        "http://localhost:9999/",
    ],
)
def test_azure_endpoints_accepted(endpoint):
    assert load_settings({"AZURE_ENDPOINT": endpoint}).active.endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint", ["http://res.openai.azure.com", "ftp://x", "not a url", "https://"]
)
def test_bad_azure_endpoint_is_an_error(endpoint):
    (line,) = problems({"AZURE_ENDPOINT": endpoint})
    assert line.startswith("AZURE_ENDPOINT:")


def test_config_error_carries_each_variable_and_message_apart():
    with pytest.raises(ConfigError) as exc:
        load_settings({"AOA_HOST": "a b", "YI_MODEL_ALIAS": "x"})
    assert exc.value.problems == [
        ConfigProblem("AOA_HOST", "'a b' is not an IP address or host name"),
        ConfigProblem("YI_MODEL_ALIAS", "'x' is not of the form requested:upstream"),
    ]
    assert exc.value.lines == [
        "AOA_HOST: 'a b' is not an IP address or host name",
        "YI_MODEL_ALIAS: 'x' is not of the form requested:upstream",
    ]


def test_every_problem_is_reported_once_per_variable():
    lines = problems(
        {
            "AOA_TYPE": "bogus",
            "AOA_PORT": "70000",
            "AOA_HOST": "not a host!",
            "OPENAI_MODEL_ALIAS": "x",
        }
    )
    assert sorted(line.split(":")[0] for line in lines) == [
        "AOA_HOST",
        "AOA_PORT",
        "AOA_TYPE",
        "OPENAI_MODEL_ALIAS",
    ]


@pytest.mark.parametrize("port", ["0", "-1", "65536", "abc"])
def test_port_out_of_range(port):
    (line,) = problems({"AOA_PORT": port})
    assert line.startswith("AOA_PORT:")


def test_azure_type_without_endpoint_is_an_error():
    (line,) = problems({"AOA_TYPE": "azure"})
    assert "AZURE_ENDPOINT" in line and "required" in line


def test_unknown_well_formed_api_version_is_kept_with_a_warning():
    s = load_settings({"AZURE_ENDPOINT": AZ, "AZURE_API_VER": "2031-01-01-preview"})
    assert s.active.api_version == "2031-01-01-preview"
    assert any("AZURE_API_VER" in w for w in s.warnings)


def test_ignore_flag_silences_the_api_version_warning():
    s = load_settings(
        {
            "AZURE_ENDPOINT": AZ,
            "AZURE_API_VER": "2031-01-01",
            "AZURE_IGNORE_API_VERSION_CHECK": "yes",
        }
    )
    assert s.active.api_version == "2031-01-01" and not s.warnings


def test_malformed_api_version_is_an_error():
    (line,) = problems({"AZURE_ENDPOINT": AZ, "AZURE_API_VER": "latest-and-greatest"})
    assert line.startswith("AZURE_API_VER:")


def test_proxy_variables_use_the_documented_names():
    s = load_settings(
        {
            "AZURE_ENDPOINT": AZ,
            "AZURE_HTTP_PROXY": "http://127.0.0.1:3128",
            "AZURE_SOCKS_PROXY": "socks5://127.0.0.1:1080",
        }
    )
    assert s.active.proxy == "socks5://127.0.0.1:1080"  # SOCKS wins, as in the original


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("ON", True),
        ("yes", True),
        ("1", True),
        ("no", False),
        ("garbage", False),
        ("", False),
        (None, False),
    ],
)
def test_bool_parsing_matches_the_original(value, expected):
    assert parse_bool(value) is expected


def test_key_is_not_in_repr():
    s = load_settings(
        {
            "AZURE_ENDPOINT": AZ,
            "AZURE_API_KEY": "sk-secret-123456",
            "AOA_ACCESS_TOKEN": "tok-secret-987",
        }
    )
    assert "sk-secret" not in repr(s) and "tok-secret" not in repr(s)


def test_gemini_safety_accepts_off_and_rejects_unknown():
    assert load_settings({"GEMINI_SAFETY": "off"}).providers["gemini"].safety == "OFF"
    (line,) = problems({"GEMINI_SAFETY": "BLOCK_SOME"})
    assert line.startswith("GEMINI_SAFETY:")


# ------------------------------------------------------------------ several providers (issue 14)

GEMINI_AND_OPENAI = {"GEMINI_API_KEY": "gemini-key-0001", "OPENAI_API_KEY": "openai-key-0002"}


def test_without_aoa_providers_only_the_default_is_enabled():
    assert load_settings({}).enabled == ("demo",)
    assert load_settings({"AZURE_ENDPOINT": AZ}).enabled == ("azure",)
    assert not load_settings({"AOA_TYPE": "gemini"}).several


def test_aoa_providers_keeps_its_order_and_aoa_type_stays_the_default():
    s = load_settings(
        {**GEMINI_AND_OPENAI, "AOA_PROVIDERS": " Gemini, openai ", "AOA_TYPE": "openai"}
    )
    assert (s.enabled, s.provider, s.several) == (("gemini", "openai"), "openai", True)


def test_aoa_providers_alone_makes_the_first_listed_the_default():
    s = load_settings({**GEMINI_AND_OPENAI, "AOA_PROVIDERS": "gemini,openai"})
    assert s.provider == "gemini" and s.provider_chosen_by_default


def test_the_default_provider_is_enabled_even_when_not_listed():
    s = load_settings({**GEMINI_AND_OPENAI, "AOA_PROVIDERS": "gemini", "AOA_TYPE": "openai"})
    assert s.enabled == ("gemini", "openai")


@pytest.mark.parametrize(
    ("value", "words"),
    [("gemini,nope", "unknown provider 'nope'"), ("gemini,GEMINI", "'gemini' is listed twice")],
)
def test_bad_aoa_providers_is_one_problem(value, words):
    (line,) = problems({**GEMINI_AND_OPENAI, "AOA_PROVIDERS": value})
    assert line.startswith("AOA_PROVIDERS:") and words in line


def test_an_enabled_provider_without_its_required_variables_is_a_problem():
    (line,) = problems({"AOA_PROVIDERS": "gemini,azure", "GEMINI_API_KEY": "k"})
    assert line.startswith("AOA_PROVIDERS: azure is enabled but not configured")
    assert "AZURE_ENDPOINT" in line and "AZURE_API_KEY" in line


def test_a_provider_other_than_the_default_needs_a_server_key():
    (line,) = problems({"AOA_PROVIDERS": "openai,gemini"})  # openai is the default
    assert "gemini is enabled but not configured: set GEMINI_API_KEY" in line
    # The default provider may pass the client's key on, as always; demo needs none.
    s = load_settings({"AOA_PROVIDERS": "openai,gemini,demo", "GEMINI_API_KEY": "k"})
    assert s.enabled == ("openai", "gemini", "demo")


def test_a_key_pool_is_comma_separated_and_refuses_a_key_listed_twice():
    s = load_settings({"AOA_TYPE": "gemini", "GEMINI_API_KEY": " key-one-0001 , key-two-0002 ,"})
    assert s.active.keys == ("key-one-0001", "key-two-0002")
    (line,) = problems({"AOA_TYPE": "gemini", "GEMINI_API_KEY": "key-one-0001,key-one-0001"})
    assert line == "GEMINI_API_KEY: the key ****0001 is listed twice"


def test_with_provider_replaces_a_lone_provider_and_joins_several():
    one = load_settings({"AOA_TYPE": "gemini"})
    assert one.with_provider("demo").enabled == ("demo",)
    several = load_settings({**GEMINI_AND_OPENAI, "AOA_PROVIDERS": "gemini,openai"})
    assert several.with_provider("openai").enabled == ("gemini", "openai")
    assert several.with_provider("demo").enabled == ("gemini", "openai", "demo")
