"""PyInstaller entry for the `aoa` binary.

PyInstaller runs its entry script as a top-level module, so a package `__main__.py` (which may use
relative imports) cannot be the entry; this wrapper imports the package by its absolute name.
"""

from __future__ import annotations

from aoa_desktop.shell import main

if __name__ == "__main__":
    raise SystemExit(main())
