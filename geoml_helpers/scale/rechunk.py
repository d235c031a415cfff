"""Chunk layouts for ML access, and measuring what each layout costs.

A zarr store is a grid of compressed *chunks*; a read touches every chunk it
overlaps, so the chunk shape decides which questions are cheap:

``spatial``
    one date and band per chunk, big spatial tiles: cheap *maps*
    (one band on one date over a large area: image models, visualisation);
``timeseries``
    every date and band of a small spatial tile per chunk: cheap *pixel time
    series* (per-pixel models, sampling training pixels).

:func:`rechunk_to_zarr` writes a layout, :func:`measure_access` times both
access patterns on a store, and :func:`read_throughput` / :func:`decision_table`
turn measured throughputs into the "stay on S3 / copy local / zarr on S3" table.

Examples
--------
>>> layout_chunks({"time": 12, "band": 11, "y": 960, "x": 960}, "timeseries")
{'time': 12, 'band': 11, 'y': 64, 'x': 64}
>>> layout_chunks({"time": 12, "band": 11, "y": 960, "x": 960}, "spatial")
{'time': 1, 'band': 1, 'y': 512, 'x': 512}
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from geoml_helpers.core.errors import LayoutError

LAYOUTS: tuple[str, ...] = ("spatial", "timeseries")
ACCESS_PATTERNS: tuple[str, ...] = ("map", "pixel_timeseries")


def layout_chunks(
    sizes: Mapping[str, int], layout: str, *, spatial_tile: int = 512, series_tile: int = 64
) -> dict[str, int]:
    """Chunk shape of ``layout`` for a ``(time, band, y, x)`` cube of ``sizes``.

    Parameters
    ----------
    sizes : mapping
        Dimension sizes (``time``, ``band``, ``y``, ``x``).
    layout : {"spatial", "timeseries"}
    spatial_tile : int
        Side of the spatial tile of the ``spatial`` layout.
    series_tile : int
        Side of the spatial tile of the ``timeseries`` layout.

    Raises
    ------
    LayoutError
        For an unknown layout.
    """
    if layout == "spatial":
        chunks = {"time": 1, "band": 1, "y": spatial_tile, "x": spatial_tile}
    elif layout == "timeseries":
        chunks = {"time": sizes.get("time", 1), "band": sizes.get("band", 1), "y": series_tile, "x": series_tile}
    else:
        raise LayoutError(f"Unknown chunk layout {layout!r}: use one of {', '.join(LAYOUTS)}.")
    return {dim: min(chunks[dim], size) for dim, size in sizes.items() if dim in chunks}


def storage_chunks(data) -> dict[str, int]:
    """Chunk size of ``data`` on disk along each dimension (zarr encoding, else dask chunks, else whole).

    Examples
    --------
    >>> import xarray as xr
    >>> storage_chunks(xr.DataArray(np.zeros((4, 6)), dims=("y", "x")).chunk({"y": 2}))
    {'y': 2, 'x': 6}
    """
    enc = data.encoding.get("chunks") or data.encoding.get("preferred_chunks")
    if isinstance(enc, dict):
        return {str(d): int(enc.get(d, data.sizes[d])) for d in data.dims}
    if enc is not None and len(enc) == data.ndim:
        return {str(d): int(c) for d, c in zip(data.dims, enc)}
    if data.chunks is not None:
        return {str(d): int(c[0]) for d, c in zip(data.dims, data.chunks)}
    return {str(d): int(n) for d, n in data.sizes.items()}


def _reusable(target: str, storage_options: dict | None, wanted, chunks: Mapping[str, int]) -> bool:
    """Whether ``target`` already holds ``wanted``'s variables with the same sizes and chunks."""
    import xarray as xr

    try:
        existing = xr.open_zarr(target, chunks=None, storage_options=storage_options)
    except Exception:  # noqa: BLE001 - missing, partial or unreadable: write it again
        return False
    for name, var in wanted.data_vars.items():
        if name not in existing or dict(existing[name].sizes) != dict(var.sizes):
            return False
        if storage_chunks(existing[name]) != {d: chunks[d] for d in var.dims}:
            return False
    return True


def rechunk_to_zarr(
    data,
    target: str | os.PathLike[str],
    chunks: str | Mapping[str, int],
    *,
    variables: Sequence[str] | None = None,
    overwrite: bool = False,
    storage_options: dict | None = None,
    progress: bool = False,
    scheduler: str | None = None,
    **layout_kwargs,
):
    """Write a cube to ``target`` (local path or ``s3://`` URL) with new chunks, and open the result lazily.

    xarray + dask do the rechunking: every output chunk is assembled from the
    input chunks it overlaps, so memory stays near (input chunk + output chunk)
    per thread. (The ``rechunker`` package does the same with a bounded
    intermediate store for cubes whose chunks are far apart.) A local store is
    built in a temporary sibling folder and swapped into place
    (:func:`~geoml_helpers.core.atomic.atomic_dir`); an object store has no
    rename, so an ``s3://`` target is written in place. A store that already
    holds the same variables with the same sizes and chunks is reused unless
    ``overwrite``.

    Parameters
    ----------
    data : xarray.DataArray or xarray.Dataset
        The cube (dask-backed is fine: it is streamed chunk by chunk).
    target : path-like or str
        Destination ``.zarr`` folder or URL.
    chunks : {"spatial", "timeseries"} or dict
        A layout of :func:`layout_chunks` (with ``layout_kwargs`` such as
        ``series_tile=``), or the chunk size per dimension; dimensions not
        named keep their full length.
    variables : sequence of str, optional
        Variables of a Dataset to write (default: all data variables).
    overwrite : bool
        Write even if a matching store exists.
    storage_options : dict, optional
        fsspec options of an ``s3://`` target (endpoint, keys).
    progress : bool
        Show a dask progress bar.
    scheduler : str, optional
        dask scheduler (``"threads"`` keeps the work in this process; ``None``
        uses the active distributed client, if any).

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        The written store opened with ``chunks=None`` (lazy, no dask), of the
        same kind as ``data``; :func:`storage_chunks` gives its chunks.

    Raises
    ------
    LayoutError
        For an unknown layout name.

    Examples
    --------
    >>> import tempfile, pathlib, xarray as xr
    >>> a = xr.DataArray(np.zeros((2, 8, 8), "float32"), dims=("band", "y", "x"), name="v")
    >>> out = rechunk_to_zarr(a, pathlib.Path(tempfile.mkdtemp()) / "v.zarr", {"y": 4, "x": 4})
    >>> storage_chunks(out)
    {'band': 2, 'y': 4, 'x': 4}
    """
    import contextlib

    import xarray as xr

    from geoml_helpers.core.atomic import atomic_dir

    name = None
    if isinstance(data, xr.DataArray):
        name = data.name or "data"
        data = data.to_dataset(name=name)
    ds = data[list(variables)] if variables is not None else data
    sizes = {str(d): int(n) for d, n in ds.sizes.items()}
    wanted = layout_chunks(sizes, chunks, **layout_kwargs) if isinstance(chunks, str) else dict(chunks)
    full = {d: min(int(wanted.get(d, n)), n) for d, n in sizes.items()}
    target = str(target)
    if overwrite or not _reusable(target, storage_options, ds, full):
        ds = ds.chunk(full)
        for var in ds.variables.values():
            var.encoding = {}  # the source's codecs and chunks do not apply (and zarr v2 codecs break a v3 write)
        encoding = {v: {"chunks": tuple(full[d] for d in ds[v].dims)} for v in ds.data_vars}
        context: contextlib.AbstractContextManager = contextlib.nullcontext()
        if progress:
            from dask.diagnostics import ProgressBar

            context = ProgressBar()
        store_kw = dict(mode="w", consolidated=True, encoding=encoding, zarr_format=2, compute=False)
        compute_kw = {"scheduler": scheduler} if scheduler else {}
        with context:
            if "://" in target:
                ds.to_zarr(target, storage_options=storage_options, **store_kw).compute(**compute_kw)
            else:
                with atomic_dir(target) as staging:
                    ds.to_zarr(staging, **store_kw).compute(**compute_kw)
    opened = xr.open_zarr(target, chunks=None, storage_options=storage_options)
    return opened[name] if name is not None else opened


@dataclass(frozen=True)
class AccessResult:
    """One timed access pattern on one store."""

    layout: str
    pattern: str
    seconds: float
    chunks_touched: int
    megabytes_returned: float


def _chunks_touched(chunks: Mapping[str, tuple[int, ...]], selection: Mapping[str, np.ndarray]) -> int:
    """Number of chunks a selection of indices per dimension overlaps (a product over dims)."""
    total = 1
    for dim, sizes in chunks.items():
        bounds = np.cumsum((0, *sizes))
        index = selection.get(dim)
        if index is None:
            total *= len(sizes)
        else:
            total *= np.unique(np.searchsorted(bounds, np.asarray(index), side="right") - 1).size
    return int(total)


def measure_access(
    target: str | os.PathLike[str],
    *,
    layout: str = "",
    variable: str = "reflectance",
    n_pixels: int = 200,
    repeats: int = 3,
    seed: int = 0,
    storage_options: dict | None = None,
    scheduler: str = "threads",
) -> list[AccessResult]:
    """Time the two ML access patterns on a zarr store.

    ``map``: one band on one date over the whole area.
    ``pixel_timeseries``: every date and band of ``n_pixels`` random pixels.
    Each is the best of ``repeats`` runs, read with a fresh lazy open (the
    OS page cache still helps local disk; say so when you compare). Reads run
    on ``scheduler`` (threads in this process by default, so that a
    distributed client, if any, does not gather the data through its workers).

    Returns
    -------
    list of AccessResult
    """
    import xarray as xr

    rng = np.random.default_rng(seed)
    results = []
    probe = xr.open_zarr(str(target), consolidated=True, storage_options=storage_options)[variable]
    sizes = dict(probe.sizes)
    rows = rng.integers(0, sizes["y"], n_pixels)
    cols = rng.integers(0, sizes["x"], n_pixels)
    t_index = int(rng.integers(0, sizes["time"]))
    b_index = int(rng.integers(0, sizes["band"]))
    chunks = dict(zip(probe.dims, probe.chunks))
    patterns: dict[str, tuple[Callable, dict]] = {
        "map": (
            lambda a: a.isel(time=t_index, band=b_index).compute(scheduler=scheduler).values,
            {"time": [t_index], "band": [b_index]},
        ),
        "pixel_timeseries": (
            lambda a: (
                a.isel(y=xr.DataArray(rows, dims="pixel"), x=xr.DataArray(cols, dims="pixel"))
                .compute(scheduler=scheduler)
                .values
            ),
            {"y": rows, "x": cols},
        ),
    }
    for pattern, (read, selection) in patterns.items():
        best, nbytes = math.inf, 0
        for _ in range(repeats):
            started = time.perf_counter()
            arr = xr.open_zarr(str(target), consolidated=True, storage_options=storage_options)[variable]
            values = read(arr)
            best = min(best, time.perf_counter() - started)
            nbytes = values.nbytes
        results.append(AccessResult(layout, pattern, best, _chunks_touched(chunks, selection), nbytes / 1e6))
    return results


def access_table(results: Sequence[AccessResult]):
    """Results as a DataFrame: one row per layout, seconds and chunks per pattern.

    Examples
    --------
    >>> float(access_table([AccessResult("spatial", "map", 0.01, 1, 0.2)]).loc["spatial", ("seconds", "map")])
    0.01
    """
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in results])
    return frame.pivot(index="layout", columns="pattern", values=["seconds", "chunks_touched"])


@dataclass(frozen=True)
class Throughput:
    """A measured read throughput."""

    source: str
    megabytes: float
    seconds: float

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10^6 bytes) per second."""
        return self.megabytes / self.seconds if self.seconds > 0 else math.inf


def read_throughput(source: str, read: Callable[[], int], repeats: int = 3) -> Throughput:
    """Time ``read`` (which returns the number of bytes it read); keep the best of ``repeats``.

    Examples
    --------
    >>> read_throughput("memory", lambda: bytes(10**6).__len__()).megabytes
    1.0
    """
    best, nbytes = math.inf, 0
    for _ in range(repeats):
        started = time.perf_counter()
        nbytes = int(read())
        best = min(best, time.perf_counter() - started)
    return Throughput(source, nbytes / 1e6, best)


TIERS: tuple[tuple[str, str, str, float], ...] = (
    ("large", "fits one (bigger) machine; read COGs straight from S3", "cog_object_store", 100e9),
    ("large, re-read often", "copy to local disk once, then iterate", "local_disk", 100e9),
    ("very large (> 1 TB)", "reshape to zarr on S3, read with a dask cluster", "zarr_object_store", 10e12),
)
"""The seed's rules: (tier, action, which measured source it relies on, example size in bytes)."""


def decision_table(throughputs: Mapping[str, Throughput], workers: Mapping[str, int] | None = None):
    """The "stay on S3 / copy local / zarr on S3" table, filled with measured throughputs.

    Parameters
    ----------
    throughputs : mapping
        ``cog_object_store``, ``local_disk`` and ``zarr_object_store`` -> :class:`Throughput`.
    workers : mapping, optional
        How many parallel readers each tier assumes (default 1, 1 and 100
        workers); reads from object storage scale with readers, a local disk does not.

    Returns
    -------
    pandas.DataFrame
        Tier, action, measured MB/s, example size and the hours one pass over
        it takes at that rate (times the workers).

    Examples
    --------
    >>> t = {k: Throughput(k, 100.0, 1.0) for k in ("cog_object_store", "local_disk", "zarr_object_store")}
    >>> float(round(decision_table(t)["hours_per_pass"].iloc[0], 2))
    0.28
    """
    import pandas as pd

    workers = {"cog_object_store": 1, "local_disk": 1, "zarr_object_store": 100, **(workers or {})}
    rows = []
    for tier, action, source, size in TIERS:
        tp = throughputs[source]
        rate = tp.mb_per_s * workers[source]
        rows.append(
            {
                "tier": tier,
                "action": action,
                "measured_on": source,
                "measured_mb_per_s": round(tp.mb_per_s, 1),
                "readers": workers[source],
                "example_size_gb": size / 1e9,
                "hours_per_pass": size / 1e6 / rate / 3600,
            }
        )
    return pd.DataFrame(rows)


# --- What a pass costs on each storage tier: published figures, not loopback measurements ------------------------


@dataclass(frozen=True)
class StorageTier:
    """Published performance and price figures of one place to keep the data.

    Attributes
    ----------
    name : str
    latency_s : float
        Time to first byte of one request.
    mb_per_s_per_stream : float
        Throughput of one request stream (connection).
    max_mb_per_s : float
        Ceiling of one client machine (network card or volume limit).
    egress_usd_per_gb : float
        Data-transfer price of reading it from where the compute runs.
    request_usd_per_1000 : float
        Price of 1000 GET requests.
    source : str
        Where the figures come from.
    """

    name: str
    latency_s: float
    mb_per_s_per_stream: float
    max_mb_per_s: float
    egress_usd_per_gb: float
    request_usd_per_1000: float
    source: str


PUBLISHED_TIERS: dict[str, StorageTier] = {
    "s3_standard_same_region": StorageTier(
        "S3 Standard, compute in the same region",
        latency_s=0.030,
        mb_per_s_per_stream=85.0,
        max_mb_per_s=1250.0,
        egress_usd_per_gb=0.0,
        request_usd_per_1000=0.0004,
        source=(
            "AWS whitepaper 'Best Practices Design Patterns: Optimizing Amazon S3 Performance': small requests have "
            "median latencies 'in the tens of milliseconds'; about 85-90 MB/s per connection (horizontal scaling "
            "section); typical byte-range requests 8-16 MB; S3 pricing (us-east-1): GET $0.0004 per 1000, transfer "
            "to EC2 in the same region free; 10 Gb/s (1250 MB/s) network card"
        ),
    ),
    "s3_standard_internet": StorageTier(
        "S3 Standard, read over the internet (laptop or another cloud)",
        latency_s=0.150,
        mb_per_s_per_stream=20.0,
        max_mb_per_s=125.0,
        egress_usd_per_gb=0.09,
        request_usd_per_1000=0.0004,
        source=(
            "S3 pricing (us-east-1): data transfer out to the internet $0.09/GB for the first 10 TB/month; latency "
            "and bandwidth are those of a good 1 Gb/s link 100-200 ms away (assumptions, not AWS figures)"
        ),
    ),
    "s3_express_one_zone": StorageTier(
        "S3 Express One Zone, compute in the same zone",
        latency_s=0.005,
        mb_per_s_per_stream=85.0,
        max_mb_per_s=1250.0,
        egress_usd_per_gb=0.0,
        request_usd_per_1000=0.0002,
        source=(
            "AWS S3 User Guide, 'Optimizing S3 Express One Zone performance': 'consistent single-digit millisecond "
            "first-byte read' latency, 'up to 10x faster than S3 Standard', request cost about half of S3 Standard"
        ),
    ),
    "ebs_gp3": StorageTier(
        "EBS gp3 volume (a copy on the machine's network disk)",
        latency_s=0.001,
        mb_per_s_per_stream=125.0,
        max_mb_per_s=125.0,
        egress_usd_per_gb=0.0,
        request_usd_per_1000=0.0,
        source="AWS EBS User Guide, gp3: baseline 3000 IOPS and 125 MiB/s (more is provisioned at a price)",
    ),
}
"""Storage tiers with the published figures behind them (checked December 2026; prices change, check yours)."""


def pass_cost(
    dataset_bytes: float,
    request_bytes: float,
    tier: StorageTier,
    *,
    concurrency: int = 16,
) -> dict[str, float]:
    """Time and money of one full read of a dataset from one tier (a simple queueing model).

    Each request costs ``latency + request_bytes / stream throughput``; with
    ``concurrency`` requests in flight the pass takes ``requests x that /
    concurrency``, but never less than ``bytes / max_mb_per_s`` (the machine's
    ceiling). Small requests are latency-bound, large ones bandwidth-bound:
    this is why chunk size matters on object storage and hardly on a disk.

    Parameters
    ----------
    dataset_bytes : float
        Bytes read in one pass.
    request_bytes : float
        Bytes per request (a zarr chunk or a COG tile, compressed).
    tier : StorageTier
    concurrency : int
        Requests in flight at once (threads x workers).

    Returns
    -------
    dict
        ``requests``, ``latency_hours`` (time spent waiting for first bytes,
        spread over the concurrent streams), ``transfer_hours``, ``hours_per_pass``,
        ``egress_usd``, ``request_usd``.

    Examples
    --------
    >>> s3 = PUBLISHED_TIERS["s3_standard_same_region"]
    >>> small = pass_cost(100e9, 1e6, s3)          # 100 GB in 1 MB chunks
    >>> large = pass_cost(100e9, 100e6, s3)        # the same in 100 MB chunks
    >>> round(small["hours_per_pass"], 2), round(large["hours_per_pass"], 3), int(small["requests"])
    (0.07, 0.022, 100000)
    """
    requests = math.ceil(dataset_bytes / request_bytes)
    per_request_s = tier.latency_s + request_bytes / 1e6 / tier.mb_per_s_per_stream
    parallel_s = requests * per_request_s / concurrency
    floor_s = dataset_bytes / 1e6 / tier.max_mb_per_s
    seconds = max(parallel_s, floor_s)
    return {
        "requests": float(requests),
        "latency_hours": requests * tier.latency_s / concurrency / 3600,
        "transfer_hours": max(floor_s, requests * (request_bytes / 1e6 / tier.mb_per_s_per_stream) / concurrency)
        / 3600,
        "hours_per_pass": seconds / 3600,
        "egress_usd": dataset_bytes / 1e9 * tier.egress_usd_per_gb,
        "request_usd": requests / 1000 * tier.request_usd_per_1000,
    }


def cost_table(
    dataset_bytes: float,
    request_bytes: float,
    *,
    tiers: Mapping[str, StorageTier] | None = None,
    local: Throughput | None = None,
    concurrency: int = 16,
):
    """One row per storage tier: requests, latency, transfer time and money of one pass.

    Parameters
    ----------
    dataset_bytes, request_bytes, concurrency
        See :func:`pass_cost`.
    tiers : mapping, optional
        Default :data:`PUBLISHED_TIERS`.
    local : Throughput, optional
        A throughput *measured* on this machine's local disk (:func:`read_throughput`),
        added as the ``local_disk`` row: local disks are what a loopback measurement
        can honestly stand for; object stores are not.

    Returns
    -------
    pandas.DataFrame
        Indexed by tier: ``requests``, ``latency_hours``, ``transfer_hours``,
        ``hours_per_pass``, ``egress_usd``, ``request_usd``, ``source``.

    Examples
    --------
    >>> t = cost_table(1e12, 8e6)
    >>> bool(t.loc["s3_standard_internet", "egress_usd"] > 80 > t.loc["s3_standard_same_region", "egress_usd"])
    True
    """
    import pandas as pd

    tiers = dict(tiers if tiers is not None else PUBLISHED_TIERS)
    if local is not None:
        tiers["local_disk"] = StorageTier(
            "local disk (measured here)", 0.0001, local.mb_per_s, local.mb_per_s, 0.0, 0.0, f"measured: {local.source}"
        )
    rows = {
        key: {**pass_cost(dataset_bytes, request_bytes, tier, concurrency=concurrency), "source": tier.source}
        for key, tier in tiers.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


# --- Chunk-size rules ---------------------------------------------------------------------------------------------

DASK_CHUNK_BYTES = 100e6
"""Dask's array best practices: 'it is rare to see chunk sizes below 100 MB' (docs.dask.org, array-best-practices)."""

STORAGE_CHUNK_BYTES = (1e6, 16e6)
"""Stored (compressed) chunks on object storage: at least ~1 MB so latency does not dominate, up to the 8-16 MB
that AWS gives as typical byte-range request sizes; a dask chunk then spans several stored chunks."""


def chunk_advice(
    sizes: Mapping[str, int], itemsize: int, access: str, *, target_bytes: float = DASK_CHUNK_BYTES
) -> dict[str, int]:
    """Chunk shape for dask work on a ``(time, band, y, x)`` cube, oriented to the access pattern.

    The rules, from dask's array best practices: chunks of about
    ``target_bytes`` (100 MB) so that the scheduler's ~1 ms per task is
    noise; oriented so one chunk answers one question (``map``: one date and
    band over a big square; ``pixel_timeseries``: every date and band of a
    smaller square); and multiples of the stored chunks, so that no stored
    chunk is read twice.

    Parameters
    ----------
    sizes : mapping
        Dimension sizes.
    itemsize : int
        Bytes per value (4 for float32).
    access : {"map", "pixel_timeseries"}
    target_bytes : float

    Returns
    -------
    dict
        Chunk size per dimension.

    Examples
    --------
    >>> chunk_advice({"time": 12, "band": 11, "y": 10980, "x": 10980}, 4, "pixel_timeseries")
    {'time': 12, 'band': 11, 'y': 435, 'x': 435}
    >>> chunk_advice({"time": 12, "band": 11, "y": 10980, "x": 10980}, 4, "map")
    {'time': 1, 'band': 1, 'y': 5000, 'x': 5000}
    """
    if access not in ACCESS_PATTERNS:
        raise LayoutError(f"Unknown access pattern {access!r}: use one of {', '.join(ACCESS_PATTERNS)}.")
    lead = {"time": 1, "band": 1} if access == "map" else {"time": sizes.get("time", 1), "band": sizes.get("band", 1)}
    per_pixel = itemsize * lead["time"] * lead["band"]
    side = int(math.sqrt(target_bytes / per_pixel))
    if access == "map":
        side = int(side // 1000 * 1000) or side  # round map tiles to whole kilometres of 10 m pixels
    chunks = {**lead, "y": side, "x": side}
    return {dim: min(chunks[dim], size) for dim, size in sizes.items() if dim in chunks}


# --- Orthogonal rechunking in bounded memory ----------------------------------------------------------------------
#
# The `rechunker` package (pangeo-data/rechunker) does this with a `max_mem` bound, but its latest release (0.5.4)
# requires zarr < 3 and 0.5.2 fails on zarr 3 ("module 'zarr' has no attribute 'hierarchy'"; pangeo-data/rechunker#159,
# open; PR #161 open). This project uses zarr 3, so here is the same two-stage algorithm, small and on zarr 3 directly.


@dataclass(frozen=True)
class RechunkPlan:
    """How :func:`rechunk_array` copies: one stage, or two through an intermediate store.

    Attributes
    ----------
    source_chunks, target_chunks : tuple of int
    copy_block : tuple of int
        Block read and written in one go in the one-stage plan (the least common
        multiple of both chunk shapes): every chunk is read and written once.
    intermediate_chunks : tuple of int or None
        Chunks of the intermediate store in the two-stage plan (the greatest common
        divisor of both shapes); None for one stage.
    peak_bytes : int
        The largest block held in memory at once.
    """

    source_chunks: tuple[int, ...]
    target_chunks: tuple[int, ...]
    copy_block: tuple[int, ...]
    intermediate_chunks: tuple[int, ...] | None
    peak_bytes: int

    @property
    def stages(self) -> int:
        """1 or 2."""
        return 1 if self.intermediate_chunks is None else 2


def plan_rechunk(
    shape: Sequence[int], itemsize: int, source_chunks: Sequence[int], target_chunks: Sequence[int], max_mem: float
) -> RechunkPlan:
    """Plan an orthogonal rechunk within ``max_mem`` bytes (rechunker's algorithm, simplified).

    One stage when a block that holds whole source *and* whole target chunks
    (their least common multiple) fits in ``max_mem``; otherwise two stages
    through an intermediate store whose chunks divide both (their greatest
    common divisor): stage 1 reads one source chunk at a time, stage 2 writes
    one target chunk at a time. Nothing is ever read twice from the source.

    Raises
    ------
    LayoutError
        When even one source or target chunk exceeds ``max_mem``.

    Examples
    --------
    >>> p = plan_rechunk((12, 11, 1024, 1024), 4, (1, 1, 512, 512), (12, 11, 64, 64), max_mem=200e6)
    >>> p.stages, p.copy_block, p.peak_bytes
    (1, (12, 11, 512, 512), 138412032)
    >>> p = plan_rechunk((12, 11, 1024, 1024), 4, (1, 1, 512, 512), (12, 11, 64, 64), max_mem=3e6)
    >>> p.stages, p.intermediate_chunks, p.peak_bytes
    (2, (1, 1, 64, 64), 2162688)

    A chunk that spans its whole axis has no inner boundary to align with, so on a 238 px grid
    the intermediate chunks are the target's 64 px, not gcd(238, 64) = 2 px:

    >>> plan_rechunk((10, 11, 238, 238), 4, (1, 11, 238, 238), (10, 11, 64, 64), max_mem=3e6).intermediate_chunks
    (1, 11, 64, 64)
    """
    shape = tuple(int(s) for s in shape)
    src = tuple(min(int(c), s) for c, s in zip(source_chunks, shape))
    tgt = tuple(min(int(c), s) for c, s in zip(target_chunks, shape))
    block = tuple(min(math.lcm(a, b), s) for a, b, s in zip(src, tgt, shape))
    block_bytes = math.prod(block) * itemsize
    if block_bytes <= max_mem:
        return RechunkPlan(src, tgt, block, None, block_bytes)
    largest = max(math.prod(src), math.prod(tgt)) * itemsize
    if largest > max_mem:
        raise LayoutError(
            f"One chunk holds {largest / 1e6:.1f} MB, more than max_mem={max_mem / 1e6:.1f} MB. "
            "Raise max_mem or write the source with smaller chunks first."
        )
    inter = tuple(_aligned_chunk(a, b, n) for a, b, n in zip(src, tgt, shape))
    return RechunkPlan(src, tgt, block, inter, largest)


def _aligned_chunk(source: int, target: int, size: int) -> int:
    """The largest chunk on an axis of ``size`` whose boundaries include every inner boundary of both layouts.

    Only a chunk shorter than its axis has inner boundaries; a whole-axis chunk (often one clipped to the
    grid) constrains nothing, whereas taking its gcd with the other gave 2 px chunks on a 238 px grid:
    millions of files (seen in 07 on a user project).
    """
    inner = [c for c in (source, target) if c < size]
    return math.gcd(*inner) if inner else size


def _blocks(shape: Sequence[int], block: Sequence[int]):
    ranges = [range(0, s, b) for s, b in zip(shape, block)]
    for starts in np.ndindex(*[len(r) for r in ranges]):
        yield tuple(slice(r[i], min(r[i] + b, s)) for r, i, b, s in zip(ranges, starts, block, shape))


def rechunk_array(
    source, target_store, target_chunks: Sequence[int], max_mem: float, *, temp_store=None, name: str | None = None
):
    """Copy a zarr array into ``target_chunks`` holding at most ``max_mem`` bytes of data at once.

    Parameters
    ----------
    source : zarr.Array
    target_store : str, path or zarr store
        Where the rechunked array goes (a zarr group when ``name`` is given).
    target_chunks : sequence of int
    max_mem : float
        Bytes of data in memory at once.
    temp_store : str, path or zarr store, optional
        Intermediate store for the two-stage plan (deleted by the caller);
        required when the plan needs it.
    name : str, optional
        Array name inside a group store.

    Returns
    -------
    (zarr.Array, RechunkPlan)

    Examples
    --------
    >>> import zarr, tempfile
    >>> root = tempfile.mkdtemp()
    >>> src = zarr.create_array(f"{root}/src.zarr", shape=(4, 64, 64), chunks=(1, 64, 64), dtype="f4")
    >>> src[:] = np.arange(4 * 64 * 64, dtype="f4").reshape(4, 64, 64)
    >>> out, plan = rechunk_array(src, f"{root}/ts.zarr", (4, 8, 8), max_mem=20_000, temp_store=f"{root}/tmp.zarr")
    >>> out.chunks, plan.stages, bool((out[:] == src[:]).all())
    ((4, 8, 8), 2, True)
    """
    import zarr

    plan = plan_rechunk(source.shape, source.dtype.itemsize, source.chunks, target_chunks, max_mem)
    fmt = source.metadata.zarr_format

    def create(store, chunks, array_name):
        kwargs = dict(shape=source.shape, chunks=chunks, dtype=source.dtype, fill_value=source.fill_value)
        if array_name is None:
            return zarr.create_array(store, overwrite=True, zarr_format=fmt, **kwargs)
        return zarr.open_group(store, mode="a", zarr_format=fmt).create_array(array_name, overwrite=True, **kwargs)

    target = create(target_store, plan.target_chunks, name)
    target.attrs.update(dict(source.attrs))
    if plan.stages == 1:
        for sel in _blocks(source.shape, plan.copy_block):
            target[sel] = source[sel]
        return target, plan
    if temp_store is None:
        raise LayoutError(f"This rechunk needs two stages within max_mem={max_mem / 1e6:.1f} MB: pass temp_store=.")
    intermediate = create(temp_store, plan.intermediate_chunks, None)
    for sel in _blocks(source.shape, plan.source_chunks):
        intermediate[sel] = source[sel]
    for sel in _blocks(source.shape, plan.target_chunks):
        target[sel] = intermediate[sel]
    return target, plan


def rechunk_zarr_store(
    source_path: str | os.PathLike[str],
    target_path: str | os.PathLike[str],
    layout: str,
    max_mem: float,
    *,
    variable: str = "reflectance",
    temp_path: str | os.PathLike[str] | None = None,
    **layout_kwargs,
) -> RechunkPlan:
    """Rechunk one variable of an xarray zarr store (e.g. from :func:`rechunk_to_zarr`) to ``layout`` in ``max_mem``.

    The coordinates are copied as they are; the result opens with
    ``xarray.open_zarr`` like the source. Unlike :func:`rechunk_to_zarr`
    (xarray + dask, memory set by the dask chunks), memory here is bounded by
    ``max_mem`` whatever the two layouts are.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> plan = rechunk_zarr_store("spatial.zarr", "ts.zarr", "timeseries", 256e6)  # doctest: +SKIP
    """
    import shutil

    import zarr

    source_group = zarr.open_group(str(source_path), mode="r")
    source: Any = source_group[variable]  # a zarr Array (zarr types group items as Array | Group)
    dims = source.attrs.get("_ARRAY_DIMENSIONS") or list(getattr(source.metadata, "dimension_names", None) or [])
    if len(dims) != source.ndim:
        raise LayoutError(
            f"{source_path}/{variable} does not name its dimensions; write it with xarray (rechunk_to_zarr)."
        )
    chunks = layout_chunks(dict(zip(dims, source.shape)), layout, **layout_kwargs)
    target_chunks = tuple(chunks.get(d, s) for d, s in zip(dims, source.shape))
    tmp = str(temp_path) if temp_path is not None else f"{os.fspath(target_path)}.tmp"
    target_path = os.fspath(target_path)
    shutil.rmtree(target_path, ignore_errors=True)
    fmt = source.metadata.zarr_format
    target_group = zarr.open_group(target_path, mode="w", zarr_format=fmt)
    target_group.attrs.update(dict(source_group.attrs))
    for key, array in source_group.arrays():
        if key == variable:
            continue
        copy = target_group.create_array(
            key, shape=array.shape, chunks=array.chunks, dtype=array.dtype, fill_value=array.fill_value
        )
        copy[...] = array[...]
        copy.attrs.update(dict(array.attrs))
    try:
        _, plan = rechunk_array(source, target_path, target_chunks, max_mem, temp_store=tmp, name=variable)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    zarr.consolidate_metadata(target_path, zarr_format=fmt)
    return plan
