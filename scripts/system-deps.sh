#!/usr/bin/env bash
# System packages the desktop tests need: Xvfb + a tray host (trayer) + xdotool for the tray, GTK
# introspection for pystray's menu backend, gnome-keyring on D-Bus for the real keyring, Chromium for
# the settings page, CJK fonts for Chinese screenshots. podman (runc, netavark and aardvark-dns for
# compose networks) and debootstrap build and run the Docker image (tests/packaging/podman.py).
# Installed only when missing and when we may (root with apt); otherwise the tests that need them
# skip and say why.
set -euo pipefail
PKGS=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || PKGS+=("$2"); }
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || PKGS+=("$1"); }
command -v dpkg-query >/dev/null 2>&1 || exit 0
need_cmd Xvfb xvfb
need_cmd xauth xauth
need_cmd trayer trayer
need_cmd xdotool xdotool
need_cmd xwininfo x11-utils
need_cmd import imagemagick
need_cmd gnome-keyring-daemon gnome-keyring
need_cmd dbus-run-session dbus
need_pkg dbus-x11
need_cmd secret-tool libsecret-tools
need_cmd chromium chromium
need_pkg fonts-dejavu-core
need_pkg fonts-noto-cjk
need_pkg libgirepository1.0-dev
need_pkg libcairo2-dev
need_pkg pkg-config
need_pkg gir1.2-gtk-3.0
need_pkg gir1.2-ayatanaappindicator3-0.1
need_pkg build-essential
need_pkg gettext
need_cmd nginx nginx-light
need_cmd wrk wrk
need_cmd podman podman
need_cmd runc runc
need_cmd debootstrap debootstrap
need_pkg netavark
need_pkg aardvark-dns
if [ "${#PKGS[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing system packages: ${PKGS[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  else
    echo "note: missing ${PKGS[*]}; the tests that need them will be skipped" >&2
  fi
fi
