"""A real STAC API on 127.0.0.1, for the demo data, as a context manager and a CLI.

The server is ``rustac serve`` with its in-memory backend: it starts in well
under a second, needs no network, and implements STAC API core, collections,
features and item search (bbox, intersects, datetime, collections, ids,
paging). It does *not* implement the filter (CQL2) or query extensions, and
it does not advertise them; :mod:`geoml_helpers.discover.stac_search` reads the
conformance classes and filters cloud cover on the client for it.

Examples
--------
>>> from geoml_helpers.demo import ensure_demo_data
>>> # needs a running STAC API (skipped under doctest)
>>> with LocalStacServer.for_demo(ensure_demo_data("ci")) as server:  # doctest: +SKIP
...     print(server.url)
http://127.0.0.1:...
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geoml_helpers.core.errors import MissingDependencyError, PortInUseError, StacApiUnreachableError
from geoml_helpers.services.processes import HOST, ServerProcess, free_port, port_is_free, terminate_process

if TYPE_CHECKING:
    from geoml_helpers.demo.build import DemoData

def _rustac_executable() -> str:
    candidates = [Path(sys.executable).with_name("rustac"), shutil.which("rustac")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise MissingDependencyError(
        "The `rustac` command is not installed, so no local STAC API can start. "
        "Install it with `pip install rustac` (it is part of the project environment: `make env`)."
    )


class LocalStacServer(ServerProcess):
    """A ``rustac serve`` process bound to 127.0.0.1, stopped on exit.

    Parameters
    ----------
    collections : sequence of dict
        Collection documents to serve.
    items : sequence of dict
        Item documents; their asset hrefs should be absolute (``file://`` or ``http(s)://``).
    port : int, optional
        Port to bind; a free one is picked when omitted.
    startup_timeout : float
        Seconds to wait for the API to answer before giving up.

    Attributes
    ----------
    url : str
        Root URL of the API, e.g. ``http://127.0.0.1:40123``.
    startup_seconds : float
        How long the last start took until the API answered.
    """

    def __init__(
        self, collections: Sequence[dict], items: Sequence[dict], port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        self.collections = [dict(c) for c in collections]
        self.items = [dict(i) for i in items]
        self.requested_port = port
        self.port: int | None = None
        self.startup_timeout = startup_timeout
        self.startup_seconds: float | None = None
        super().__init__()

    @classmethod
    def for_demo(cls, demo: DemoData, port: int | None = None, **kwargs) -> LocalStacServer:
        """A server for every collection of a built demo profile."""
        collections, items = [], []
        for collection_id in demo.collection_ids():
            collections.append(json.loads(demo.collection_path(collection_id).read_text()))
            items.extend(demo.items(collection_id, absolute=True))
        return cls(collections, items, port=port, **kwargs)

    @property
    def url(self) -> str:
        """Root URL of the running API."""
        if self.port is None:
            raise RuntimeError("The server is not running; call start() or use it in a `with` block.")
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalStacServer:
        """Start the server and wait until it answers.

        Raises
        ------
        PortInUseError
            If the requested port is taken.
        MissingDependencyError
            If ``rustac`` is not installed.
        StacApiUnreachableError
            If it does not answer within ``startup_timeout``.
        """
        if self.running:
            return self
        port = self.requested_port or free_port()
        if not port_is_free(port):
            raise PortInUseError(
                f"Port {port} on {HOST} is already in use, so the STAC API cannot start there. "
                "Leave the port out to pick a free one automatically, choose another port, "
                f"or stop the other process (`lsof -i :{port}` shows it)."
            )
        executable = _rustac_executable()
        self._workdir = tempfile.TemporaryDirectory(prefix="geoml-stac-")
        workdir = Path(self._workdir.name)
        hrefs: list[str] = []
        for index, collection in enumerate(self.collections):
            path = workdir / f"collection-{index}.json"
            path.write_text(json.dumps(collection))
            hrefs.append(str(path))
        items_path = workdir / "items.ndjson"
        items_path.write_text("".join(json.dumps(item) + "\n" for item in self.items))
        hrefs.append(str(items_path))
        started = time.perf_counter()
        self._spawn(
            [executable, "serve", "--addr", f"{HOST}:{port}", "--use-duckdb", "false", *hrefs],
            workdir / "server.log",
            _terminate,
        )
        self.port = port
        try:
            self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, started: float) -> None:
        import requests

        assert self._workdir is not None, "start() makes the work folder before waiting"
        deadline = started + self.startup_timeout
        while time.perf_counter() < deadline:
            if self._process is not None and self._process.poll() is not None:
                output = (Path(self._workdir.name) / "server.log").read_text(errors="replace")[-2000:]
                raise StacApiUnreachableError(
                    f"rustac serve exited with status {self._process.returncode} before answering:\n{output}"
                )
            try:
                response = requests.get(self.url + "/", timeout=1.0)
                if response.ok:
                    self.startup_seconds = time.perf_counter() - started
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise StacApiUnreachableError(
            f"The local STAC API did not answer within {self.startup_timeout:.0f} s at {self.url}."
        )

    def restart_with(self, collections: Iterable[dict] = (), items: Iterable[dict] = ()) -> LocalStacServer:
        """Add documents (an item with an existing id replaces it) and restart on the same port.

        rustac's in-memory backend has no transaction endpoint (``POST
        /collections/{id}/items`` answers 405), so publishing means reloading.
        """
        new_items = [dict(i) for i in items]
        replaced = {(i.get("collection"), i.get("id")) for i in new_items}
        self.items = [i for i in self.items if (i.get("collection"), i.get("id")) not in replaced] + new_items
        have = {c.get("id") for c in self.collections}
        self.collections.extend(dict(c) for c in collections if c.get("id") not in have)
        port = self.port
        self.stop()
        self.requested_port = port
        return self.start()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<LocalStacServer {state}, {len(self.collections)} collections, {len(self.items)} items>"


def _terminate(process: subprocess.Popen, workdir: tempfile.TemporaryDirectory | None) -> None:
    """Stop the server's whole process group: TERM, then KILL after 5 s."""
    terminate_process(process, grace=5, whole_group=True)
    if workdir is not None:
        workdir.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``geoml-stac-serve``: serve a demo profile until interrupted."""
    from geoml_helpers.core.errors import GeomlError
    from geoml_helpers.demo.build import ensure_demo_data

    parser = argparse.ArgumentParser(
        prog="geoml-stac-serve", description="Serve the geoml demo data as a STAC API on 127.0.0.1."
    )
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default: a free one)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    try:
        demo = ensure_demo_data(args.profile, args.data_dir)
        server = LocalStacServer.for_demo(demo, port=args.port).start()
    except GeomlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # SIGINT explicitly too: a process started with `nohup` or as a background job inherits SIGINT *ignored*,
    # and Python keeps it that way, so "Ctrl-C stops it" (or `kill -INT`) would silently do nothing. Before the
    # line below: whoever reads it may interrupt at once (CI once did, in the gap, and the server ran on).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print(
            f"STAC API for profile {args.profile!r} at {server.url} (started in {server.startup_seconds:.2f} s). "
            "Ctrl-C stops it.",
            flush=True,
        )
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
