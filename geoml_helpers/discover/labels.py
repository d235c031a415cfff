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

    Notes
    -----
    Long because: the checks run in the order a reader fixes labels (CRS, columns, empty, invalid, extent), each
    with its own message, and feed one report.

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
    Needs the built demo data (skipped under doctest):

    >>> report = read_labels(demo.labels_path, data_bounds=demo.bounds)  # doctest: +SKIP
    >>> report.labels.crs.to_epsg()  # doctest: +SKIP
    32734
    """
    import geopandas as gpd

    path = str(path)
    gdf = gpd.read_parquet(path) if path.endswith((".parquet", ".geoparquet")) else gpd.read_file(path)
    return validate_labels(gdf, crs, **kwargs)


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


# --- a project's labels, as users have them -------------------------------------------------------

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The three splits every class should land in."""

SPLIT_SHARES: dict[str, float] = {"train": 0.6, "val": 0.2, "test": 0.2}
"""Target share of the labelled spatial blocks in each split."""


@dataclass
class PreparedLabelsReport:
    """What :func:`prepare_labels` found and did, counted.

    Attributes
    ----------
    source : str
        The labels file.
    source_crs : str
    rows_read : int
    polygons, multipolygons, points : int
        Geometries kept, by type (multipoints are split into points).
    repaired_invalid : int
        Invalid geometries repaired with ``shapely.make_valid``.
    dropped_empty : int
        Empty or missing geometries, dropped.
    dropped_no_class : int
        Rows with no value in the class column, dropped.
    dropped_other_geometry : int
        Lines and other non-polygon, non-point geometries, dropped.
    dropped_outside : int
        Labels wholly outside the AOI (or the imagery footprint), dropped.
    partly_outside : int
        Labels partly outside the AOI (or the imagery footprint), kept.
    utm_zones : list of str
        The UTM zones the AOI touches (two or more: it crosses a zone boundary).
    aoi_area_km2 : float
    per_class : pandas.DataFrame
        One row per class: ``class_id, code, class_name, polygons, points, area_km2, train, val, test``.
    missing_in_split : list of tuple
        ``(class_name, split)`` pairs with no label.
    messages : list of str
    """

    source: str
    source_crs: str
    rows_read: int = 0
    polygons: int = 0
    multipolygons: int = 0
    points: int = 0
    repaired_invalid: int = 0
    dropped_empty: int = 0
    dropped_no_class: int = 0
    dropped_other_geometry: int = 0
    dropped_outside: int = 0
    partly_outside: int = 0
    utm_zones: list[str] = field(default_factory=list)
    aoi_area_km2: float = 0.0
    per_class: Any = None
    missing_in_split: list[tuple[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def crosses_utm_zones(self) -> bool:
        """Whether the AOI spans more than one UTM zone."""
        return len(self.utm_zones) > 1

    @property
    def every_class_in_every_split(self) -> bool:
        """Whether each class has labels in train, val and test."""
        return not self.missing_in_split

    def __str__(self) -> str:
        return "\n".join(self.messages)


@dataclass(frozen=True)
class ProjectLabels:
    """A project's labels, ready for every notebook: target CRS, class ids, splits, grid.

    Attributes
    ----------
    labels : geopandas.GeoDataFrame
        In :attr:`crs`; columns ``polygon_id, code, class_id (1..K), class_name, class_label, split,
        block_id, area_m2, geometry`` (Polygon, MultiPolygon or Point).
    blocks : geopandas.GeoDataFrame
        The spatial blocks: ``block_id, split, geometry``.
    classes : ClassTable
    crs : str
    bounds : tuple of float
        Grid bounds in :attr:`crs`, snapped to the resolution.
    aoi_lonlat : tuple of float
        ``(lon_min, lat_min, lon_max, lat_max)`` of :attr:`bounds`.
    resolution : float
    report : PreparedLabelsReport
    """

    labels: Any
    blocks: Any
    classes: Any
    crs: str
    bounds: tuple[float, float, float, float]
    aoi_lonlat: tuple[float, float, float, float]
    resolution: float
    report: PreparedLabelsReport

    @property
    def polygons(self):
        """The polygon and multipolygon labels (segmentation, rasterising)."""
        return self.labels[self.labels.geom_type.isin(["Polygon", "MultiPolygon"])]

    @property
    def points(self):
        """The point labels (pixel sampling only)."""
        return self.labels[self.labels.geom_type == "Point"]

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the grid in pixels."""
        xmin, ymin, xmax, ymax = self.bounds
        return (round((ymax - ymin) / self.resolution), round((xmax - xmin) / self.resolution))


def read_label_file(path: str | os.PathLike[str]):
    """Read labels from any vector file geopandas reads (GeoParquet, FlatGeobuf, GeoPackage, GeoJSON, zipped Shapefile).

    Raises
    ------
    LabelError
        When the file is missing or unreadable, or has no CRS.

    Examples
    --------
    >>> read_label_file("missing.geojson")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.LabelError: No labels file at ...
    """
    import geopandas as gpd

    path = os.fspath(path)
    if not os.path.exists(path):
        raise LabelError(
            f"No labels file at {os.path.abspath(path)}. Check `[labels] "
            "path` in the project file (relative paths are relative to it)."
        )
    try:
        if path.endswith((".parquet", ".geoparquet")):
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio/arrow raise many types; the fix is the same
        raise LabelError(
            f"Could not read {path} as vector data ({type(exc).__name__}: "
            f"{exc}). Use GeoParquet, FlatGeobuf, GeoPackage, "
            "GeoJSON or a zipped Shapefile (.zip holding .shp, .shx, .dbf and .prj)."
        ) from exc
    if gdf.crs is None:
        raise LabelError(
            f"The labels in {path} have no CRS, so geoml cannot place them. Set the CRS they were drawn in, e.g. "
            "`gpd.read_file(path).set_crs('EPSG:4326').to_file(path)` (for a Shapefile, ship its .prj in the zip)."
        )
    return gdf


def utm_crs(lon: float, lat: float) -> str:
    """The WGS 84 / UTM zone CRS of a point (the standard 6-degree zones).

    Examples
    --------
    >>> utm_crs(18.9, -33.9), utm_crs(-105.1, 40.0)
    ('EPSG:32734', 'EPSG:32613')
    """
    zone = min(60, int((lon + 180) // 6) + 1)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def utm_zones(lon_min: float, lon_max: float, lat: float) -> list[str]:
    """Names of the UTM zones a longitude range touches, e.g. ``['34S']`` or ``['33S', '34S']``.

    Examples
    --------
    >>> utm_zones(17.9, 18.1, -33.9)
    ['33S', '34S']
    """
    first, last = (min(60, int((lon + 180) // 6) + 1) for lon in (lon_min, lon_max))
    hemisphere = "N" if lat >= 0 else "S"
    return [f"{zone}{hemisphere}" for zone in range(first, last + 1)]


def snap_bounds(bounds: Sequence[float], resolution: float) -> tuple[float, float, float, float]:
    """Bounds grown outwards to whole multiples of ``resolution``.

    Examples
    --------
    >>> snap_bounds((310803.2, 6236795.0, 313196.1, 6239201.0), 10)
    (310800.0, 6236790.0, 313200.0, 6239210.0)
    """
    xmin, ymin, xmax, ymax = bounds
    r = float(resolution)
    return (
        float(np.floor(xmin / r) * r),
        float(np.floor(ymin / r) * r),
        float(np.ceil(xmax / r) * r),
        float(np.ceil(ymax / r) * r),
    )


def inner_lonlat_box(bounds: Sequence[float], crs: str, inset_m: float = 0.0) -> tuple[float, float, float, float]:
    """The largest lon/lat box inside projected ``bounds`` (shrunk by ``inset_m``), rounded inwards to 1e-6 degrees.

    A lon/lat box turned back into the projected CRS and snapped outwards to the grid
    then gives (at most) the same grid, never a larger one.

    Examples
    --------
    >>> box = inner_lonlat_box((310800.0, 6236800.0, 313200.0, 6239200.0), "EPSG:32734")
    >>> [round(v, 3) for v in box]
    [18.952, -33.992, 18.978, -33.971]
    """
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = (v + d for v, d in zip(bounds, (inset_m, inset_m, -inset_m, -inset_m)))
    n = 21
    edge = np.linspace(0.0, 1.0, n)
    xs = np.concatenate([xmin + edge * (xmax - xmin), np.full(n, xmax), xmin + edge * (xmax - xmin), np.full(n, xmin)])
    ys = np.concatenate([np.full(n, ymin), ymin + edge * (ymax - ymin), np.full(n, ymax), ymin + edge * (ymax - ymin)])
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    west, east = float(np.max(lon[3 * n :])), float(np.min(lon[n : 2 * n]))
    south, north = float(np.max(lat[:n])), float(np.min(lat[2 * n : 3 * n]))
    q = 1e6
    return (
        float(np.ceil(west * q) / q),
        float(np.ceil(south * q) / q),
        float(np.floor(east * q) / q),
        float(np.floor(north * q) / q),
    )


def _slug(text: str) -> str:
    """A machine-friendly class name.

    Examples
    --------
    >>> _slug("Rock & sand / gravel")
    'rock_sand_gravel'
    """
    import re

    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "class"


def _normalise_codes(values):
    """Class codes as Python ints where they are whole numbers, else strings."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        if np.all(np.mod(numbers, 1) == 0):
            return numbers.astype(np.int64).map(int)
    return values.astype(str).str.strip()


def _clean_geometries(gdf, report: PreparedLabelsReport):
    """Drop empty and non-polygon/non-point geometries, repair invalid ones, explode multipoints."""
    import shapely

    geometry = gdf.geometry
    empty = geometry.isna() | geometry.is_empty
    report.dropped_empty = int(empty.sum())
    gdf = gdf.loc[~empty]
    if gdf.geom_type.eq("MultiPoint").any():
        gdf = gdf.explode(index_parts=False)
    invalid = ~gdf.geometry.is_valid
    if invalid.any():
        repaired = gdf.geometry[invalid].apply(
            lambda g: _polygonal(shapely.make_valid(g)) if g.geom_type in ("Polygon", "MultiPolygon") else g
        )
        gdf = gdf.copy()
        gdf.loc[invalid, gdf.geometry.name] = repaired.values
        report.repaired_invalid = int(invalid.sum())
        still_empty = gdf.geometry.is_empty
        report.dropped_empty += int(still_empty.sum())
        gdf = gdf.loc[~still_empty]
    kinds = gdf.geom_type
    other = ~kinds.isin(["Polygon", "MultiPolygon", "Point"])
    report.dropped_other_geometry = int(other.sum())
    gdf = gdf.loc[~other]
    report.polygons = int((gdf.geom_type == "Polygon").sum())
    report.multipolygons = int((gdf.geom_type == "MultiPolygon").sum())
    report.points = int((gdf.geom_type == "Point").sum())
    return gdf


def _make_blocks(bounds, block_size: float, crs: str):
    import geopandas as gpd
    from shapely.geometry import box

    xmin, ymin, xmax, ymax = bounds
    n_cols = max(1, int(np.ceil((xmax - xmin) / block_size)))
    n_rows = max(1, int(np.ceil((ymax - ymin) / block_size)))
    geoms = []
    for row in range(n_rows):
        for col in range(n_cols):
            x0, y1 = xmin + col * block_size, ymax - row * block_size
            geoms.append(box(x0, max(ymin, y1 - block_size), min(xmax, x0 + block_size), y1))
    return gpd.GeoDataFrame({"block_id": np.arange(len(geoms), dtype=np.int32)}, geometry=geoms, crs=crs)


def _block_of(labels, blocks) -> np.ndarray:
    """The block holding each label's representative point."""
    import geopandas as gpd

    points = gpd.GeoDataFrame(geometry=labels.geometry.representative_point().values, crs=labels.crs)
    joined = gpd.sjoin(points, blocks[["block_id", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["block_id"].fillna(-1).astype(int).to_numpy()


def assign_block_splits(
    block_of_label: np.ndarray, class_of_label: np.ndarray, n_blocks: int, seed: int = 0, attempts: int = 400
) -> np.ndarray:
    """Seeded split of spatial blocks so that every class lands in train, val and test where possible.

    Labelled blocks are split 60/20/20; among ``attempts`` seeded draws the one covering the most
    (class, split) pairs wins, the first such draw on a tie. Unlabelled blocks get seeded splits too.

    Returns
    -------
    numpy.ndarray
        The split name of each block.

    Examples
    --------
    >>> blocks = np.array([0, 1, 2, 3, 4, 5])
    >>> classes = np.array([1, 1, 1, 2, 2, 2])
    >>> split = assign_block_splits(blocks, classes, 6, seed=0)
    >>> sorted({(int(c), str(split[b])) for b, c in zip(blocks, classes)})
    [(1, 'test'), (1, 'train'), (1, 'val'), (2, 'test'), (2, 'train'), (2, 'val')]
    """
    rng = np.random.default_rng([seed, 13])
    split = np.array(rng.choice(list(SPLIT_SHARES), size=n_blocks, p=list(SPLIT_SHARES.values())), dtype=object)
    labelled = np.unique(block_of_label[block_of_label >= 0])
    if labelled.size == 0:
        return split.astype(str)
    n_val = max(1, round(labelled.size * SPLIT_SHARES["val"])) if labelled.size >= 3 else 0
    n_test = max(1, round(labelled.size * SPLIT_SHARES["test"])) if labelled.size >= 3 else 0
    classes = np.unique(class_of_label)
    # presence[b, k]: block b holds class k.
    presence = np.zeros((labelled.size, classes.size), dtype=bool)
    position = {int(b): i for i, b in enumerate(labelled)}
    class_index = {c: i for i, c in enumerate(classes.tolist())}
    for b, c in zip(block_of_label, class_of_label):
        if b >= 0:
            presence[position[int(b)], class_index[c if not isinstance(c, np.generic) else c.item()]] = True
    best, best_score = None, -1
    for _ in range(attempts):
        order = rng.permutation(labelled.size)
        draw = np.array(["train"] * labelled.size, dtype=object)
        draw[order[:n_test]] = "test"
        draw[order[n_test : n_test + n_val]] = "val"
        score = sum(int(presence[draw == name].any(axis=0).sum()) for name in SPLITS)
        if score > best_score:
            best, best_score = draw, score
        if best_score == 3 * classes.size:
            break
    assert best is not None  # attempts >= 1
    best = _repair_coverage(best, presence, rng)
    split[labelled] = best
    return split.astype(str)


def _repair_coverage(draw: np.ndarray, presence: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move single blocks between splits, rarest class first, until each class is in each split where possible.

    A block moves only out of a split where every class it holds keeps another block,
    so a move never takes a class out of a split it was in.
    """
    draw = draw.copy()
    for k in np.argsort(presence.sum(axis=0), kind="stable"):
        for wanted in SPLITS:
            if presence[draw == wanted, k].any():
                continue
            candidates = []
            for b in rng.permutation(np.flatnonzero(presence[:, k])):
                donor = draw[b]
                others = (draw == donor) & (np.arange(draw.size) != b)
                if all(presence[others, j].any() for j in np.flatnonzero(presence[b])):
                    candidates.append(b)
            if candidates:
                draw[candidates[0]] = wanted
    return draw


def prepare_labels(
    project, data_dir: str | os.PathLike[str] | None = None, *, seed: int = 0, footprint=None
) -> ProjectLabels:
    """Read a project's labels as users have them and make them ready for every notebook.

    In order: read any vector format; refuse a file with no CRS or without the class
    column; drop empty geometries and lines, repair invalid ones with ``make_valid``;
    build the class table (the project's, or derived from the codes); choose the AOI
    (the project's, or the labels' extent + ``margin_m``), the CRS (the project's, or
    the UTM zone of the AOI centre) and the grid (snapped to the resolution); drop
    labels outside the AOI or ``footprint`` and count those partly outside; then take
    the split column or assign seeded spatial blocks of ``block_size_m``.

    Parameters
    ----------
    project : Project
    data_dir : str, optional
        Data folder (demo projects read their demo build from it).
    seed : int
        Seed of the block split.
    footprint : shapely geometry or sequence of float, optional
        Where imagery exists, in lon/lat (e.g. the union of the STAC items' footprints);
        labels outside it are dropped and counted like labels outside the AOI.

    Returns
    -------
    ProjectLabels

    Raises
    ------
    LabelError
        No CRS, no class column, codes missing from the project's class table, no label left
        inside the AOI, or a class with fewer labels than the three splits need.

    Examples
    --------
    >>> from geoml_helpers.core.project import demo_project
    >>> # needs a project's labels and the demo data (skipped under doctest)
    >>> prepared = prepare_labels(demo_project("ci"), data_dir)  # doctest: +SKIP
    >>> prepared.classes.names[3], prepared.bounds  # doctest: +SKIP
    ('water', (310800.0, 6236800.0, 313200.0, 6239200.0))
    """
    import geopandas as gpd
    from shapely.geometry import box

    path = project.labels_path(data_dir)
    where = f" in {project.path}" if getattr(project, "path", None) else ""
    gdf, report = _read_and_clean(project, path, where)
    codes = _normalise_codes(gdf[project.class_column])
    table = _class_table_for(project, codes, path, where)

    # AOI, CRS and grid (from the labels on the imagery, when the imagery's footprint is known).
    foot = box(*footprint) if isinstance(footprint, (list, tuple)) else footprint
    crs, bounds, demo, aoi_lonlat = _area_for(project, gdf, data_dir, foot, report)
    gdf = gdf.to_crs(crs)
    gdf["code"] = codes.to_numpy()

    # Labels outside the AOI or the imagery.
    gdf = _drop_outside(gdf, bounds, foot, report)
    if gdf.empty:
        raise LabelError(
            f"None of the {report.rows_read} labels in {path} lies inside "
            f"the AOI {tuple(round(v, 4) for v in aoi_lonlat)} (lon/lat)"
            + (" and the imagery footprint" if footprint is not None else "")
            + f". Check `[area] aoi`{where} and the labels' CRS ({report.source_crs})."
        )

    # Classes, too few labels for the splits.
    gdf["class_id"] = [table.id_of(c) for c in gdf["code"]]
    _check_enough(gdf, table)
    gdf["class_name"] = gdf["class_id"].map(table.names)
    gdf["class_label"] = gdf["class_id"].map(table.labels)

    # Splits.
    if demo is not None:
        blocks = gpd.read_parquet(demo.blocks_path)[["block_id", "split", "geometry"]]
    else:
        blocks = _make_blocks(bounds, project.block_size_m, crs)
    gdf["block_id"] = _block_of(gdf, blocks)
    gdf["split"], blocks["split"] = _splits_for(project, gdf, blocks, seed, where)
    labels = _label_columns(gdf, crs)

    report.per_class = per_class = _per_class(labels, table)
    report.missing_in_split = [(r.class_name, n) for r in per_class.itertuples() for n in SPLITS if getattr(r, n) == 0]
    report.messages = _report_messages(report, crs, project)
    return ProjectLabels(
        labels,
        blocks.reset_index(drop=True),
        table,
        crs,
        (bounds[0], bounds[1], bounds[2], bounds[3]),
        aoi_lonlat,
        float(project.resolution_m),
        report,
    )


def _area_for(project, gdf, data_dir, footprint, report: PreparedLabelsReport):
    """CRS, grid bounds, the demo build (or None) and the grid's lon/lat box; notes UTM zones and area."""
    from pyproj import Transformer

    if footprint is not None:
        on_imagery = gdf.to_crs("EPSG:4326").intersects(footprint)
        crs, bounds, demo = _grid_for(project, gdf[on_imagery] if on_imagery.any() else gdf, data_dir, footprint)
    else:
        crs, bounds, demo = _grid_for(project, gdf, data_dir)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    west, south, east, north = to_lonlat.transform_bounds(bounds[0], bounds[1], bounds[2], bounds[3], densify_pts=21)
    aoi_lonlat = (float(west), float(south), float(east), float(north))
    report.utm_zones = utm_zones(aoi_lonlat[0], aoi_lonlat[2], (aoi_lonlat[1] + aoi_lonlat[3]) / 2)
    report.aoi_area_km2 = round((bounds[2] - bounds[0]) * (bounds[3] - bounds[1]) / 1e6, 3)
    return crs, bounds, demo, aoi_lonlat


def _drop_outside(gdf, bounds, footprint, report: PreparedLabelsReport):
    """Drop the labels wholly outside the grid (and the imagery's lon/lat ``footprint``); count those partly out."""
    import geopandas as gpd
    from shapely.geometry import box

    inside_area = box(*bounds)
    if footprint is not None:
        inside_area = inside_area.intersection(gpd.GeoSeries([footprint], crs="EPSG:4326").to_crs(gdf.crs).iloc[0])
    touches = gdf.geometry.intersects(inside_area)
    within = gdf.geometry.within(inside_area)
    report.dropped_outside = int((~touches).sum())
    report.partly_outside = int((touches & ~within).sum())
    return gdf.loc[touches].reset_index(drop=True)


def _label_columns(gdf, crs: str):
    """The prepared labels' columns, in order, with each polygon's area."""
    import geopandas as gpd

    gdf = gdf.copy()
    gdf["area_m2"] = gdf.geometry.area.round(1)
    if "polygon_id" not in gdf.columns:
        gdf["polygon_id"] = np.arange(len(gdf), dtype=np.int64)
    columns = ["polygon_id", "code", "class_id", "class_name", "class_label", "split", "block_id", "area_m2"]
    return gpd.GeoDataFrame(gdf[columns], geometry=gdf.geometry.values, crs=crs)


def _read_and_clean(project, path, where: str):
    """Read the labels, check the class (and split) column, drop rows without a class, clean the geometries."""
    raw = read_label_file(path)
    report = PreparedLabelsReport(source=str(path), source_crs=raw.crs.to_string(), rows_read=len(raw))
    for column, key in ((project.class_column, "class_column"), (project.split_column, "split_column")):
        if column is not None and column not in raw.columns:
            columns = [c for c in raw.columns if c != raw.geometry.name]
            raise LabelError(
                f"The labels in {path} have no column {column!r}; they have "
                f"{columns}. Set `[labels] {key}` to one of them{where} "
                f"(`geoml init --{key.replace('_', '-')}`)."
            )
    no_class = raw[project.class_column].isna()
    if raw[project.class_column].dtype == object:
        no_class |= raw[project.class_column].astype(str).str.strip().isin(["", "None", "nan"])
    report.dropped_no_class = int(no_class.sum())
    gdf = _clean_geometries(raw.loc[~no_class], report)
    if gdf.empty:
        raise LabelError(
            f"No usable labels in {path}: {report.rows_read} rows, {report.dropped_empty} empty, "
            f"{report.dropped_no_class} without a class. Check the file and the class column."
        )
    return gdf, report


def _check_enough(gdf, table) -> None:
    """Refuse a class with fewer labels than there are splits, naming it and the number needed."""
    counts = gdf.groupby("class_id").size().reindex(table.ids, fill_value=0)
    too_few = [(table.names[i], int(n)) for i, n in counts.items() if n < len(SPLITS)]
    if too_few:
        listed = "; ".join(f"class {name!r} has {n}" for name, n in too_few)
        raise LabelError(
            f"Too few labels for the train/val/test split: {listed}; each class needs at least {len(SPLITS)} "
            f"(one per split, in different blocks). Digitise more for these classes, merge them into another class, "
            f"or drop them from the labels."
        )


def _class_table_for(project, codes, path, where: str):
    """The project's class table (checked against the codes), or one derived from the codes."""
    from geoml_helpers.core.classes import ClassTable

    if project.classes is not None:
        table = project.classes
        known = {str(c.code) for c in table.classes}
        unknown = sorted({str(c) for c in codes} - known)
        if unknown:
            raise LabelError(
                f"Class codes {unknown} in {path} are not in the project's class table ({sorted(known)}). "
                f"Add them as `[[classes]]`{where}, or remove the table to derive one."
            )
        return table
    # String codes get a machine-friendly name ("Alien trees" -> "alien_trees") and keep the string as the label.
    strings = {c for c in codes if isinstance(c, str)}
    return ClassTable.from_codes(codes.tolist(), names={c: _slug(c) for c in strings}, labels={c: c for c in strings})


def _grid_for(project, gdf, data_dir, footprint=None):
    """CRS and snapped grid bounds: the demo build's grid, or the AOI's (the labels' extent + margin by default).

    A default AOI is cut to the imagery's ``footprint`` (lon/lat), so the margin adds no empty pixels.
    """
    import geopandas as gpd
    from shapely.geometry import box

    if project.is_demo:
        from geoml_helpers.demo.build import ensure_demo_data

        demo = ensure_demo_data(project.demo_profile, data_dir, progress=False)
        return demo.crs, tuple(float(v) for v in demo.bounds), demo
    if project.aoi is not None:
        lon_min, lat_min, lon_max, lat_max = project.aoi
    else:
        lon_min, lat_min, lon_max, lat_max = gdf.to_crs("EPSG:4326").total_bounds
    crs = project.crs or utm_crs((lon_min + lon_max) / 2, (lat_min + lat_max) / 2)
    if project.aoi is not None:
        # Densified edges: a lon/lat box is curved in UTM.
        raw_bounds = gpd.GeoSeries([box(*project.aoi).segmentize(0.001)], crs="EPSG:4326").to_crs(crs).total_bounds
    else:
        xmin, ymin, xmax, ymax = gdf.to_crs(crs).total_bounds
        m = project.margin_m
        raw_bounds = (xmin - m, ymin - m, xmax + m, ymax + m)
        if footprint is not None:
            covered = gpd.GeoSeries([footprint], crs="EPSG:4326").to_crs(crs).iloc[0].intersection(box(*raw_bounds))
            if not covered.is_empty:
                # Inside the footprint: snap inwards, so no pixel of the grid is off the imagery.
                r = project.resolution_m
                fx0, fy0, fx1, fy1 = covered.bounds
                inner = (np.ceil(fx0 / r) * r, np.ceil(fy0 / r) * r, np.floor(fx1 / r) * r, np.floor(fy1 / r) * r)
                return crs, tuple(float(v) for v in inner), None
    return crs, snap_bounds(raw_bounds, project.resolution_m), None


def _splits_for(project, gdf, blocks, seed: int, where: str):
    """Split of each label and of each block: from the split column, or seeded spatial blocks."""
    if project.split_column is None:
        block_split = assign_block_splits(gdf["block_id"].to_numpy(), gdf["class_id"].to_numpy(), len(blocks), seed)
        split_of = dict(zip(blocks["block_id"], block_split))
        return [split_of.get(b, "train") for b in gdf["block_id"]], block_split
    split = gdf[project.split_column].astype(str).str.strip().str.lower()
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise LabelError(
            f"The split column {project.split_column!r} holds {bad}; use only "
            f"{list(SPLITS)}, or remove `split_column`{where} to assign spatial blocks."
        )
    if project.is_demo:
        return split.to_numpy(), blocks["split"].to_numpy()
    # Each block takes the split most of its labels have; blocks without labels get a seeded one.
    majority = split[gdf.block_id >= 0].groupby(gdf.block_id[gdf.block_id >= 0]).agg(lambda s: s.mode().iloc[0])
    fallback = assign_block_splits(np.array([], dtype=int), np.array([]), len(blocks), seed)
    return split.to_numpy(), np.array([majority.get(b, fallback[i]) for i, b in enumerate(blocks["block_id"])])


def _per_class(labels, table):
    """Polygons, points, area and labels per split of each class."""
    import pandas as pd

    is_point = labels.geom_type == "Point"

    def count(frame):
        return frame.groupby("class_id").size().reindex(table.ids, fill_value=0).to_numpy()

    area = labels[~is_point].groupby("class_id")["area_m2"].sum().reindex(table.ids, fill_value=0) / 1e6
    per_class = pd.DataFrame(
        {
            "class_id": table.ids,
            "code": [c.code for c in table.classes],
            "class_name": [table.names[i] for i in table.ids],
            "polygons": count(labels[~is_point]),
            "points": count(labels[is_point]),
            "area_km2": area.round(4).to_numpy(),
        }
    )
    by_split = labels.groupby(["class_id", "split"]).size().unstack(fill_value=0)
    by_split = by_split.reindex(index=table.ids, columns=list(SPLITS), fill_value=0)
    for name in SPLITS:
        per_class[name] = by_split[name].to_numpy()
    return per_class


def _report_messages(report: PreparedLabelsReport, crs: str, project) -> list[str]:
    lines = [
        f"Read {report.rows_read} labels from {os.path.basename(report.source)} "
        f"({report.source_crs}); grid in {crs} at {project.resolution_m:g} m."
    ]
    kept = f"{report.polygons} polygons, {report.multipolygons} multipolygons, {report.points} points"
    lines.append(f"Kept {kept}.")
    for count, text in (
        (report.repaired_invalid, "invalid geometries repaired with shapely.make_valid"),
        (report.dropped_empty, "empty geometries dropped"),
        (report.dropped_no_class, "rows without a class dropped"),
        (report.dropped_other_geometry, "lines or other non-polygon, non-point geometries dropped"),
        (report.dropped_outside, "labels outside the AOI/imagery dropped"),
        (report.partly_outside, "labels partly outside the AOI/imagery (kept; pixels outside have no data)"),
    ):
        if count:
            lines.append(f"{count} {text}.")
    zones = ", ".join(report.utm_zones)
    lines.append(
        f"AOI {report.aoi_area_km2:g} km2 in UTM zone{'s' if report.crosses_utm_zones else ''} {zones}"
        + (" (crosses a zone boundary: imagery is reprojected to one grid)." if report.crosses_utm_zones else ".")
    )
    if report.missing_in_split:
        pairs = ", ".join(f"{c} in {s}" for c, s in report.missing_in_split)
        lines.append(f"Not every class is in every split: no {pairs}. A smaller `block_size_m` or more labels helps.")
    else:
        lines.append("Every class has labels in train, val and test.")
    return lines
