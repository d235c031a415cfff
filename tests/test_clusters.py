"""dask clusters: a real LocalCluster on 127.0.0.1, and the coiled option failing fast."""

from __future__ import annotations

import importlib.util
import os
import time

import psutil
import pytest

from geoml_helpers.core.errors import MissingDependencyError, OfflineError
from geoml_helpers.scale.clusters import (
    ClusterConfigError,
    CoiledCredentialsError,
    check_coiled_ready,
    start_cluster,
    worker_environment,
)


def test_local_cluster_on_loopback_computes_and_leaves_no_worker(tmp_path):
    with start_cluster(
        "local", n_workers=1, threads_per_worker=1, memory_limit="1GiB", local_directory=tmp_path
    ) as handle:
        assert handle.dashboard_link.startswith("http://127.0.0.1:")
        workers = handle.workers()
        assert workers["threads"].tolist() == [1]
        assert workers["memory_limit_gib"].tolist() == [1.0]
        assert handle.client.submit(sum, [1, 2, 3]).result() == 6
        # dask's MALLOC_TRIM_THRESHOLD_ is dropped (it made numpy-heavy tasks 2x slower), its thread limits are kept.
        environ = handle.client.run(
            lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}
        )
        assert list(environ.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}]
        pids = [int(p) for p in workers["pid"]]
        assert all(psutil.pid_exists(p) for p in pids)
        scheduler_host = handle.client.scheduler.address
        assert "127.0.0.1" in scheduler_host
    deadline = time.time() + 10
    while time.time() < deadline and any(
        psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids
    ):
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)


def test_worker_environment_keeps_dask_defaults_on_request():
    assert "MALLOC_TRIM_THRESHOLD_" not in worker_environment(adaptive_malloc=True)
    assert int(worker_environment(adaptive_malloc=False)["MALLOC_TRIM_THRESHOLD_"]) == 65536


def test_unknown_cluster_kind():
    with pytest.raises(ClusterConfigError, match="local"):
        start_cluster("kubernetes")


def test_coiled_fails_fast_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.delenv("DASK_COILED__TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    started = time.perf_counter()
    with pytest.raises((MissingDependencyError, CoiledCredentialsError, OfflineError)) as info:
        start_cluster("coiled")
    assert time.perf_counter() - started < 15
    message = str(info.value)
    assert "cluster='local'" in message
    if importlib.util.find_spec("coiled") is None:
        assert isinstance(info.value, MissingDependencyError) and "pip install coiled" in message
    else:
        assert "coiled login" in message or "network" in message


def test_check_coiled_ready_is_what_start_cluster_calls(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DASK_COILED__TOKEN", raising=False)
    with pytest.raises((MissingDependencyError, CoiledCredentialsError, OfflineError)):
        check_coiled_ready(timeout=1)


def test_an_in_process_cluster_starts_and_links_its_own_loopback_dashboard():
    """processes=False (threads in this process, inproc:// comms): it starts, and its link is where it listens."""
    import requests

    from geoml_helpers.scale.clusters import HOST, start_cluster

    with start_cluster("local", n_workers=1, threads_per_worker=2, processes=False) as handle:
        assert handle.client.submit(sum, [1, 2]).result() == 3
        assert handle.dashboard_link.startswith(f"http://{HOST}:")
        assert requests.get(handle.dashboard_link, timeout=30).status_code == 200


def test_closing_while_the_dashboard_reloads_writes_no_traceback(caplog):
    """A dashboard tab reloading while the cluster closes (04 in JupyterLab) logs nothing into the cell.

    Without the quiet close, tornado and bokeh log "Bokeh Tornado application is stopping" tracebacks
    (32 of them in this test before the fix).
    """
    import logging
    import threading
    import urllib.request

    from geoml_helpers.scale.clusters import start_cluster

    handle = start_cluster("local", n_workers=1, threads_per_worker=1, processes=False)
    closing, stop, requests_while_closing = threading.Event(), threading.Event(), []

    def reload_dashboard() -> None:
        while not stop.is_set():
            try:
                urllib.request.urlopen(handle.dashboard_link, timeout=2).read()
            except OSError:
                time.sleep(0.01)
            if closing.is_set():
                requests_while_closing.append(1)

    tabs = [threading.Thread(target=reload_dashboard) for _ in range(3)]
    for tab in tabs:
        tab.start()
    time.sleep(2)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        closing.set()
        handle.close()
    stop.set()
    for tab in tabs:
        tab.join()
    assert requests_while_closing, "the dashboard was not reloaded while the cluster closed"
    logged = [(r.name, r.getMessage()[:80]) for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged == []


def test_an_in_process_cluster_computes_while_the_kernel_holds_more_than_its_memory_limit():
    """A worker in this process must not count this process against a per-worker limit (02 hung in workshop).

    This process holds far more than 200 MiB (numpy, dask, the array below); with the limit applied the
    in-process worker pauses at 80 % of it and the compute never returns.
    """
    import time

    import dask.array as da
    import numpy as np
    import psutil

    from geoml_helpers.scale.clusters import start_cluster

    held = np.ones((64, 1024, 1024), dtype="f4")  # 256 MiB in this process, as a kernel holds a cube
    assert psutil.Process().memory_info().rss > 400 * 2**20
    with start_cluster("local", n_workers=1, threads_per_worker=2, processes=False, memory_limit="200MiB") as handle:
        time.sleep(2)  # the worker's memory monitor has looked (it paused the worker within this time before)
        assert set(handle.client.run(lambda dask_worker: dask_worker.status.name).values()) == {"running"}
        mean = handle.client.compute(da.ones((2000, 2000), chunks=100).mean()).result(timeout=60)
        assert mean == 1.0 and held[0, 0, 0] == 1.0
