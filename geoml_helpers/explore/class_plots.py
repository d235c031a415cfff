"""Plots of classes in the project's own names and colours, each class mapped explicitly.

hvplot's ``by=`` with a list of colours applies them in the order it sorts the
groups, so classes get each other's colours; a categorical map drawn with a
numeric colourbar shows ``1..K`` instead of class names. These helpers map
every class to its colour by name and give maps a legend of class labels:

* :func:`class_lines`: one line per class (spectra, phenology), colours by label;
* :func:`label_overlay`: label polygons (and points) in Web Mercator, one layer per class;
* :func:`class_map`: a class raster with the table's colours and a legend, no colourbar.

Examples
--------
>>> from geoml_helpers.core.classes import ClassTable
>>> table = ClassTable.from_codes(["water", "forest"])
>>> class_colour_cycle(table, ["Water", "Forest"])
['#56B4E9', '#E69F00']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from geoml_helpers.core.classes import NODATA_CLASS, ClassTable

__all__ = ["class_colour_cycle", "class_legend", "class_lines", "class_map", "label_overlay"]


def class_colour_cycle(classes: ClassTable, labels_in_order: Sequence[str]) -> list[str]:
    """The colours of ``labels_in_order`` (class labels or names), in that order.

    Use it to build an ``hv.Cycle`` in the order a plot draws its groups.

    Examples
    --------
    >>> class_colour_cycle(ClassTable.from_codes([10, 20]), ["20", "10"])
    ['#56B4E9', '#E69F00']
    """
    by_text = {c.label: c.colour for c in classes.classes} | {c.name: c.colour for c in classes.classes}
    missing = [t for t in labels_in_order if t not in by_text]
    if missing:
        raise KeyError(f"{missing} are not classes of the table ({list(classes.labels.values())}); plot by class_label")
    return [by_text[t] for t in labels_in_order]


def class_lines(frame, x: str, y: str, classes: ClassTable, *, by: str = "class_label", **opts):
    """One line per class, each in its class colour and named in the legend.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long format with columns ``x``, ``y`` and ``by`` (class labels or names).
    classes : ClassTable
    **opts
        Passed to the overlay (``width``, ``height``, ``title``, ``xlabel``, ``ylabel``...).

    Examples
    --------
    >>> import pandas as pd
    >>> table = ClassTable.from_codes(["b", "a"])
    >>> df = pd.DataFrame({"t": [0, 1, 0, 1], "v": [1, 2, 3, 4], "class_label": ["B", "B", "A", "A"]})
    >>> plot = class_lines(df, "t", "v", table)
    >>> [(c.label, c.opts.get().kwargs["color"]) for c in plot]
    [('A', '#E69F00'), ('B', '#56B4E9')]
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (options need a backend)

    present = set(frame[by])
    curves = []
    for c in classes.classes:
        text = c.label if by == "class_label" else c.name
        if text not in present:
            continue
        rows = frame[frame[by] == text].sort_values(x)
        curves.append(hv.Curve(rows, x, y, label=c.label).opts(color=c.colour, line_width=2))
    if not curves:
        raise ValueError(f"No class of the table is in column {by!r}; plot by class_label or class_name")
    return hv.Overlay(curves).opts(legend_position="right", show_legend=True, **opts)


#: A class map's legend entry below the map: the swatch and padding, plus this many px per character of its label.
LEGEND_ENTRY_PX = 50
LEGEND_CHAR_PX = 8
LEGEND_ROW_PX = 24


def class_legend(classes: ClassTable, ids: Sequence[int] | None = None):
    """Legend entries (nothing drawn) for the classes ``ids``, to overlay on a class raster.

    Examples
    --------
    >>> len(class_legend(ClassTable.from_codes([1, 2, 3]), [1, 3]))
    2
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (options need a backend)

    ids = classes.ids if ids is None else list(ids)
    entries = [
        hv.Points([(np.nan, np.nan)], label=classes.labels[i]).opts(color=classes.colours[i], size=10, marker="square")
        for i in ids
    ]
    return hv.Overlay(entries)


def class_map(
    array,
    classes: ClassTable,
    *,
    title: str = "",
    width: int = 420,
    height: int = 400,
    max_pixels: int | None = None,
):
    """A class raster (ids ``1..K``, 0 = none) in Web Mercator, in the table's colours, with a legend of labels.

    The whole figure, legend included, is at most ``width`` px wide, and its frame keeps the
    data's aspect (:func:`~geoml_helpers.explore.plotting.fit_frame`). Downsampled with
    ``max_pixels``, each pixel takes the most frequent class (never an average of ids).

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> class_map(prediction["class_id"], project_classes, title="Land cover")  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import geoviews as gv
    import holoviews.plotting.bokeh  # noqa: F401  (options need a backend)

    from geoml_helpers.explore.plotting import (
        _AXES_PX,
        _TITLE_AXIS_PX,
        _TOOLBAR_PX,
        MAX_FIGURE_WIDTH,
        fit_frame,
        map_opts,
        to_plot_crs,
    )

    projected = to_plot_crs(array, max_pixels=max_pixels)
    if "time" in projected.dims:
        raise ValueError("Select one time step first (e.g. `.isel(time=0)`).")
    projected = projected.where(projected != NODATA_CLASS)
    present = sorted(int(v) for v in np.unique(projected.values[np.isfinite(projected.values)]))
    shown = [i for i in classes.ids if i in present]
    # The legend sits below the map, in as many columns as the frame's width holds: beside it, it took half a
    # 420 px figure (a map of ~125 px with overlapping ticks) and was clipped to the frame's height, so the
    # last classes lost their names.
    # A wide figure whose map is bounded by its height keeps the legend beside the map when it fits there.
    frame = fit_frame(projected, width, max_frame_height=max(120, height - _TITLE_AXIS_PX))
    entry_px = LEGEND_ENTRY_PX + LEGEND_CHAR_PX * max((len(classes.labels[i]) for i in shown), default=1)
    room_beside = min(width, MAX_FIGURE_WIDTH) - frame["frame_width"] - _AXES_PX - _TOOLBAR_PX
    beside = room_beside >= entry_px and len(shown) * LEGEND_ROW_PX <= frame["frame_height"]
    columns = 1 if beside else max(1, min(len(shown), frame["frame_width"] // entry_px))
    image = gv.Image(projected, kdims=["x", "y"], crs=ccrs.GOOGLE_MERCATOR).opts(
        cmap=[classes.colours[i] for i in classes.ids],
        clim=(0.5, len(classes) + 0.5),
        colorbar=False,
        title=title,
        projection=ccrs.GOOGLE_MERCATOR,
        tools=["hover"],
        **map_opts(frame),
    )
    legend = class_legend(classes, shown)
    return (image * legend).opts(legend_position="right" if beside else "bottom", legend_cols=columns, show_legend=True)


def label_overlay(
    labels,
    classes: ClassTable,
    *,
    fill_alpha: float = 0.25,
    line_width: float = 1.5,
    point_size: float = 6,
    legend: bool = True,
):
    """Label polygons and points in Web Mercator, one layer per class: its colour, its label in the legend.

    Parameters
    ----------
    labels : geopandas.GeoDataFrame
        With ``class_id`` (``1..K``), e.g. ``prepare_labels(project).labels``.
    classes : ClassTable
    legend : bool
        Name the classes in the legend; ``False`` for outlines drawn over a :func:`class_map`
        that already names them.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> label_overlay(prepared.labels, prepared.classes)  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import geoviews as gv
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (options need a backend)

    from geoml_helpers.explore.plotting import vector_to_plot_crs

    gdf = vector_to_plot_crs(labels)
    is_point = gdf.geom_type.isin(["Point", "MultiPoint"])
    vdims = [c for c in ("class_label", "polygon_id", "split") if c in gdf.columns]
    layers: list[Any] = []
    for c in classes.classes:
        mine = gdf[gdf["class_id"] == c.id]
        if mine.empty:
            continue
        polygons, points = mine[~is_point.loc[mine.index]], mine[is_point.loc[mine.index]]
        common = dict(crs=ccrs.GOOGLE_MERCATOR, label=c.label)
        if not polygons.empty:
            layers.append(
                gv.Polygons(polygons[[*vdims, "geometry"]], vdims=vdims, **common).opts(
                    color=c.colour,
                    line_color=c.colour,
                    fill_alpha=fill_alpha,
                    line_width=line_width,
                    tools=["hover"],
                    show_legend=legend,
                )
            )
        if not points.empty:
            xy = points.assign(x=points.geometry.x, y=points.geometry.y).drop(columns="geometry")
            label = c.label if polygons.empty else f"{c.label} (points)"
            layers.append(
                gv.Points(
                    xy[["x", "y", *vdims]], kdims=["x", "y"], vdims=vdims, crs=ccrs.GOOGLE_MERCATOR, label=label
                ).opts(color=c.colour, size=point_size, line_color="black", tools=["hover"], show_legend=legend)
            )
    return hv.Overlay(layers).opts(legend_position="right", show_legend=True, projection=ccrs.GOOGLE_MERCATOR)
