#!/usr/bin/env bash
# The whole check: lint, types, tests. Used by `make test` and so by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

bash scripts/system-deps.sh

echo "== ruff"; "$BIN/ruff" check .
echo "== mypy"; "$BIN/mypy"
echo "== pytest"
set +e
"$BIN/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
