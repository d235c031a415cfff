# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Explore the cube with HoloViz
#
# **Learning objectives**
# - Plot true- and false-colour composites with a month selector (hvplot), in the right place on the globe.
# - Aggregate full-resolution arrays with datashader's `rasterize`.
# - Overlay the label polygons on the imagery with geoviews; add map tiles only when online.
# - Compare spectral signatures and NDVI phenology per class.
# - Build a panel dashboard that also runs as a web app (`panel serve`).
#
# **Prerequisites:** [02 · Load and prepare](02_load_and_prepare.ipynb) (the cube is built here if it is missing).
#
# **Expected run time:** `ci` about 30-60 s, `workshop` about 1-2 min, `full` a few minutes.
#
# **The UTM-south pitfall.** The demo lies in UTM zone 34 *south* (EPSG:32734). hvplot drops the `+south` of such
# CRSs and ignores `crs=` when the data carry a rioxarray CRS, which puts Stellenbosch at 63 N. Every plot here is
# therefore reprojected to Web Mercator first (`geoml_helpers.explore.plotting.to_plot_crs`), and each map records where it must land.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # None: $GEOML_DATA_DIR or <repo>/data
tiles = None  # e.g. "OSM" or "EsriImagery" when online; None keeps every plot offline
max_slider_steps = None  # time steps in the sliders; None: 4 in ci, 6 otherwise
max_pixels = None  # longest side of the embedded images; None: 240 in ci, 300 otherwise

# %%
import holoviews as hv
import hvplot.pandas  # noqa: F401
import numpy as np
import pandas as pd

from geoml_helpers.core import resolve_project
from geoml_helpers.discover import class_means, prepare_labels
from geoml_helpers.explore import (
    FALSE_COLOUR_BANDS,
    RGB_BANDS,
    build_dashboard,
    class_lines,
    composite_rgb,
    label_overlay,
    legend_px,
    rasterized_image,
    record_plot_bounds,
    rgb_plot,
)
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.load import ensure_project_cube, rasterize_labels

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")
hv.output(widget_location="bottom")  # sliders below the plots, not off the page

# %%
max_slider_steps = max_slider_steps or (4 if profile == "ci" else 6)
max_pixels = max_pixels or (240 if profile == "ci" else 300)
project = resolve_project(project, profile)
prepared = prepare_labels(project, data_dir)
labels, classes = prepared.labels, prepared.classes
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
west, south, east, north = prepared.aoi_lonlat
print(f"project {project.name!r}, cube: {dict(cube.sizes)}, CRS {prepared.crs}")
print(f"area in lon/lat: {west:.3f}..{east:.3f} E, {south:.3f}..{north:.3f} N")

# %% [markdown]
# ## 1. True and false colour, month by month
# The months with the most clear pixels make the best pictures; in `ci` only a few are embedded to keep the page
# small. Every frame is embedded (a HoloMap), so the month selector also works in the static course book.

# %%
clear_share = cube["clear_count"].clip(max=1).mean(dim=("y", "x")).to_series()
best = np.sort(clear_share.nlargest(max_slider_steps).index.values)
clearest = clear_share.idxmax()
shares = ", ".join(f"{str(t)[:7]} {clear_share[t]:.0%}" for t in best)
print(f"months shown (share of the AOI clear): {shares}")
reflectance = cube["reflectance"].sel(time=best)

true_colour = composite_rgb(reflectance, RGB_BANDS, max_pixels=max_pixels)
false_colour = composite_rgb(reflectance, FALSE_COLOUR_BANDS, max_pixels=max_pixels)
size = dict(tiles=tiles, width=345, height=380)
true_plot = rgb_plot(true_colour, title="True colour (red, green, blue)", **size)
false_plot = rgb_plot(false_colour, title="False colour (nir, red, green)", **size)
for plot in (true_plot, false_plot):
    record_plot_bounds(plot, cube)
true_plot + false_plot

# %% [markdown]
# In false colour, vegetation is red: the greener the canopy, the redder. In the demo valley the irrigated
# fields are the brightest red in summer, the pine and gum plantations a darker red than the grey-green fynbos.

# %% [markdown]
# ## 2. Full resolution with datashader
# A browser cannot draw millions of pixels. datashader's `rasterize` aggregates the full-resolution array to the
# screen's pixels; here it runs once (`dynamic=False`) so the static page holds one small image. With a live kernel,
# `cube["ndvi"].hvplot.image(rasterize=True)` re-aggregates on every zoom.

# %%
month = best[len(best) // 2]
ndvi_full = cube["ndvi"].sel(time=month)
print(f"full resolution: {ndvi_full.size:,} pixels "
      f"({ndvi_full.sizes['y']} x {ndvi_full.sizes['x']})")
ndvi_image = rasterized_image(
    ndvi_full, width=300, height=300, cmap="RdYlGn", clim=(-0.2, 0.9),
    title=f"NDVI {str(month)[:7]} (rasterized)",
)
print("aggregated to the frame's screen pixels:",
      ndvi_image.dimension_values(2, flat=False).shape)
record_plot_bounds(ndvi_image, cube)
ndvi_image

# %% [markdown]
# ## 3. Labels on the imagery (geoviews)
# Both layers are in Web Mercator, declared with `crs=GOOGLE_MERCATOR`, so nothing is reprojected at plot time.
# Set the `tiles` parameter (e.g. `"OSM"`) when online for a basemap; offline it stays off.
# The labels go on the clearest month, where the ground shows.

# %%
title = f"Labels on true colour, {str(clearest)[:7]}"
room = 680 - legend_px(classes.labels.values())  # the legend sits beside the map
background = rgb_plot(
    true_colour.sel(time=clearest), title=title, tiles=tiles, width=room, height=520
)
overlay = background * label_overlay(labels, classes, fill_alpha=0.25)
record_plot_bounds(title, cube)
overlay.opts(legend_position="right")

# %% [markdown]
# ## 4. Spectral signatures and phenology per class
# The labels are burned onto the cube's grid (a point marks the pixel it falls in); then each class's
# mean per band and month is one table. Each class keeps its colour from the project's class table,
# mapped by name (`class_lines`), so the legend and the lines always agree.

# %%
class_raster = rasterize_labels(labels, cube["ndvi"])
spectra = class_means(cube["reflectance"], class_raster, classes.labels)
wavelength = {"coastal": 443, "blue": 490, "green": 560, "red": 665, "rededge1": 704,
              "rededge2": 740, "rededge3": 783, "nir": 842, "nir08": 865,
              "swir16": 1610, "swir22": 2190}
spectra["wavelength_nm"] = spectra["band"].map(wavelength)
annual = (
    spectra.groupby(["class_name", "band", "wavelength_nm"], as_index=False)["value"]
    .median()
    .rename(columns={"class_name": "class_label"})
)
class_lines(annual, "wavelength_nm", "value", classes, width=650, height=330,
            title="Annual median spectral signature per class", ylabel="reflectance",
            xlabel="wavelength (nm)")

# %%
phenology = class_means(cube["ndvi"], class_raster, classes.labels)
phenology = phenology.rename(columns={"class_name": "class_label"})
wide = phenology.pivot(index="time", columns="class_label", values="value")
wide.index = pd.to_datetime(wide.index).strftime("%b")
display(wide.round(2).T)
class_lines(phenology, "time", "value", classes, width=650, height=330,
            title="NDVI phenology per class (monthly medians)", ylabel="NDVI")

# %% [markdown]
# In the demo valley, cultivated land follows the winter-rain crop cycle; evergreen invasive trees stay high all year; fynbos varies
# little. That difference in *timing* is what the classifiers of the next notebooks use.

# %% [markdown]
# ## 5. A dashboard
# Class, month and band/index widgets drive a map and the class curves. In a live notebook the widgets work here;
# in the static book they need a kernel. The same app runs as a web page on this machine:
#
# ```bash
# GEOML_PROFILE=ci panel serve geoml_helpers/explore/dashboard.py \
#     --address 127.0.0.1 --port 5006
# ```

# %%
small = min(max_pixels, 200)
dashboard = build_dashboard(profile, data_dir, max_pixels=small, project=project)
opening = dashboard.opening_month
print(f"opens on {opening}, the month with the most clear pixels over the AOI")
record_plot_bounds(f"ndvi {opening}", cube)  # the map's title: variable and month
dashboard

# %% [markdown]
# ## Check your understanding
# A colleague plots the cube with `cube["ndvi"].isel(time=0).hvplot.image(geo=True, tiles="OSM")` and sees it over
# northern Finland. What happened, and what are two ways to fix it?
#
# <details><summary>Solution</summary>
#
# hvplot read the rioxarray CRS (EPSG:32734) but dropped `+south`, so the northings (about 6 240 000 m) were taken
# as *north* of the equator: 56-63 N. Fix 1: reproject first, `to_plot_crs(array)` (Web Mercator, no
# `spatial_ref`), and declare `crs=ccrs.GOOGLE_MERCATOR`. Fix 2: drop `spatial_ref` and pass
# `crs=ccrs.UTM(34, southern_hemisphere=True)` explicitly.
#
# </details>
#
# ## Summary
# - Reproject to Web Mercator with PROJ before plotting, and record where each map should land.
# - Keep static pages small: a few embedded time steps, datashader aggregates, tiles off unless online.
# - Per-class spectra and NDVI phenology show which bands and months separate the classes.
#
# **Next:** the modelling notebooks start from `ensure_project_cube` and the labels.
