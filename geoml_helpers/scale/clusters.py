"""Dask clusters: a LocalCluster on 127.0.0.1, or the same code on a remote (coiled) cluster.

A dask *cluster* is a scheduler plus workers. Each worker is a process with
some threads and a **memory limit**: when its memory passes 60 % of the limit
it spills data to disk, at 80 % it pauses, at 95 % the nanny restarts it. The
scheduler serves a **dashboard** (task stream, memory per worker, progress).

:func:`start_cluster` gives the same interface for ``cluster="local"`` (the
default; bound to 127.0.0.1, dashboard on loopback) and ``cluster="coiled"``
(opt-in: a cluster on AWS through `coiled <https://coiled.io>`_). The coiled
path fails within seconds, naming the fix, when coiled is not installed, no
credentials are configured or its API cannot be reached.

Examples
--------
Needs a local dask cluster (skipped under doctest):

>>> with start_cluster("local", n_workers=1, threads_per_worker=1) as handle:  # doctest: +SKIP
...     handle.client.submit(sum, [1, 2]).result()
3
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoml_helpers.core.errors import (
    ClusterConfigError,
    CoiledCredentialsError,
    MissingDependencyError,
    OfflineError,
)
from geoml_helpers.core.logs import log_levels
from geoml_helpers.services.proxy import use_proxy_for_dask_dashboard

HOST = "127.0.0.1"
QUIET_WHILE_CLOSING: dict[str, int] = {
    "distributed.nanny": 40,
    "tornado.application": 60,
    "bokeh.server": 60,
}
"""Logger -> level while a cluster closes (see :meth:`ClusterHandle.close`); 60 silences a logger."""
CLUSTER_KINDS: tuple[str, ...] = ("local", "coiled")
COILED_API = "https://cloud.coiled.io"


@dataclass
class ClusterHandle:
    """A running cluster and a client connected to it; close it (or use ``with``).

    Attributes
    ----------
    kind : str
        ``local`` or ``coiled``.
    cluster : distributed.deploy.Cluster
    client : distributed.Client
    """

    kind: str
    cluster: Any
    client: Any

    @property
    def dashboard_link(self) -> str:
        """URL of the dask dashboard: ``http://127.0.0.1:PORT/status``, or through the Jupyter proxy.

        Through the proxy (``/user/ada/proxy/PORT/status``) in SageMaker Studio, on a JupyterHub or on Binder.
        """
        import urllib.parse

        link = str(self.client.dashboard_link)
        parts = urllib.parse.urlsplit(link)
        if self.kind == "local" and parts.hostname not in (None, HOST) and parts.port is not None:
            # dask names the scheduler's host (the machine's address for an in-process cluster), but the
            # dashboard of a local cluster listens on 127.0.0.1 only: link where it really is.
            link = urllib.parse.urlunsplit(parts._replace(netloc=f"{HOST}:{parts.port}"))
        return link

    def workers(self):
        """One row per worker: address, threads, memory limit (GiB).

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        info = self.client.scheduler_info(n_workers=-1)["workers"]
        pids = self.client.run(os.getpid)
        rows = [
            {
                "worker": addr,
                "threads": w["nthreads"],
                "memory_limit_gib": round(w["memory_limit"] / 2**30, 2),
                "pid": pids.get(addr),
            }
            for addr, w in sorted(info.items())
        ]
        return pd.DataFrame(rows)

    def close(self) -> None:
        """Close the client and the cluster (idempotent), without shutdown chatter on stderr.

        Workers that used s3fs exit with its aiohttp sessions open ("Unclosed client
        session", logged by asyncio at exit), and the nanny warns when it has to kill a
        worker that is slow to exit. A dashboard tab that reloads while the scheduler stops
        gets "Bokeh Tornado application is stopping", which tornado and bokeh log as
        tracebacks in the notebook's cell. All are harmless at shutdown, and are kept quiet.
        """
        with log_levels(QUIET_WHILE_CLOSING):
            for thing in (self.client, self.cluster):
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing twice or after a crash is fine
                    pass

    def __enter__(self) -> ClusterHandle:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


QUIET_WORKER_LOGGERS: dict[str, int] = {"asyncio": 50, "distributed.worker.memory": 40}
"""Logger -> level set in every local worker: s3fs leaves aiohttp sessions open at exit ("Unclosed client
session", asyncio's) and dask warns about unmanaged memory near the limit a notebook exceeds on purpose; errors
still show."""


def _quiet_worker_logs(dask_worker: Any = None) -> None:
    """Set :data:`QUIET_WORKER_LOGGERS` in this (worker) process."""
    import logging

    for name, level in QUIET_WORKER_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def coiled_credentials() -> str | None:
    """Where coiled credentials were found (``DASK_COILED__TOKEN``, dask config), or ``None``.

    Examples
    --------
    >>> coiled_credentials() is None or isinstance(coiled_credentials(), str)
    True
    """
    if os.environ.get("DASK_COILED__TOKEN"):
        return "environment variable DASK_COILED__TOKEN"
    try:
        import dask.config

        if dask.config.get("coiled.token", default=None):
            return "dask config key coiled.token"
    except Exception:  # noqa: BLE001
        pass
    for folder in (Path.home() / ".config" / "dask", Path(os.environ.get("DASK_CONFIG", "/nonexistent"))):
        path = folder / "coiled.yaml"
        if path.is_file() and "token" in path.read_text(errors="ignore"):
            return str(path)
    return None


def check_coiled_ready(timeout: float = 5.0) -> None:
    """Fail fast unless coiled is installed, has credentials, and its API answers.

    Raises
    ------
    MissingDependencyError
        coiled is not installed.
    CoiledCredentialsError
        No token is configured.
    OfflineError
        ``https://cloud.coiled.io`` does not answer within ``timeout``.

    Examples
    --------
    Needs the internet (skipped under doctest):

    >>> check_coiled_ready(timeout=1)  # doctest: +SKIP
    """
    local_fix = "Or run the same code on your machine with `cluster='local'` (the default)."
    if importlib.util.find_spec("coiled") is None:
        raise MissingDependencyError(
            "cluster='coiled' needs the `coiled` package, which is not installed. "
            f"Install it with `pip install coiled`, then log in with `coiled login`. {local_fix}"
        )
    if coiled_credentials() is None:
        raise CoiledCredentialsError(
            "cluster='coiled' needs coiled credentials, and none are configured (no DASK_COILED__TOKEN, "
            "no coiled.token in the dask config). Run `coiled login` (or set DASK_COILED__TOKEN), "
            f"and connect coiled to your AWS account (`coiled setup aws`). {local_fix}"
        )
    import requests

    try:
        requests.get(COILED_API, timeout=(timeout, timeout))
    except requests.RequestException as exc:
        raise OfflineError(
            f"cluster='coiled' needs the network, but {COILED_API} did not answer within {timeout:.0f} s "
            f"({type(exc).__name__}). Check your connection. {local_fix}"
        ) from exc


def worker_environment(adaptive_malloc: bool = True) -> dict[str, str | int]:
    """Environment variables set in each local worker before it starts.

    dask's default sets ``MALLOC_TRIM_THRESHOLD_=65536`` so that workers hand
    freed memory back to the OS at once. Setting it also turns off glibc's
    adaptive thresholds, so every large numpy temporary is a fresh ``mmap``
    whose pages fault in again: on the tile prediction of notebook 04 the
    workers then spent more time in the kernel than in numpy, and the wall
    time was about twice as long. With ``adaptive_malloc=True`` that variable is
    dropped; memory stays bounded by the chunk size.

    Examples
    --------
    >>> "MALLOC_TRIM_THRESHOLD_" in worker_environment(adaptive_malloc=True)
    False
    """
    import dask
    import distributed  # noqa: F401 - registers distributed's config defaults

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    if adaptive_malloc:
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


def start_cluster(
    cluster: str = "local",
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str | int = "2GiB",
    processes: bool = True,
    local_directory: str | os.PathLike[str] | None = None,
    adaptive_malloc: bool = True,
    coiled_kwargs: dict | None = None,
) -> ClusterHandle:
    """Start a dask cluster and connect a client to it.

    Parameters
    ----------
    cluster : {"local", "coiled"}
        ``local``: a :class:`distributed.LocalCluster` whose scheduler, workers
        and dashboard listen on 127.0.0.1 only. ``coiled``: ``coiled.Cluster``
        with the same worker count (opt-in; needs credentials and network).
    n_workers, threads_per_worker : int
        Worker processes and threads in each.
    memory_limit : str or int
        Memory limit **per worker** (e.g. ``"2GiB"``). Ignored with ``processes=False``: a worker in
        the kernel's own process would measure the whole kernel against it, pause at 80 % and wait forever
        (notebook 02 hung in the ``workshop`` profile with a 1.7 GB kernel).
    processes : bool
        Workers as processes (a real memory limit per worker) or threads.
    local_directory : path-like, optional
        Where workers spill to disk (use a folder under the data dir).
    adaptive_malloc : bool
        Keep glibc's adaptive allocator in the local workers (see
        :func:`worker_environment`); ``False`` keeps dask's default.
    coiled_kwargs : dict, optional
        Extra arguments for ``coiled.Cluster`` (e.g. ``region``, ``worker_vm_types``).

    Returns
    -------
    ClusterHandle

    Raises
    ------
    ClusterConfigError
        For an unknown ``cluster``.
    MissingDependencyError, CoiledCredentialsError, OfflineError
        From :func:`check_coiled_ready` for ``cluster="coiled"``.

    Examples
    --------
    Needs a local dask cluster (skipped under doctest):

    >>> handle = start_cluster("local", n_workers=1)  # doctest: +SKIP
    >>> handle.dashboard_link  # doctest: +SKIP
    'http://127.0.0.1:8787/status'
    """
    from distributed import Client

    if cluster not in CLUSTER_KINDS:
        raise ClusterConfigError(
            f"Unknown cluster {cluster!r}: use one of {', '.join(CLUSTER_KINDS)} (papermill: `-p cluster local`)."
        )
    if cluster == "coiled":
        check_coiled_ready()
        import coiled  # type: ignore[import-not-found]

        remote = coiled.Cluster(n_workers=n_workers, **(coiled_kwargs or {}))
        return ClusterHandle("coiled", remote, Client(remote))

    import dask
    from distributed import LocalCluster

    # The browser may not reach 127.0.0.1 (a hub, SageMaker Studio): link through the Jupyter proxy there.
    use_proxy_for_dask_dashboard()
    kwargs: dict[str, Any] = {}
    if local_directory is not None:
        Path(local_directory).mkdir(parents=True, exist_ok=True)
        kwargs["local_directory"] = str(local_directory)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(adaptive_malloc)}):
        local = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            # threads share the kernel's memory: a limit there would count the whole kernel and pause the worker
            memory_limit=memory_limit if processes else 0,
            processes=processes,
            host=HOST if processes else None,  # threads talk in-process (inproc://): no host to bind
            dashboard_address=f"{HOST}:0",
            worker_dashboard_address=f"{HOST}:0" if processes else None,
            **kwargs,
        )
    try:
        client = Client(local)
        client.register_worker_callbacks(setup=_quiet_worker_logs)  # also in restarted workers
    except BaseException:
        local.close()
        raise
    return ClusterHandle("local", local, client)
