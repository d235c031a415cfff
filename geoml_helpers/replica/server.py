"""Serve a replica: a real STAC API and a real S3-compatible object store on 127.0.0.1.

:func:`serve_replica` starts SeaweedFS (:class:`~geoml_helpers.services.object_store.LocalObjectStore`),
uploads the replica's objects into the public-read bucket ``sentinel-cogs``
in Earth Search's key layout, and starts ``rustac serve``
(:class:`~geoml_helpers.services.stac_server.LocalStacServer`) with the items,
whose hrefs now read ``http://127.0.0.1:PORT/sentinel-cogs/sentinel-s2-l2a-cogs/...``.
Clients read those with GDAL's ``/vsicurl/`` range requests, exactly as they
read ``https://sentinel-cogs.s3.us-west-2.amazonaws.com/...``. Only the
root URL differs from Earth Search. Both processes stop at the end of the
``with`` block, and die with the Python process that started them.

Examples
--------
>>> labels = "projects/replica_example/labels.geojson"
>>> # needs a running STAC API (skipped under doctest)
>>> spec = ReplicaSpec(labels, "landcover", "2022-01-05/2022-02-05")  # doctest: +SKIP
>>> with serve_replica(spec, "data/replica/example") as replica:  # doctest: +SKIP
...     print(replica.url)
http://127.0.0.1:...
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoml_helpers.replica.build import ReplicaData, ReplicaSpec, ensure_replica, open_replica
from geoml_helpers.replica.items import BUCKET


@dataclass(frozen=True)
class RunningReplica:
    """A served replica.

    Attributes
    ----------
    url : str
        Root URL of the STAC API (use it where you would use Earth Search's).
    asset_endpoint : str
        Root of the object store's HTTP endpoint (``{asset_endpoint}/sentinel-cogs/...``).
    data : ReplicaData
    stac_server : LocalStacServer
    object_store : LocalObjectStore
    startup_seconds : float
        From the call until both servers answered (a build, if one was needed, included).
    store_seconds : float
        Of which the object store's start.
    """

    url: str
    asset_endpoint: str
    data: ReplicaData
    stac_server: Any
    object_store: Any
    startup_seconds: float
    store_seconds: float

    def __str__(self) -> str:
        return self.url

    @property
    def running(self) -> bool:
        """Whether both servers are alive."""
        return bool(self.stac_server.running and self.object_store.running)

    def stop(self) -> None:
        """Stop the STAC API and the object store (idempotent)."""
        try:
            self.stac_server.stop()
        finally:
            self.object_store.stop()


def upload_objects(store, objects_dir: Path) -> int:
    """Upload every file under ``objects_dir/<bucket>/`` to ``<bucket>`` on the store, concurrently; returns the count.

    s3fs sends a list of files in concurrent batches: a few hundred COGs take a second or two on loopback.
    """
    fs = store.filesystem()
    count = 0
    for bucket_dir in sorted(p for p in objects_dir.iterdir() if p.is_dir()):
        store.create_bucket(bucket_dir.name, exist_ok=True)
        local = sorted(str(path) for path in bucket_dir.rglob("*") if path.is_file())
        remote = [f"{bucket_dir.name}/{Path(path).relative_to(bucket_dir).as_posix()}" for path in local]
        fs.put(local, remote)
        count += len(local)
    fs.invalidate_cache()
    return count


def _check_not_served(data: ReplicaData) -> None:
    """Fail clearly if another process serves this replica: SeaweedFS locks its filer store, and a second one dies."""
    import fcntl

    from geoml_helpers.services.object_store import ObjectStoreError

    for lock in data.store_dir.glob("filerldb2/*/LOCK"):
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ObjectStoreError(
                    f"The replica at {data.root} is already being served by another process (its object store is "
                    "locked). Use that server's URL, stop it first, or serve a copy of the folder."
                ) from None
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_replica(
    replica: ReplicaSpec | ReplicaData | str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    progress: bool = False,
) -> RunningReplica:
    """Start the replica's STAC API and object store on 127.0.0.1; ``.stop()`` the result when done.

    :func:`serve_replica` does the same as a context manager. Both processes also die with this Python process.

    Parameters
    ----------
    replica : ReplicaSpec, ReplicaData or path
        A spec (built into ``root`` first when missing or stale), a built
        replica, or the folder of one.
    root : path-like, optional
        The replica's folder, needed with a spec.
    port : int, optional
        Port of the STAC API; a free one when omitted.
    progress : bool
        Print what it does.

    Returns
    -------
    RunningReplica
        ``.url`` is the STAC API's root URL.
    """
    from geoml_helpers.services.object_store import LocalObjectStore
    from geoml_helpers.services.stac_server import LocalStacServer

    started = time.perf_counter()
    if isinstance(replica, ReplicaSpec):
        if root is None:
            raise ValueError("start_replica(spec) needs `root`, the folder to build the replica in (or reuse it from).")
        data = ensure_replica(replica, root, progress=progress)
    elif isinstance(replica, ReplicaData):
        data = replica
    else:
        data = open_replica(replica)
    _check_not_served(data)
    # The store's data folder already holds the objects (loaded at build time): nothing to upload.
    store = LocalObjectStore(data_dir=data.store_dir, stop_grace=2.0).start()
    try:
        stac = LocalStacServer([data.collection()], data.items(store.endpoint_url), port=port).start()
    except BaseException:
        store.stop()
        raise
    running = RunningReplica(
        stac.url, store.endpoint_url, data, stac, store, time.perf_counter() - started, store.startup_seconds or 0.0
    )
    if progress:
        print(
            f"Earth Search replica (SYNTHETIC imagery) at {stac.url}, objects at {store.endpoint_url}/{BUCKET}, "
            f"ready in {running.startup_seconds:.1f} s"
        )
    return running


@contextmanager
def serve_replica(
    replica: ReplicaSpec | ReplicaData | str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    progress: bool = False,
) -> Iterator[RunningReplica]:
    """Start the replica's STAC API and object store on 127.0.0.1 (see :func:`start_replica`); stop both on exit.

    Yields
    ------
    RunningReplica
        ``.url`` is the STAC API's root URL.
    """
    running = start_replica(replica, root, port=port, progress=progress)
    try:
        yield running
    finally:
        running.stop()
