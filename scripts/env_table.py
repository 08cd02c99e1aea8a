"""Print the README's configuration table from aoa_proxy.config.ENV_VARS (the catalogue's).

`table("zh_CN")` is README.zh-CN.md's: the same rows with the help texts (and worded defaults)
from the zh_CN catalogue; variable names and literal defaults are never translated.
"""

from __future__ import annotations

import sys

from aoa_proxy.config import ENV_VARS
from aoa_proxy.i18n import _, current_language, set_language

HEADERS = {"en": ("Variable", "Default", "Meaning"), "zh_CN": ("变量", "默认值", "说明")}


def table(language: str = "en") -> str:
    previous = current_language()
    set_language(language)
    try:
        rows = ["| {} | {} | {} |".format(*HEADERS[language]), "| --- | --- | --- |"]
        for var in ENV_VARS:
            if var.default and " " not in var.default:
                default = f"`{var.default}`"
            else:
                default = _(var.default) if var.default else "—"
            rows.append(f"| `{var.name}` | {default} | {_(var.help)} |")
    finally:
        set_language(previous)
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(*sys.argv[1:2]))
