"""A map-style PyTorch Dataset over an xbatcher ``BatchGenerator``, and the loader knobs that keep a model busy.

The cube stays on disk as zarr. xbatcher cuts it into samples of
``input_dims`` (for example ``{"time": 12, "band": 11, "y": 48, "x": 48}``),
this module turns each sample into tensors with the labels of *one* split, and
:func:`make_loader` builds a ``DataLoader`` either the naive way or the tuned
way (workers with single-threaded dask, persistent workers, prefetching).

Two kinds of target:

``"pixels"``
    The sample is a tile; the target is the ``(y, x)`` label raster of the
    tile with ``-1`` wherever a pixel is unlabelled, in another split, or has
    no valid observation at all. Tiles do not overlap in val/test, so every
    val/test pixel is seen at most once per epoch.
``"centre"``
    The sample is a small patch; the target is the class of its centre pixel.
    A patch is kept only when *all* its pixels lie in the requested split, so
    no train patch ever contains a test pixel (no leakage through the
    neighbourhood).

Examples
--------
>>> import numpy as np, xarray as xr
>>> cube = xr.DataArray(np.random.default_rng(0).random((3, 2, 8, 8), "float32"), dims=("time", "band", "y", "x"),
...                     coords={"y": np.arange(8.0)[::-1], "x": np.arange(8.0)})
>>> labels = xr.zeros_like(cube.isel(time=0, band=0), dtype="uint8"); labels[:4] = 1; labels[4:] = 2
>>> splits = xr.ones_like(labels)  # everything in "train"
>>> ds = XBatcherDataset(cube, labels, splits, "train", {"time": 3, "band": 2, "y": 4, "x": 4},
...                      class_ids=[1, 2], check_chunks=False)
>>> len(ds), tuple(ds[0][0].shape), tuple(ds[0][1].shape)
(4, (3, 2, 4, 4), (4, 4))
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr
from torch.utils.data import Dataset

from geoml_helpers.core.classes import NODATA_CLASS, ClassTable
from geoml_helpers.core.errors import (
    ChunkAlignmentWarning,
    EmptyDatasetError,
    InputDimsError,
    WholeCubeReadWarning,
)
from geoml_helpers.learn.features import valid_pixel_mask
from geoml_helpers.load.rasterize import SPLIT_CODES
from geoml_helpers.scale.rechunk import storage_chunks

IGNORE_INDEX: int = -1
"""Target value of pixels that must not count in the loss or the metrics."""


# --------------------------------------------------------------------------- chunks


def chunk_read_factor(data: xr.DataArray, input_dims: dict[str, int]) -> float:
    """How many times more values one sample decompresses than it uses, for a sample at the origin.

    1.0 means chunk-aligned: a sample reads exactly whole chunks it needs.

    Examples
    --------
    >>> a = xr.DataArray(np.zeros((64, 64)), dims=("y", "x")).chunk(32)
    >>> chunk_read_factor(a, {"y": 32, "x": 32}), chunk_read_factor(a, {"y": 16, "x": 16})
    (1.0, 4.0)
    """
    chunks = storage_chunks(data)
    factor = 1.0
    for dim, size in data.sizes.items():
        want = int(input_dims.get(str(dim), size))
        chunk = min(chunks[str(dim)], size)
        read = min(math.ceil(want / chunk) * chunk, size)
        factor *= read / want
    return factor


def suggest_input_dims(data: xr.DataArray, sample_dims: Sequence[str] = ("y", "x")) -> dict[str, int]:
    """Chunk-aligned ``input_dims`` for a cube.

    Full length along every other dimension, and along ``sample_dims`` the largest divisor of the dimension
    that is also a divisor or a multiple of its chunk.

    Examples
    --------
    >>> a = xr.DataArray(np.zeros((12, 240, 240), "float32"), dims=("time", "y", "x"))
    >>> a = a.chunk({"time": 12, "y": 48, "x": 48})
    >>> suggest_input_dims(a)
    {'time': 12, 'y': 48, 'x': 48}
    """
    chunks = storage_chunks(data)
    out: dict[str, int] = {}
    for dim, size in data.sizes.items():
        if dim not in sample_dims:
            out[str(dim)] = int(size)
            continue
        chunk = min(chunks[str(dim)], size)
        candidates = [
            d for d in range(1, size + 1) if size % d == 0 and (chunk % d == 0 or d % chunk == 0) and d <= max(chunk, 1)
        ]
        out[str(dim)] = max(candidates) if candidates else chunk
    return out


def check_input_dims(data: xr.DataArray, input_dims: dict[str, int], warn: bool = True) -> list[str]:
    """Validate ``input_dims`` against the cube and its chunks.

    Raises
    ------
    InputDimsError
        For a dimension the cube does not have, or a size that is not
        positive or larger than the cube (the message gives the sizes).

    Warns
    -----
    WholeCubeReadWarning
        The cube is one chunk along the sampled dimensions although samples
        are smaller: every sample reads the whole cube. The message gives the
        rechunking command.
    ChunkAlignmentWarning
        A sample size is neither a divisor nor a multiple of the chunk.

    Returns
    -------
    list of str
        The warning messages (also emitted when ``warn``).

    Examples
    --------
    >>> a = xr.DataArray(np.zeros((8, 8)), dims=("y", "x"))
    >>> check_input_dims(a, {"y": 16, "x": 8})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.InputDimsError: input_dims['y'] = 16 is larger than the cube ...
    """
    for dim, size in input_dims.items():
        if dim not in data.sizes:
            raise InputDimsError(
                f"input_dims names {dim!r}, which the cube does not have; its dimensions are {dict(data.sizes)}."
            )
        if int(size) < 1:
            raise InputDimsError(f"input_dims[{dim!r}] = {size} must be at least 1.")
        if int(size) > data.sizes[dim]:
            raise InputDimsError(
                f"input_dims[{dim!r}] = {size} is larger than the cube along {dim!r} ({data.sizes[dim]}); "
                f"use at most {data.sizes[dim]} (suggest_input_dims(cube) gives chunk-aligned sizes)."
            )
    messages: list[tuple[type[Warning], str]] = []
    chunks = storage_chunks(data)
    sampled = [d for d, s in input_dims.items() if s < data.sizes[d]]
    if sampled and all(chunks[d] >= data.sizes[d] for d in sampled):
        rechunk = ", ".join(f"{d!r}: {input_dims[d]}" for d in sampled)
        messages.append(
            (
                WholeCubeReadWarning,
                f"The cube is stored as a single chunk along {sampled}, so every sample of {dict(input_dims)} "
                "decompresses "
                f"the whole cube. Rechunk it once on disk: cube.chunk({{{rechunk}}}).to_zarr(new_path) and open "
                "that instead.",
            )
        )
    else:
        for dim, size in input_dims.items():
            chunk = min(chunks[dim], data.sizes[dim])
            if size < data.sizes[dim] and size % chunk and chunk % size:
                messages.append(
                    (
                        ChunkAlignmentWarning,
                        f"input_dims[{dim!r}] = {size} is neither a divisor nor a multiple of the zarr chunk "
                        f"({chunk}): samples straddle "
                        f"chunks and each read decompresses about {chunk_read_factor(data, input_dims):.1f}x the "
                        "values it uses. "
                        f"Use {suggest_input_dims(data, sampled or (dim,)).get(dim)} (suggest_input_dims) or "
                        "rechunk the zarr.",
                    )
                )
    if warn:
        for category, message in messages:
            warnings.warn(message, category, stacklevel=3)
    return [m for _, m in messages]


def band_statistics(
    data: xr.DataArray, band_dim: str = "band", stride: int = 4, *, where: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation (NaN ignored) on every ``stride``-th pixel, of ``where`` only.

    Normalise with the statistics of the **training** pixels only
    (``where=splits == SPLIT_CODES["train"]``): statistics over the whole
    cube let the val and test pixels shape the inputs the model learns from,
    a small leak that notebook 05 avoids in the same way.

    Parameters
    ----------
    data : xarray.DataArray
        With ``band_dim``, ``y`` and ``x`` (and any others, e.g. ``time``).
    band_dim : str
    stride : int
        Every ``stride``-th row and column (the statistics of a smooth image converge fast).
    where : array-like of bool (y, x), optional
        The pixels to use, e.g. the train split; default all.

    Examples
    --------
    >>> a = xr.DataArray(np.arange(16.0).reshape(2, 2, 4), dims=("band", "y", "x"))
    >>> [[round(float(v), 1) for v in m] for m in band_statistics(a, stride=1)]
    [[3.5, 11.5], [2.3, 2.3]]
    >>> train = np.array([[True, True, False, False], [True, True, False, False]])
    >>> [[round(float(v), 1) for v in m] for m in band_statistics(a, stride=1, where=train)]
    [[2.5, 10.5], [2.1, 2.1]]
    """
    if where is not None:
        mask = np.asarray(getattr(where, "values", where), dtype=bool)
        if mask.shape != (data.sizes["y"], data.sizes["x"]):
            raise InputDimsError(
                f"where has shape {mask.shape} but the cube's grid is {(data.sizes['y'], data.sizes['x'])}; "
                "rasterise the splits on the cube's grid (load.rasterize_splits)."
            )
        data = data.where(xr.DataArray(mask, dims=("y", "x")))
    thin = data.isel({d: slice(None, None, stride) for d in ("y", "x") if d in data.dims})
    other = [d for d in data.dims if d != band_dim]
    values = thin.transpose(band_dim, *other).values.reshape(data.sizes[band_dim], -1).astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band with no pixel: mean 0, std 1 below
        mean = np.nanmean(values, axis=1)
        std = np.nanstd(values, axis=1)
    std[~np.isfinite(std) | (std == 0)] = 1.0
    mean[~np.isfinite(mean)] = 0.0
    return mean.astype("float32"), std.astype("float32")


# --------------------------------------------------------------------------- dataset


@dataclass
class DatasetReport:
    """What the dataset kept and dropped, and why (shown in the notebook)."""

    split: str
    n_candidates: int = 0
    n_samples: int = 0
    n_target_pixels: int = 0
    dropped_nan_only_samples: int = 0
    nan_only_target_pixels: int = 0
    dropped_no_target_samples: int = 0
    dropped_crossing_split_samples: int = 0
    uncovered_target_pixels: int = 0
    warnings: list[str] = field(default_factory=list)


def _select_samples(
    selectors: dict,
    target_map: np.ndarray,
    valid: np.ndarray,
    in_split: np.ndarray,
    lab: np.ndarray,
    split_codes: np.ndarray,
    *,
    split: str,
    target: str,
    input_dims: dict[str, int],
    drop_nan: bool,
    report: DatasetReport,
) -> tuple[list[int], np.ndarray]:
    """Indices of the samples that hold a target of ``split``, and the target pixels they cover.

    Counts the candidates and the reasons samples are dropped in ``report``.
    """
    covered = np.zeros(target_map.shape, bool)
    keep: list[int] = []
    report.n_candidates = len(selectors)
    hy, hx = input_dims["y"] // 2, input_dims["x"] // 2
    for index, sel_list in selectors.items():
        sel = sel_list[0]
        ys, xs = sel["y"], sel["x"]
        if target == "pixels":
            tile = target_map[ys, xs]
            covered[ys, xs] = True
            if (tile >= 0).any():
                keep.append(index)
            elif drop_nan and not valid[ys, xs].any():
                report.dropped_nan_only_samples += 1
            else:
                report.dropped_no_target_samples += 1
        else:
            cy, cx = ys.start + hy, xs.start + hx
            if target_map[cy, cx] < 0:
                if drop_nan and in_split[cy, cx] and lab[cy, cx] and not valid[cy, cx]:
                    report.dropped_nan_only_samples += 1
                continue
            if (split_codes[ys, xs] != SPLIT_CODES[split]).any():
                report.dropped_crossing_split_samples += 1
                continue
            covered[cy, cx] = True
            keep.append(index)
    return keep, covered


def _checked_dims(
    data: xr.DataArray,
    split: str,
    target: str,
    reader: str,
    zarr_path: str | os.PathLike[str] | None,
    input_dims: dict[str, int],
    input_overlap: dict[str, int] | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Validate :class:`XBatcherDataset` arguments; return ``input_dims`` and ``input_overlap`` as ints."""
    if split not in ("train", "val", "test"):
        raise InputDimsError(f"split must be train, val or test, not {split!r}.")
    if target not in ("pixels", "centre"):
        raise InputDimsError(f"target must be 'pixels' or 'centre', not {target!r}.")
    if reader == "zarr" and zarr_path is None:
        raise InputDimsError(
            "reader='zarr' needs zarr_path= (the store) and variable= (the array name), e.g. the cube's path and "
            "'reflectance'."
        )
    input_overlap = {k: int(v) for k, v in (input_overlap or {}).items()}
    input_dims = {k: int(v) for k, v in input_dims.items()}
    missing = [d for d in data.dims if d not in input_dims]
    if missing:
        # xbatcher would stack these into a "sample" dimension; we want whole series per sample.
        raise InputDimsError(
            f"input_dims must name every dimension of the cube; add {missing} (use the full length, e.g. "
            f"{{{', '.join(f'{d!r}: {data.sizes[d]}' for d in missing)}}})."
        )
    if target == "pixels" and split in ("val", "test") and any(input_overlap.get(d, 0) for d in ("y", "x")):
        raise InputDimsError(
            f"Overlapping tiles would count {split} pixels more than once per epoch; use input_overlap=0 for the "
            f"{split} dataset."
        )
    if target == "centre" and any(input_dims[d] % 2 == 0 for d in ("y", "x")):
        raise InputDimsError(
            f"Centre-pixel patches need odd sizes along y and x, not {input_dims['y']} x {input_dims['x']}."
        )
    return input_dims, input_overlap


class XBatcherDataset(Dataset):
    """Map-style torch Dataset of xbatcher samples with the labels of one split.

    Parameters
    ----------
    data : xarray.DataArray
        The cube, e.g. ``(time, band, y, x)`` or ``(band, y, x)``; dask-backed,
        lazily indexed (``xr.open_zarr(..., chunks=None)``) or in memory.
    labels : xarray.DataArray
        ``(y, x)`` class ids on the cube's grid, 0 = unlabelled (see
        :func:`geoml_helpers.load.rasterize.rasterize_labels`).
    splits : xarray.DataArray
        ``(y, x)`` split codes (see :func:`geoml_helpers.load.rasterize.rasterize_splits`).
    split : {"train", "val", "test"}
    input_dims : dict
        Sample size per dimension, passed to ``xbatcher.BatchGenerator``.
    input_overlap : dict, optional
        Overlap between samples; must be 0 for ``target="pixels"`` in val/test.
    target : {"pixels", "centre"}
        See the module docstring.
    class_ids : sequence of int or ClassTable, optional
        Class ids in the order of the model's outputs; id ``class_ids[k]`` becomes target ``k``.
        A project's :class:`~geoml_helpers.core.classes.ClassTable` gives its ids ``1..K``;
        default: the non-zero ids found in ``labels``.
    mean, std : array-like, optional
        Per-band normalisation; NaN becomes 0 (the mean) after it.
    reader : {"xarray", "zarr"}
        ``"xarray"`` loads each sample through ``BatchGenerator[i]`` (dask or
        lazy xarray indexing); ``"zarr"`` reads the same slices straight from
        the zarr array at ``zarr_path``/``variable``.
    valid_mask : numpy.ndarray, optional
        ``(y, x)`` mask of pixels with any finite value; computed (one pass
        over the cube) when ``drop_nan`` and not given.
    drop_nan : bool
        Drop samples whose target pixels have no valid value, and ignore
        NaN-only target pixels; both are counted in :attr:`report`.
    check_chunks : bool
        Warn when ``input_dims`` force reads larger than the sample.

    Raises
    ------
    InputDimsError, EmptyDatasetError

    Examples
    --------
    See the module docstring.
    """

    def __init__(
        self,
        data: xr.DataArray,
        labels: xr.DataArray,
        splits: xr.DataArray,
        split: Literal["train", "val", "test"],
        input_dims: dict[str, int],
        *,
        input_overlap: dict[str, int] | None = None,
        target: Literal["pixels", "centre"] = "pixels",
        class_ids: Sequence[int] | ClassTable | None = None,
        mean: Sequence[float] | np.ndarray | None = None,
        std: Sequence[float] | np.ndarray | None = None,
        band_dim: str = "band",
        reader: Literal["xarray", "zarr"] = "xarray",
        zarr_path: str | os.PathLike[str] | None = None,
        variable: str | None = None,
        valid_mask: np.ndarray | None = None,
        drop_nan: bool = True,
        check_chunks: bool = True,
    ) -> None:
        """Check the arguments, select the samples of ``split`` and build their target raster.

        Notes
        -----
        Long because: with the argument checks and the sample selection in helpers, what is left sets the dataset's
        state (the target raster, the normalisation arrays, the report), each read by the methods below.
        """
        import xbatcher

        input_dims, input_overlap = _checked_dims(data, split, target, reader, zarr_path, input_dims, input_overlap)
        messages = check_input_dims(data, input_dims, warn=check_chunks)

        self.data = data
        self.dims = tuple(data.dims)
        self.split = split
        self.target = target
        self.input_dims = input_dims
        self.reader = reader
        self.zarr_path = None if zarr_path is None else str(zarr_path)
        self.variable = variable or data.name
        if class_ids is None:
            class_ids = [int(c) for c in np.unique(np.asarray(labels)) if c != NODATA_CLASS]
        elif isinstance(class_ids, ClassTable):
            class_ids = class_ids.ids
        self.class_ids = [int(c) for c in class_ids]
        self.band_axis = self.dims.index(band_dim) if band_dim in self.dims else None
        self._zarr = None
        shape = [1] * len(self.dims)
        if self.band_axis is not None:
            shape[self.band_axis] = data.sizes[band_dim]
        self.mean = None if mean is None else np.asarray(mean, "float32").reshape(shape)
        self.std = None if std is None else np.asarray(std, "float32").reshape(shape)

        self.generator = xbatcher.BatchGenerator(data, input_dims=input_dims, input_overlap=input_overlap)
        report = DatasetReport(split=split, warnings=messages)

        # Target raster: class index where the pixel is labelled and in this split, else IGNORE_INDEX.
        lut = np.full(max(256, int(np.asarray(labels).max()) + 1), IGNORE_INDEX, dtype="int64")
        lut[self.class_ids] = np.arange(len(self.class_ids))
        lab = np.asarray(labels.transpose("y", "x").values)
        in_split = np.asarray(splits.transpose("y", "x").values) == SPLIT_CODES[split]
        target_map = np.where(in_split, lut[lab], IGNORE_INDEX)
        if drop_nan:
            valid = valid_pixel_mask(data, require="any") if valid_mask is None else np.asarray(valid_mask, bool)
            report.nan_only_target_pixels = int(((target_map >= 0) & ~valid).sum())
            target_map = np.where(valid, target_map, IGNORE_INDEX)
        else:
            valid = np.ones(target_map.shape, bool)
        self.target_map = target_map

        selectors = self.generator._batch_selectors.selectors  # xbatcher 0.4: {index: [ {dim: slice} ]}
        split_codes = np.asarray(splits.transpose("y", "x").values)
        keep, covered = _select_samples(
            selectors, target_map, valid, in_split, lab, split_codes,
            split=split, target=target, input_dims=input_dims, drop_nan=drop_nan, report=report,
        )
        report.uncovered_target_pixels = int(((target_map >= 0) & ~covered).sum())
        if target == "pixels":
            report.n_target_pixels = int(
                sum((target_map[s[0]["y"], s[0]["x"]] >= 0).sum() for s in (selectors[i] for i in keep))
            )
        else:
            report.n_target_pixels = len(keep)
        report.n_samples = len(keep)
        if report.uncovered_target_pixels and target == "pixels":
            msg = (
                f"{report.uncovered_target_pixels} labelled {split} pixels lie outside every tile (the cube is "
                "not a multiple of "
                f"input_dims); choose y/x sizes that divide the cube ({dict(data.sizes)}), e.g. "
                "suggest_input_dims(cube)."
            )
            report.warnings.append(msg)
            warnings.warn(msg, ChunkAlignmentWarning, stacklevel=2)
        if not keep:
            raise EmptyDatasetError(
                f"No {target} sample of {dict(input_dims)} holds a labelled, valid {split} pixel "
                f"(candidates {report.n_candidates}, NaN-only {report.dropped_nan_only_samples}, crossing splits "
                f"{report.dropped_crossing_split_samples}). "
                "Use smaller input_dims, check that the labels overlap the cube, or rasterise the splits again."
            )
        self.indices = keep
        self.report = report

    # -- torch Dataset protocol -------------------------------------------------
    def __len__(self) -> int:
        return len(self.indices)

    def selector(self, i: int) -> dict[str, slice]:
        """The ``{dim: slice}`` of sample ``i`` in the cube."""
        return self.generator._batch_selectors.selectors[self.indices[i]][0]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_zarr"] = None  # reopened in each worker
        return state

    def _zarr_array(self):
        if self._zarr is None:
            import zarr

            self._zarr = zarr.open_group(self.zarr_path, mode="r")[self.variable]
        return self._zarr

    def read(self, i: int) -> np.ndarray:
        """Raw values of sample ``i`` as float32 in the cube's dimension order (no normalisation)."""
        sel = self.selector(i)
        if self.reader == "zarr":
            values = self._zarr_array()[tuple(sel.get(str(d), slice(None)) for d in self.dims)]
        else:
            values = self.generator[self.indices[i]].transpose(*self.dims).values
        return np.asarray(values, dtype="float32")

    def __getitem__(self, i: int):
        import torch

        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        values = self.read(i)
        if self.mean is not None:
            values = (values - self.mean) / self.std
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        sel = self.selector(i)
        if self.target == "pixels":
            target = self.target_map[sel["y"], sel["x"]]
        else:
            target = self.target_map[
                sel["y"].start + self.input_dims["y"] // 2, sel["x"].start + self.input_dims["x"] // 2
            ]
        return torch.from_numpy(np.ascontiguousarray(values)), torch.as_tensor(np.asarray(target), dtype=torch.long)

    def target_pixels(self) -> np.ndarray:
        """``(row, col)`` of every target pixel this dataset yields in one epoch (with repeats if tiles overlap)."""
        rows = []
        for i in range(len(self)):
            sel = self.selector(i)
            if self.target == "pixels":
                r, c = np.nonzero(self.target_map[sel["y"], sel["x"]] >= 0)
                rows.append(np.stack([r + sel["y"].start, c + sel["x"].start], axis=1))
            else:
                rows.append(
                    np.array([[sel["y"].start + self.input_dims["y"] // 2, sel["x"].start + self.input_dims["x"] // 2]])
                )
        return np.concatenate(rows) if rows else np.zeros((0, 2), int)


# --------------------------------------------------------------------------- loaders


def single_threaded_worker(worker_id: int) -> None:
    """``worker_init_fn``: one thread per DataLoader worker (dask synchronous, torch 1 thread).

    With N workers each running dask's thread pool and torch's intra-op
    threads, a 2-core machine runs dozens of threads that fight for the cores.

    Examples
    --------
    >>> single_threaded_worker(0)
    >>> import dask; dask.config.get("scheduler")
    'synchronous'
    """
    import dask
    import torch

    dask.config.set(scheduler="synchronous")
    torch.set_num_threads(1)


@dataclass(frozen=True)
class LoaderSettings:
    """The DataLoader knobs of the naive and tuned pipelines."""

    batch_size: int = 8
    num_workers: int = 0
    persistent_workers: bool = False
    prefetch_factor: int | None = None
    single_threaded_dask: bool = False
    pin_memory: bool = False
    multiprocessing_context: str | None = None

    @classmethod
    def naive(cls, batch_size: int = 8) -> LoaderSettings:
        """xbatcher/DataLoader defaults: everything in the main process."""
        return cls(batch_size=batch_size)

    @classmethod
    def tuned(cls, batch_size: int = 8, num_workers: int | None = None, prefetch_factor: int = 4) -> LoaderSettings:
        """Workers (one per core, at least 2), single-threaded dask inside them, persistent, prefetching."""
        workers = num_workers if num_workers is not None else max(2, min(4, os.cpu_count() or 2))
        return cls(
            batch_size=batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
            prefetch_factor=prefetch_factor if workers > 0 else None,
            single_threaded_dask=True,
            # Forking a process that already runs dask/zarr threads can deadlock a worker (a lock held by a thread
            # that does not exist in the child); a fork server starts workers from a clean process instead.
            multiprocessing_context="forkserver" if workers > 0 else None,
        )


def make_loader(dataset, settings: LoaderSettings, shuffle: bool = False, seed: int = 0, drop_last: bool = False):
    """A ``torch.utils.data.DataLoader`` over ``dataset`` with ``settings``; deterministic order given ``seed``.

    Examples
    --------
    >>> import torch
    >>> pairs = list(zip(torch.arange(4.0), torch.arange(4)))
    >>> loader = make_loader(pairs, LoaderSettings.naive(2), shuffle=True, seed=1)
    >>> again = make_loader(pairs, LoaderSettings.naive(2), shuffle=True, seed=1)
    >>> [b[1].tolist() for b in loader] == [b[1].tolist() for b in again]
    True
    """
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(int(seed))
    kwargs: dict[str, Any] = {}
    if settings.num_workers > 0:
        kwargs["persistent_workers"] = settings.persistent_workers
        if settings.prefetch_factor is not None:
            kwargs["prefetch_factor"] = settings.prefetch_factor
        if settings.single_threaded_dask:
            kwargs["worker_init_fn"] = single_threaded_worker
        if settings.multiprocessing_context:
            kwargs["multiprocessing_context"] = settings.multiprocessing_context
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        shuffle=shuffle,
        num_workers=settings.num_workers,
        pin_memory=settings.pin_memory,
        generator=generator,
        drop_last=drop_last,
        **kwargs,
    )
