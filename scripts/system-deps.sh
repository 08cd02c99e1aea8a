#!/usr/bin/env bash
# System packages the desktop tests need (Xvfb, tray host, keyring, browser). Installed only when
# missing and when we may (root with apt); otherwise those tests skip and say why.
set -euo pipefail
PKGS=()
need() { command -v "$1" >/dev/null 2>&1 || PKGS+=("$2"); }
# (filled in as the desktop issue lands)
if [ "${#PKGS[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing system packages: ${PKGS[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  else
    echo "note: missing ${PKGS[*]}; the tests that need them will be skipped" >&2
  fi
fi
