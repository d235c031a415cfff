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


def rechunk_to_zarr(
    ds,
    target: str | os.PathLike[str],
    layout: str,
    *,
    variables: Sequence[str] = ("reflectance",),
    storage_options: dict | None = None,
    progress: bool = False,
    scheduler: str | None = None,
    **layout_kwargs,
) -> dict[str, int]:
    """Write ``variables`` of a cube to ``target`` (local path or ``s3://`` URL) in ``layout``.

    xarray + dask do the rechunking: every output chunk is assembled from the
    input chunks it overlaps, so memory stays near (input chunk + output chunk)
    per thread. (The ``rechunker`` package does the same with a bounded
    intermediate store for cubes whose chunks are far apart.)

    ``scheduler`` picks the dask scheduler (``"threads"`` keeps the work in
    this process; ``None`` uses the active distributed client, if any).

    Returns
    -------
    dict
        The chunk shape written.

    Examples
    --------
    >>> rechunk_to_zarr(cube, "/tmp/cube-ts.zarr", "timeseries")  # doctest: +SKIP
    {'time': 11, 'band': 11, 'y': 64, 'x': 64}
    """
    import contextlib

    sub = ds[list(variables)]
    dims = sub[variables[0]].dims
    chunks = layout_chunks({d: sub.sizes[d] for d in dims}, layout, **layout_kwargs)
    sub = sub.chunk(chunks)
    encoding = {}
    for name in variables:
        var = sub[name]
        var.encoding.pop("chunks", None)
        var.encoding.pop("preferred_chunks", None)
        encoding[name] = {"chunks": tuple(chunks.get(d, var.sizes[d]) for d in var.dims)}
    for coord in sub.coords.values():
        coord.encoding.pop("chunks", None)
        coord.encoding.pop("preferred_chunks", None)
    context: contextlib.AbstractContextManager = contextlib.nullcontext()
    if progress:
        from dask.diagnostics import ProgressBar

        context = ProgressBar()
    with context:
        delayed = sub.to_zarr(
            str(target),
            mode="w",
            consolidated=True,
            encoding=encoding,
            storage_options=storage_options,
            zarr_format=2,
            compute=False,
        )
        delayed.compute(**({"scheduler": scheduler} if scheduler else {}))
    return chunks


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
