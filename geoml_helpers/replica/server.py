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

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from geoml_helpers.replica.build import ReplicaData, ReplicaSpec, ensure_replica, open_replica
from geoml_helpers.replica.items import BUCKET

__all__ = [
    "SERVE_FILE",
    "RunningReplica",
    "ensure_asset_endpoint",
    "replica_ports",
    "serve_replica",
    "shared_replica",
    "start_replica",
    "upload_objects",
]

SERVE_FILE = "serve.json"
"""In a replica's folder: the object store's ports, kept from one serve to the next (see :func:`replica_ports`)."""


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
    store_ports: Any = None,
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
    store_ports : StorePorts, optional
        The object store's ports (the asset hrefs name its S3 port); free ones when omitted.

    Returns
    -------
    RunningReplica
        ``.url`` is the STAC API's root URL.

    Examples
    --------
    Needs a built replica (skipped under doctest):

    >>> running = start_replica("data/replica/replica-ci")  # doctest: +SKIP
    >>> running.stop()  # doctest: +SKIP
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
    store = LocalObjectStore(data_dir=data.store_dir, ports=store_ports, stop_grace=2.0).start()
    try:
        # Newest first, as Earth Search's stac-server answers a search without `sortby` (rustac keeps file order).
        items = sorted(data.items(store.endpoint_url), key=lambda d: (d["properties"]["datetime"], d["id"]))[::-1]
        stac = LocalStacServer([data.collection()], items, port=port).start()
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


# --- one replica per folder and process, on the same ports in every process ----------------------

_SHARED: dict[Path, RunningReplica] = {}


def replica_ports(root: str | os.PathLike[str], *, renew: bool = False):
    """The object store ports of the replica at ``root``: picked on its first serve, then kept in ``serve.json``.

    Asset hrefs name the store's S3 port, so items saved by one process (notebook 01's search) still
    load in another (notebook 02) when the replica is served again on the same ports.

    Parameters
    ----------
    root : path-like
        The replica's folder.
    renew : bool
        Pick new free ports and record them (when the kept ones are taken by another program).

    Returns
    -------
    StorePorts

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> replica_ports(folder) == replica_ports(folder)
    True
    """
    from geoml_helpers.core.atomic import write_atomic
    from geoml_helpers.services.object_store import StorePorts

    path = Path(root) / SERVE_FILE
    if not renew:
        try:
            return StorePorts(**json.loads(path.read_text())["store_ports"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    ports = StorePorts.pick()
    write_atomic(path, json.dumps({"store_ports": asdict(ports)}, indent=1))
    return ports


def _free_within(data: ReplicaData, ports, seconds: float) -> bool:
    """Wait until the ports and the store's lock are free (a process serving it before may still be stopping)."""
    from geoml_helpers.services.object_store import ObjectStoreError
    from geoml_helpers.services.processes import port_is_free

    deadline = time.monotonic() + seconds
    while True:
        try:
            _check_not_served(data)
            if all(port_is_free(port) for port in asdict(ports).values()):
                return True
        except ObjectStoreError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def shared_replica(
    replica: ReplicaSpec | str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
    wait_s: float = 30.0,
) -> RunningReplica:
    """The running replica of ``root`` in this process: built if missing or stale, started once, on kept ports.

    Later calls return the same servers, so asset hrefs stay valid for lazy loads after a
    search's source is closed. The servers stop when this Python process ends (and die with it if it is
    killed); :meth:`RunningReplica.stop` stops them earlier.

    Parameters
    ----------
    replica : ReplicaSpec or path
        A spec (with ``root``), or the folder of a built replica.
    root : path-like, optional
        The replica's folder, needed with a spec.
    progress : bool
        Print the build and the start.
    wait_s : float
        How long to wait for another process serving the same folder to stop; after that the
        store starts on new ports (hrefs saved with the old ones then need a new search).

    Returns
    -------
    RunningReplica

    Examples
    --------
    Needs a project's labels and starts servers (skipped under doctest):

    >>> spec = ReplicaSpec("projects/replica_example/labels.geojson", "landcover", "2022-01-20/2022-01-31")
    >>> shared_replica(spec, "data/replica/replica-ci").url  # doctest: +SKIP
    'http://127.0.0.1:...'
    """
    if isinstance(replica, ReplicaSpec):
        if root is None:
            raise ValueError("shared_replica(spec) needs `root`, the folder to build the replica in (or reuse).")
        folder = Path(root).resolve()
        running = _SHARED.get(folder)
        fingerprint = replica.fingerprint()
        if running is not None and running.running and running.data.fingerprint == fingerprint:
            return running
        data = ensure_replica(replica, folder, progress=progress)
    else:
        folder = Path(replica).resolve()
        running = _SHARED.get(folder)
        if running is not None and running.running:
            return running
        data = open_replica(folder)
    if running is not None:
        running.stop()
    ports = replica_ports(folder)
    if not _free_within(data, ports, wait_s):
        ports = replica_ports(folder, renew=True)
    running = start_replica(data, store_ports=ports, progress=progress)
    _SHARED[folder] = running
    return running


def ensure_asset_endpoint(href: str, data_dir: str | os.PathLike[str] | None = None) -> bool:
    """Make sure a replica's asset ``href`` can be read: start the replica that serves it if none does.

    Items saved by one process hold ``http://127.0.0.1:PORT/sentinel-cogs/...`` hrefs; another process reading
    them starts the replica whose ``serve.json`` (under ``<data dir>/replica/``) names that port. Any other href
    (https, a file, a server that answers) is left alone.

    Returns
    -------
    bool
        Whether a replica was started for it.

    Examples
    --------
    >>> ensure_asset_endpoint("https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/B04.tif")
    False
    """
    from geoml_helpers.core.profiles import data_root
    from geoml_helpers.services.processes import HOST, port_is_free

    parts = urlsplit(href)
    if parts.scheme != "http" or parts.hostname != HOST or parts.port is None or not port_is_free(parts.port):
        return False
    if not parts.path.startswith(f"/{BUCKET}/"):
        return False
    for serve_file in sorted((data_root(data_dir) / "replica").glob(f"*/{SERVE_FILE}")):
        try:
            s3_port = json.loads(serve_file.read_text())["store_ports"]["s3"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if s3_port == parts.port:
            shared_replica(serve_file.parent)
            return True
    return False
