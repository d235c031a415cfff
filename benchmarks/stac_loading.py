"""Loading STAC items over HTTP: stackstac vs odc-stac vs raw rasterio windowed reads, on the Earth Search replica.

The replica (example labels at 12 E, SYNTHETIC imagery) is served on 127.0.0.1: items from its STAC API, full-size
sparse COGs from its SeaweedFS bucket. A small counting proxy sits between the readers and the object store, so the
HTTP requests and bytes of every run are counted on the server side. Each run is a fresh Python process (no GDAL
cache carried over) that loads the same items, bands and 10 m grid (the AOI in the western tile's CRS):

``rasterio``   one windowed read per item and band with two threads: the ceiling;
``stackstac``  ``geoml_helpers.load.loading.load_stackstac`` (the course's loader), computed with dask threads;
``odc``        ``geoml_helpers.load.loading.load_odc``, likewise.

Every run is done with GDAL's defaults and with the tuned settings (``--tuned`` below); ratios are against the raw
reads of the same settings, measured in the same run. Requests per COG block: requests / distinct internal
1024 x 1024 blocks that the windows touch.

    python benchmarks/stac_loading.py
    python benchmarks/stac_loading.py --datetime 2022-01-20/2022-01-31 --bands red,nir,swir16,scl --repeat 2

Writes build/benchmarks/stac_loading.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

print = functools.partial(print, flush=True)  # noqa: A001 - show progress when piped

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LABELS = PROJECT_ROOT / "projects" / "replica_example" / "labels.geojson"
TUNED_GDAL = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing request per file
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",  # one request for adjacent byte ranges
    "GDAL_HTTP_MULTIRANGE": "YES",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(64 * 1024 * 1024),
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",  # header and IFDs of every level in the first request
}
METHODS = ("rasterio", "stackstac", "odc")


# --------------------------------------------------------------------------- the counting proxy
class CountingProxy:
    """A loopback HTTP proxy in front of the object store that counts requests and bytes (GET with Range, HEAD)."""

    def __init__(self, upstream: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.lock = threading.Lock()
        self.reset()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self, method: str) -> None:
                import http.client

                connection = getattr(proxy.local, "connection", None)
                if connection is None:
                    connection = proxy.local.connection = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=60
                    )
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("range", "if-none-match", "if-modified-since")
                }
                try:
                    connection.request(method, self.path, headers=headers)
                    response = connection.getresponse()
                except (http.client.HTTPException, OSError):
                    connection.close()
                    connection = proxy.local.connection = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=60
                    )
                    connection.request(method, self.path, headers=headers)
                    response = connection.getresponse()
                body = response.read()
                ranges = self.headers.get("Range", "")
                with proxy.lock:
                    proxy.requests += 1
                    proxy.by_method[method] = proxy.by_method.get(method, 0) + 1
                    proxy.bytes += len(body)
                    proxy.ranges += ranges.count(",") + 1 if ranges else 0
                    proxy.statuses[response.status] = proxy.statuses.get(response.status, 0) + 1
                self.send_response(response.status)
                for key in ("Content-Type", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"):
                    if response.getheader(key):
                        self.send_header(key, response.getheader(key))
                self.send_header("Content-Length", response.getheader("Content-Length") or str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._forward("GET")

            def do_HEAD(self) -> None:  # noqa: N802
                self._forward("HEAD")

        self.local = threading.local()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """Zero the counters (before each measured run)."""
        with getattr(self, "lock", threading.Lock()):
            self.requests, self.bytes, self.ranges = 0, 0, 0
            self.by_method: dict[str, int] = {}
            self.statuses: dict[int, int] = {}

    def counts(self) -> dict:
        """Requests, bytes sent, byte ranges asked for, by method and status, since the last reset."""
        with self.lock:
            return {
                "requests": self.requests,
                "bytes": self.bytes,
                "ranges": self.ranges,
                "by_method": dict(self.by_method),
                "statuses": dict(self.statuses),
            }

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- one measured run (a subprocess)
def _worker(args) -> int:
    """Load the items with one method; print one JSON line with the timings."""
    # Imports are not loading: take them out of the timed part.
    import odc.stac  # noqa: F401
    import pystac  # noqa: F401
    import rasterio  # noqa: F401
    import rioxarray  # noqa: F401
    import stackstac  # noqa: F401
    import xarray  # noqa: F401

    from geoml_helpers.load.loading import Grid

    job = json.loads(Path(args.job).read_text())
    items, bands = job["items"], job["bands"]
    grid = Grid(job["epsg"], tuple(job["bounds"]), 10.0)
    chunk = int(job["chunk"])
    # Warm up (lazy imports inside the loaders, dask's scheduler) on another tile's item, read straight from the
    # store: other files, so nothing measured below comes from a cache, and the proxy does not count it.
    _load(args.worker, [job["warmup"]], bands[:1], grid, chunk)
    started = time.perf_counter()
    cube_bytes, chunks = _load(args.worker, items, bands, grid, chunk)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "cube_bytes": cube_bytes, "chunks": chunks}))
    return 0


def _load(method: str, items: list[dict], bands: list[str], grid, chunk: int) -> tuple[int, int]:
    """Load ``items`` with one method; returns the cube's bytes and the number of chunks (reads)."""
    import dask
    import numpy as np

    from geoml_helpers.load.loading import load_odc, load_stackstac, odc_to_array

    if method == "rasterio":
        from concurrent.futures import ThreadPoolExecutor

        import rasterio
        from rasterio.windows import from_bounds

        def read(pair):
            item, band = pair
            asset = item["assets"][band]
            with rasterio.open(asset["href"]) as src:
                if src.crs.to_epsg() != grid.epsg:  # the warm-up item, in the other zone: any small read
                    return src.read(1, window=((0, 1), (0, 1)))
                window = from_bounds(*grid.bounds, transform=src.transform).round_offsets().round_lengths()
                data = src.read(1, window=window)
            factor = int(round(src.transform.a / grid.resolution))
            return np.repeat(np.repeat(data, factor, axis=0), factor, axis=1)[: grid.shape[0], : grid.shape[1]]

        with rasterio.Env(), ThreadPoolExecutor(max_workers=2) as pool:
            arrays = list(pool.map(read, [(i, b) for i in items for b in bands if b in i["assets"]]))
        cube_bytes = sum(a.size * 2 for a in arrays)
        chunks = len(arrays)
    else:
        with dask.config.set(scheduler="threads", num_workers=2):
            if method == "stackstac":
                da = load_stackstac(items, grid, bands, chunksize=chunk)
            else:
                da = odc_to_array(load_odc(items, grid, bands, chunks={"x": chunk, "y": chunk}), bands)
            chunks = int(np.prod(da.data.numblocks))
            values = da.compute().values
        cube_bytes = int(values.size * 2)
    return cube_bytes, chunks


def _blocks_touched(items: list[dict], bands: list[str], bounds, blocksize: int = 1024) -> int:
    """Distinct internal COG blocks (full resolution) that the grid's window touches, over all assets read."""
    total = 0
    for item in items:
        for band in bands:
            if band not in item["assets"]:
                continue
            a, _, c, _, e, f = item["assets"][band]["proj:transform"]
            col0, col1 = int((bounds[0] - c) // a), int((bounds[2] - c - 1e-6) // a)
            row0, row1 = int((f - bounds[3]) // -e), int((f - bounds[1] - 1e-6) // -e)
            total += (col1 // blocksize - col0 // blocksize + 1) * (row1 // blocksize - row0 // blocksize + 1)
    return total


def main(argv=None) -> int:
    """Serve the replica, run every method with default and tuned GDAL settings, print ratios, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datetime", default="2022-01-20/2022-01-31")
    parser.add_argument("--bands", default="red,nir,swir16,scl")
    parser.add_argument("--chunk", type=int, default=1024, help="dask chunk side in pixels (1024: the COG block size)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method and setting (the fastest is kept)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="build/benchmarks")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    import numpy as np
    import pystac_client
    from pyproj import Transformer

    from geoml_helpers.core.profiles import data_root
    from geoml_helpers.learn.deep.loader_benchmark import write_benchmark_json
    from geoml_helpers.replica.build import ReplicaSpec, ensure_replica
    from geoml_helpers.replica.server import serve_replica

    spec = ReplicaSpec(labels=str(LABELS), class_column="landcover", datetime=args.datetime)
    started = time.perf_counter()
    data = ensure_replica(spec, data_root(args.data_dir) / "replica" / "stac-loading-benchmark", progress=True)
    print(f"replica ready in {time.perf_counter() - started:.1f} s ({data.summary['items']} items, SYNTHETIC imagery)")
    bands = args.bands.split(",")
    west, south, east, north = spec.aoi_bounds()
    xs, ys = Transformer.from_crs(4326, 32632, always_xy=True).transform(
        [west, east, west, east], [south, south, north, north]
    )
    bounds = [
        float(np.floor(min(xs) / 60) * 60),
        float(np.floor(min(ys) / 60) * 60),
        float(np.ceil(max(xs) / 60) * 60),
        float(np.ceil(max(ys) / 60) * 60),
    ]

    rows = []
    with serve_replica(data) as running:
        print(f"replica served in {running.startup_seconds:.2f} s at {running.url}")
        proxy = CountingProxy(running.asset_endpoint)
        try:
            client = pystac_client.Client.open(running.url)
            found = client.search(
                collections=["sentinel-2-l2a"], bbox=[west, south, east, north], datetime=args.datetime
            )
            found = [i.to_dict() for i in found.items()]
            warmup = next(i for i in found if i["properties"]["grid:code"] == "MGRS-33UTP" and bands[0] in i["assets"])
            items = [i for i in found if i["properties"]["grid:code"] == "MGRS-32UQU"]
            items = [i for i in items if all(b in i["assets"] for b in bands)]  # the same cube for every method
            items.sort(key=lambda i: i["properties"]["datetime"])
            for item in items:
                for asset in item["assets"].values():
                    asset["href"] = asset["href"].replace(running.asset_endpoint, proxy.url)
            blocks = _blocks_touched(items, bands, bounds)
            with tempfile.TemporaryDirectory() as tmp:
                job = Path(tmp) / "job.json"
                spec_json = {
                    "items": items,
                    "warmup": warmup,
                    "bands": bands,
                    "epsg": 32632,
                    "bounds": bounds,
                    "chunk": args.chunk,
                }
                job.write_text(json.dumps(spec_json))
                for setting in ("default", "tuned"):
                    env = {k: v for k, v in os.environ.items() if not k.startswith(("GDAL_", "CPL_", "VSI_"))}
                    if setting == "tuned":
                        env |= TUNED_GDAL
                    for method in METHODS:
                        best = None
                        for _ in range(args.repeat):
                            proxy.reset()
                            out = subprocess.run(
                                [sys.executable, __file__, "--worker", method, "--job", str(job)],
                                env=env, capture_output=True, text=True, check=False, cwd=PROJECT_ROOT,
                            )  # fmt: skip
                            if out.returncode != 0:
                                raise RuntimeError(f"{method} ({setting}) failed:\n{out.stderr[-3000:]}")
                            result = json.loads(out.stdout.strip().splitlines()[-1]) | proxy.counts()
                            if best is None or result["seconds"] < best["seconds"]:
                                best = result
                        rows.append({"method": method, "gdal": setting, **best})
                        seconds, requests_, sent = best["seconds"], best["requests"], best["bytes"] / 1e6
                        print(
                            f"  {setting:7s} {method:9s} {seconds:6.2f} s  {requests_:4d} requests  {sent:6.2f} MB sent"
                        )
        finally:
            proxy.close()

    for row in rows:
        ceiling = next(r for r in rows if r["gdal"] == row["gdal"] and r["method"] == "rasterio")
        row["mb_per_s"] = row["cube_bytes"] / 1e6 / row["seconds"]
        row["share_of_raw_ceiling"] = ceiling["seconds"] / row["seconds"]
        row["requests_per_chunk"] = row["requests"] / max(row["chunks"], 1)
        row["requests_per_cog_block"] = row["requests"] / blocks
        baseline = next(r for r in rows if r["gdal"] == "default" and r["method"] == row["method"])
        row["speedup_vs_default_gdal"] = baseline["seconds"] / row["seconds"]
    print(f"\n{len(items)} items x {len(bands)} bands ({', '.join(bands)}), grid {bounds} (EPSG:32632)")
    print(f"{blocks} COG blocks touched")
    header = ("gdal", "method", "s", "MB/s", "x raw", "req", "req/chunk", "req/block", "MB sent", "x default")
    print("".join(f"{h:>10s}" for h in header))
    for r in rows:
        values = (
            r["gdal"], r["method"], f"{r['seconds']:.2f}", f"{r['mb_per_s']:.1f}", f"{r['share_of_raw_ceiling']:.2f}",
            str(r["requests"]), f"{r['requests_per_chunk']:.1f}", f"{r['requests_per_cog_block']:.2f}",
            f"{r['bytes'] / 1e6:.2f}", f"{r['speedup_vs_default_gdal']:.2f}",
        )  # fmt: skip
        print("".join(f"{v:>10s}" for v in values))
    path = write_benchmark_json(
        "stac_loading",
        {
            "replica": {
                "items": data.summary["items"],
                "datetime": args.datetime,
                "synthetic": True,
                "serve_seconds": round(running.startup_seconds, 2),
            },
            "items_loaded": len(items),
            "bands": bands,
            "grid_bounds": bounds,
            "chunk": args.chunk,
            "cog_blocks_touched": blocks,
            "tuned_gdal": TUNED_GDAL,
            "rows": rows,
        },
        args.out,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
