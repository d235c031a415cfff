"""Loading Sentinel-2 L2A STAC items into lazy, dask-backed xarray on a chosen grid.

The same items load with two libraries, and both are shown in the course:

``stackstac``
    One ``DataArray`` ``(time, band, y, x)``; needs ``proj:epsg`` (or ``epsg=``).
``odc-stac``
    One ``Dataset`` with a variable per band, on an ``odc.geo`` GeoBox.

Both are asked for raw digital numbers (``uint16``, 0 = nodata) and *this*
module turns them into reflectance with :func:`apply_scaling`, which reads the
scale/offset of every item and band through
:func:`geoml_helpers.discover.stac_metadata.reflectance_scaling`. Letting a loader
rescale on its own (stackstac's default ``rescale=True``) applies the
declared ``raster:bands`` offset even when Earth Search says the pixels are
already harmonised (``earthsearch:boa_offset_applied: true``), which makes
every reflectance 0.1 too low.

Items of one datatake from several MGRS tiles (or two UTM zones) are each
reprojected onto the grid and mosaicked per solar day (:func:`mosaic_solar_days`).

Then: :func:`cloud_mask` / :func:`mask_clouds` (SCL classes), :func:`clip_to_aoi`
(rioxarray), :func:`compute_indices` (NDVI, NDWI, NBR) and
:func:`monthly_median`.

Examples
--------
>>> grid = Grid(epsg=32734, bounds=(310800.0, 6236800.0, 313200.0, 6239200.0), resolution=10.0)
>>> grid.shape
(240, 240)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from geoml_helpers.core.errors import LabelError, LoadingError
from geoml_helpers.core.project import COURSE_BANDS
from geoml_helpers.discover.stac_metadata import reflectance_scaling

REFLECTANCE_BANDS: tuple[str, ...] = tuple(band for band in COURSE_BANDS if band != "scl")
"""The 11 reflective Sentinel-2 L2A bands under their Earth Search keys."""

SCL_NODATA, SCL_SATURATED, SCL_CLOUD_SHADOW = 0, 1, 3
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS, SCL_SNOW = 8, 9, 10, 11
DEFAULT_MASK_CLASSES: tuple[int, ...] = (
    SCL_NODATA,
    SCL_SATURATED,
    SCL_CLOUD_SHADOW,
    SCL_CLOUD_MEDIUM,
    SCL_CLOUD_HIGH,
    SCL_THIN_CIRRUS,
)
"""SCL classes treated as unusable: nodata, saturated, cloud shadow, medium/high cloud, thin cirrus."""

SCL_NAMES: dict[int, str] = {
    0: "no data",
    1: "saturated / defective",
    2: "dark features",
    3: "cloud shadow",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud medium probability",
    9: "cloud high probability",
    10: "thin cirrus",
    11: "snow / ice",
}


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, outer bounds and pixel size.

    Attributes
    ----------
    epsg : int
    bounds : tuple of float
        ``(xmin, ymin, xmax, ymax)`` of the outer pixel edges, in the CRS.
    resolution : float
        Pixel size in CRS units (metres for UTM).
    """

    epsg: int
    bounds: tuple[float, float, float, float]
    resolution: float = 10.0

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        xmin, ymin, xmax, ymax = self.bounds
        return int(round((ymax - ymin) / self.resolution)), int(round((xmax - xmin) / self.resolution))

    @property
    def crs(self) -> str:
        """``EPSG:nnnn``."""
        return f"EPSG:{self.epsg}"

    @property
    def transform(self):
        """The affine transform of the top-left corner.

        Examples
        --------
        >>> Grid(32734, (0.0, 0.0, 20.0, 20.0), 10.0).transform.c
        0.0
        """
        from affine import Affine

        return Affine(self.resolution, 0.0, self.bounds[0], 0.0, -self.resolution, self.bounds[3])

    def x_centres(self) -> np.ndarray:
        """Pixel-centre x coordinates."""
        return self.bounds[0] + (np.arange(self.shape[1]) + 0.5) * self.resolution

    def y_centres(self) -> np.ndarray:
        """Pixel-centre y coordinates (north to south)."""
        return self.bounds[3] - (np.arange(self.shape[0]) + 0.5) * self.resolution

    @classmethod
    def of_demo(cls, demo: Any) -> Grid:
        """The 10 m grid of a :class:`geoml_helpers.demo.DemoData`.

        Examples
        --------
        >>> from geoml_helpers.demo import ensure_demo_data
        >>> # needs the built demo data (skipped under doctest)
        >>> Grid.of_demo(ensure_demo_data("ci")).shape  # doctest: +SKIP
        (240, 240)
        """
        xmin, ymin, xmax, ymax = (float(v) for v in demo.bounds)
        return cls(int(str(demo.crs).split(":")[1]), (xmin, ymin, xmax, ymax), float(demo.transform.a))

    def centre_lonlat(self) -> tuple[float, float]:
        """Longitude and latitude of the grid's centre.

        Examples
        --------
        >>> [round(v, 2) for v in Grid(32632, (722210.0, 5304330.0, 726340.0, 5307930.0)).centre_lonlat()]
        [12.0, 47.87]
        """
        from pyproj import Transformer

        xmin, ymin, xmax, ymax = self.bounds
        lon, lat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True).transform(
            (xmin + xmax) / 2, (ymin + ymax) / 2
        )
        return float(lon), float(lat)

    def geobox(self):
        """The same grid as an ``odc.geo`` GeoBox (for odc-stac)."""
        from odc.geo.geobox import GeoBox

        return GeoBox((self.shape[0], self.shape[1]), self.transform, self.crs)


def _as_pystac(items: Iterable[Any]) -> list:
    import pystac

    out = []
    for item in items:
        out.append(item if isinstance(item, pystac.Item) else pystac.Item.from_dict(dict(item)))
    return out


def load_stackstac(
    items: Iterable[Any],
    grid: Grid,
    bands: Sequence[str] = REFLECTANCE_BANDS,
    *,
    resampling: str = "nearest",
    chunksize: int = 1024,
):
    """Load items as raw DNs with stackstac: ``(time, band, y, x)`` uint16, 0 = nodata.

    Pixel coordinates are pixel *centres* (``xy_coords="center"``) so that the
    result lines up with rioxarray and the demo's COGs; the CRS is written with
    rioxarray.

    Parameters
    ----------
    items : iterable of pystac.Item or dict
    grid : Grid
        Output grid; its EPSG is passed explicitly, so items with only
        ``proj:code`` (projection extension v2) load too.
    bands : sequence of str
        Asset keys.
    resampling : str
        A ``rasterio.enums.Resampling`` name, e.g. ``nearest`` or ``bilinear``.
    chunksize : int
        Spatial chunk size in pixels.

    Returns
    -------
    xarray.DataArray
        Lazy (dask) array named ``dn``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> dn = load_stackstac(demo.s2_items(), Grid.of_demo(demo), ["red"])  # doctest: +SKIP
    >>> dn.dtype  # doctest: +SKIP
    dtype('uint16')
    """
    import rioxarray  # noqa: F401
    import stackstac
    from rasterio.enums import Resampling

    pitems = _as_pystac(items)
    if not pitems:
        raise LoadingError(
            "No items to load. Run a search that returns items first (see "
            "geoml_helpers.discover.stac_search.search_items)."
        )
    da = stackstac.stack(
        pitems,
        assets=list(bands),
        epsg=grid.epsg,
        resolution=grid.resolution,
        bounds=grid.bounds,
        snap_bounds=False,
        resampling=Resampling[resampling],
        chunksize=chunksize,
        dtype="uint16",
        fill_value=np.uint16(0),
        rescale=False,
        xy_coords="center",
        properties=False,
        band_coords=False,
    )
    da = da.drop_vars([c for c in da.coords if c not in ("time", "band", "x", "y", "id")])
    da.name = "dn"
    return da.rio.write_crs(grid.crs)


def load_odc(
    items: Iterable[Any],
    grid: Grid,
    bands: Sequence[str] = REFLECTANCE_BANDS,
    *,
    resampling: str = "nearest",
    chunks: dict | None = None,
):
    """Load items as raw DNs with odc-stac, as a ``Dataset`` with one variable per band.

    Parameters
    ----------
    items : iterable of pystac.Item or dict
    grid : Grid
    bands : sequence of str
    resampling : str
    chunks : dict, optional
        Dask chunks, e.g. ``{"x": 1024, "y": 1024}`` (default).

    Returns
    -------
    xarray.Dataset
        Lazy, dims ``(time, y, x)`` per band, uint16 with nodata 0.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> ds = load_odc(demo.s2_items(), Grid.of_demo(demo), ["red"])  # doctest: +SKIP
    """
    import odc.stac

    pitems = _as_pystac(items)
    if not pitems:
        raise LoadingError(
            "No items to load. Run a search that returns items first (see "
            "geoml_helpers.discover.stac_search.search_items)."
        )
    ds = odc.stac.load(
        _every_band_first(pitems, bands),
        bands=list(bands),
        geobox=grid.geobox(),
        resampling=resampling,
        chunks=chunks or {"x": 1024, "y": 1024},
        groupby="time",
        dtype="uint16",
        nodata=0,
    )
    return ds.sortby("time")


def _every_band_first(items: list, bands: Sequence[str]) -> list:
    """The items with one that has every band first: odc-stac takes the bands from the first item.

    (odc-stac raises "No such band/alias" when the first item misses a requested band, e.g. an Earth
    Search item without ``swir22``; the later items' missing bands load as nodata.)

    Raises
    ------
    LoadingError
        When no item has a requested band at all.

    Examples
    --------
    >>> import pystac, datetime
    >>> def item(name, keys):
    ...     it = pystac.Item(name, None, None, datetime.datetime(2022, 1, 1), {})
    ...     for key in keys:
    ...         it.add_asset(key, pystac.Asset(f"{name}/{key}.tif"))
    ...     return it
    >>> [i.id for i in _every_band_first([item("a", ["red"]), item("b", ["red", "nir"])], ["red", "nir"])]
    ['b', 'a']
    """
    for k, item in enumerate(items):
        if all(band in item.assets for band in bands):
            return [item, *items[:k], *items[k + 1 :]]
    absent = [band for band in bands if not any(band in item.assets for item in items)]
    if absent:
        raise LoadingError(
            f"No item has the asset(s) {absent}; the items have {sorted({k for i in items for k in i.assets})}. "
            "Check the band names (a project's `[imagery] bands` maps course bands to asset keys)."
        )
    return items


def solar_day(times, lon: float):
    """The local solar date of UTC acquisition times at longitude ``lon`` (degrees east).

    Items of one datatake from two MGRS tiles, or two UTM zones, have times seconds apart: one solar day.

    Examples
    --------
    >>> import pandas as pd
    >>> solar_day(pd.to_datetime(["2022-01-20T23:30", "2022-01-21T00:10"]), 12.0).strftime("%F").tolist()
    ['2022-01-21', '2022-01-21']
    """
    import pandas as pd

    times = pd.DatetimeIndex(times)
    return (times + pd.to_timedelta(lon / 15.0, unit="h")).normalize()


def mosaic_solar_days(data, lon: float):
    """Merge the time steps of one solar day into one (the first valid value of each pixel, in time order).

    The time steps of a ``(time, ...)`` array loaded from several MGRS tiles (each reprojected onto the
    grid by the loader) become one per solar day, stamped with the day's first acquisition time. The
    per-item ``id`` coordinate is dropped (scale the items before: :func:`apply_scaling`).

    Examples
    --------
    >>> import xarray as xr, pandas as pd
    >>> t = pd.to_datetime(["2022-01-20T09:45:24", "2022-01-20T09:45:25", "2022-01-25T09:45:24"])
    >>> da = xr.DataArray(np.array([[1.0, np.nan], [5.0, 2.0], [3.0, 4.0]]), dims=("time", "x"),
    ...                   coords={"time": t})
    >>> mosaic_solar_days(da, 12.0).values.tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    import xarray as xr

    days = solar_day(data["time"].values, lon)
    per_item = [name for name, coord in data.coords.items() if name != "time" and "time" in coord.dims]
    data = data.drop_vars(per_item)
    if days.is_unique:
        return data
    pieces = []
    for day in days.unique():
        steps = np.flatnonzero(days == day)
        merged = data.isel(time=steps[0])
        for step in steps[1:]:
            merged = merged.fillna(data.isel(time=step))
        pieces.append(merged.expand_dims(time=[data["time"].values[steps[0]]]))
    out = xr.concat(pieces, dim="time")
    out.attrs = dict(data.attrs)
    return out


def odc_to_array(ds, bands: Sequence[str] | None = None):
    """Stack an odc-stac Dataset into a ``(time, band, y, x)`` DataArray like stackstac's.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> odc_to_array(load_odc(items, grid, ["red", "nir"])).dims  # doctest: +SKIP
    ('time', 'band', 'y', 'x')
    """
    bands = list(bands or ds.data_vars)
    da = ds[bands].to_dataarray("band").transpose("time", "band", "y", "x")
    da.name = "dn"
    return da


def scaling_table(items: Iterable[Any], bands: Sequence[str] = REFLECTANCE_BANDS):
    """Scale and offset per item and band, as a ``pandas.DataFrame`` with the rule used.

    Examples
    --------
    >>> item = {"id": "a", "properties": {"earthsearch:boa_offset_applied": True},
    ...         "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}}}
    >>> scaling_table([item], ["red"])[["scale", "offset"]].values.tolist()
    [[0.0001, 0.0]]
    """
    import pandas as pd

    rows = []
    for item in items:
        item_id = item["id"] if isinstance(item, dict) else item.id
        for band in bands:
            s = reflectance_scaling(item, band)
            rows.append({"item": item_id, "band": band, "scale": s.scale, "offset": s.offset, "source": s.source})
    return pd.DataFrame(rows)


def _scaling_or_nan(item: Any, band: str) -> tuple[float, float]:
    """Scale and offset of ``band`` in ``item``; NaN for an item without that asset (it loads as nodata)."""
    try:
        rule = reflectance_scaling(item, band)
    except KeyError:
        assets = item.get("assets", {}) if isinstance(item, dict) else item.assets
        if any(key in assets for key in (band, band.upper())):
            raise
        return float("nan"), float("nan")
    return rule.scale, rule.offset


def apply_scaling(dn, items: Iterable[Any], *, nodata: int = 0):
    """Turn DNs ``(time, band, y, x)`` into float32 reflectance, NaN where ``dn == nodata``.

    Scale and offset come from :func:`geoml_helpers.discover.stac_metadata.reflectance_scaling`
    for each item and band, so the Earth Search BOA-offset trap is handled.
    The items must be in the same order as ``dn``'s time axis (the ``id``
    coordinate is used to match them when present). An item without one of
    the bands (an Earth Search item missing an asset) gives NaN for it.

    Examples
    --------
    >>> import xarray as xr
    >>> item = {"id": "a", "properties": {}, "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}}}
    >>> dn = xr.DataArray(np.array([[[[0, 3000]]]], "uint16"), dims=("time", "band", "y", "x"),
    ...                   coords={"band": ["red"]})
    >>> [round(float(v), 3) for v in apply_scaling(dn, [item]).values.ravel()]
    [nan, 0.2]
    """
    import xarray as xr

    items = list(items)
    ids = [i["id"] if isinstance(i, dict) else i.id for i in items]
    if "id" in dn.coords and dn.coords["id"].ndim == 1 and dn.coords["id"].dims == ("time",):
        order = {item_id: k for k, item_id in enumerate(ids)}
        missing = [v for v in dn.coords["id"].values.tolist() if v not in order]
        if missing:
            raise LoadingError(f"No item metadata for {missing[:3]}; pass the same items that were loaded.")
        items = [items[order[v]] for v in dn.coords["id"].values.tolist()]
    elif len(items) != dn.sizes["time"]:
        raise LoadingError(
            f"{len(items)} items for {dn.sizes['time']} time steps; pass the same items that were loaded, in time "
            "order."
        )
    bands = [str(b) for b in dn.coords["band"].values]
    rules = [[_scaling_or_nan(it, b) for b in bands] for it in items]
    scale = np.array([[rule[0] for rule in row] for row in rules], dtype=np.float32)
    offset = np.array([[rule[1] for rule in row] for row in rules], dtype=np.float32)
    scale_da = xr.DataArray(scale, dims=("time", "band"))
    offset_da = xr.DataArray(offset, dims=("time", "band"))
    out = (dn.astype(np.float32) * scale_da + offset_da).where(dn != nodata)
    out.name = "reflectance"
    out.attrs = {"long_name": "surface reflectance", "units": "1"}
    return out


def cloud_mask(scl, mask_classes: Sequence[int] = DEFAULT_MASK_CLASSES):
    """Boolean *clear* mask from an SCL array: True where the class is usable.

    Examples
    --------
    >>> import xarray as xr
    >>> cloud_mask(xr.DataArray(np.array([4, 9, 3, 6, 0]))).values.tolist()
    [True, False, False, True, False]
    """
    return ~scl.isin(list(mask_classes))


def mask_clouds(reflectance, scl, mask_classes: Sequence[int] = DEFAULT_MASK_CLASSES):
    """Set reflectance to NaN where SCL marks cloud, shadow, cirrus, saturation or nodata.

    ``scl`` is ``(time, y, x)`` (or has a length-1 ``band`` dimension) on the
    same grid as ``reflectance``.

    Examples
    --------
    >>> import xarray as xr
    >>> r = xr.DataArray(np.ones((1, 1, 1, 2), "float32"), dims=("time", "band", "y", "x"))
    >>> s = xr.DataArray(np.array([[[4, 9]]], "uint8"), dims=("time", "y", "x"))
    >>> mask_clouds(r, s).values.ravel().tolist()
    [1.0, nan]
    """
    if "band" in scl.dims:
        scl = scl.squeeze("band", drop=True)
    return reflectance.where(cloud_mask(scl, mask_classes))


def masked_fraction(scl, mask_classes: Sequence[int] = DEFAULT_MASK_CLASSES):
    """Share of pixels per time step that the SCL mask removes.

    Examples
    --------
    >>> import xarray as xr
    >>> masked_fraction(xr.DataArray(np.array([[[4, 9]]]), dims=("time", "y", "x"))).values.tolist()
    [0.5]
    """
    if "band" in scl.dims:
        scl = scl.squeeze("band", drop=True)
    return (~cloud_mask(scl, mask_classes)).mean(dim=("y", "x"))


def normalized_difference(a, b):
    """``(a - b) / (a + b)``, NaN where the denominator is zero.

    Examples
    --------
    >>> normalized_difference(np.array([0.5]), np.array([0.1])).round(3).tolist()
    [0.667]
    """
    denominator = a + b
    return (
        (a - b) / denominator.where(denominator != 0)
        if hasattr(denominator, "where")
        else (a - b) / np.where(denominator != 0, denominator, np.nan)
    )


def compute_indices(reflectance):
    """NDVI, NDWI (McFeeters, green/NIR) and NBR (NIR/SWIR2.2) from a ``band`` dimension.

    Reflectance below 0 (noise over dark water, residual atmospheric error)
    is clipped to 0 first, so every index stays within [-1, 1].

    Returns
    -------
    xarray.Dataset
        Variables ``ndvi``, ``ndwi``, ``nbr`` without the ``band`` dimension.

    Examples
    --------
    >>> import xarray as xr
    >>> r = xr.DataArray(np.array([0.05, 0.1, 0.4, 0.2]), dims="band",
    ...                  coords={"band": ["red", "green", "nir", "swir22"]})
    >>> round(float(compute_indices(r)["ndvi"]), 3)
    0.778
    """
    import xarray as xr

    def band(name):
        return reflectance.sel(band=name, drop=True).clip(min=0)

    out = xr.Dataset(
        {
            "ndvi": normalized_difference(band("nir"), band("red")).astype(np.float32),
            "ndwi": normalized_difference(band("green"), band("nir")).astype(np.float32),
            "nbr": normalized_difference(band("nir"), band("swir22")).astype(np.float32),
        }
    )
    out["ndvi"].attrs = {"long_name": "normalised difference vegetation index (nir, red)"}
    out["ndwi"].attrs = {"long_name": "normalised difference water index (green, nir; McFeeters 1996)"}
    out["nbr"].attrs = {"long_name": "normalised burn ratio (nir, swir22)"}
    return out


def monthly_median(reflectance):
    """Median of the valid observations per calendar month; NaN where a month has none.

    The result has one time step per month that has at least one acquisition,
    stamped with the first day of the month.

    Examples
    --------
    >>> import xarray as xr, pandas as pd
    >>> t = pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-05"])
    >>> da = xr.DataArray(np.array([1.0, 3.0, np.nan]), dims="time", coords={"time": t})
    >>> monthly_median(da).values.tolist()
    [2.0, nan]
    """
    import warnings

    import pandas as pd
    import xarray as xr

    times = pd.DatetimeIndex(reflectance["time"].values)
    months = times.to_period("M").to_timestamp()
    pieces = []
    for month in months.unique():
        selected = reflectance.isel(time=np.flatnonzero(months == month))
        if hasattr(selected.data, "chunks"):
            selected = selected.chunk({"time": -1})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
            pieces.append(selected.median("time", skipna=True).expand_dims(time=[month]))
    out = xr.concat(pieces, dim="time")
    out.attrs = dict(reflectance.attrs)
    return out


def clip_to_aoi(data, geometries, crs: str | None = None, *, all_touched: bool = True, drop: bool = True):
    """Clip a rioxarray object to polygons (NaN outside), reprojecting them to the data's CRS.

    Raises
    ------
    LabelError
        If the AOI does not overlap the data; the message gives both extents.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> clipped = clip_to_aoi(cube["reflectance"], labels.geometry, labels.crs)  # doctest: +SKIP
    """
    import geopandas as gpd
    from shapely.geometry import box

    if isinstance(geometries, (gpd.GeoDataFrame, gpd.GeoSeries)):
        gs = geometries.geometry if isinstance(geometries, gpd.GeoDataFrame) else geometries
        if crs is None:
            crs = gs.crs
    else:
        gs = gpd.GeoSeries(list(geometries) if isinstance(geometries, (list, tuple)) else [geometries], crs=crs)
    if gs.crs is None:
        gs = gs.set_crs(crs or data.rio.crs)
    gs = gs.to_crs(data.rio.crs)
    data_box = box(*data.rio.bounds())
    if not gs.union_all().intersects(data_box):
        raise LabelError(
            f"The AOI {tuple(round(v) for v in gs.total_bounds)} does not overlap the data "
            f"{tuple(round(v) for v in data.rio.bounds())} "
            f"(both in {data.rio.crs}). Check the AOI's CRS and coordinates, or load imagery that covers it."
        )
    return data.rio.clip(gs.geometry.values, gs.crs, all_touched=all_touched, drop=drop)


def load_reflectance(
    items: Iterable[Any],
    grid: Grid,
    bands: Sequence[str] = REFLECTANCE_BANDS,
    *,
    loader: str = "stackstac",
    resampling: str = "nearest",
    chunksize: int = 1024,
    mask: bool = True,
    mosaic: bool = True,
):
    """Load items as cloud-masked float32 reflectance ``(time, band, y, x)`` on ``grid``.

    Each item is reprojected onto ``grid`` by the loader, scaled with its own metadata and masked with its
    own SCL; then the items of one solar day (one datatake over several MGRS tiles or UTM zones) are
    mosaicked into one time step (:func:`mosaic_solar_days`).

    Parameters
    ----------
    items : iterable of pystac.Item or dict
    grid : Grid
    bands : sequence of str
    loader : {"stackstac", "odc"}
    resampling : str
        For the reflectance bands; SCL is always resampled with ``nearest``.
    chunksize : int
    mask : bool
        Apply the SCL cloud/shadow mask.
    mosaic : bool
        One time step per solar day (else one per item, with an ``id`` coordinate).

    Returns
    -------
    xarray.DataArray
        Lazy reflectance named ``reflectance`` with a rio CRS.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> refl = load_reflectance(demo.s2_items(), Grid.of_demo(demo))  # doctest: +SKIP
    """
    import rioxarray  # noqa: F401  (the .rio accessor, for either loader)

    items = _as_pystac(items)
    if loader == "stackstac":
        dn = load_stackstac(items, grid, bands, resampling=resampling, chunksize=chunksize)
        scl = (
            load_stackstac(items, grid, ["scl"], resampling="nearest", chunksize=chunksize).squeeze("band", drop=True)
            if mask
            else None
        )
    elif loader == "odc":
        ds = load_odc(items, grid, list(bands), resampling=resampling, chunks={"x": chunksize, "y": chunksize})
        dn = odc_to_array(ds, bands).assign_coords(id=("time", [i.id for i in sorted(items, key=lambda i: i.datetime)]))
        scl = (
            load_odc(items, grid, ["scl"], resampling="nearest", chunks={"x": chunksize, "y": chunksize})["scl"]
            if mask
            else None
        )
    else:
        raise ValueError(f"Unknown loader {loader!r}: use 'stackstac' or 'odc'.")
    refl = apply_scaling(dn, items)
    if scl is not None:  # asked for with mask=True
        refl = mask_clouds(refl, scl.drop_vars([c for c in scl.coords if c not in ("time", "y", "x")]))
    if mosaic:
        refl = mosaic_solar_days(refl, grid.centre_lonlat()[0])
    refl.name = "reflectance"
    return refl.rio.write_crs(grid.crs)


def save_items(items: Iterable[Any], folder, name: str = "items") -> dict[str, Any]:
    """Save an item collection as newline-delimited JSON and as stac-geoparquet.

    Returns
    -------
    dict
        ``{"ndjson": Path, "parquet": Path}``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> paths = save_items(result.items, outputs_dir("ci", "discovery"))  # doctest: +SKIP
    """
    import json
    from pathlib import Path

    import stac_geoparquet.arrow

    from geoml_helpers.core.atomic import atomic_write, write_atomic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dicts = [_portable(i) for i in items]
    ndjson = write_atomic(folder / f"{name}.ndjson", "".join(json.dumps(d) + "\n" for d in dicts))
    parquet = folder / f"{name}.parquet"
    with atomic_write(parquet) as tmp:
        stac_geoparquet.arrow.to_parquet(stac_geoparquet.arrow.parse_stac_items_to_arrow(dicts), tmp)
    return {"ndjson": ndjson, "parquet": parquet}


def read_saved_items(path) -> list:
    """Read items saved by :func:`save_items` (``.ndjson`` or stac-geoparquet ``.parquet``) as pystac Items.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> items = read_saved_items(outputs_dir("ci", "discovery") / "items.ndjson")  # doctest: +SKIP
    """
    import json
    from pathlib import Path

    import pystac

    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        import stac_geoparquet.arrow

        dicts = list(stac_geoparquet.arrow.stac_table_to_items(pq.read_table(path)))
    else:
        dicts = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    _serve_loopback_assets(dicts)
    return [pystac.Item.from_dict(_portable(d)) for d in dicts]


def _serve_loopback_assets(dicts: list[dict]) -> None:
    """Start the replica that serves saved items' ``http://127.0.0.1:PORT`` asset hrefs, if none runs.

    Items saved by one process (notebook 01) are read by another (notebook 02); the replica is served
    again on the ports it kept (:func:`geoml_helpers.replica.server.ensure_asset_endpoint`).
    """
    from geoml_helpers.replica.server import ensure_asset_endpoint

    loopback: dict[str, str] = {}
    for item in dicts:
        for asset in item.get("assets", {}).values():
            href = str(asset.get("href", ""))
            if href.startswith("http://127.0.0.1:"):
                loopback.setdefault(href.split("/")[2], href)
    for href in loopback.values():
        ensure_asset_endpoint(href)


def _portable(item: Any) -> dict:
    """An item dict without the links to the API it came from (a local server is gone by the time it is read)."""
    d = dict(item) if isinstance(item, dict) else item.to_dict(transform_hrefs=False)
    d["links"] = [
        link for link in d.get("links", []) if link.get("rel") not in ("self", "root", "parent", "collection")
    ]
    return d


def items_to_geodataframe(items: Iterable[Any]):
    """Items as a GeoDataFrame (EPSG:4326): one row per item with its properties and a ``datetime`` column.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> items_to_geodataframe(result.items)[["id", "eo:cloud_cover"]].head()  # doctest: +SKIP
    """
    import geopandas as gpd
    import pandas as pd

    dicts = [i if isinstance(i, dict) else i.to_dict(transform_hrefs=False) for i in items]
    gdf = gpd.GeoDataFrame.from_features(
        [{**d, "properties": {"id": d["id"], **d["properties"]}} for d in dicts], crs=4326
    )
    gdf["datetime"] = pd.to_datetime(gdf["datetime"]).dt.tz_localize(None)
    return gdf.sort_values("datetime").reset_index(drop=True)
