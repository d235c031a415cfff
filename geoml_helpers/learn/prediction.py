"""Lazy, bounded-memory prediction of a fitted classifier over a dask-backed cube.

:func:`predict_lazy` maps one function over the cube's spatial chunks
(:func:`geoml_helpers.learn.features.map_time_band_chunks`): each task computes the
features of one chunk with :func:`geoml_helpers.learn.features.feature_table` (the
features of :func:`~geoml_helpers.learn.features.pixel_features`, the very function
used for the training samples), runs ``predict_proba`` batch by batch and
returns small ``uint8`` layers. Nothing runs until the result is computed or written, and memory is
bounded by a few chunks per worker, whatever the size of the scene.

:func:`write_prediction_cogs` writes the class map (with the class colour
table) and the class probabilities (percent, one band per class) as COGs with
overviews: through :func:`geoml_helpers.load.cog.write_cog` when the layers fit in
memory, otherwise streamed chunk-row by chunk-row into a tiled GeoTIFF that
GDAL then turns into a COG.

Examples
--------
Needs the built demo data (skipped under doctest):

>>> pred = predict_lazy(model, ensure_analysis_ready_cube("ci"))  # doctest: +SKIP
>>> write_prediction_cogs(pred, "outputs/ci/prediction")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from geoml_helpers.core.atomic import atomic_write
from geoml_helpers.core.classes import NODATA_CLASS, ClassTable
from geoml_helpers.learn.features import day_of_year, feature_names, feature_table, map_time_band_chunks

PROBABILITY_NODATA: int = 255
"""Probability value (percent) written where no prediction was made."""
GDAL_CACHE_BYTES: int = 256 * 2**20
"""GDAL's block cache while writing. In bytes: rasterio hands an integer straight to ``GDALSetCacheMax64``, so
``GDAL_CACHEMAX=256`` would be 256 *bytes*, and the COG conversion then decoded every block again (3x slower)."""
ROWS_IN_FLIGHT: int = 2
"""Rows of chunks the streaming writer has computing while it writes one."""


def predict_chunk(
    model, reflectance: np.ndarray, doy: Sequence[float], band_names: Sequence[str], batch_size: int = 16384
) -> np.ndarray:
    """Classify one in-memory chunk ``(time, band, y, x)``.

    Parameters
    ----------
    model : fitted scikit-learn classifier
        With ``predict_proba`` and ``classes_``; fitted on
        :func:`~geoml_helpers.learn.features.pixel_features` columns.
    reflectance : numpy.ndarray
        ``(time, band, y, x)`` reflectance.
    doy : sequence of float
        Day of the year of each time step.
    band_names : sequence of str
    batch_size : int
        Pixels per ``predict_proba`` call (bounds the temporary memory).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(1 + n_classes, y, x)``: layer 0 is the class id
        (:data:`~geoml_helpers.core.classes.NODATA_CLASS` where a band was never
        observed), then one probability layer per class in percent
        (:data:`PROBABILITY_NODATA` where no prediction was made).

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> out = predict_chunk(model, cube["reflectance"].values, doy, bands)  # doctest: +SKIP
    """
    height, width = reflectance.shape[2:]
    pixels = np.asarray(reflectance).reshape(reflectance.shape[0], reflectance.shape[1], -1)
    classes = np.asarray(model.classes_)
    out = np.empty((1 + classes.size, height * width), dtype=np.uint8)
    out[0] = NODATA_CLASS
    out[1:] = PROBABILITY_NODATA
    # Features and probabilities batch by batch: every temporary stays a few MB, reused from one batch to the next.
    for start in range(0, pixels.shape[2], batch_size):
        table = feature_table(pixels[:, :, start : start + batch_size], doy, band_names)
        valid = np.isfinite(table).all(axis=1)
        rows = np.flatnonzero(valid) + start
        if rows.size == 0:
            continue
        proba = model.predict_proba(table if rows.size == valid.size else table[valid])
        out[0, rows] = classes[np.argmax(proba, axis=1)].astype(np.uint8)
        out[1:, rows] = np.rint(proba.T * 100).astype(np.uint8)
    return out.reshape(out.shape[0], height, width)


def _predict_block(block: np.ndarray, *, model, doy, band_names, batch_size) -> np.ndarray:
    return predict_chunk(model, block, doy, band_names, batch_size)


def _single_threaded(model):
    """A copy of the fitted model with every ``n_jobs`` set to 1: dask already runs one task per core."""
    import copy

    try:
        params = model.get_params()
    except AttributeError:
        return model
    updates = {k: 1 for k in params if k == "n_jobs" or k.endswith("__n_jobs")}
    if not updates:
        return model
    model = copy.deepcopy(model)
    model.set_params(**updates)
    return model


def predict_lazy(
    model, cube, *, classes: ClassTable | None = None, chunk_px: int | None = None, batch_size: int = 16384
):
    """Lazy class map and probabilities of a whole cube.

    Parameters
    ----------
    model : fitted scikit-learn classifier
        Fitted on :func:`~geoml_helpers.learn.features.pixel_features` columns of
        the same bands. Its ``n_jobs`` are set to 1 (dask parallelises).
    cube : xarray.Dataset or xarray.DataArray
        ``reflectance`` ``(time, band, y, x)``, dask-backed or not.
    classes : ClassTable, optional
        The project's classes: the ``class_name`` coordinate takes their names
        (default: the model's class ids as text).
    chunk_px : int, optional
        Spatial chunk side; default: the cube's chunks.
    batch_size : int
        Pixels per ``predict_proba`` call inside a chunk.

    Returns
    -------
    xarray.Dataset
        Dask-backed ``class_id`` ``(y, x)`` uint8 and ``probability``
        ``(class, y, x)`` uint8 percent, on the cube's grid and CRS.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> pred = predict_lazy(model, cube)  # doctest: +SKIP
    >>> pred["class_id"].data  # a dask array: nothing computed yet  # doctest: +SKIP
    """
    import dask.array as da
    import rioxarray  # noqa: F401
    import xarray as xr

    refl = cube["reflectance"] if isinstance(cube, xr.Dataset) else cube
    refl = refl.transpose("time", "band", "y", "x")
    bands = [str(b) for b in refl["band"].values]
    doy = day_of_year(refl["time"].values)
    n_features = len(feature_names(bands))
    n_model = getattr(model, "n_features_in_", n_features)
    if n_model != n_features:
        raise ValueError(
            f"The model expects {n_model} features but the cube gives {n_features} (bands {bands}); fit the model "
            "on features of the same bands."
        )
    data = (
        refl.data
        if isinstance(refl.data, da.Array)
        else da.from_array(refl.values, chunks=(-1, -1, chunk_px or 256, chunk_px or 256))
    )
    data = data.rechunk((-1, -1, chunk_px, chunk_px) if chunk_px else {0: -1, 1: -1})
    model = _single_threaded(model)
    model_classes = np.asarray(model.classes_)
    layers = map_time_band_chunks(
        _predict_block,
        data,
        1 + model_classes.size,
        np.uint8,
        token="predict-chunk",
        doy=doy,
        band_names=tuple(bands),
        batch_size=batch_size,
        model=model,
    )
    coords = {"y": refl["y"], "x": refl["x"]}
    out = xr.Dataset(
        {
            "class_id": (("y", "x"), layers[0], {"long_name": "predicted class", "nodata": NODATA_CLASS}),
            "probability": (
                ("class", "y", "x"),
                layers[1:],
                {"long_name": "class probability", "units": "percent", "nodata": PROBABILITY_NODATA},
            ),
        },
        coords={
            **coords,
            "class": model_classes.astype(np.int32),
            "class_name": ("class", _class_names(model_classes, classes)),
        },
    )
    crs = refl.rio.crs
    if crs is not None:
        out = out.rio.write_crs(crs)
    return out


def _class_names(class_ids, classes: ClassTable | None) -> list[str]:
    """Names of raster class ids: the project's where it has them, else the id as text."""
    names = classes.names if classes is not None else {}
    return [names.get(int(c), str(int(c))) for c in class_ids]


def _grid(pred):
    from geoml_helpers.load.rasterize import grid_of

    transform, _shape = grid_of(pred)
    crs = pred.rio.crs
    if crs is None:
        raise ValueError("The prediction has no CRS; write one with `pred = pred.rio.write_crs('EPSG:32734')`.")
    return transform, str(crs)


def write_prediction_cogs(
    pred,
    out_dir: str | os.PathLike[str],
    *,
    prefix: str = "landcover",
    classes: ClassTable | None = None,
    max_in_memory_mb: float = 256.0,
    progress: bool = False,
) -> dict[str, Path]:
    """Compute a lazy prediction and write ``<prefix>_class.tif`` and ``<prefix>_probability.tif`` COGs.

    Parameters
    ----------
    pred : xarray.Dataset
        From :func:`predict_lazy`.
    out_dir : path-like
        Folder for the two COGs (created if needed).
    prefix : str
        File name prefix.
    classes : ClassTable, optional
        The project's classes: the class COG gets their colour table and the
        table as a ``classes`` tag (JSON); without it, no colour table.
    max_in_memory_mb : float
        Layers up to this size are computed at once and written with
        :func:`geoml_helpers.load.cog.write_cog`; bigger ones are streamed by rows
        of chunks, so memory stays bounded.
    progress : bool
        Show a progress bar while streaming.

    Returns
    -------
    dict
        ``{"class": path, "probability": path}``.

    Examples
    --------
    Needs a cube built from the demo data, and writes files (skipped under doctest):

    >>> write_prediction_cogs(predict_lazy(model, cube), "/tmp/pred")  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    transform, crs = _grid(pred)
    class_ids = [int(c) for c in pred["class"].values]
    class_names = (
        [str(n) for n in pred["class_name"].values] if "class_name" in pred.coords else _class_names(class_ids, classes)
    )
    paths = {"class": out_dir / f"{prefix}_class.tif", "probability": out_dir / f"{prefix}_probability.tif"}
    size_mb = (1 + len(class_ids)) * pred.sizes["y"] * pred.sizes["x"] / 1e6
    blocksize = 256 if min(pred.sizes["y"], pred.sizes["x"]) >= 512 else 128  # small scenes still get an overview
    class_tag = classes.to_json() if classes is not None else str(dict(zip(class_ids, class_names)))
    colormap = classes.colormap() if classes is not None else None
    class_kw: dict[str, Any] = dict(
        nodata=NODATA_CLASS,
        colormap=colormap,
        overview_resampling="mode",
        band_names=["class_id"],
        tags={"classes": class_tag},
    )
    proba_kw: dict[str, Any] = dict(
        nodata=PROBABILITY_NODATA,
        overview_resampling="average",
        band_names=[f"p_{n}" for n in class_names],
        tags={"units": "percent"},
    )
    if size_mb <= max_in_memory_mb:
        import dask

        from geoml_helpers.load.cog import write_cog

        class_map, proba = dask.compute(pred["class_id"].data, pred["probability"].data)
        write_cog(paths["class"], np.asarray(class_map), transform=transform, crs=crs, blocksize=blocksize, **class_kw)
        write_cog(
            paths["probability"], np.asarray(proba), transform=transform, crs=crs, blocksize=blocksize, **proba_kw
        )
        return paths
    _stream_cogs(pred, paths, transform, crs, class_kw, proba_kw, progress, blocksize)
    return paths


def _stream_cogs(pred, paths, transform, crs, class_kw, proba_kw, progress, blocksize) -> None:
    """Write both layers row of chunks by row of chunks into tiled GeoTIFFs, then convert to COGs.

    Notes
    -----
    Long because: the staged files, the rows in flight and the clean-up after a failure share one try/finally; split
    up, each part would need all of their state.
    """
    import dask
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window
    from tqdm.auto import tqdm

    class_da = pred["class_id"].data
    proba_da = pred["probability"].data
    height, width = class_da.shape
    n_classes = proba_da.shape[0]
    base = dict(
        driver="GTiff",
        height=height,
        width=width,
        dtype="uint8",
        crs=crs,
        transform=transform,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="zstd",
        zstd_level=1,
        predictor=2,
        BIGTIFF="IF_SAFER",
    )
    # The staged files are ours alone, so they use the fastest codec (ZSTD level 1 compresses 9x faster than DEFLATE);
    # the COGs made from them use DEFLATE, which every GeoTIFF reader understands.
    staged = {key: path.with_name(f".{path.stem}.staged.tif") for key, path in paths.items()}
    try:
        with (
            rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES),
            rasterio.open(staged["class"], "w", count=1, nodata=class_kw["nodata"], **base) as dst_class,
            rasterio.open(staged["probability"], "w", count=n_classes, nodata=proba_kw["nodata"], **base) as dst_proba,
        ):
            if class_kw["colormap"]:
                dst_class.write_colormap(1, class_kw["colormap"])
            dst_class.set_band_description(1, class_kw["band_names"][0])
            for i, name in enumerate(proba_kw["band_names"], start=1):
                dst_proba.set_band_description(i, name)
            dst_class.update_tags(**class_kw["tags"])
            dst_proba.update_tags(**proba_kw["tags"])
            row_edges = np.cumsum((0,) + class_da.chunks[0])
            rows = list(zip(row_edges[:-1], row_edges[1:]))

            def compute_row(bounds):
                y0, y1 = bounds
                return dask.compute(class_da[y0:y1], proba_da[:, y0:y1])

            # The next rows compute while this one is compressed and written, so the workers never wait for the writer.
            with ThreadPoolExecutor(max_workers=ROWS_IN_FLIGHT) as pool:
                pending: list[Any] = [pool.submit(compute_row, bounds) for bounds in rows[:ROWS_IN_FLIGHT]]
                try:
                    for i, (y0, y1) in enumerate(tqdm(rows, desc="predict + write rows", disable=not progress)):
                        class_rows, proba_rows = pending[i].result()
                        if i + ROWS_IN_FLIGHT < len(rows):
                            pending.append(pool.submit(compute_row, rows[i + ROWS_IN_FLIGHT]))
                        window = Window(0, int(y0), width, int(y1 - y0))
                        dst_class.write(np.asarray(class_rows)[None], window=window)
                        dst_proba.write(np.asarray(proba_rows), window=window)
                        pending[i] = None  # free the written row
                except BaseException:
                    for future in pending:
                        if future is not None:
                            future.cancel()
                    raise
        # The workers are idle by now: compress on every core. DEFLATE level 1 is half the work of the default level 6
        # and, on class probabilities, less than 2 % bigger.
        options = {
            "COMPRESS": "DEFLATE",
            "LEVEL": "1",
            "PREDICTOR": "2",
            "BLOCKSIZE": str(blocksize),
            "NUM_THREADS": "ALL_CPUS",
            "BIGTIFF": "IF_SAFER",
        }
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
            for key, path in paths.items():
                resampling = (class_kw if key == "class" else proba_kw)["overview_resampling"].upper()
                with atomic_write(path) as tmp:
                    rasterio.shutil.copy(staged[key], str(tmp), driver="COG", OVERVIEW_RESAMPLING=resampling, **options)
    finally:
        for key in paths:
            staged[key].unlink(missing_ok=True)
