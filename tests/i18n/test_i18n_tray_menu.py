"""The tray menu in Chinese, and re-worded at once when the language changes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.i18n.conftest import ROOT, clean_env


def _probe(language: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.i18n.tray_menu_probe", language],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    )
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_tray_menu_is_chinese_under_zh_cn() -> None:
    menus = _probe("zh_CN")
    assert menus["menu"] == [
        "http://127.0.0.1:8080/v1",
        "默认服务商",
        "已启用的服务商",
        "设置…",
        "连接工具",
        "打开日志文件夹",
        "登录时启动",
        "暂停服务",
        "退出",
    ]
    assert menus["defaults"] == ["演示（离线）"]
    assert menus["providers"] == [
        "Azure OpenAI（未配置）",
        "Yi（零一万物）（未配置）",
        "Gemini（未配置）",
        "兼容 OpenAI（未配置）",
        "Anthropic（未配置）",
        "演示（离线）（默认）",
    ]


def test_tray_menu_follows_a_language_change_without_rebuilding() -> None:
    assert _probe("zh_CN")["menu_after_switch"][1:] == [
        "Default provider",
        "Enabled providers",
        "Settings…",
        "Connect a tool",
        "Open log folder",
        "Start at login",
        "Pause serving",
        "Quit",
    ]
