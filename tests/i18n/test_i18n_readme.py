"""README.md and README.zh-CN.md: linked both ways, same two commands, same configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from scripts.env_table import table
from tests.i18n.conftest import ROOT

EN = ROOT / "README.md"
ZH = ROOT / "README.zh-CN.md"


def _text(path: Path = ZH) -> str:
    return path.read_text(encoding="utf-8")


def _first_commands(text: str) -> list[str]:
    """The commands (comments stripped) of the first code block."""
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]


def _env_table(text: str) -> str:
    start = text.index("<!-- env-table:start -->") + len("<!-- env-table:start -->")
    return text[start : text.index("<!-- env-table:end -->")].strip()


def test_readmes_link_to_each_other():
    assert "](README.zh-CN.md)" in _text(EN)
    assert "](README.md)" in _text(ZH)


def test_readmes_start_with_the_same_two_commands():
    assert _first_commands(_text(EN)) == _first_commands(_text(ZH)) == ["make run", "make test"]


def test_chinese_readme_table_is_the_generated_one():
    assert _env_table(_text(ZH)) == table("zh_CN")


def test_both_tables_list_the_same_variables_in_the_same_order():
    def names(text: str) -> list[str]:
        return re.findall(r"^\| `([^`]+)` \|", _env_table(text), re.M)

    assert names(_text(EN)) == names(_text(ZH))
    assert len(names(_text(ZH))) > 30


def test_chinese_readme_is_chinese():
    text = _text(ZH)
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert han > 1500
