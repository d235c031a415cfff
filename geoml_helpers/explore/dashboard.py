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


def dashboard_data(profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, max_pixels: int = 300):
    """Everything the dashboard shows, computed once: cube (small, in Web Mercator), labels, class means.

    Returns
    -------
    dict
        ``cube`` (Dataset in EPSG:3857, at most ``max_pixels`` a side, loaded in memory),
        ``labels`` (GeoDataFrame in EPSG:3857), ``means`` (DataFrame: class, time, variable, value).

    Examples
    --------
    >>> sorted(dashboard_data("ci"))  # doctest: +SKIP
    ['cube', 'labels', 'means']
    """
    import pandas as pd

    from geoml_helpers.demo import ensure_demo_data
    from geoml_helpers.demo.classes import CLASS_LABELS
    from geoml_helpers.discover.labels import class_means, rasterize_labels
    from geoml_helpers.explore.plotting import to_plot_crs, vector_to_plot_crs
    from geoml_helpers.load.cube import ensure_analysis_ready_cube

    cube = ensure_analysis_ready_cube(profile, data_dir)
    demo = ensure_demo_data(profile, data_dir, progress=False)
    labels = demo.read_labels()
    classes = rasterize_labels(labels, cube["ndvi"])
    tables = []
    refl = class_means(cube["reflectance"], classes, CLASS_LABELS).rename(columns={"band": "variable"})
    tables.append(refl)
    for name in INDEX_VARIABLES:
        frame = class_means(cube[name], classes, CLASS_LABELS)
        frame["variable"] = name
        tables.append(frame)
    means = pd.concat(tables, ignore_index=True)
    small = to_plot_crs(cube[["reflectance", *INDEX_VARIABLES]], max_pixels=max_pixels)
    return {"cube": small, "labels": vector_to_plot_crs(labels), "means": means}


def build_dashboard(profile: str = "ci", data_dir: str | os.PathLike[str] | None = None, max_pixels: int = 300):
    """The dashboard as a panel layout (display it, or call ``.servable()``).

    Examples
    --------
    >>> app = build_dashboard("ci")  # doctest: +SKIP
    """
    import cartopy.crs as ccrs
    import geoviews as gv
    import holoviews as hv
    import hvplot.pandas  # noqa: F401
    import hvplot.xarray  # noqa: F401
    import panel as pn

    from geoml_helpers.demo.classes import CLASS_COLORS, CLASS_LABELS

    data = dashboard_data(profile, data_dir, max_pixels)
    cube, labels, means = data["cube"], data["labels"], data["means"]
    dates = [str(np.datetime_as_string(t, unit="D")) for t in cube["time"].values]
    variables = [*INDEX_VARIABLES, *[str(b) for b in cube["band"].values]]
    class_options = {CLASS_LABELS[c]: c for c in sorted(CLASS_LABELS) if c in set(means["class_id"])}

    class_w = pn.widgets.Select(
        name="Land-cover class", options=class_options, value=next(iter(class_options.values()))
    )
    date_w = pn.widgets.DiscreteSlider(name="Month", options=dates, value=dates[len(dates) // 2])
    var_w = pn.widgets.Select(name="Band or index", options=variables, value="ndvi")

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
            width=460,
            height=400,
            projection=ccrs.GOOGLE_MERCATOR,
            title=f"{variable} {date}",
        )
        chosen = labels[labels["class_id"] == class_id]
        polygons = gv.Polygons(chosen, vdims=["class_name", "polygon_id"], crs=ccrs.GOOGLE_MERCATOR).opts(
            fill_alpha=0,
            line_color=CLASS_COLORS.get(class_id, "white"),
            line_width=2,
            tools=["hover"],
            projection=ccrs.GOOGLE_MERCATOR,
        )
        return image * polygons

    def curve_view(class_id: int, date: str, variable: str):
        rows = means[(means["variable"] == variable)]
        curves = []
        for cid, frame in rows.groupby("class_id"):
            selected = cid == class_id
            curves.append(
                hv.Curve(frame, "time", "value", label=CLASS_LABELS[cid]).opts(
                    color=CLASS_COLORS[cid], line_width=3 if selected else 1, alpha=1.0 if selected else 0.35
                )
            )
        marker = hv.VLine(np.datetime64(date)).opts(color="black", line_dash="dashed")
        return hv.Overlay(curves + [marker]).opts(
            width=460,
            height=400,
            title=f"Mean {variable} per class",
            legend_position="bottom_left",
            show_legend=True,
            ylabel=variable,
        )

    map_pane = pn.pane.HoloViews(pn.bind(map_view, class_w, date_w, var_w), linked_axes=False)
    curve_pane = pn.pane.HoloViews(pn.bind(curve_view, class_w, date_w, var_w), linked_axes=False)
    header = pn.pane.Markdown(
        f"## {DASHBOARD_TITLE}\nProfile `{profile}`: {cube.sizes['time']} monthly composites, {len(labels)} label "
        "polygons. Map in Web Mercator (the data are UTM 34S)."
    )
    return pn.Column(header, pn.Row(class_w, date_w, var_w), pn.Row(map_pane, curve_pane))


def main(argv: list[str] | None = None) -> int:
    """``python -m geoml_helpers.explore.dashboard``: serve the dashboard on 127.0.0.1 until interrupted."""
    import panel as pn

    parser = argparse.ArgumentParser(description="Serve the geoml dashboard on 127.0.0.1.")
    parser.add_argument("--profile", default=os.environ.get("GEOML_PROFILE", "ci"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--port", type=int, default=5006)
    args = parser.parse_args(argv)
    behind_proxy = jupyter_base_url() is not None
    print(f"Dashboard: {app_url(args.port, 'dashboard')}", flush=True)
    pn.serve(
        {"dashboard": lambda: build_dashboard(args.profile, args.data_dir)},
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
    # Run by `panel serve geoml_helpers/explore/dashboard.py`: profile and data dir come from the environment.
    # The file runs as a plain script there, so import the package's copy (relative imports need the package).
    from geoml_helpers.explore.dashboard import build_dashboard as _build

    _build(os.environ.get("GEOML_PROFILE", "ci"), os.environ.get("GEOML_DATA_DIR") or None).servable(
        title=DASHBOARD_TITLE
    )
elif __name__ == "__main__":
    sys.exit(main())
