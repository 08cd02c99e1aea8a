"""Print the README's configuration table from aoa_proxy.config.ENV_VARS (the single source)."""

from __future__ import annotations

from aoa_proxy.config import ENV_VARS


def table() -> str:
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for var in ENV_VARS:
        default = f"`{var.default}`" if var.default and " " not in var.default else var.default
        rows.append(f"| `{var.name}` | {default or '—'} | {var.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
