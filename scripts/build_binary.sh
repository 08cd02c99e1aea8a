#!/usr/bin/env bash
# Build the one-file `aoa` binary with PyInstaller: dist/aoa (dist/aoa.exe on Windows,
# dist/aoa.app on macOS). Usage: scripts/build_binary.sh [DIST_DIR [WORK_DIR]]
# AOA_BUILD_GTK=0 builds the lean Linux variant without GTK (tray without menu).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
DIST=${1:-dist}
WORK=${2:-build/out}
"$PY" -m PyInstaller --clean --noconfirm --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" build/pyinstaller.spec
ls -l "$DIST"
