"""Training pixels sampled inside label polygons, with their polygon and block ids.

A label polygon gives every pixel whose centre lies inside it. Pixels of the
same polygon are near-copies of each other, so every sample keeps its
``polygon_id`` and ``block_id``: spatial cross-validation
(:mod:`geoml_helpers.learn.spatial_cv`) needs them to keep neighbours together.

Class imbalance is handled in two explicit, separate steps:

* :func:`balance_classes` caps the number of pixels per class (and per
  polygon), so that a few big fynbos polygons do not drown the rare classes;
* models are then fitted with ``class_weight="balanced"`` for what remains.

Examples
--------
Needs the built demo data (skipped under doctest):

>>> from geoml_helpers.load.cube import ensure_analysis_ready_cube  # doctest: +SKIP
>>> samples = sample_pixels(ensure_analysis_ready_cube("ci"), demo.read_labels())  # doctest: +SKIP
>>> samples[["class_id", "polygon_id", "block_id", "split"]].head()  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoml_helpers.core.errors import LabelError
from geoml_helpers.learn.features import day_of_year, feature_names, pixel_features, valid_pixel_mask

ID_COLUMNS: tuple[str, ...] = ("class_id", "polygon_id", "block_id", "split", "row", "col", "x", "y")
"""Non-feature columns of a sample table."""


def polygon_index_raster(labels, like) -> np.ndarray:
    """Rasterise label polygons onto a cube's grid: each pixel holds the row number of its polygon, or -1.

    A pixel belongs to a polygon when its centre lies inside it.

    Parameters
    ----------
    labels : geopandas.GeoDataFrame
        Polygons with a CRS.
    like : xarray.Dataset or xarray.DataArray
        The cube, with pixel-centre coordinates ``x``/``y`` and a rio CRS.

    Returns
    -------
    numpy.ndarray
        ``int32`` ``(y, x)``.

    Raises
    ------
    LabelError
        If the labels have no CRS.

    Examples
    --------
    >>> import xarray as xr, geopandas as gpd, rioxarray
    >>> from shapely.geometry import box
    >>> like = xr.DataArray(np.zeros((2, 2)), coords={"y": [15.0, 5.0], "x": [5.0, 15.0]}, dims=("y", "x"))
    >>> like = like.rio.write_crs("EPSG:32734")
    >>> polys = gpd.GeoDataFrame(geometry=[box(0, 10, 10, 20)], crs="EPSG:32734")
    >>> polygon_index_raster(polys, like).tolist()
    [[0, -1], [-1, -1]]
    """
    import rioxarray  # noqa: F401

    from geoml_helpers.load.rasterize import burn_shapes, grid_of

    if labels.crs is None:
        raise LabelError(
            "The label polygons have no CRS. Set it with `labels = labels.set_crs('EPSG:32734')` (the CRS they "
            "were digitised in)."
        )
    crs = like.rio.crs
    if crs is not None:
        labels = labels.to_crs(crs)
    transform, shape = grid_of(like)
    return burn_shapes(((geom, i) for i, geom in enumerate(labels.geometry)), shape, transform, fill=-1, dtype="int32")


def sample_pixels(cube, labels, *, max_pixels_per_polygon: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Features of every (or a seeded subset of) pixel inside the label polygons.

    Only the time series of the labelled pixels are read from the cube (lazy
    point indexing), then :func:`geoml_helpers.learn.features.pixel_features` turns
    them into features, exactly as the scene prediction does.

    Parameters
    ----------
    cube : xarray.Dataset
        Analysis-ready cube with ``reflectance`` ``(time, band, y, x)``.
    labels : geopandas.GeoDataFrame
        Polygons with ``class_id``, ``polygon_id`` and ``block_id`` (and
        optionally ``split``) columns.
    max_pixels_per_polygon : int, optional
        Keep at most this many random pixels of each polygon.
    seed : int
        Seed of that random choice.

    Returns
    -------
    pandas.DataFrame
        One row per pixel: the features (:func:`geoml_helpers.learn.features.feature_names`)
        then :data:`ID_COLUMNS`. ``attrs["dropped_nan"]`` counts labelled
        pixels dropped because a band was never observed there.

    Raises
    ------
    LabelError
        If no polygon covers a pixel centre of the cube (wrong CRS or area),
        or a required column is missing.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> samples = sample_pixels(cube, labels, max_pixels_per_polygon=50)  # doctest: +SKIP
    """
    missing = {"class_id", "polygon_id", "block_id"} - set(labels.columns)
    if missing:
        raise LabelError(
            f"The labels lack the columns {sorted(missing)}; every polygon needs a class_id, a polygon_id and the "
            "block_id of its spatial block."
        )
    refl = cube["reflectance"].transpose("time", "band", "y", "x")
    index = polygon_index_raster(labels, refl)
    rows, cols = np.nonzero(index >= 0)
    if rows.size == 0:
        xmin, xmax = float(refl.x.min()), float(refl.x.max())
        ymin, ymax = float(refl.y.min()), float(refl.y.max())
        lb = labels.to_crs(refl.rio.crs).total_bounds if refl.rio.crs is not None else labels.total_bounds
        raise LabelError(
            f"No label polygon covers a pixel of the imagery: labels span x {lb[0]:.0f}..{lb[2]:.0f}, y "
            f"{lb[1]:.0f}..{lb[3]:.0f}, "
            f"the cube x {xmin:.0f}..{xmax:.0f}, y {ymin:.0f}..{ymax:.0f} ({refl.rio.crs}). "
            "Check that the labels belong to this area and carry the right CRS (labels.crs), or load a cube that "
            "covers them."
        )
    which = index[rows, cols]
    if max_pixels_per_polygon is not None:
        rng = np.random.default_rng(seed)
        keep = np.zeros(rows.size, dtype=bool)
        for poly in np.unique(which):
            members = np.flatnonzero(which == poly)
            if members.size > max_pixels_per_polygon:
                members = rng.choice(members, max_pixels_per_polygon, replace=False)
            keep[members] = True
        rows, cols, which = rows[keep], cols[keep], which[keep]

    import xarray as xr

    series = refl.isel(
        y=xr.DataArray(rows, dims="pixel"), x=xr.DataArray(cols, dims="pixel")
    ).values  # (time, band, pixel)
    bands = [str(b) for b in refl["band"].values]
    feats = pixel_features(series, day_of_year(refl["time"].values), bands)
    valid = valid_pixel_mask(feats)

    table = pd.DataFrame(feats.T, columns=feature_names(bands))
    chosen = labels.iloc[which].reset_index(drop=True)
    table["class_id"] = chosen["class_id"].to_numpy().astype(np.int32)
    table["polygon_id"] = chosen["polygon_id"].to_numpy().astype(np.int32)
    table["block_id"] = chosen["block_id"].to_numpy().astype(np.int32)
    table["split"] = chosen["split"].to_numpy() if "split" in chosen else "train"
    table["row"], table["col"] = rows.astype(np.int32), cols.astype(np.int32)
    table["x"], table["y"] = refl["x"].values[cols], refl["y"].values[rows]
    dropped = int((~valid).sum())
    table = table[valid].reset_index(drop=True)
    table.attrs["dropped_nan"] = dropped
    return table


def balance_classes(
    samples: pd.DataFrame, max_per_class: int | None = None, *, max_per_polygon: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """Cap the pixels per polygon, then per class, by seeded random undersampling.

    Parameters
    ----------
    samples : pandas.DataFrame
        Output of :func:`sample_pixels`.
    max_per_class : int, optional
        At most this many pixels per class; default: the median class count,
        so the majority classes shrink and the rare ones are all kept.
    max_per_polygon : int, optional
        At most this many pixels per polygon (applied first).
    seed : int
        Seed of the random choices.

    Returns
    -------
    pandas.DataFrame
        The kept rows, in their original order.

    Examples
    --------
    >>> df = pd.DataFrame({"class_id": [1] * 8 + [2] * 2, "polygon_id": [0] * 8 + [1] * 2})
    >>> balance_classes(df, max_per_class=3)["class_id"].value_counts().sort_index().tolist()
    [3, 2]
    """
    rng = np.random.default_rng(seed)
    keep = np.ones(len(samples), dtype=bool)
    if max_per_polygon is not None:
        for _, positions in samples.groupby("polygon_id").indices.items():
            if positions.size > max_per_polygon:
                drop = rng.choice(positions, positions.size - max_per_polygon, replace=False)
                keep[drop] = False
    counts = samples[keep]["class_id"].value_counts()
    cap = int(np.median(counts.to_numpy())) if max_per_class is None else int(max_per_class)
    for class_id in sorted(counts.index):
        positions = np.flatnonzero(keep & (samples["class_id"].to_numpy() == class_id))
        if positions.size > cap:
            drop = rng.choice(positions, positions.size - cap, replace=False)
            keep[drop] = False
    return samples[keep]


def feature_matrix(samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` arrays from a sample table: every non-id column is a feature.

    Examples
    --------
    >>> X, y = feature_matrix(pd.DataFrame({"a": [1.0], "class_id": [3], "polygon_id": [0]}))
    >>> X.shape, y.tolist()
    ((1, 1), [3])
    """
    columns = [c for c in samples.columns if c not in ID_COLUMNS]
    return samples[columns].to_numpy(np.float32), samples["class_id"].to_numpy()
