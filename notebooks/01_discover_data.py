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
# # 01 · Discover data: from labelled polygons to a STAC item collection
#
# **Learning objectives**
# - Read a project's labels (any vector format and CRS, polygons or points) and describe them:
#   classes, areas, spatial blocks, CRS.
# - Derive an area of interest (AOI) and search a STAC API by AOI, date range and cloud cover with `pystac-client`.
# - Inspect search results as a GeoDataFrame (footprints, cloud cover over time) and read item/asset metadata
#   (bands, resolutions, scale/offset).
# - Save the chosen items as ndjson and stac-geoparquet for the next notebook.
# - Know how NASA (earthaccess) and Planet (orders with S3 delivery) fit in, as opt-in cells.
#
# **Prerequisites:** [00 · Environment check](00_environment_check.ipynb); basic pandas/geopandas.
#
# **Expected run time:** `ci` about 15-30 s, `workshop` about 20-40 s (plus the demo build the first time), `full` under a minute
# (plus its demo build).
#
# Pass your own `project` (a TOML file, see `geoml init`) and every cell below works on your labels,
# AOI, dates and STAC source. Change `stac_api` to `"earth-search"` and the *same* search code runs against Earth Search on AWS
# (https://earth-search.aws.element84.com/v1); offline, that choice fails fast with a clear message.

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
stac_api = None  # None: the project's source; or "local", "earth-search", a URL
data_dir = None  # None: $GEOML_DATA_DIR or <repo>/data
datetime_range = None  # None: the project's dates, e.g. "2024-01-01/2024-12-31"
max_cloud_cover = None  # percent; None: the project's
use_earthaccess = False  # opt-in: NASA Earthdata (needs earthaccess, a login, internet)
use_planet = False  # opt-in: Planet order to S3 (needs planet, PL_API_KEY, internet)

# %%
import geopandas as gpd
import holoviews as hv
import hvplot.pandas  # noqa: F401
import pandas as pd

from geoml_helpers.core import EmptySearchError, data_root, resolve_project
from geoml_helpers.discover import band_resolutions, item_epsg, prepare_labels
from geoml_helpers.discover import open_stac_source, search_items
from geoml_helpers.explore import fit_frame, label_overlay, legend_px, map_opts
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.explore import (
    polygon_overlay,
    record_plot_bounds,
    vector_to_plot_crs,
)
from geoml_helpers.load import items_to_geodataframe, project_outputs_dir
from geoml_helpers.load import save_items, scaling_table

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")

# %% [markdown]
# ## 1. The project and its labels
# The course starts from what a field team delivers: polygons (or GPS points) with a class. A small
# *project file* says where they are, which column holds the class, and where to look for imagery;
# `project = None` is the demo valley. `prepare_labels` reads any vector format in any CRS, repairs
# invalid geometries, drops empty ones, derives the class table, the grid and the spatial splits,
# and counts everything it did.

# %%
project = resolve_project(project, profile)
stac_api = stac_api or project.stac
datetime_range = datetime_range or project.datetime
if max_cloud_cover is None:
    max_cloud_cover = project.max_cloud_cover
prepared = prepare_labels(project, data_dir)
labels, classes = prepared.labels, prepared.classes
print(prepared.report)
print(
    f"CRS: {prepared.crs} | grid: {prepared.shape} pixels of {prepared.resolution:g} m"
)
pd.DataFrame(classes.to_records())

# %%
prepared.report.per_class

# %% [markdown]
# The split is by **spatial block**, not by polygon: neighbouring pixels are alike, so a random split
# would leak.

# %%
blocks = prepared.blocks
pd.crosstab(labels["class_label"], labels["split"])

# %%
split_colours = {"train": "#1b9e77", "val": "#d95f02", "test": "#7570b3"}
blocks_layer = polygon_overlay(
    blocks[["block_id", "split", "geometry"]],
    color_column="split",
    colors=split_colours,
    fill_alpha=0.15,
    legend=True,  # the splits named in the legend beside the classes
)
labels_layer = label_overlay(labels, classes, fill_alpha=0.6)
frame = fit_frame(
    vector_to_plot_crs(blocks).total_bounds,
    680,
    extra_px=legend_px([*classes.labels.values(), *split_colours]),
)
title = "Labels and spatial blocks"
record_plot_bounds(title, blocks)
(blocks_layer * labels_layer).opts(
    title=title, legend_position="right", **map_opts(frame)
)

# %% [markdown]
# ## 2. The AOI and the STAC API
# STAC searches take lon/lat, so the AOI is the project's grid (the labels' extent plus a margin,
# unless the project gives one) in EPSG:4326.

# %%
bbox = list(prepared.aoi_lonlat)
aoi = gpd.GeoSeries.from_xy(bbox[::2], bbox[1::2], crs=4326)
print("AOI bbox (lon/lat):", [round(v, 5) for v in bbox])

# %%
source = open_stac_source(
    stac_api, profile, data_dir, collection=project.collection, project=project
)
print(source.url, "| cloud-cover filter done by:", source.cloud_filter)
[c.id for c in source.client.get_collections()]

# %% [markdown]
# ## 3. Search by AOI, dates and cloud cover
# `search_items` builds the same request for every API. Earth Search filters cloud cover on the server (CQL2);
# the local rustac server has no filter extension, so the helper filters on the client and says so.

# %%
everything = search_items(source, bbox=bbox, datetime=datetime_range)
result = search_items(
    source, bbox=bbox, datetime=datetime_range, max_cloud_cover=max_cloud_cover
)
print(f"{len(everything)} items in {datetime_range}")
print(
    f"{len(result)} with eo:cloud_cover <= {max_cloud_cover} % "
    f"(filter: {result.cloud_filter})"
)

# %% [markdown]
# An empty search is an error with the parameters to widen, not a silent empty list:

# %%
try:
    search_items(source, bbox=bbox, datetime="2015-01-01/2015-02-01", max_cloud_cover=5)
except EmptySearchError as error:
    print(error)

# %% [markdown]
# ## 4. The results as a GeoDataFrame

# %%
found = items_to_geodataframe(everything.items)
found["kept"] = found["eo:cloud_cover"] <= max_cloud_cover
table = found[
    ["datetime", "platform", "eo:cloud_cover", "s2:processing_baseline", "kept"]
]
table.assign(datetime=found["datetime"].dt.strftime("%Y-%m-%d %H:%M")).rename(
    columns={"eo:cloud_cover": "cloud %", "s2:processing_baseline": "baseline"}
).round(1)

# %%
cloud_plot = found.hvplot.scatter(
    x="datetime",
    y="eo:cloud_cover",
    by="kept",
    size=60,
    width=660,
    height=260,
    title="Cloud cover over time",
    ylabel="cloud cover (%)",
) * hv.HLine(max_cloud_cover).opts(color="grey", line_dash="dashed")
box = gpd.GeoDataFrame(geometry=[aoi.union_all().envelope], crs=4326)
footprints = polygon_overlay(
    found[["id", "eo:cloud_cover", "geometry"]], fill_alpha=0.05
)
footprints = footprints * polygon_overlay(box, line_width=3)
everything_box = vector_to_plot_crs(found).total_bounds
title = "Footprints and AOI"
record_plot_bounds(title, found)
footprints = footprints.opts(title=title, **map_opts(fit_frame(everything_box, 500)))
(cloud_plot + footprints).cols(1)

# %% [markdown]
# ## 5. Item and asset metadata
# Bands come at 10, 20 and 60 m. Their DNs become reflectance with `DN * scale + offset` from `raster:bands` —
# unless the item says `earthsearch:boa_offset_applied: true` (notebook 02 shows that trap on a real item).

# %%
first = result.items[0]
print(
    first.id,
    "| EPSG:",
    item_epsg(first),
    "| baseline:",
    first.properties.get("s2:processing_baseline"),
)
resolutions = band_resolutions(first)
scales = scaling_table([first]).set_index("band")
assets = pd.DataFrame(
    {
        "title": {k: a.title for k, a in first.assets.items()},
        "resolution_m": resolutions,
        "proj:shape": {
            k: a.extra_fields.get("proj:shape") for k, a in first.assets.items()
        },
    }
).join(scales[["scale", "offset", "source"]])
assets

# %% [markdown]
# ## 6. Save the chosen items
# ndjson is one item per line (simple, streamable); stac-geoparquet is columnar and loads into DuckDB/geopandas.
# Everything goes under the data directory's `outputs/<profile>/`.

# %%
discovery = project_outputs_dir(project, profile, "discovery", data_dir=data_dir)
saved = save_items(result.items, discovery, name="items")
root = data_root(data_dir)  # paths are shown relative to the data directory
for kind, path in saved.items():
    print(f"{kind:8s} {path.relative_to(root)}  {path.stat().st_size / 1e3:.1f} kB")

# %% [markdown]
# ## 7. Other providers (opt-in, online)
# The same AOI and dates work with other catalogues. These cells only run when you switch their parameter on; they
# then check the package, the credentials and the network *first*, and fail within seconds with the fix.
#
# **NASA Earthdata with `earthaccess`** (e.g. Harmonized Landsat Sentinel-2, HLS):

# %%
from geoml_helpers.course import require_env, require_online, require_optional


def search_nasa_hls(bbox, datetime_range, max_cloud_cover):
    """Search HLS Sentinel-2 (HLSS30 v2.0) granules with earthaccess."""
    earthaccess = require_optional("earthaccess", "Searching NASA Earthdata")
    require_env(
        ["EARTHDATA_USERNAME", "EARTHDATA_PASSWORD"],
        "Logging in to NASA Earthdata",
        "Register at https://urs.earthdata.nasa.gov and export both variables.",
    )
    require_online("https://cmr.earthdata.nasa.gov", "Searching NASA Earthdata")
    earthaccess.login(strategy="environment")
    start, end = datetime_range.split("/")
    return earthaccess.search_data(
        short_name="HLSS30",
        version="2.0",
        bounding_box=tuple(bbox),
        temporal=(start, end),
        cloud_cover=(0, max_cloud_cover),
    )


if use_earthaccess:
    granules = search_nasa_hls(bbox, datetime_range, max_cloud_cover)
    print(f"{len(granules)} HLS granules")
else:
    print("earthaccess search skipped (set use_earthaccess=True).")
    print("With it on here, it would stop at once with:")
    try:
        require_optional("earthaccess", "Searching NASA Earthdata")
    except ImportError as error:
        print(" ", error)

# %% [markdown]
# **Planet** — an order of PlanetScope surface reflectance clipped to the AOI, delivered straight into your S3 bucket:


# %%
def order_planet_to_s3(item_ids, aoi_geojson, bucket, aws_region="eu-central-1"):
    """A Planet order (PSScene, analytic_sr_udm2) clipped to the AOI, into S3."""
    planet = require_optional("planet", "Ordering Planet imagery", "pip install planet")
    env = require_env(
        ["PL_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        "A Planet order with S3 delivery",
        "Export your Planet API key and the S3 bucket's AWS keys.",
    )
    require_online("https://api.planet.com", "Ordering Planet imagery")
    from planet import order_request

    request = order_request.build_request(
        name="geoml-aoi",
        products=[
            order_request.product(
                item_ids=list(item_ids),
                product_bundle="analytic_sr_udm2",
                item_type="PSScene",
            )
        ],
        tools=[order_request.clip_tool(aoi_geojson)],
        delivery=order_request.amazon_s3(
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], bucket, aws_region
        ),
    )
    return planet.Planet().orders.create_order(request)


if use_planet:
    order = order_planet_to_s3(
        ["20240301_083512_12_2470"],
        aoi.union_all().envelope.__geo_interface__,
        bucket="my-bucket",
    )
    print(order["id"], order["state"])
else:
    print("Planet order skipped (set use_planet=True).")
    print("With it on here, it would stop at once with:")
    try:
        require_optional("planet", "Ordering Planet imagery", "pip install planet")
    except ImportError as error:
        print(" ", error)

# %%
source.close()

# %% [markdown]
# ## Check your understanding
# You raise `max_cloud_cover` from 60 to 100. Which rows of the table in section 4 change, and why might you still
# prefer a strict threshold even though notebook 02 masks clouds pixel by pixel?
#
# <details><summary>Solution</summary>
#
# Only the `kept` column changes: every item becomes kept (the search returns the same items, the cloud filter
# keeps more). A strict threshold saves reading and masking scenes that are mostly cloud: the per-pixel SCL mask
# would throw nearly all their pixels away anyway, and thin cloud edges missed by SCL contaminate composites.
# A loose threshold helps when clear dates are rare (winter in the Western Cape), because partly cloudy scenes
# still add clear pixels.
#
# </details>
#
# ## Summary
# - Labels are read and validated first; their extent becomes the AOI in lon/lat.
# - `pystac-client` searches the local rustac API and Earth Search with the same code; the cloud filter runs on the
#   server when the API supports it.
# - Item metadata tell us each band's resolution and how to scale DNs; we saved the chosen items as ndjson and
#   stac-geoparquet.
#
# **Next:** [02 · Load and prepare](02_load_and_prepare.ipynb) loads these items into a lazy data cube.
