"""The `aoa` command: the desktop app, or -- when the `desktop` extra is not installed -- the
headless gateway with a one-line note, so a server install never greets its user with a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Third-party modules only the desktop extra brings; checked before aoa_desktop.shell is imported,
# wherever inside it they are imported (pystray itself only when a tray is shown).
_REQUIRED = ("keyring", "PIL", "pystray")


def main(argv: Sequence[str] | None = None) -> int:
    missing = _missing_desktop_module()
    if missing:
        return _headless(list(sys.argv[1:] if argv is None else argv), missing)
    from aoa_desktop.shell import main as desktop_main

    return desktop_main(argv)


def _missing_desktop_module() -> str:
    """The first desktop-extra module that is not installed ("" when all are)."""
    import importlib.util

    for name in _REQUIRED:
        if importlib.util.find_spec(name) is None:
            return name
    return ""


def _headless(args: list[str], missing: str) -> int:
    from aoa_proxy import __version__
    from aoa_proxy.cli import main as proxy_main
    from aoa_proxy.i18n import _

    if "--version" in args:
        print(f"aoa {__version__}")
        return 0
    print(
        _(
            "aoa: the desktop extra is not installed ({module} is missing), so there is no tray; "
            "running the headless gateway. Install it with: pip install 'aoa[desktop]'"
        ).format(module=missing),
        file=sys.stderr,
    )
    passed = [a for a in args if a != "--headless"]
    return proxy_main(passed)
