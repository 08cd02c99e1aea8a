from __future__ import annotations

from pathlib import Path

from scripts.env_table import table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_the_code():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- env-table:start -->") + len("<!-- env-table:start -->")
    end = text.index("<!-- env-table:end -->")
    assert text[start:end].strip() == table()


def test_readme_gives_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
