#!/usr/bin/env bash
# The whole check: lint, types, tests. Used by `make test` and so by CI (.ci/run).
# pytest runs inside a private D-Bus session with an unlocked gnome-keyring, so keyring tests use
# the real Secret Service; the desktop tests start their own Xvfb. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

echo "== ruff"; "$BIN/ruff" check .
echo "== mypy"; "$BIN/mypy"
echo "== pytest"
run_pytest() { "$BIN/python" -m pytest "$@"; }
set +e
if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  export AOA_TEST_HOME
  AOA_TEST_HOME=$(mktemp -d)
  HOME="$AOA_TEST_HOME" dbus-run-session -- bash -c '
    echo -n aoa-ci | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec "$0" -m pytest "$@"' "$BIN/python" "$@"
  rc=$?
  rm -rf "$AOA_TEST_HOME"
else
  run_pytest "$@"
  rc=$?
fi
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
