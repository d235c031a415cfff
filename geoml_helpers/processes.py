"""Local helper processes (STAC API, object store): ports, and not outliving their parent.

Examples
--------
>>> port_is_free(free_port())
True
"""

from __future__ import annotations

import signal
import socket

HOST = "127.0.0.1"
"""Every server the course starts binds to loopback only."""


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now.

    Examples
    --------
    >>> 1024 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could bind ``port`` on ``host`` now.

    ``SO_REUSEADDR`` is set, as servers set it, so a port whose last
    connections linger in TCP TIME_WAIT counts as free, and a port with a
    listening socket does not.

    Examples
    --------
    >>> port_is_free(free_port())
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGKILL it when its parent dies.

    A kernel killed with SIGKILL (papermill, "restart kernel") runs no atexit
    handler; without this a server would outlive it. Use as ``preexec_fn``.

    Examples
    --------
    >>> die_with_parent  # doctest: +ELLIPSIS
    <function die_with_parent at ...>
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; stop() and atexit still apply
        pass
