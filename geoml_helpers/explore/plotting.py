"""Plot helpers that put imagery in the right place on the globe, offline, and fit the page.

Two traps put a map somewhere else than its data:

* hvplot drops the ``+south`` of UTM south zones (EPSG:327xx) and ignores
  ``crs=`` when the data carries a rioxarray CRS, so a raster over
  Stellenbosch (34 S) is drawn at 63 N;
* data declared in lon/lat (``crs=ccrs.PlateCarree()``, or ``geo=True`` on
  EPSG:4326 data) is projected to Web Mercator by cartopy, and cartopy's
  ``GOOGLE_MERCATOR`` is a sphere while ``PlateCarree`` is on the WGS84
  ellipsoid: with PROJ 9 the conversion moves every point by the difference
  between geodetic and geocentric latitude, 0.19 degrees (21 km) south at
  34 S. That is how the land-cover maps of notebooks 04 and 08 came to be
  drawn at -34.17 while their COGs sit at -33.98.

The fix used here is to reproject rasters and vectors to Web Mercator
(EPSG:3857) with PROJ *before* plotting (rasterio/geopandas, which treat
EPSG:3857 as the ellipsoid's coordinates, as web maps do), drop the
``spatial_ref`` coordinate, and declare ``crs=GOOGLE_MERCATOR`` with the same
``projection``, so no projection happens at plot time at all. Never build a
plot element with ``crs=PlateCarree()``.

Sizes: ``width`` is the width of the *whole* figure (axes, colour bar,
legend and toolbar included), at most :data:`MAX_FIGURE_WIDTH`, the book's
text column; the frame keeps the data's aspect inside it.

Map tiles are off by default (they need the internet and draw nothing
offline); pass ``tiles="OSM"`` or similar when online.

Examples
--------
>>> lonlat_bounds_of_3857((2117000.0, -4020000.0, 2120000.0, -4017000.0))[1] < 0
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "FALSE_COLOUR_BANDS",
    "MAX_FIGURE_WIDTH",
    "PLOT_BOUNDS_MIME",
    "PLOT_CRS",
    "RGB_BANDS",
    "SWIR_BANDS",
    "composite_rgb",
    "element_lonlat_bounds",
    "fit_frame",
    "image_plot",
    "legend_px",
    "lonlat_bounds_of_3857",
    "MAP_OPTS",
    "map_opts",
    "plot_title",
    "polygon_overlay",
    "rasterized_image",
    "record_plot_bounds",
    "rgb_plot",
    "save_html",
    "stretch",
    "to_plot_crs",
    "vector_to_plot_crs",
]

PLOT_CRS = "EPSG:3857"
"""Web Mercator: what bokeh/geoviews draw in, and what tiles use."""

MAX_FIGURE_WIDTH = 700
"""Widest figure a page shows, in CSS pixels: the course book's text column is 704 px."""

_AXES_PX = 90  # y ticks and label at the left, a little padding at the right
_TOOLBAR_PX = 0  # the maps' toolbar sits above the frame (MAP_OPTS), not beside it
_COLORBAR_PX = 95  # a colour bar with its ticks and label
_TITLE_AXIS_PX = 105  # title and toolbar above, x ticks and label below

MAP_OPTS: dict[str, Any] = {"toolbar": "above", "xlabel": "longitude", "ylabel": "latitude"}
"""Options every map of these helpers shares: the toolbar above (not beside) the frame, degree axis labels."""

RGB_BANDS: tuple[str, str, str] = ("red", "green", "blue")
FALSE_COLOUR_BANDS: tuple[str, str, str] = ("nir", "red", "green")
"""Colour-infrared: vegetation shows red."""
SWIR_BANDS: tuple[str, str, str] = ("swir22", "nir", "red")


def lonlat_bounds_of_3857(bounds: Sequence[float]) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` in degrees of Web Mercator bounds.

    Examples
    --------
    >>> [round(v, 3) for v in lonlat_bounds_of_3857((0.0, 0.0, 111319.49, 0.0))]
    [0.0, 0.0, 1.0, 0.0]
    """
    from pyproj import Transformer

    t = Transformer.from_crs(3857, 4326, always_xy=True)
    west, south = t.transform(bounds[0], bounds[1])
    east, north = t.transform(bounds[2], bounds[3])
    return float(west), float(south), float(east), float(north)


def to_plot_crs(data, crs: str = PLOT_CRS, *, resampling: str | None = None, max_pixels: int | None = None):
    """Reproject a rioxarray DataArray or Dataset to ``crs`` for plotting, any number of extra dims.

    The result has no ``spatial_ref`` coordinate (so hvplot cannot misread
    it) and keeps the original CRS in ``attrs["source_crs"]``.

    Parameters
    ----------
    data : xarray.DataArray or xarray.Dataset
        With a rio CRS and ``y``/``x`` dims.
    crs : str
        Target CRS, Web Mercator by default.
    resampling : str, optional
        A ``rasterio.enums.Resampling`` name. Default: ``nearest`` at full size; when
        ``max_pixels`` shrinks the raster, ``average`` for floats and ``mode`` for integers
        (class ids are never averaged into other classes).
    max_pixels : int, optional
        Reproject onto a coarser grid so that neither side exceeds this many pixels (keeps
        plots small enough to embed in a static page). The grid covers the same bounds, so the
        plot's extent stays the data's extent.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> to_plot_crs(cube["ndvi"].isel(time=0)).attrs["source_crs"]  # doctest: +SKIP
    'EPSG:32734'
    """
    import rioxarray  # noqa: F401
    import xarray as xr
    from rasterio.enums import Resampling

    if isinstance(data, xr.Dataset):
        out = xr.Dataset(
            {
                name: to_plot_crs(var, crs, resampling=resampling, max_pixels=max_pixels)
                for name, var in data.data_vars.items()
                if {"y", "x"} <= set(var.dims)
            }
        )
        out.attrs = {**data.attrs, "source_crs": str(data.rio.crs)}
        return out
    source_crs = data.rio.crs
    if source_crs is None:
        raise ValueError("The data has no CRS: set one with `.rio.write_crs('EPSG:32734')` before plotting.")
    extra = [d for d in data.dims if d not in ("y", "x")]
    array = data.transpose(*extra, "y", "x")
    if hasattr(array.data, "compute"):
        array = array.compute()
    if array.dtype.kind == "f":
        array = array.rio.write_nodata(np.nan)
    shape = _plot_shape(array, crs, max_pixels)
    if resampling is None:
        resampling = "nearest" if shape is None else ("average" if array.dtype.kind == "f" else "mode")
    options: dict[str, Any] = {"resampling": Resampling[resampling]}
    if shape is not None:
        options["shape"] = shape
    if len(extra) > 1:
        stacked = array.stack(_plane=extra).transpose("_plane", "y", "x")
        index = stacked.indexes["_plane"]
        plain = (
            stacked.drop_vars(["_plane", *extra])
            .assign_coords(_plane=np.arange(stacked.sizes["_plane"]))
            .rio.write_crs(source_crs)
        )
        projected = plain.rio.reproject(crs, **options)
        projected = (
            projected.drop_vars("_plane")
            .assign_coords(xr.Coordinates.from_pandas_multiindex(index, "_plane"))
            .unstack("_plane")
            .transpose(*extra, "y", "x")
        )
    else:
        projected = array.rio.reproject(crs, **options)
    projected = projected.drop_vars("spatial_ref", errors="ignore")
    projected.attrs = {**data.attrs, "source_crs": str(source_crs)}
    projected.name = data.name
    return projected


def _plot_shape(array, crs: str, max_pixels: int | None) -> tuple[int, int] | None:
    """``(height, width)`` of the reprojected grid shrunk to ``max_pixels`` a side, or None to keep it."""
    if max_pixels is None:
        return None
    from rasterio.warp import calculate_default_transform

    _, width, height = calculate_default_transform(
        array.rio.crs, crs, array.rio.width, array.rio.height, *array.rio.bounds()
    )
    if max(width, height) <= max_pixels:
        return None
    scale = max_pixels / max(width, height)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_frame(data, width: int = 420, *, extra_px: int = 0, max_frame_height: int = 460) -> dict[str, int]:
    """``frame_width`` and ``frame_height`` for a map of ``data`` that keep its aspect in a ``width`` px figure.

    Bokeh draws a geographic plot with equal x and y scales: a ``width``/``height`` that do not
    match the data's aspect make the figure wider than asked (or squeeze the data). The frame
    returned here has the data's aspect, and the whole figure (axes, toolbar and ``extra_px``
    for a colour bar or legend) is at most ``width`` wide, ``width`` capped at
    :data:`MAX_FIGURE_WIDTH`.

    Parameters
    ----------
    data : xarray object or sequence of 4 floats
        Data in the plot CRS (``x``/``y`` coordinates), or its ``(xmin, ymin, xmax, ymax)``.
    width : int
        The whole figure's width in CSS pixels.
    extra_px : int
        Room for what sits beside the frame: a colour bar (``_COLORBAR_PX``) or a legend.
    max_frame_height : int
        A tall area shrinks to this frame height (and a narrower frame).

    Examples
    --------
    >>> fit_frame((0.0, 0.0, 2000.0, 1000.0), width=400)
    {'frame_width': 310, 'frame_height': 155}
    >>> fit_frame((0.0, 0.0, 1000.0, 4000.0), width=400, max_frame_height=300)
    {'frame_width': 75, 'frame_height': 300}
    """
    if hasattr(data, "coords"):
        xs, ys = np.asarray(data["x"].values, float), np.asarray(data["y"].values, float)
        dx = abs(xs[1] - xs[0]) if xs.size > 1 else 1.0
        dy = abs(ys[1] - ys[0]) if ys.size > 1 else 1.0
        span_x, span_y = np.ptp(xs) + dx, np.ptp(ys) + dy
    else:
        xmin, ymin, xmax, ymax = (float(v) for v in data)
        span_x, span_y = xmax - xmin, ymax - ymin
    frame_width = max(60, min(width, MAX_FIGURE_WIDTH) - _AXES_PX - _TOOLBAR_PX - extra_px)
    frame_height = frame_width * span_y / span_x
    if frame_height > max_frame_height:
        frame_width, frame_height = frame_width * max_frame_height / frame_height, max_frame_height
    return {"frame_width": int(round(frame_width)), "frame_height": int(round(frame_height))}


def map_opts(frame: dict[str, int]) -> dict[str, Any]:
    """:data:`MAP_OPTS` plus the frame, with as many x ticks as fit without overlapping (one per 90 px).

    Examples
    --------
    >>> map_opts({"frame_width": 200, "frame_height": 150})["xticks"]
    3
    """
    return {**MAP_OPTS, **frame, "xticks": max(2, frame["frame_width"] // 90 + 1)}


def legend_px(labels: Sequence[str]) -> int:
    """Width in CSS pixels of a bokeh legend of ``labels`` beside a plot (for ``fit_frame``'s ``extra_px``).

    Examples
    --------
    >>> legend_px(["Water", "Invasive trees"])
    148
    """
    return 50 + 7 * max((len(str(label)) for label in labels), default=0)


def vector_to_plot_crs(gdf, crs: str = PLOT_CRS):
    """A GeoDataFrame in the plot CRS (a copy).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> vector_to_plot_crs(gpd.GeoDataFrame(geometry=[Point(18.9, -33.9)], crs=4326)).crs.to_epsg()
    3857
    """
    if gdf.crs is None:
        raise ValueError("The GeoDataFrame has no CRS: set it with `.set_crs(...)` before plotting.")
    return gdf.to_crs(crs)


def stretch(data, low: float = 2.0, high: float = 98.0, dims: Sequence[str] = ("y", "x")):
    """Percentile stretch to 0..1 per band, computed over ``dims`` (and time, if present).

    Examples
    --------
    >>> import xarray as xr
    >>> out = stretch(xr.DataArray(np.arange(100.0).reshape(10, 10), dims=("y", "x")), 0, 100)
    >>> float(out.min()), float(out.max())
    (0.0, 1.0)
    """
    reduce_dims = [d for d in (*dims, "time") if d in data.dims]
    lo = data.quantile(low / 100.0, dim=reduce_dims, skipna=True).drop_vars("quantile")
    hi = data.quantile(high / 100.0, dim=reduce_dims, skipna=True).drop_vars("quantile")
    return ((data - lo) / (hi - lo)).clip(0, 1)


def composite_rgb(
    reflectance, bands: Sequence[str] = RGB_BANDS, *, low: float = 2.0, high: float = 98.0, max_pixels: int | None = 400
):
    """Three bands as a stretched 0..1 RGB ``(..., band, y, x)`` in Web Mercator, ready for ``hvplot.rgb``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> rgb = composite_rgb(cube["reflectance"].isel(time=0))  # doctest: +SKIP
    >>> rgb.sizes["band"]  # doctest: +SKIP
    3
    """
    selected = reflectance.sel(band=list(bands))
    projected = to_plot_crs(selected, max_pixels=max_pixels)
    out = stretch(projected, low, high)
    return out.assign_coords(band=list(bands))


def rgb_plot(
    rgb, *, title: str = "", time_slider: bool = True, tiles: str | None = None, width: int = 420, height: int = 400
):
    """An hvplot RGB (with a time slider when ``rgb`` has ``time``), placed correctly in Web Mercator.

    The whole figure is at most ``width`` px wide and its frame at most ``height - 75`` px tall,
    with the data's aspect (:func:`fit_frame`). Show the slider below the map in a notebook with
    ``hv.output(widget_location="bottom")``: beside it, it falls off a narrow page.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> rgb_plot(composite_rgb(cube["reflectance"].isel(time=[0, 1])))  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import holoviews as hv
    import hvplot.xarray  # noqa: F401

    kwargs: dict[str, Any] = dict(
        x="x",
        y="y",
        bands="band",
        crs=ccrs.GOOGLE_MERCATOR,
        geo=True,
        projection=ccrs.GOOGLE_MERCATOR,
        title=title,
        tiles=tiles or False,
    )
    opts = map_opts(fit_frame(rgb, width, max_frame_height=height - _TITLE_AXIS_PX))
    if "time" in rgb.dims and time_slider:
        # A HoloMap (not a DynamicMap): every frame is embedded, so the slider also works in a static page.
        frames = {
            str(np.datetime_as_string(t, unit="D")): rgb.sel(time=t).hvplot.rgb(**kwargs).opts(**opts)
            for t in rgb["time"].values
        }
        return hv.HoloMap(frames, kdims=["date"])
    if "time" in rgb.dims:
        rgb = rgb.isel(time=-1)
    return rgb.hvplot.rgb(**kwargs).opts(**opts)


def image_plot(
    array,
    *,
    cmap: str = "viridis",
    clim: tuple[float, float] | None = None,
    title: str = "",
    rasterize: bool = False,
    tiles: str | None = None,
    width: int = 420,
    height: int = 400,
    max_pixels: int | None = None,
):
    """A single-band raster (e.g. NDVI) in Web Mercator; ``rasterize=True`` uses datashader.

    The whole figure, colour bar included, is at most ``width`` px wide (:func:`fit_frame`);
    the axes are labelled longitude and latitude, as their ticks are.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> image_plot(cube["ndvi"].isel(time=0), cmap="RdYlGn", clim=(-1, 1))  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import hvplot.xarray  # noqa: F401

    projected = to_plot_crs(array, max_pixels=max_pixels)
    if "time" in projected.dims:
        raise ValueError("Select one time step first (e.g. `.isel(time=0)`), or use rgb_plot for a slider.")
    frame = fit_frame(projected, width, extra_px=_COLORBAR_PX, max_frame_height=height - _TITLE_AXIS_PX)
    return projected.hvplot.image(
        x="x",
        y="y",
        crs=ccrs.GOOGLE_MERCATOR,
        geo=True,
        projection=ccrs.GOOGLE_MERCATOR,
        cmap=cmap,
        clim=clim,
        title=title,
        rasterize=rasterize,
        dynamic=not rasterize,
        tiles=tiles or False,
    ).opts(**map_opts(frame))


def rasterized_image(
    array,
    *,
    width: int = 400,
    height: int = 400,
    cmap: str = "viridis",
    clim: tuple[float, float] | None = None,
    title: str = "",
):
    """Aggregate a full-resolution single-band raster with datashader into a ``width`` x ``height`` image.

    Unlike a live ``rasterize`` this is computed once (``dynamic=False``), so it
    embeds in a static page as one small image. The figure's frame is ``width`` px wide
    (the colour bar and axes beside it), with the data's aspect.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> rasterized_image(cube["ndvi"].isel(time=0))  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import geoviews as gv
    from holoviews.operation.datashader import rasterize

    projected = to_plot_crs(array)
    element = gv.Image(projected, kdims=["x", "y"], crs=ccrs.GOOGLE_MERCATOR)
    shaded = rasterize(element, width=width, height=height, dynamic=False, aggregator="mean")
    frame = fit_frame(projected, width + _AXES_PX + _TOOLBAR_PX + _COLORBAR_PX, extra_px=_COLORBAR_PX)
    return shaded.opts(
        cmap=cmap,
        clim=clim or (np.nan, np.nan),
        colorbar=True,
        title=title,
        projection=ccrs.GOOGLE_MERCATOR,
        **map_opts(frame),
    )


def polygon_overlay(
    labels,
    *,
    color_column: str = "class_name",
    colors: dict | None = None,
    line_width: float = 1.5,
    fill_alpha: float = 0.0,
    legend: bool = False,
):
    """Polygons as a geoviews element in Web Mercator, coloured by ``color_column`` through ``colors``.

    With ``legend=True`` (and ``colors``) each value of ``color_column`` is its own layer, named
    in the legend in its colour: e.g. the train/val/test blocks of notebook 01.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> polygon_overlay(demo.read_labels())  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import geoviews as gv
    import holoviews as hv

    gdf = vector_to_plot_crs(labels)
    vdims = [c for c in gdf.columns if c != "geometry" and gdf[c].dtype.kind in "iufOUb"]
    opts: dict[str, Any] = dict(
        fill_alpha=fill_alpha, line_width=line_width, tools=["hover"], projection=ccrs.GOOGLE_MERCATOR
    )
    colors = colors if color_column in gdf else None
    if colors and legend:
        layers = [
            gv.Polygons(gdf[gdf[color_column] == value], vdims=vdims, crs=ccrs.GOOGLE_MERCATOR, label=str(value)).opts(
                color=colour, line_color=colour, show_legend=True, **opts
            )
            for value, colour in colors.items()
            if (gdf[color_column] == value).any()
        ]
        return hv.Overlay(layers)
    if colors:
        opts["line_color"] = hv.dim(color_column).categorize(colors, default="white")
        opts["fill_color"] = hv.dim(color_column).categorize(colors, default="white")
    return gv.Polygons(gdf, vdims=vdims, crs=ccrs.GOOGLE_MERCATOR).opts(**opts)


def element_lonlat_bounds(element) -> tuple[float, float, float, float]:
    """Where an element built by these helpers lands, in degrees ``(west, south, east, north)``.

    Use it to assert that imagery lands in the southern hemisphere.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> element_lonlat_bounds(rasterized_image(cube["ndvi"].isel(time=0)))[1] < 0  # doctest: +SKIP
    True
    """
    if hasattr(element, "last"):
        element = element.last
    x0, x1 = element.range(element.kdims[0])
    y0, y1 = element.range(element.kdims[1])
    return lonlat_bounds_of_3857((x0, y0, x1, y1))


def save_html(obj, path, *, embed: bool = True) -> int:
    """Save a plot as a self-contained HTML page (BokehJS inline, works offline); returns its size in bytes.

    Examples
    --------
    Needs a cube built from the demo data, and writes files (skipped under doctest):

    >>> save_html(rgb_plot(rgb), "/tmp/rgb.html")  # doctest: +SKIP
    """
    import os

    import holoviews as hv

    hv.save(obj, path, resources="inline") if not hasattr(obj, "save") else obj.save(
        path, resources="inline", embed=embed
    )
    return os.path.getsize(path)


PLOT_BOUNDS_MIME = "application/vnd.geoml.plot-bounds+json"
"""Output type of :func:`record_plot_bounds`; the course book takes these outputs out of its pages."""


def plot_title(plot: Any) -> str:
    """The title a HoloViews plot (element, overlay or HoloMap) will show, ``""`` when it has none.

    Examples
    --------
    >>> import holoviews as hv
    >>> import holoviews.plotting.bokeh  # options need a backend
    >>> plot_title(hv.Curve([1, 2]).opts(title="Rain"))
    'Rain'
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (options need a backend)

    if isinstance(plot, str):
        return plot
    candidates = [plot]
    if hasattr(plot, "last"):
        candidates.append(plot.last)
    if isinstance(candidates[-1], hv.Overlay):
        candidates += list(candidates[-1])
    for obj in candidates:
        title = hv.Store.lookup_options("bokeh", obj, "plot").kwargs.get("title")
        if title:
            return str(title)
    return ""


def record_plot_bounds(title: Any, source: Any) -> tuple[float, float, float, float]:
    """Record the true ``(west, south, east, north)`` degrees of what the plot titled ``title`` shows.

    The course book's placement check compares every geographic plot's drawn data with the
    bounds recorded under its title, to within 0.005 degrees. Read the bounds from the data
    itself, never type them: pass the file or the cube the plot shows. In a notebook this
    displays an output of type :data:`PLOT_BOUNDS_MIME` that Jupyter draws as nothing and the
    book build takes out of the page; outside IPython it only returns the bounds. Call it once
    per map, beside the plot: ``record_plot_bounds(map_plot, cogs["class"])``.

    Parameters
    ----------
    title : str or HoloViews plot
        The plot's title exactly as given to ``title=`` (one record per plot title on a page),
        or the plot itself: its title is read from its options (:func:`plot_title`).
    source : path, xarray object, GeoDataFrame or sequence of 4 floats
        A raster file (GeoTIFF/COG: its pixel-edge bounds), a DataArray/Dataset with a rio CRS,
        a GeoDataFrame with a CRS, or bounds already in degrees.

    Returns
    -------
    tuple of float
        The recorded bounds in degrees (EPSG:4326).

    Examples
    --------
    >>> record_plot_bounds("Study area", (18.87, -33.99, 18.91, -33.96))
    (18.87, -33.99, 18.91, -33.96)
    >>> import holoviews as hv
    >>> import holoviews.plotting.bokeh  # options need a backend
    >>> record_plot_bounds(hv.Curve([]).opts(title="Map"), [18.9, -34.0, 19.0, -33.9])
    (18.9, -34.0, 19.0, -33.9)
    >>> # needs the built demo data (skipped under doctest)
    >>> record_plot_bounds("Land cover", data_dir / "outputs" / "landcover_rf.tif")  # doctest: +SKIP
    """
    import os

    title = plot_title(title)
    if not title:
        raise ValueError("The plot has no title: give it one (title=...), the placement check finds plots by title.")
    if isinstance(source, (str, os.PathLike)):
        import rasterio
        from rasterio.warp import transform_bounds

        with rasterio.open(source) as dataset:
            bounds = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds, densify_pts=21)
    elif hasattr(source, "rio"):
        bounds = source.rio.transform_bounds("EPSG:4326", densify_pts=21)
    elif hasattr(source, "total_bounds"):
        if source.crs is None:
            raise ValueError("The GeoDataFrame has no CRS: set it with `.set_crs(...)` before recording its bounds.")
        bounds = source.to_crs(4326).total_bounds
    else:
        bounds = tuple(source)
        if len(bounds) != 4:
            raise ValueError(f"Bounds are (west, south, east, north) in degrees; got {source!r}.")
    result = tuple(float(v) for v in bounds)
    from IPython import get_ipython

    if get_ipython() is not None:
        from IPython.display import display

        display({PLOT_BOUNDS_MIME: {"name": str(title), "bounds": list(result), "crs": "EPSG:4326"}}, raw=True)
    return result  # type: ignore[return-value]
