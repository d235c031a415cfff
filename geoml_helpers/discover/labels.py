"""Reading and validating label polygons, and summarising imagery per class.

Real label files arrive in another CRS, with self-intersecting polygons, or
outside the imagery. :func:`validate_labels` deals with each case and says
what it did:

* another CRS: reprojected to the target CRS, with a message;
* invalid geometries: repaired with ``shapely.make_valid`` (keeping the
  polygonal part), or refused with a :class:`~geoml_helpers.core.errors.LabelError`
  naming the row ids when ``repair=False`` or the repair leaves nothing;
* polygons outside the data extent: a ``LabelError`` giving both extents.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> gdf = gpd.GeoDataFrame({"polygon_id": [1], "class_id": [2]}, geometry=[box(0, 0, 10, 10)], crs=32734)
>>> validate_labels(gdf, "EPSG:32734").messages
[]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geoml_helpers.core.errors import LabelError

REQUIRED_COLUMNS: tuple[str, ...] = ("class_id",)


@dataclass
class LabelReport:
    """Validated labels and what was done to them.

    Attributes
    ----------
    labels : geopandas.GeoDataFrame
    messages : list of str
        One line per change (reprojection, repairs, dropped rows).
    repaired_ids : list
        Ids of the rows whose geometry was repaired.
    """

    labels: Any
    messages: list[str] = field(default_factory=list)
    repaired_ids: list = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.messages) if self.messages else "Labels are valid; nothing changed."


def _ids(gdf, mask, id_column: str) -> list:
    values = gdf.loc[mask, id_column] if id_column in gdf else gdf.index[mask]
    return [v.item() if hasattr(v, "item") else v for v in values]


def validate_labels(
    gdf,
    crs: str | None = "EPSG:32734",
    *,
    data_bounds: Sequence[float] | None = None,
    repair: bool = True,
    id_column: str = "polygon_id",
    required_columns: Sequence[str] = REQUIRED_COLUMNS,
    verbose: bool = False,
) -> LabelReport:
    """Check CRS, geometry validity and extent of label polygons.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    crs : str, optional
        Target CRS (the imagery's); ``None`` keeps the labels' CRS.
    data_bounds : sequence of float, optional
        ``(xmin, ymin, xmax, ymax)`` of the imagery in ``crs``; labels must overlap it.
    repair : bool
        Repair invalid geometries (True) or refuse them (False).
    id_column : str
        Column naming rows in messages (the index is used if absent).
    required_columns : sequence of str
    verbose : bool
        Print the messages as well.

    Returns
    -------
    LabelReport

    Raises
    ------
    LabelError
        No CRS, missing columns, unrepairable or refused invalid geometries,
        or no overlap with ``data_bounds``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Polygon
    >>> bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    >>> gdf = gpd.GeoDataFrame({"polygon_id": [7], "class_id": [1]}, geometry=[bowtie], crs=32734)
    >>> validate_labels(gdf).repaired_ids
    [7]
    """
    import geopandas as gpd
    import shapely
    from shapely.geometry import box

    messages: list[str] = []
    if gdf.crs is None:
        raise LabelError(
            "The labels have no CRS. Set the CRS they were digitised in with `labels.set_crs('EPSG:....')` and "
            "load them again."
        )
    missing = [c for c in required_columns if c not in gdf.columns]
    if missing:
        raise LabelError(
            f"The labels lack the column(s) {missing}; they have {list(gdf.columns)}. Rename the class column to "
            "`class_id` (integers 1..N)."
        )
    gdf = gdf.copy()
    if crs is not None and gdf.crs != gpd.GeoSeries([], crs=crs).crs:
        source = gdf.crs.to_string()
        gdf = gdf.to_crs(crs)
        messages.append(f"Reprojected {len(gdf)} label polygons from {source} to {crs} (the imagery's CRS).")
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    if empty.any():
        ids = _ids(gdf, empty, id_column)
        gdf = gdf.loc[~empty]
        messages.append(f"Dropped {len(ids)} rows with empty geometry: {id_column} {ids}.")
    invalid = ~gdf.geometry.is_valid
    repaired: list = []
    if invalid.any():
        ids = _ids(gdf, invalid, id_column)
        reasons = [shapely.is_valid_reason(g) for g in gdf.geometry[invalid]]
        if not repair:
            raise LabelError(
                f"{len(ids)} invalid label geometries, {id_column} {ids}: {reasons[:5]}. Fix them in your GIS, or "
                "pass repair=True to repair them with shapely.make_valid."
            )
        fixed = gdf.geometry[invalid].apply(lambda g: _polygonal(shapely.make_valid(g)))
        unrepairable = fixed.is_empty | fixed.isna()
        if unrepairable.any():
            bad = _ids(gdf.loc[invalid], unrepairable.values, id_column)
            raise LabelError(
                f"Label geometries {id_column} {bad} are invalid and repairing them leaves no area. Remove or "
                "redraw these rows."
            )
        gdf.loc[invalid, gdf.geometry.name] = fixed.values
        repaired = ids
        messages.append(
            f"Repaired {len(ids)} invalid geometries ({id_column} {ids}) with shapely.make_valid; reasons: "
            f"{reasons[:5]}."
        )
    if data_bounds is not None:
        data_box = box(*data_bounds)
        overlapping = gdf.geometry.intersects(data_box)
        if not overlapping.any():
            raise LabelError(
                f"None of the {len(gdf)} label polygons overlap the imagery: labels cover "
                f"{tuple(round(v) for v in gdf.total_bounds)}, "
                f"the data {tuple(round(v) for v in data_bounds)} (in {gdf.crs.to_string()}). Check the labels' "
                "CRS, or load imagery over them."
            )
        if not overlapping.all():
            ids = _ids(gdf, ~overlapping, id_column)
            gdf = gdf.loc[overlapping]
            messages.append(f"Dropped {len(ids)} polygons outside the imagery: {id_column} {ids}.")
    if verbose:
        for line in messages:
            print(line)
    return LabelReport(gdf, messages, repaired)


def _polygonal(geometry):
    """The polygonal part of a geometry (make_valid can return collections with lines)."""
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

    if isinstance(geometry, (Polygon, MultiPolygon)):
        return geometry
    if isinstance(geometry, GeometryCollection):
        polygons = [g for g in geometry.geoms if isinstance(g, (Polygon, MultiPolygon))]
        parts = [p for g in polygons for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
        return MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else Polygon())
    return Polygon()


def read_labels(path: str | os.PathLike[str], crs: str | None = "EPSG:32734", **kwargs) -> LabelReport:
    """Read GeoParquet (or any file geopandas reads) and validate it; see :func:`validate_labels`.

    Examples
    --------
    >>> report = read_labels(demo.labels_path, data_bounds=demo.bounds)  # doctest: +SKIP
    >>> report.labels.crs.to_epsg()  # doctest: +SKIP
    32734
    """
    import geopandas as gpd

    path = str(path)
    gdf = gpd.read_parquet(path) if path.endswith((".parquet", ".geoparquet")) else gpd.read_file(path)
    return validate_labels(gdf, crs, **kwargs)


def rasterize_labels(labels, like, column: str = "class_id", *, all_touched: bool = False, fill: int = 0):
    """Burn ``column`` of the polygons into the grid of a rioxarray object (0 = unlabelled).

    Examples
    --------
    >>> rasterize_labels(labels, cube["ndvi"]).dims  # doctest: +SKIP
    ('y', 'x')
    """
    import xarray as xr
    from rasterio.features import rasterize

    gdf = labels.to_crs(like.rio.crs)
    shape = (like.sizes["y"], like.sizes["x"])
    burned = rasterize(
        ((geom, int(value)) for geom, value in zip(gdf.geometry, gdf[column])),
        out_shape=shape,
        transform=like.rio.transform(),
        fill=fill,
        all_touched=all_touched,
        dtype="int32",
    )
    return xr.DataArray(burned, dims=("y", "x"), coords={"y": like["y"], "x": like["x"]}, name=column)


def class_means(data, class_raster, class_names: dict[int, str] | None = None):
    """Mean of ``data`` over the pixels of each class, for every other dimension (time, band).

    Parameters
    ----------
    data : xarray.DataArray
        With ``y``/``x`` dims (e.g. reflectance ``(time, band, y, x)`` or NDVI ``(time, y, x)``).
    class_raster : xarray.DataArray
        ``(y, x)`` integer classes, 0 = no label.
    class_names : dict, optional
        Adds a ``class_name`` column.

    Returns
    -------
    pandas.DataFrame
        Long format: one row per class and remaining coordinates, column ``value``.

    Examples
    --------
    >>> import xarray as xr
    >>> d = xr.DataArray(np.array([[1.0, 3.0], [5.0, 7.0]]), dims=("y", "x"))
    >>> c = xr.DataArray(np.array([[1, 1], [2, 0]]), dims=("y", "x"))
    >>> class_means(d, c)["value"].tolist()
    [2.0, 5.0]
    """
    import pandas as pd

    codes = np.asarray(class_raster.values).ravel().astype(np.int64)
    labelled = codes > 0
    codes = codes[labelled]
    classes = np.unique(codes)
    n_classes = int(codes.max()) + 1 if codes.size else 1
    other = [d for d in data.dims if d not in ("y", "x")]
    outer = other[0] if other else None
    pieces = []
    # One slice of the outer dimension (e.g. one month) in memory at a time.
    for position in range(data.sizes[outer] if outer else 1):
        plane = data.isel({outer: position}) if outer else data
        inner = [d for d in plane.dims if d not in ("y", "x")]
        values = np.asarray(plane.transpose(*inner, "y", "x").values, dtype=np.float64)
        values = values.reshape(-1, values.shape[-2] * values.shape[-1])[:, labelled]
        finite = np.isfinite(values)
        rows = []
        for row_values, row_finite in zip(values, finite):
            sums = np.bincount(codes, weights=np.where(row_finite, row_values, 0.0), minlength=n_classes)
            counts = np.bincount(codes, weights=row_finite.astype(np.float64), minlength=n_classes)
            with np.errstate(invalid="ignore", divide="ignore"):
                rows.append((sums / counts)[classes])
        means = np.array(rows)  # (inner combinations, classes)
        index = pd.MultiIndex.from_product([plane[d].values for d in inner], names=inner) if inner else pd.RangeIndex(1)
        frame = (
            pd.DataFrame(means, index=index, columns=classes)
            .rename_axis(columns="class_id")
            .stack()
            .rename("value")
            .reset_index()
        )
        if outer:
            frame.insert(0, outer, data[outer].values[position])
        pieces.append(frame)
    out = pd.concat(pieces, ignore_index=True)
    out = out[["class_id", *[c for c in out.columns if c not in ("class_id", "level_0", "value")], "value"]]
    out["class_id"] = out["class_id"].astype(int)
    out = out.sort_values(["class_id", *([outer] if outer else [])], kind="stable").reset_index(drop=True)
    if class_names:
        out.insert(1, "class_name", out["class_id"].map(class_names))
    return out
