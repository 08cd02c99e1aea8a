"""`aoa-proxy` speaks the user's language: --help, configuration errors, start-up lines."""

from __future__ import annotations

from aoa_proxy.cli import describe
from aoa_proxy.config import load_settings
from aoa_proxy.i18n import set_language
from tests.i18n.conftest import RunCli


def test_help_is_chinese_under_a_chinese_locale(run_cli: RunCli):
    result = run_cli("--help", env={"LANG": "zh_CN.UTF-8"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("用法：aoa-proxy")
    assert "兼容 OpenAI API 的网关" in out
    assert "环境变量：" in out
    # Variable names and literal defaults stay as typed.
    assert "AOA_PORT" in out and "监听端口（默认：8080）" in out
    assert "environment variables" not in out


def test_help_is_english_under_the_c_locale(run_cli: RunCli):
    result = run_cli("--help", env={"LANG": "C"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: aoa-proxy")
    assert "environment variables:" in result.stdout
    assert "port to listen on (default: 8080)" in result.stdout
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in result.stdout)


def test_aoa_lang_overrides_the_locale_for_help(run_cli: RunCli):
    assert "环境变量：" in run_cli("--help", env={"LANG": "C", "AOA_LANG": "zh_CN"}).stdout
    english = run_cli("--help", env={"LANG": "zh_CN.UTF-8", "AOA_LANG": "en"}).stdout
    assert "environment variables:" in english


def test_config_error_is_chinese_under_aoa_lang(run_cli: RunCli):
    result = run_cli(env={"AOA_LANG": "zh_CN", "AOA_PORT": "abc", "AOA_HOST": "127.0.0.1"})
    assert result.returncode == 2
    assert result.stderr.strip() == "aoa-proxy: AOA_PORT: 'abc' 不是整数"


def test_config_error_is_english_under_the_c_locale(run_cli: RunCli):
    result = run_cli(env={"LANG": "C", "AOA_PORT": "abc", "AOA_HOST": "127.0.0.1"})
    assert result.returncode == 2
    assert result.stderr.strip() == "aoa-proxy: AOA_PORT: 'abc' is not a whole number"


def test_start_up_lines_are_translated():
    settings = load_settings({"AZURE_ENDPOINT": "https://res.openai.azure.com/"})
    set_language("zh_CN")
    lines = describe(settings)
    assert lines[0] == "服务商：azure"
    assert "上游：https://res.openai.azure.com/" in lines
    set_language("en")
    assert describe(settings)[0] == "provider: azure"
