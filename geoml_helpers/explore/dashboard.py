"""A panel dashboard over the analysis-ready cube: class, date and band/index widgets.

In a notebook::

    from geoml_helpers.explore.dashboard import build_dashboard
    build_dashboard("ci")

As a web app on this machine only (127.0.0.1)::

    GEOML_PROFILE=ci panel serve geoml_helpers/explore/dashboard.py --address 127.0.0.1 --port 5006
    # or
    python -m geoml_helpers.explore.dashboard --profile ci --port 5006

The second form prints the address to open: ``http://127.0.0.1:5006/dashboard``, or, in SageMaker
Studio, on a JupyterHub or on Binder, the same app through the Jupyter server's proxy
(``/user/<name>/proxy/5006/dashboard``; see :mod:`geoml_helpers.services.proxy`).

Examples
--------
>>> DASHBOARD_TITLE
'geoml: explore the analysis-ready cube'
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from geoml_helpers.services.proxy import app_url, jupyter_base_url

DASHBOARD_TITLE = "geoml: explore the analysis-ready cube"
INDEX_VARIABLES: tuple[str, ...] = ("ndvi", "ndwi", "nbr")


def dashboard_data(
    profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, max_pixels: int = 300, *, project=None
):
    """Everything the dashboard shows, computed once: cube (small, in Web Mercator), labels, class means.

    Parameters
    ----------
    project : Project, path or None
        ``None``: the demo project of ``profile``.

    Returns
    -------
    dict
        ``cube`` (Dataset in EPSG:3857, at most ``max_pixels`` a side, loaded in memory),
        ``labels`` (GeoDataFrame in EPSG:3857), ``means`` (DataFrame: class, time, variable, value),
        ``classes`` (the project's :class:`~geoml_helpers.core.classes.ClassTable`), ``project``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> sorted(dashboard_data("ci"))  # doctest: +SKIP
    ['classes', 'crs', 'cube', 'labels', 'means', 'project']
    """
    import pandas as pd

    from geoml_helpers.core.project import resolve_project
    from geoml_helpers.discover.labels import class_means, prepare_labels
    from geoml_helpers.explore.plotting import to_plot_crs, vector_to_plot_crs
    from geoml_helpers.load.cube import ensure_project_cube
    from geoml_helpers.load.rasterize import rasterize_labels

    project = resolve_project(project, profile)
    prepared = prepare_labels(project, data_dir)
    cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
    labels = prepared.labels
    raster = rasterize_labels(labels, cube["ndvi"])
    names = prepared.classes.labels
    tables = []
    refl = class_means(cube["reflectance"], raster, names).rename(columns={"band": "variable"})
    tables.append(refl)
    for name in INDEX_VARIABLES:
        frame = class_means(cube[name], raster, names)
        frame["variable"] = name
        tables.append(frame)
    means = pd.concat(tables, ignore_index=True)
    small = to_plot_crs(cube[["reflectance", *INDEX_VARIABLES]], max_pixels=max_pixels)
    return {
        "cube": small,
        "labels": vector_to_plot_crs(labels),
        "means": means,
        "classes": prepared.classes,
        "project": project,
        "crs": prepared.crs,
    }


def build_dashboard(
    profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, max_pixels: int = 300, *, project=None
):
    """The dashboard as a panel layout (display it, or call ``.servable()``), in the project's classes.

    It opens on the month whose composite leaves most of the AOI clear (computed from the cube,
    not the tile's ``eo:cloud_cover``); map and curves are stacked, so the whole app fits a
    700 px page column. The month slider is an index slider whose label is drawn in the browser, and
    the map follows every step in order: panel's DiscreteSlider echoes its value through Python, and
    quick steps left its slider on one month and the map on another. ``layout.opening_month`` is the
    month it opens on.

    Notes
    -----
    Long because: the three widgets and the two views they drive are closures over the same loaded data; panel binds
    them where they are defined.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> app = build_dashboard("ci")  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import geoviews as gv
    import holoviews as hv
    import hvplot.pandas  # noqa: F401
    import hvplot.xarray  # noqa: F401
    import panel as pn

    from geoml_helpers.explore.class_plots import label_overlay
    from geoml_helpers.explore.plotting import fit_frame, map_opts

    data = dashboard_data(profile, data_dir, max_pixels, project=project)
    cube, labels, means, table = data["cube"], data["labels"], data["means"], data["classes"]
    class_labels, class_colours = table.labels, table.colours
    dates = [str(np.datetime_as_string(t, unit="D")) for t in cube["time"].values]
    clear = np.isfinite(cube["ndvi"]).mean(("y", "x")).values  # the AOI's clear share per month
    opening = dates[int(np.argmax(clear))]
    variables = [*INDEX_VARIABLES, *[str(b) for b in cube["band"].values]]
    class_options = {class_labels[c]: c for c in table.ids if c in set(means["class_id"])}

    class_w = pn.widgets.Select(
        label="Land-cover class", options=class_options, value=next(iter(class_options.values())), width=170
    )
    # An IntSlider over month indices, its label drawn in the browser: DiscreteSlider echoes its value through
    # Python, and quick steps left the slider on one month and the map on another (issue 16).
    date_w = pn.widgets.IntSlider(start=0, end=len(dates) - 1, value=dates.index(opening), show_value=False, width=300)
    date_label = pn.pane.HTML(f"Month: <b>{opening}</b>", margin=(0, 10))
    date_w.jscallback(
        value="label.text = 'Month: <b>' + dates[cb_obj.value] + '</b>'", args={"label": date_label, "dates": dates}
    )
    var_w = pn.widgets.Select(label="Band or index", options=variables, value="ndvi", width=150)

    def variable_array(variable: str):
        if variable in INDEX_VARIABLES:
            return cube[variable]
        return cube["reflectance"].sel(band=variable)

    def map_view(class_id: int, date: str, variable: str):
        array = variable_array(variable).sel(time=np.datetime64(date))
        clim = (
            (-1.0, 1.0)
            if variable in INDEX_VARIABLES
            else (0.0, float(np.nanpercentile(variable_array(variable).values, 98)))
        )
        cmap = "RdYlGn" if variable in INDEX_VARIABLES else "viridis"
        image = gv.Image(array, kdims=["x", "y"], crs=ccrs.GOOGLE_MERCATOR).opts(
            cmap=cmap,
            clim=clim,
            colorbar=True,
            projection=ccrs.GOOGLE_MERCATOR,
            title=f"{variable} {date}",
            **map_opts(fit_frame(array, 640, extra_px=95, max_frame_height=420)),
        )
        chosen = labels[labels["class_id"] == class_id]
        return image * label_overlay(chosen, table, fill_alpha=0.0, line_width=2)

    def curve_view(class_id: int, date: str, variable: str):
        rows = means[(means["variable"] == variable)]
        curves = []
        for cid, frame in rows.groupby("class_id"):
            selected = cid == class_id
            curves.append(
                hv.Curve(frame, "time", "value", label=class_labels[cid]).opts(
                    color=class_colours[cid], line_width=3 if selected else 1, alpha=1.0 if selected else 0.35
                )
            )
        marker = hv.VLine(np.datetime64(date)).opts(color="black", line_dash="dashed")
        return hv.Overlay(curves + [marker]).opts(
            width=640,
            height=340,
            title=f"Mean {variable} per class",
            legend_position="bottom_left",
            show_legend=True,
            ylabel=variable,
        )

    month = pn.bind(lambda index: dates[index], date_w)  # every step, in order: the map ends on the slider's month
    map_pane = pn.pane.HoloViews(pn.bind(map_view, class_w, month, var_w), linked_axes=False)
    curve_pane = pn.pane.HoloViews(pn.bind(curve_view, class_w, month, var_w), linked_axes=False)
    header = pn.pane.Markdown(
        f"## {DASHBOARD_TITLE}\nProject `{data['project'].name}`, profile `{profile}`: {cube.sizes['time']} "
        f"monthly composites, {len(labels)} labels. Map in Web Mercator (the data are in {data['crs']})."
    )
    layout = pn.Column(header, pn.Row(class_w, pn.Column(date_label, date_w), var_w), map_pane, curve_pane, width=680)
    layout.opening_month = opening  # type: ignore[attr-defined]  # the month it opens on, for the page text
    return layout


def main(argv: list[str] | None = None) -> int:
    """``python -m geoml_helpers.explore.dashboard``: serve the dashboard on 127.0.0.1 until interrupted."""
    import panel as pn

    parser = argparse.ArgumentParser(description="Serve the geoml dashboard on 127.0.0.1.")
    parser.add_argument("--profile", default=os.environ.get("GEOML_PROFILE", "ci"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--project", default=os.environ.get("GEOML_PROJECT") or None, help="project TOML (default: the demo)"
    )
    parser.add_argument("--port", type=int, default=5006)
    args = parser.parse_args(argv)
    behind_proxy = jupyter_base_url() is not None
    print(f"Dashboard: {app_url(args.port, 'dashboard')}", flush=True)
    pn.serve(
        {"dashboard": lambda: build_dashboard(args.profile, args.data_dir, project=args.project)},
        address="127.0.0.1",
        port=args.port,
        # Behind a Jupyter proxy the page's origin is the hub's or Studio's host; the server still listens on
        # loopback only, so only that authenticated proxy can reach it.
        allow_websocket_origin=["*"] if behind_proxy else [f"127.0.0.1:{args.port}", f"localhost:{args.port}"],
        show=False,
        title=DASHBOARD_TITLE,
    )
    return 0


if __name__.startswith("bokeh"):
    # Run by `panel serve geoml_helpers/explore/dashboard.py`: profile, data dir and project come from the environment.
    # The file runs as a plain script there, so import the package's copy (relative imports need the package).
    from geoml_helpers.explore.dashboard import build_dashboard as _build

    _build(
        os.environ.get("GEOML_PROFILE", "ci"),
        os.environ.get("GEOML_DATA_DIR") or None,
        project=os.environ.get("GEOML_PROJECT") or None,
    ).servable(title=DASHBOARD_TITLE)
elif __name__ == "__main__":
    sys.exit(main())
