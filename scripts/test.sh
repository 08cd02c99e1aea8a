#!/usr/bin/env bash
# The whole check: lint, types, tests. Used by `make test` and so by CI (.ci/run).
# Tests never use the caller's keyring or D-Bus session: every test gets an in-memory keyring,
# and the real-keyring tests start a private D-Bus bus + gnome-keyring of their own
# (tests/secret_service.py); the desktop tests start their own Xvfb. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

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
