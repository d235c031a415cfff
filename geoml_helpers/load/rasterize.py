"""Label polygons and split blocks burnt onto the grid of a data cube.

Deep-learning loaders work on arrays, not polygons. This module turns the
label polygons (``class_id``) and the spatial blocks (``split``) into
``(y, x)`` rasters on *exactly* the grid of a cube (its ``x``/``y`` pixel-centre
coordinates), so that a label pixel and a data pixel share one index.

A pixel is labelled when its centre falls inside a polygon (rasterio's default
rule), which is what an analyst means by "this pixel is inside my polygon".

Examples
--------
>>> import numpy as np, xarray as xr, geopandas as gpd
>>> from shapely.geometry import box
>>> like = xr.DataArray(np.zeros((4, 4)), dims=("y", "x"),
...                     coords={"y": [35.0, 25.0, 15.0, 5.0], "x": [5.0, 15.0, 25.0, 35.0]})
>>> polys = gpd.GeoDataFrame({"class_id": [3]}, geometry=[box(0, 20, 20, 40)], crs="EPSG:32734")
>>> rasterize_labels(polys, like, crs="EPSG:32734").values.tolist()
[[3, 3, 0, 0], [3, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine

from geoml_helpers.core.errors import LabelError

SPLIT_CODES: dict[str, int] = {"none": 0, "train": 1, "val": 2, "test": 3}
"""Integer code of each split in the raster made by :func:`rasterize_splits`."""


def burn_shapes(
    shapes: Iterable[tuple[Any, int | float]],
    out_shape: tuple[int, int],
    transform: Affine,
    *,
    fill: int | float = 0,
    dtype: str = "uint8",
    all_touched: bool = False,
) -> np.ndarray:
    """Burn ``(geometry, value)`` pairs onto a grid: the package's one call of ``rasterio.features.rasterize``.

    A pixel takes the value of the last geometry that holds its centre (or,
    with ``all_touched``, that touches it at all); other pixels keep ``fill``.
    Missing or empty geometries are skipped, and with none left the grid is
    all ``fill`` (rasterio itself refuses an empty list).

    Parameters
    ----------
    shapes : iterable of (geometry, value)
        Shapely geometries (or GeoJSON-like dicts) in the grid's CRS.
    out_shape : (int, int)
        ``(height, width)`` of the grid.
    transform : affine.Affine
        The grid's transform (of the top-left corner).
    fill : int or float
        Value of pixels no geometry covers.
    dtype : str
        Output dtype; it must hold every value and ``fill``.
    all_touched : bool
        Burn every pixel a geometry touches, not only those whose centre it holds.

    Returns
    -------
    numpy.ndarray
        ``out_shape`` array of ``dtype``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> burn_shapes([(box(0, 20, 20, 40), 3)], (4, 4), Affine(10, 0, 0, 0, -10, 40)).tolist()
    [[3, 3, 0, 0], [3, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    >>> burn_shapes([(None, 1)], (1, 2), Affine.identity(), fill=-1, dtype="int32").tolist()
    [[-1, -1]]
    """
    from rasterio import features

    pairs = [(geom, value) for geom, value in shapes if geom is not None and not getattr(geom, "is_empty", False)]
    if not pairs:
        return np.full(out_shape, fill, dtype=dtype)
    return features.rasterize(
        pairs, out_shape=out_shape, transform=transform, fill=fill, dtype=dtype, all_touched=all_touched
    )


def grid_of(like: xr.DataArray | xr.Dataset, x_dim: str = "x", y_dim: str = "y") -> tuple[Affine, tuple[int, int]]:
    """Affine transform (of the top-left corner) and ``(height, width)`` of a cube's regular grid.

    Parameters
    ----------
    like : xarray.DataArray or xarray.Dataset
        Anything with 1-D pixel-centre coordinates ``x`` and ``y``.

    Raises
    ------
    LabelError
        If the coordinates are missing or not regularly spaced; the message
        says to reproject/resample onto a regular grid first.

    Examples
    --------
    >>> like = xr.DataArray(np.zeros((2, 3)), coords={"y": [15.0, 5.0], "x": [5.0, 15.0, 25.0]}, dims=("y", "x"))
    >>> grid_of(like)[1]
    (2, 3)
    """
    if x_dim not in like.coords or y_dim not in like.coords:
        raise LabelError(
            f"The cube has no {x_dim!r}/{y_dim!r} coordinates; open it with its coordinates (xr.open_zarr keeps "
            "them) or pass x_dim/y_dim."
        )
    xs = np.asarray(like[x_dim].values, dtype="float64")
    ys = np.asarray(like[y_dim].values, dtype="float64")
    if xs.size < 2 or ys.size < 2:
        raise LabelError("The cube must be at least 2 x 2 pixels to define a grid; select a larger area.")
    dx, dy = np.diff(xs), np.diff(ys)
    if not (np.allclose(dx, dx[0], rtol=1e-6) and np.allclose(dy, dy[0], rtol=1e-6)):
        raise LabelError(
            "The cube's x/y coordinates are not regularly spaced; resample it onto a regular grid (e.g. "
            "rio.reproject) before rasterising labels."
        )
    transform = Affine(dx[0], 0.0, xs[0] - dx[0] / 2, 0.0, dy[0], ys[0] - dy[0] / 2)
    return transform, (ys.size, xs.size)


def _as_crs_frame(gdf, crs):
    if gdf.crs is None:
        raise LabelError("The polygons have no CRS; set it with gdf.set_crs(...) (the demo uses EPSG:32734).")
    if crs is not None and gdf.crs != crs:
        return gdf.to_crs(crs)
    return gdf


def _cube_crs(like) -> str | None:
    try:
        import rioxarray  # noqa: F401

        crs = like.rio.crs
        return None if crs is None else crs.to_string()
    except Exception:  # noqa: BLE001 - rioxarray missing or no CRS: fall back to the polygons' CRS
        return None


def rasterize_labels(
    labels,
    like: xr.DataArray | xr.Dataset,
    column: str = "class_id",
    crs: str | None = None,
    fill: int = 0,
    *,
    all_touched: bool = False,
) -> xr.DataArray:
    """Burn polygon values (``class_id`` by default) onto the ``(y, x)`` grid of ``like``.

    Parameters
    ----------
    labels : geopandas.GeoDataFrame
        Polygons with an integer ``column``.
    like : xarray.DataArray or xarray.Dataset
        The cube whose grid is used.
    column : str
        Integer column to burn.
    crs : str, optional
        CRS of the cube; read from ``like.rio.crs`` when omitted. The polygons
        are reprojected to it when they differ.
    fill : int
        Value of pixels outside every polygon (0 = "no label").
    all_touched : bool
        Label every pixel a polygon touches, not only those whose centre it
        holds (more pixels, but mixed ones at the edges).

    Returns
    -------
    xarray.DataArray
        ``uint8``/``int16`` raster with dims ``(y, x)`` and the cube's coordinates.

    Raises
    ------
    LabelError
        If no polygon overlaps the grid (wrong CRS or area), with the fix.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> from geoml_helpers.demo import ensure_demo_data  # doctest: +SKIP
    >>> demo = ensure_demo_data("ci")  # doctest: +SKIP
    >>> import xarray as xr  # doctest: +SKIP
    >>> hs = xr.open_zarr(demo.hyperspectral_zarr_path)  # doctest: +SKIP
    >>> rasterize_labels(demo.read_labels(), hs).shape  # doctest: +SKIP
    (80, 80)
    """
    if column not in labels.columns:
        raise LabelError(f"The polygons have no {column!r} column; pass column= one of {list(labels.columns)}.")
    crs = crs or _cube_crs(like)
    gdf = _as_crs_frame(labels, crs)
    transform, shape = grid_of(like)
    values = gdf[column].to_numpy()
    dtype = "uint8" if values.size == 0 or (values.min() >= 0 and values.max() < 255 and fill < 255) else "int16"
    shapes = [(geom, int(v)) for geom, v in zip(gdf.geometry, values) if geom is not None and not geom.is_empty]
    if not shapes:
        raise LabelError("There are no polygons to rasterise; check the label file.")
    burnt = burn_shapes(shapes, shape, transform, fill=fill, dtype=dtype, all_touched=all_touched)
    if not (burnt != fill).any():
        raise LabelError(
            "No label polygon covers any pixel centre of the cube: the polygons and the cube do not overlap, "
            "or the polygons are smaller than one pixel. Check both CRSs (gdf.crs, cube.rio.crs) and bounds."
        )
    return xr.DataArray(
        burnt,
        coords={"y": like["y"].values, "x": like["x"].values},
        dims=("y", "x"),
        name=column,
        attrs={"fill": fill, "rule": "pixel touches polygon" if all_touched else "pixel centre inside polygon"},
    )


def rasterize_splits(blocks, like: xr.DataArray | xr.Dataset, crs: str | None = None) -> xr.DataArray:
    """Burn the blocks' ``split`` (train/val/test) onto the grid as codes of :data:`SPLIT_CODES`.

    Returns
    -------
    xarray.DataArray
        ``uint8`` raster ``(y, x)``; 0 where no block covers a pixel centre.
        ``attrs["codes"]`` holds the mapping.

    Raises
    ------
    LabelError
        If a split name is not one of train/val/test.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> like = xr.DataArray(np.zeros((2, 2)), coords={"y": [15.0, 5.0], "x": [5.0, 15.0]}, dims=("y", "x"))
    >>> blocks = gpd.GeoDataFrame({"split": ["train", "test"]}, geometry=[box(0, 0, 10, 20), box(10, 0, 20, 20)],
    ...                           crs="EPSG:32734")
    >>> rasterize_splits(blocks, like, crs="EPSG:32734").values.tolist()
    [[1, 3], [1, 3]]
    """
    unknown = set(blocks["split"]) - set(SPLIT_CODES) - {"none"}
    if unknown:
        raise LabelError(f"Unknown split names {sorted(unknown)}; blocks must use train, val or test.")
    coded = blocks.assign(split_code=blocks["split"].map(SPLIT_CODES).astype("uint8"))
    out = rasterize_labels(coded, like, column="split_code", crs=crs)
    out.name = "split"
    out.attrs["codes"] = dict(SPLIT_CODES)
    return out


def split_mask(splits: xr.DataArray, split: str) -> np.ndarray:
    """Boolean ``(y, x)`` mask of the pixels in ``split``.

    Examples
    --------
    >>> s = xr.DataArray(np.array([[1, 3]], "uint8"), dims=("y", "x"))
    >>> split_mask(s, "test").tolist()
    [[False, True]]
    """
    if split not in SPLIT_CODES or split == "none":
        raise LabelError(f"Unknown split {split!r}; use train, val or test.")
    return np.asarray(splits.values) == SPLIT_CODES[split]
