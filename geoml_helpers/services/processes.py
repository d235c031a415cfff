"""Local helper servers (STAC API, object store): ports, and processes that never outlive their parent.

Examples
--------
>>> port_is_free(free_port())
True
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


class ServerProcess:
    """Base of the helper servers (STAC API, object store) run as child processes.

    A subclass's ``start()`` prepares its command and calls :meth:`_spawn`; the
    process is then stopped by :meth:`stop`, at the end of a ``with`` block, when
    the object is garbage-collected, at interpreter exit, and (on Linux) when
    the parent process is killed.

    Examples
    --------
    >>> ServerProcess().running
    False
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the server, while it runs."""
        return self._process.pid if self._process is not None else None

    def _spawn(
        self,
        command: list[str],
        log_path: Path,
        terminate: Callable[..., None],
        *terminate_args: Any,
        cwd: Path | None = None,
    ) -> None:
        """Start ``command`` in its own session, logging to ``log_path``.

        ``terminate(process, workdir, *args)`` stops it.
        """
        with open(log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        self._finalizer = weakref.finalize(self, terminate, self._process, self._workdir, *terminate_args)
        atexit.register(self._finalizer)

    def start(self) -> ServerProcess:  # pragma: no cover - every subclass defines it
        """Start the server and wait until it answers; return ``self``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its temporary files."""
        if self._finalizer is not None:
            self._finalizer()
            atexit.unregister(self._finalizer)
            self._finalizer = None
        self._process = None
        self._workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def terminate_process(process: subprocess.Popen, grace: float, whole_group: bool = False) -> None:
    """SIGTERM ``process`` (or its whole process group), wait ``grace`` seconds, then SIGKILL it.

    Examples
    --------
    >>> child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    >>> terminate_process(child, grace=5)
    >>> child.poll() is not None
    True
    """
    if process.poll() is not None:
        return
    send = (lambda sig: os.killpg(process.pid, sig)) if whole_group else (lambda sig: os.kill(process.pid, sig))
    try:
        send(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            send(signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
