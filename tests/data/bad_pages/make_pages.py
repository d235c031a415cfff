"""Regenerate the good and bad pages of tests/test_book_checks.py from real HoloViews/hvplot output.

Each page is a small book-like page (an article column, as sphinx-book-theme lays it out) holding
real plot outputs, rendered by HoloViews exactly as a notebook shows them and staged by the book's
own ``prepare_notebook``; the noise notebooks are real executions with nbclient. Run it from the
project root when the plotting stack changes (about 30 s)::

    .venv/bin/python tests/data/bad_pages/make_pages.py

Pages (``*_good`` passes its check, ``*_bad`` has the defect):

* ``landcover.tif``: a 3 km class raster in UTM 34S, the truth for the placement pages;
* ``placement_good.html``: the raster drawn with ``image_plot`` (reprojected first, in place);
  ``placement_bad.html``: the same raster drawn 21 km south, the defect seen in notebooks 04 and 08;
  ``placement_view_bad.html``: the good map in a layout sharing its axes with a UTM-grid image (06's
  empty frames); ``axes_bad.html``: a map whose axes say "coordinate of projection (metre)" (03);
* ``colours_good.html``: class spectra with each class mapped to its table colour;
  ``colours_bad.html``: the same with the colour list in class-id order while hvplot sorts the groups
  (the defect seen in notebook 03);
* ``classmap_good.html``: the raster as a class map in the table's colours, its colour bar naming the
  classes; ``classmap_bad.html``: a numeric colour bar 1..6 (notebooks 04-08) and a colour range one
  class off;
* ``fit_good.html``: a 500 px map and a narrow table; ``fit_bad.html``: a 1000 px plot, a wide table and
  a Panel row wider than the 760 px column;
* ``noise_good.ipynb`` / ``noise_bad.ipynb``: executed notebooks; the bad one writes to stderr, warns,
  logs an ERROR, prints a traceback and a 70-line progress output;
* ``long_output_good.html``: 20 lines shown and 200 hidden; ``long_output_bad.html``: a progress bar
  that redrew itself 70 times with carriage returns (06's Lightning bars);
* ``injected_bad.html`` / ``abspath_bad.html``: a page that shows papermill's injected-parameters
  cell, and one that prints the building machine's paths;
* ``lines_good.py`` / ``lines_bad.py``: jupytext notebooks with code lines within and beyond 88 characters.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<script src="_static/bokeh.min.js"></script>
<script src="_static/bokeh-gl.min.js"></script>
<script src="_static/bokeh-widgets.min.js"></script>
<script src="_static/bokeh-tables.min.js"></script>
<script src="_static/panel.min.js"></script>
<style>
body {{ margin: 0; font-family: sans-serif; }}
main {{ display: flex; justify-content: center; }}
article.bd-article {{ width: 760px; padding: 0 1rem; }}
.cell_output {{ overflow-x: auto; }}
</style></head>
<body><main><article class="bd-article" role="main">
<section id="page"><h1>{title}</h1><p>{text}</p>
{cells}
</section></article></main></body></html>
"""


def _output_cell(html: str, tags: str = "") -> str:
    return f'<div class="cell docutils container {tags}"><div class="cell_output docutils container">{html}</div></div>'


def staged_html(obj) -> str:
    """The HTML a notebook shows for ``obj``, staged for a book page by ``prepare_notebook`` (local BokehJS, no CDN)."""
    import holoviews as hv
    import panel as pn

    from geoml_helpers.course.book_pages import prepare_notebook

    if isinstance(obj, pn.viewable.Viewable):
        from bokeh.document import Document
        from panel.io.notebook import render_model

        with pn.config.set(embed=True):
            data, _ = render_model(obj._render_model(Document(), None), None)
    else:
        data, _ = hv.renderer("bokeh").components(obj)
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": "",
                "execution_count": 1,
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {k: v for k, v in data.items() if k == "text/html"},
                    }
                ],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    source, target = HERE / "_tmp_in.ipynb", HERE / "_tmp_out.ipynb"
    source.write_text(json.dumps(nb))
    try:
        prepare_notebook(source, target, rel_root="")
        return json.loads(target.read_text())["cells"][0]["outputs"][0]["data"]["text/html"]
    finally:
        source.unlink(missing_ok=True)
        target.unlink(missing_ok=True)


def write_page(name: str, title: str, text: str, cells: list[str]) -> None:
    (HERE / name).write_text(PAGE.format(title=title, text=text, cells="\n".join(cells)))


def make_raster() -> Path:
    import rasterio
    from rasterio.transform import from_origin

    from geoml_helpers.demo.classes import class_colormap

    rng = np.random.default_rng(16)
    classes = np.repeat(np.repeat(rng.integers(1, 7, (6, 6)), 10, axis=0), 10, axis=1).astype("uint8")
    path = HERE / "landcover.tif"
    profile = dict(
        driver="GTiff",
        width=60,
        height=60,
        count=1,
        dtype="uint8",
        crs="EPSG:32734",
        transform=from_origin(303000.0, 6241000.0, 50.0, 50.0),
        nodata=0,
        compress="deflate",
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
        dst.write_colormap(1, class_colormap())
    return path


def make_placement(tif: Path) -> None:
    import cartopy.crs as ccrs
    import hvplot.xarray  # noqa: F401
    import rioxarray

    from geoml_helpers.demo.classes import demo_class_table
    from geoml_helpers.explore.class_plots import class_map
    from geoml_helpers.explore.plotting import image_plot, to_plot_crs

    classes = rioxarray.open_rasterio(tif).squeeze("band", drop=True).astype("float32")
    good = image_plot(classes, cmap="viridis", title="Land cover", width=360, height=340)
    shifted = classes.assign_coords(y=classes.y - 21000.0).rio.write_crs(classes.rio.crs)
    bad = image_plot(shifted, cmap="viridis", title="Land cover", width=360, height=340)
    text = "The land-cover map drawn from landcover.tif."
    write_page("placement_good.html", "Placement: good", text, [_output_cell(staged_html(good))])
    write_page("placement_bad.html", "Placement: bad (21 km south)", text, [_output_cell(staged_html(bad))])
    # 06's defect: a map in Web Mercator beside a pixel-grid image; the layout shares their x/y axes,
    # so the map opens on the union of both (the data a speck in a frame from UTM metres to Mercator)
    class_ids = rioxarray.open_rasterio(tif).squeeze("band", drop=True)
    land_cover = class_map(class_ids, demo_class_table(), title="Land cover", width=380, height=320)
    beside = class_ids.hvplot.image(
        x="x", y="y", title="Blocks (UTM grid)", frame_width=240, data_aspect=1, colorbar=False, xaxis=None, yaxis=None
    )
    write_page(
        "placement_view_bad.html", "Placement: bad (shared axes)", text, [_output_cell(staged_html(land_cover + beside))]
    )
    # 03's defect: hvplot labels the axes from the coordinates' attributes, in metres, under degree ticks
    projected = to_plot_crs(classes)
    unlabelled = projected.hvplot.image(
        x="x", y="y", crs=ccrs.GOOGLE_MERCATOR, geo=True, projection=ccrs.GOOGLE_MERCATOR,
        cmap="viridis", title="Land cover", frame_width=300,
    )
    write_page("axes_bad.html", "Placement: bad (metre axis labels)", text, [_output_cell(staged_html(unlabelled))])


def make_colours() -> None:
    import holoviews as hv
    import hvplot.pandas  # noqa: F401
    import pandas as pd

    from geoml_helpers.demo.classes import CLASS_COLORS, CLASS_NAMES

    months = np.arange(1, 13)
    rows = [(CLASS_NAMES[i], m, 0.1 * i + 0.05 * np.sin(m / 2)) for i in CLASS_NAMES for m in months]
    # Rows ordered by class name, as a groupby leaves them: hvplot's groups follow the rows.
    df = pd.DataFrame(rows, columns=["class_name", "month", "ndvi"]).sort_values(["class_name", "month"])
    # The defect: a colour list in class-id order, applied in the order of the groups.
    bad = df.hvplot.line(
        x="month", y="ndvi", by="class_name", color=[CLASS_COLORS[i] for i in CLASS_NAMES], title="Phenology", width=520
    )
    mapping = {CLASS_NAMES[i]: CLASS_COLORS[i] for i in CLASS_NAMES}
    good = hv.Overlay(
        [
            hv.Curve(group, "month", "ndvi", label=name).opts(color=mapping[name])
            for name, group in df.groupby("class_name")
        ]
    ).opts(title="Phenology", width=520, legend_position="right")
    text = "NDVI through the year, per class."
    write_page("colours_good.html", "Colours: good", text, [_output_cell(staged_html(good))])
    write_page("colours_bad.html", "Colours: bad (list order)", text, [_output_cell(staged_html(bad))])


def make_classmaps(tif: Path) -> None:
    import rioxarray
    from bokeh.models import FixedTicker

    from geoml_helpers.demo.classes import CLASS_COLORS, CLASS_LABELS
    from geoml_helpers.explore.plotting import image_plot

    classes = rioxarray.open_rasterio(tif).squeeze("band", drop=True).astype("float32")
    palette = [CLASS_COLORS[i] for i in sorted(CLASS_COLORS)]
    bar = {"ticker": FixedTicker(ticks=sorted(CLASS_LABELS)), "major_label_overrides": dict(CLASS_LABELS)}

    def plot(title, clim, colorbar_opts):
        return image_plot(classes, cmap=palette, clim=clim, title=title, width=440, height=340).opts(
            colorbar=True, colorbar_opts=colorbar_opts
        )

    good = plot("Land cover (named classes)", (0.5, 6.5), bar)
    numeric = plot("Land cover (numeric colour bar)", (0.5, 6.5), {})  # the defect of notebooks 04-08
    shifted = plot("Land cover (colours one class off)", (0.0, 6.0), bar)  # id 1 gets class 2's colour
    text = "Classes of landcover.tif, each in its class-table colour."
    write_page("classmap_good.html", "Class map: good", text, [_output_cell(staged_html(good))])
    write_page(
        "classmap_bad.html",
        "Class map: bad",
        text,
        [_output_cell(staged_html(numeric)), _output_cell(staged_html(shifted))],
    )


def _table(columns: int) -> str:
    head = "".join(f"<th>column_with_a_long_name_{i}</th>" for i in range(columns))
    row = "".join(f"<td>{i * 1.2345:.4f}</td>" for i in range(columns))
    return f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>'


def make_fit() -> None:
    import hvplot.pandas  # noqa: F401
    import pandas as pd
    import panel as pn

    df = pd.DataFrame({"x": np.arange(20), "y": np.arange(20) ** 0.5})
    narrow = df.hvplot.scatter(x="x", y="y", width=500, height=260, title="Fits")
    wide = df.hvplot.scatter(x="x", y="y", width=1000, height=260, title="Too wide")
    row = pn.Row(
        pn.widgets.Select(name="month", options=["Jan", "Feb"], width=300),
        df.hvplot.line(x="x", y="y", width=600, height=200),
    )
    text = "The article column is 760 px wide."
    write_page(
        "fit_good.html",
        "Fit: good",
        text,
        [_output_cell(staged_html(narrow)), _output_cell(_table(3)), _printed(LONG_LINE, wrapped=True)],
    )
    write_page(
        "fit_bad.html",
        "Fit: bad",
        text,
        [
            _output_cell(staged_html(wide)),
            _output_cell(_table(14)),
            _output_cell(staged_html(row)),
            _printed(LONG_LINE, wrapped=False),
        ],
    )


LONG_LINE = (
    "On these test polygons the U-Net is better for water; the random forest is better for fynbos, "
    "cultivated land and built-up; the test polygons cannot tell them apart for invasive trees."
)


def _printed(line: str, wrapped: bool) -> str:
    """A printed line as myst-nb renders it; ``wrapped`` as the book's CSS makes it (book/_static/geoml.css)."""
    style = ' style="white-space: pre-wrap; overflow-wrap: anywhere;"' if wrapped else ""
    return (
        '<div class="cell docutils container"><div class="cell_output docutils container">'
        f'<div class="output stream highlight-myst-ansi notranslate"><div class="highlight"><pre{style}>'
        f"<span></span>{line}\n</pre></div></div></div></div>"
    )


NOISE_BAD = """# %%
import logging
import sys
import traceback
import warnings

print("loaded 12 scenes")

# %%
warnings.warn("the bands were resampled", UserWarning)

# %%
print("cleaning up", file=sys.stderr)

# %%
logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
logging.getLogger("distributed.scheduler").error("Task was destroyed but it is pending!")

# %%
try:
    1 / 0
except ZeroDivisionError:
    traceback.print_exc(file=sys.stdout)

# %%
for epoch in range(70):
    print(f"\\rEpoch {epoch}: 100%|##########| 12/12 [00:01<00:00]", end="")
"""

NOISE_GOOD = """# %%
scenes = 12
print(f"loaded {scenes} scenes")

# %%
for epoch in range(3):
    print(f"epoch {epoch}: loss {1 / (epoch + 1):.2f}")
"""


def make_noise() -> None:
    import jupytext
    import nbclient

    for name, text in (("noise_good.ipynb", NOISE_GOOD), ("noise_bad.ipynb", NOISE_BAD)):
        nb = jupytext.reads(text, fmt="py:percent")
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
        nb.metadata.pop("widgets", None)
        jupytext.write(nb, HERE / name, fmt="ipynb")


def _stream(text: str) -> str:
    """A stream output as myst-nb writes it into a page."""
    body = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    opening = '<div class="output stream highlight-myst-ansi notranslate"><div class="highlight"><pre><span></span>'
    return f"{opening}{body}</pre></div></div>"


def make_long_outputs() -> None:
    bad = json.loads((HERE / "noise_bad.ipynb").read_text())["cells"][-1]["outputs"][0]["text"]  # 70 redraws, \r each
    hidden = "\n".join(f"line {i}" for i in range(100))
    good = [
        _output_cell(_stream("\n".join(f"epoch {i}: loss {1 / (i + 1):.3f}" for i in range(20)))),
        # what an output hides is not counted: xarray's text fallback, a closed <details>
        _output_cell(
            f'<div class="output text_html"><pre style="display: none">{hidden}</pre>'
            f"<details><summary>100 more lines</summary><pre>{hidden}</pre></details></div>"
        ),
    ]
    write_page("long_output_good.html", "Long output: good", "Twenty epochs, and a hidden fallback.", good)
    write_page(
        "long_output_bad.html",
        "Long output: bad",
        "A progress bar that redrew 70 times.",
        [_output_cell(_stream("".join(bad)))],
    )


def make_html_noise() -> None:
    injected = (
        '<div class="cell tag_injected-parameters docutils container"><div class="cell_input docutils container">'
        '<div class="highlight-ipython3 notranslate"><div class="highlight"><pre><span></span>'
        '<span class="c1"># Parameters</span>\n'
        'profile <span class="o">=</span> <span class="s2">&quot;ci&quot;</span>\n'
        "</pre></div></div></div></div>"
    )
    write_page("injected_bad.html", "Noise: injected parameters", "papermill's cell is shown.", [injected])
    paths = (
        '<div class="output stream highlight-myst-ansi notranslate"><div class="highlight"><pre><span></span>'
        "wrote /tmp/pytest-of-root/pytest-7/geoml-notebook-data0/outputs/landcover_rf.tif\n</pre></div></div>"
    )
    write_page(
        "abspath_bad.html",
        "Noise: absolute paths",
        "The output names the building machine's folders.",
        [_output_cell(paths)],
    )


LINES_GOOD = """# %% [markdown]
# # A notebook whose prose may run long: the page wraps Markdown, so this line is not code at all.

# %%
total = sum(range(10))
print(f"total {total}")
"""

LINES_BAD = (
    LINES_GOOD
    + """
# %%
summary = {"adjusted_area_ha": 79.1, "ci95_ha": (70.5, 87.7), "classes": 6, "method": "Olofsson"}
"""
)


def main() -> None:
    import holoviews as hv

    hv.extension("bokeh")
    tif = make_raster()
    make_placement(tif)
    make_classmaps(tif)
    make_colours()
    make_fit()
    make_noise()
    make_long_outputs()
    make_html_noise()
    (HERE / "lines_good.py").write_text(LINES_GOOD)
    (HERE / "lines_bad.py").write_text(LINES_BAD)
    for path in sorted(HERE.iterdir()):
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
