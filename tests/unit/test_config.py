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
