"""Can the gateway listen on host:port? The check made before a new port or bind address is
saved, and the words for a failed bind: one `bind_error` for that check and for the gateway's
own bind, so the two never disagree."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path
from typing import Final

from aoa_proxy.i18n import _

# Linux lets anyone listen from this port up (root may lower it); 1024 when unset.
_UNPRIVILEGED_START: Final = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
_IN_USE: Final = frozenset({errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)})
_DENIED: Final = frozenset({errno.EACCES, errno.EPERM})


def bind_problem(host: str, port: int, own: tuple[str, int] | None = None) -> str | None:
    """Why the gateway could not listen on host:port, or None (checked before saving).

    `own` is where aoa itself listens now: the gateway lets go of it before binding the new
    address, so a clash with it is no reason to refuse.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            if hasattr(socket, "SO_REUSEADDR"):  # same rule as the server: TIME_WAIT is fine
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host.strip("[]"), port))
    except OSError as exc:
        if is_in_use(exc) and own is not None and _overlaps(own, host, port):
            return None  # our own listener; the rebind reports any other program it meets
        return bind_error(host, port, exc)
    return None


def is_in_use(exc: OSError) -> bool:
    """Whether a bind failed because another socket holds the port."""
    return not isinstance(exc, socket.gaierror) and exc.errno in _IN_USE


def bind_error(host: str, port: int, exc: OSError) -> str:
    """What a failed bind on host:port means for the user, and what to do."""
    lowest = unprivileged_port_start()
    if is_in_use(exc):
        message = _(
            "Port {port} on {host} is already in use by another program; "
            "choose another port in Settings."
        )
    elif isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        message = _("{host} is not an address of this computer; check the bind address.")
    elif exc.errno in _DENIED and port < lowest:
        message = _(
            "Port {port} needs administrator rights, like every port below {lowest}; "
            "choose port {lowest} or higher in Settings."
        )
    else:
        message = _("Cannot listen on {host}:{port}: {reason}")
    reason = exc.strerror or str(exc)
    return message.format(host=host, port=port, lowest=lowest, reason=reason)


def unprivileged_port_start(
    setting: Path = _UNPRIVILEGED_START, platform: str = sys.platform
) -> int:
    """The lowest port a program without administrator rights may listen on (0: any).

    Linux: net.ipv4.ip_unprivileged_port_start (1024 unless changed). Other Unix systems: 1024.
    Windows has no such ports.
    """
    if platform.startswith("win"):
        return 0
    if platform.startswith("linux"):
        try:
            return int(setting.read_text().strip())
        except (OSError, ValueError):
            pass
    return 1024


def _overlaps(own: tuple[str, int], host: str, port: int) -> bool:
    """Whether a listener on `own` can be what blocks host:port (same port; a wildcard address
    on either side, or the same address)."""
    own_host, own_port = own
    if own_port != port:
        return False
    wild = ("0.0.0.0", "::", "", "[::]")
    return own_host in wild or host in wild or own_host.strip("[]") == host.strip("[]")
