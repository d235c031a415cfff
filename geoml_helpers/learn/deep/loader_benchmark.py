"""Measure whether a data loader keeps the model busy, and how fast patches load from COGs or zarr.

:func:`measure_loader` iterates a ``DataLoader`` while a *simulated training
step* (``time.sleep(step_s)``, default 50 ms) stands in for the model. A GPU
step leaves the CPU idle in the same way, so workers can prepare the next
batches meanwhile. The figure of merit is the **share of epoch time spent in
the step**: 100 % means the model never waits for data.

:func:`read_patch_from_cogs` reads one ``(time, band, h, w)`` patch the way a
pipeline without a cube does: one window read per date and band from the
per-date COGs of the STAC items (20 m / 60 m bands upsampled to 10 m).

Examples
--------
>>> import torch
>>> loader = [(torch.zeros(4, 3), torch.zeros(4))] * 5
>>> r = measure_loader(loader, step_s=0.01, epochs=1)
>>> r.n_batches, r.n_samples, 0.5 < r.step_share <= 1.0
(5, 20, True)
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from geoml_helpers.core.atomic import write_atomic


@dataclass
class LoaderMeasurement:
    """One loader configuration, measured.

    Attributes
    ----------
    name : str
    epoch_s : float
        Wall time of the measured epoch (the last of ``epochs``).
    step_s_total : float
        Time inside the simulated step during that epoch.
    step_share : float
        ``step_s_total / epoch_s``.
    samples_per_s : float
        Samples delivered per second of epoch time.
    first_epoch_s : float
        Wall time of the first epoch, including worker start-up.
    wait_s_max : float
        Longest single wait for a batch in the measured epoch.
    """

    name: str
    epoch_s: float
    step_s_total: float
    step_share: float
    samples_per_s: float
    n_batches: int
    n_samples: int
    first_epoch_s: float
    wait_s_max: float
    settings: dict | None = None


def _batch_size(batch) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(first.shape[0])


def measure_loader(
    loader: Iterable,
    step_s: float = 0.05,
    epochs: int = 2,
    max_batches: int | None = None,
    name: str = "loader",
    settings: dict | None = None,
) -> LoaderMeasurement:
    """Iterate ``loader`` for ``epochs`` epochs with a simulated ``step_s`` step per batch; report the last epoch.

    Parameters
    ----------
    loader : iterable of batches
    step_s : float
        Simulated training step in seconds (``time.sleep``).
    epochs : int
        Epochs to run; the last is reported (with persistent workers the first
        pays for starting them, which :attr:`LoaderMeasurement.first_epoch_s` shows).
    max_batches : int, optional
        Stop each epoch after this many batches (to bound the time).

    Returns
    -------
    LoaderMeasurement
    """
    first_epoch = 0.0
    for epoch in range(max(1, epochs)):
        n_batches = n_samples = 0
        in_step = 0.0
        wait_max = 0.0
        started = time.perf_counter()
        waited_from = started
        for batch in loader:
            got = time.perf_counter()
            wait_max = max(wait_max, got - waited_from)
            n_samples += _batch_size(batch)
            n_batches += 1
            time.sleep(step_s)
            waited_from = time.perf_counter()
            in_step += waited_from - got
            if max_batches is not None and n_batches >= max_batches:
                break
        epoch_s = time.perf_counter() - started
        if epoch == 0:
            first_epoch = epoch_s
    return LoaderMeasurement(
        name=name,
        epoch_s=epoch_s,
        step_s_total=in_step,
        step_share=in_step / epoch_s if epoch_s else 0.0,
        samples_per_s=n_samples / epoch_s if epoch_s else 0.0,
        n_batches=n_batches,
        n_samples=n_samples,
        first_epoch_s=first_epoch,
        wait_s_max=wait_max,
        settings=settings,
    )


def machine_info() -> dict:
    """CPU count, platform and library versions for a benchmark record.

    Examples
    --------
    >>> machine_info()["cpu_count"] >= 1
    True
    """
    info = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        # when, and how busy: seconds on a shared machine mean little without the load beside them
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_1min": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
    }
    for module in ("torch", "xarray", "zarr", "dask", "xbatcher", "rasterio"):
        try:
            info[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - a missing library is simply not listed
            pass
    return info


def write_benchmark_json(name: str, payload: dict, folder: str | os.PathLike[str] = "build/benchmarks") -> Path:
    """Write ``payload`` (plus machine info) to ``<folder>/<name>.json`` atomically and return the path.

    Examples
    --------
    >>> import tempfile
    >>> write_benchmark_json("demo", {"rows": []}, tempfile.mkdtemp()).name
    'demo.json'
    """
    record = {"benchmark": name, "machine": machine_info(), **payload}
    text = json.dumps(record, indent=1, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
    return write_atomic(Path(folder) / f"{name}.json", text)


def _href_path(href: str) -> str:
    return href[len("file://") :] if href.startswith("file://") else href


def read_patch_from_cogs(
    items: Sequence[dict], bands: Sequence[str], row: int, col: int, size: int, base_resolution: float = 10.0
) -> np.ndarray:
    """Read a ``(time, band, size, size)`` reflectance patch at 10 m from per-date COGs.

    One windowed read per item and band; coarser bands are read at their own
    resolution and repeated to 10 m; DNs become reflectance with each asset's
    ``raster:bands`` scale and offset, and nodata becomes NaN.

    Parameters
    ----------
    items : sequence of dict
        STAC items (``file://`` or local hrefs), in time order.
    bands : sequence of str
        Asset keys.
    row, col : int
        Top-left pixel of the patch on the 10 m grid.
    size : int
        Patch side in 10 m pixels (a multiple of 6 keeps 20/60 m reads aligned).

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> from geoml_helpers.demo import ensure_demo_data  # doctest: +SKIP
    >>> items = ensure_demo_data("ci").s2_items()  # doctest: +SKIP
    >>> read_patch_from_cogs(items[:2], ["red", "swir16"], 0, 0, 12).shape  # doctest: +SKIP
    (2, 2, 12, 12)
    """
    import rasterio
    from rasterio.windows import Window

    out = np.full((len(items), len(bands), size, size), np.nan, dtype="float32")
    for t, item in enumerate(items):
        for b, key in enumerate(bands):
            asset = item["assets"][key]
            rb = (asset.get("raster:bands") or [{}])[0]
            factor = (
                int(round(float(rb.get("spatial_resolution", asset.get("gsd", base_resolution))) / base_resolution))
                or 1
            )
            r0, c0 = row // factor, col // factor
            r1, c1 = -(-(row + size) // factor), -(-(col + size) // factor)
            with rasterio.open(_href_path(asset["href"])) as src:
                dn = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
                nodata = src.nodata
            if factor > 1:
                dn = np.repeat(np.repeat(dn, factor, axis=0), factor, axis=1)
                dn = dn[row - r0 * factor : row - r0 * factor + size, col - c0 * factor : col - c0 * factor + size]
            values = dn.astype("float32") * float(rb.get("scale", 1.0)) + float(rb.get("offset", 0.0))
            if nodata is not None:
                values[dn == nodata] = np.nan
            out[t, b] = values
    return out
