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
# # 02 · Load and prepare: from STAC items to an analysis-ready cube
#
# **Learning objectives**
# - Load the same STAC items with **stackstac** and with **odc-stac** into lazy, dask-backed xarray, and compare
#   grid, CRS, chunks, dtype and resampling.
# - Turn DNs into reflectance with each item's scale/offset, and check the BOA offset on the
#   pixels, not only in the metadata.
# - Mask clouds and shadows with the scene classification (SCL), grow the mask over cloud edges,
#   rank dates by the AOI's own clear fraction, and clip to the AOI with rioxarray.
# - Compute NDVI, NDWI, NBR and monthly median composites; write an analysis-ready zarr cube and a COG.
# - Put numbers on the size tiers: when to stream from object storage, copy to local disk, or reshape to zarr.
#
# **Prerequisites:** [01 · Discover data](01_discover_data.ipynb) (its saved items are used when
# present, otherwise the search is repeated); xarray basics.
#
# **Expected run time:** `ci` about 30-50 s, `workshop` about 1-3 min (the cube is built once),
# `full` 10-30 min on a laptop (much faster next to the data in the cloud).

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # None: $GEOML_DATA_DIR or <repo>/data
chunksize = 512  # spatial chunk of the lazy arrays, in pixels
rebuild_cube = False  # rebuild the zarr cube even if a current one exists

# %%
import copy
import json
import time
import warnings
from pathlib import Path

import dask
import holoviews as hv
import numpy as np
import pandas as pd
import pystac
import rioxarray  # noqa: F401
import stackstac

from geoml_helpers.core import data_root, resolve_project
from geoml_helpers.discover import (
    baseline_jump,
    check_offset,
    clear_fraction_table,
    cloud_shadow_mask,
    offset_metadata,
    read_asset_window,
    scl_class_names,
)
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import (
    composite_rgb,
    image_plot,
    record_plot_bounds,
    rgb_plot,
)
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.load import (
    DEFAULT_MASK_CLASSES,
    Grid,
    apply_scaling,
    clip_to_aoi,
    compute_indices,
    ensure_project_composite,
    ensure_project_cube,
    is_valid_cog,
    load_odc,
    load_stackstac,
    mask_clouds,
    masked_fraction,
    monthly_median,
    odc_to_array,
    project_cube_path,
    project_outputs_dir,
    read_saved_items,
    scaling_table,
    search_project_items,
)
from geoml_helpers.scale import start_cluster

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")
warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
root = data_root(data_dir)  # paths are printed relative to it

# %% [markdown]
# ## 1. The items
# Notebook 01 saved its search under the project's `discovery/` folder. If it has not run, the
# project's search (its source, AOI, dates and cloud cover) runs here. The target grid is the
# project's: its CRS (by default the UTM zone of the AOI centre), resolution and snapped bounds.

# %%
project = resolve_project(project, profile)
prepared = prepare_labels(project, data_dir)
discovery = project_outputs_dir(project, profile, "discovery", data_dir=data_dir)
saved = discovery / "items.parquet"
if saved.exists():
    items = read_saved_items(saved)
    print(f"{len(items)} items read from {saved.relative_to(root)}")
else:
    found = search_project_items(project, profile, data_dir, bbox=prepared.aoi_lonlat)
    items = [pystac.Item.from_dict(item) for item in found]
    print(f"{len(items)} items found with a new search of {project.stac}")
epsg = int(prepared.crs.split(":")[1])
grid = Grid(epsg, prepared.bounds, prepared.resolution)
print("target grid:", grid.crs, grid.shape, f"{grid.resolution:g} m")
print("bounds:", [round(v) for v in grid.bounds])

# %% [markdown]
# **Which date is clearest *here*?** `eo:cloud_cover` is the cloud share of the whole 110 km tile.
# A tile 5 % cloudy can cover a small AOI completely, and a 60 % cloudy one can leave it clear.
# So read the scene classification (SCL) over the AOI only, and count its clear pixels
# (clouds grown by 2 SCL pixels, see section 4). On the demo the tile *is* the AOI, so both
# columns agree; on a real project they often do not.

# %%
clear_table = clear_fraction_table(items, grid.bounds, grid.crs, dilate_px=2)
clear_table["date"] = pd.to_datetime(clear_table["datetime"]).dt.date
clearest = clear_table.iloc[0]
print(
    f"clearest over the AOI: {clearest['date']} "
    f"({clearest['aoi_clear_fraction']:.0%} clear, "
    f"tile cloud {clearest['eo_cloud_cover']:.0f} %)"
)
clear_table[["date", "eo_cloud_cover", "aoi_clear_fraction"]].round(3).head(6)

# %% [markdown]
# ## 2. Two loaders, one grid
# Both are asked for raw `uint16` DNs (0 = nodata) on the same 10 m grid, so we control the
# scaling ourselves. Nothing is read yet: the arrays are lazy dask graphs.

# %%
bands = ["blue", "green", "red", "nir", "swir16", "swir22"]
with_stackstac = load_stackstac(items, grid, bands, chunksize=chunksize)
odc = load_odc(items, grid, bands, chunks={"x": chunksize, "y": chunksize})
with_odc = odc_to_array(odc, bands)


def describe(da, name):
    t = da.rio.transform()
    return {
        "loader": name,
        "array": type(da.data).__module__.split(".")[0],
        "shape (t, band, y, x)": da.shape,
        "dtype": str(da.dtype),
        "CRS": str(da.rio.crs),
        "origin (x, y)": (round(t.c), round(t.f)),
        "pixel (m)": (t.a, t.e),
        "chunk (t, band, y, x)": tuple(c[0] for c in da.chunks),
        "chunks": da.data.npartitions,
    }


rows = [describe(with_stackstac, "stackstac"), describe(with_odc, "odc-stac")]
pd.DataFrame(rows).set_index("loader").T

# %% [markdown]
# The grids must agree with each other *and* with the item metadata (`proj:transform`,
# `proj:shape` of the 10 m bands), and both loaders must read the same pixels:

# %%
asset = items[0].assets["red"].extra_fields
same_grid = with_stackstac.rio.transform().almost_equals(with_odc.rio.transform())
native = tuple(asset["proj:transform"][:6]) == tuple(with_stackstac.rio.transform())[:6]
first = dict(time=slice(0, 2))
same_pixels = bool((with_stackstac.isel(**first) == with_odc.isel(**first)).all())
print("same grid in both loaders:", same_grid)
print("the project grid is the items' own 10 m grid:", native)
print("same pixels (first two dates):", same_pixels)

# %% [markdown]
# **Resampling matters for the 20 m bands.** On a 10 m grid, `nearest` repeats each 20 m pixel
# 2 x 2; `bilinear` interpolates. Neither adds information; `nearest` keeps values exact (and SCL
# classes must always use `nearest`).

# %%
nearest = load_stackstac(items[:1], grid, ["swir16"], resampling="nearest")
bilinear = load_stackstac(items[:1], grid, ["swir16"], resampling="bilinear")
nearest, bilinear = nearest.astype("float32"), bilinear.astype("float32")
both = (nearest > 0) & (bilinear > 0)
difference = float(abs(nearest - bilinear).where(both).mean())
print(
    f"mean |nearest - bilinear| for swir16: {difference:.1f} DN "
    f"({difference * 1e-4:.4f} reflectance)"
)

# %% [markdown]
# ## 3. Scale and offset: check the pixels, not only the metadata
# Since processing baseline 04.00 (2022-01-25), L2A DNs carry +1000:
# `reflectance = DN * 0.0001 - 0.1`. Earth Search's `sentinel-2-l2a` removed that offset from the
# pixels of many items and marks them `earthsearch:boa_offset_applied: true`, yet still declares
# `offset: -0.1` in `raster:bands`. A loader that trusts `raster:bands` (stackstac's
# `rescale=True`) then makes every reflectance 0.1 too low.
#
# Can the flag be trusted instead? Only one hedged maintainer comment says so
# (Element84/earth-search#9), and items flagged `false` whose pixels were already harmonised have
# been reported (earth-search#24, #66, #71; cirrus-earth-search#33). The maintainers point users to
# the newer `sentinel-2-c1-l2a` collection, whose DNs are consistent with its declared offset
# (earth-search#41). So: prefer `sentinel-2-c1-l2a`, and **let the pixels decide**.
#
# What the metadata of real documents say (saved copies of real Earth Search and Planetary
# Computer items, when this checkout has them):

# %%
real_stac = next(
    (
        p
        for p in (Path("../tests/data/real-stac"), Path("tests/data/real-stac"))
        if p.is_dir()
    ),
    None,
)
if real_stac is None:
    print("No saved real STAC items here (tests/data/real-stac): table skipped.")
else:
    rows = []
    for path in sorted(real_stac.glob("*_item_*.json")):
        item = json.loads(path.read_text())
        meta = offset_metadata(item)
        rows.append(
            {
                "collection": meta["collection"],
                "baseline": meta["baseline"],
                "flag": meta["boa_offset_applied"],
                "declared": meta["declared_offset"],
                "used": meta["scaling"].offset,
                "pixel check?": meta["needs_pixel_check"],
                "SCL 2": scl_class_names(item)[2],
            }
        )
    display(pd.DataFrame(rows))

# %% [markdown]
# **The pixels decide.** Dark surfaces (water, shade, red light over green leaves) have a
# reflectance of a few percent. With the +1000 still in the DNs they sit just above 1000; once
# harmonised they sit near 0-300. `check_offset` reads the low end of the clear blue and red DNs
# over the AOI and compares it with the offset the metadata would apply:


# %%
def aoi_pixels(item):
    """Blue, red and NIR DNs and the SCL (on the bands' grid) over the AOI."""
    d = item.to_dict()
    dn = {
        b: read_asset_window(d, b, grid.bounds, grid.crs)
        for b in ("blue", "red", "nir")
    }
    scl_aoi = read_asset_window(d, "scl", grid.bounds, grid.crs)
    h, w = dn["red"].shape  # the SCL is 20 m: nearest neighbour onto the 10 m bands
    rows, cols = (
        np.arange(h) * scl_aoi.shape[0] // h,
        np.arange(w) * scl_aoi.shape[1] // w,
    )
    return d, dn, scl_aoi[np.ix_(rows, cols)]


def shifted(dn):  # the same pixels as if harmonised, with the metadata unchanged
    return {
        b: np.where(v > 0, np.maximum(v.astype(int) - 1000, 1), 0)
        for b, v in dn.items()
    }


rows = []
for item in items[:4]:
    d, dn, scl_aoi = aoi_pixels(item)
    for case, pixels in (("as delivered", dn), ("DNs - 1000", shifted(dn))):
        c = check_offset(d, pixels, scl_aoi)
        rows.append(
            {
                "item": c.item_id[-24:],
                "pixels": case,
                "dn_low": round(c.dn_low),
                "verdict": c.verdict,
                "red < 0 over vegetation": round(c.vegetation_negative_share, 3),
            }
        )
offset_table = pd.DataFrame(rows)
offset_table

# %%
twice = offset_table[offset_table["pixels"] == "DNs - 1000"]
share = twice["red < 0 over vegetation"]
print(
    f"Applied twice, {share.min():.0%}-{share.max():.0%} of vegetation pixels get a "
    "negative red reflectance: no model should ever see that."
)

# %% [markdown]
# A wrong offset on *one side* of the baseline change shows in a time series too: a stable target
# (here: red over clear vegetation, after our scaling) jumps by about 0.1 at 2022-01-25.

# %%
dates, medians = [], []
for item in items:
    d, dn, scl_aoi = aoi_pixels(item)
    red = scaling_table([d], ["red"]).iloc[0]
    veg = (scl_aoi == 4) & (dn["red"] > 0)
    if veg.any():
        dates.append(item.datetime.date())
        medians.append(float(np.median(dn["red"][veg] * red["scale"] + red["offset"])))
jump = baseline_jump(dates, medians)
if np.isnan(jump["jump"]):
    print(f"All {len(dates)} dates lie on one side of 2022-01-25: no jump to look for.")
else:
    print(
        f"median red before {jump['before']:.3f}, after {jump['after']:.3f}: "
        f"{'a jump, check the offsets' if jump['flagged'] else 'no jump'}"
    )

# %% [markdown]
# The demo items are harmonised *nowhere* (`boa_offset_applied: false`), so the offset applies.
# The size of the trap, on the pixels of one item that we pretend were flagged `true`:

# %%
item = copy.deepcopy(items[0].to_dict())
item["properties"]["earthsearch:boa_offset_applied"] = True
harmonised = pystac.Item.from_dict(item)
naive = stackstac.stack(
    [harmonised],
    assets=["red"],
    epsg=grid.epsg,
    resolution=grid.resolution,
    bounds=grid.bounds,
    snap_bounds=False,
    xy_coords="center",
    rescale=True,
)
correct = apply_scaling(load_stackstac([harmonised], grid, ["red"]), [harmonised])
bias = float((correct - naive).mean())
print(f"stackstac rescale=True vs the item's own rule: {bias:.4f} reflectance")

# %% [markdown]
# ## 4. Reflectance, the SCL cloud mask and the AOI
# SCL is loaded with `nearest` onto the same grid. We drop no data, saturated pixels, cloud
# shadows, medium and high probability clouds and thin cirrus. Class 2 has been
# "topographic casted shadows" since baseline 04.00 ("dark area pixels" before): terrain shade,
# not cloud. It stays in: in mountains it would mask whole slopes every winter.

# %%
names = scl_class_names(items[0])
print("masked:", {c: names[c] for c in DEFAULT_MASK_CLASSES})
print("kept, class 2:", names[2])
reflectance = apply_scaling(with_stackstac, items)
scl = load_stackstac(items, grid, ["scl"], chunksize=chunksize).squeeze(
    "band", drop=True
)
clear = mask_clouds(reflectance, scl)
fraction = masked_fraction(scl).compute()

# %% [markdown]
# **Grow the mask.** SCL labels the bright core of a cloud, but misses its thin edges and the soft
# edge of its shadow, where reflectance is still contaminated. Fmask grows its masks by 3 Landsat
# pixels, about 90 m (Zhu & Woodcock 2012). Look at the cloudiest date, and raise the radius
# until the haloes are gone; each metre of radius costs clear pixels:

# %%
radii_m = (0, 40, 80)
scl_values = scl.values
rows = []
for t, date in enumerate(pd.to_datetime(scl["time"].values).date):
    row = {"date": date, "eo:cloud_cover": items[t].properties.get("eo:cloud_cover")}
    for r in radii_m:
        mask = cloud_shadow_mask(scl_values[t], dilate_px=round(r / grid.resolution))
        row[f"masked, r={r} m"] = round(float(mask.mean()), 3)
    rows.append(row)
dilation = pd.DataFrame(rows)
cloudiest = int(dilation[f"masked, r={radii_m[-1]} m"].idxmax())
dilation.sort_values(f"masked, r={radii_m[-1]} m", ascending=False).head(5)

# %%
date = str(dilation.loc[cloudiest, "date"])
rgb = composite_rgb(reflectance.isel(time=cloudiest).compute())
grown = cloud_shadow_mask(
    scl_values[cloudiest], dilate_px=round(radii_m[-1] / grid.resolution)
)
core = cloud_shadow_mask(scl_values[cloudiest])
classes = np.where(core, 2.0, np.where(grown, 1.0, np.nan))  # 2 SCL, 1 grown
edge = scl.isel(time=cloudiest).copy(data=classes).rio.write_crs(grid.crs)
mask_layer = image_plot(edge, cmap=["#ff00ff", "#ffff00"], clim=(0.5, 2.5))
title = f"{date}: cloud (yellow), +{radii_m[-1]} m buffer (magenta)"
cloud_map = rgb_plot(rgb, title=title, width=640, height=560)
cloud_map = cloud_map * mask_layer.opts(alpha=0.55, colorbar=False)
record_plot_bounds(title, reflectance)
cloud_map

# %% [markdown]
# How much the same SCL masks on each date, from the pixels, against what the item metadata
# report (on the scene's own grid only: the metadata describe the whole scene):

# %%
props = pd.DataFrame([i.properties for i in items])
nodata = props["s2:nodata_pixel_percentage"] / 100
bad = (
    props["eo:cloud_cover"]
    + props["s2:cloud_shadow_percentage"]
    + props["s2:saturated_defective_pixel_percentage"]
) / 100
check = pd.DataFrame(
    {
        "date": pd.to_datetime(fraction["time"].values).date,
        "masked (pixels)": fraction.values,
        "expected (metadata)": (nodata + (1 - nodata) * bad).values,
    }
)
if native:
    gap = (check["masked (pixels)"] - check["expected (metadata)"]).abs().max()
    print(f"largest difference between pixels and metadata: {gap:.4f}")
check.round(3).head(6)

# %% [markdown]
# Clip to an AOI with rioxarray: here the region of the validation polygons (their convex hull
# plus 100 m), as if that were the area a partner cares about. Pixels outside become NaN and the
# array shrinks to the AOI's bounding box.

# %%
labels = prepared.labels
aoi = labels[labels["split"] == "val"].union_all().convex_hull.buffer(100)
clipped = clip_to_aoi(clear, [aoi], prepared.crs)
nan_before = float(clear.isel(time=0, band=0).isnull().mean())
outside = float(clipped.isel(time=0, band=0).isnull().mean()) - nan_before
print("before:", dict(clear.sizes))
print("after: ", dict(clipped.sizes))
print(f"extra NaN outside the AOI polygon: {outside:.0%}")

# %% [markdown]
# ## 5. Indices and monthly median composites
# The median of the clear observations in each month is robust to the cloud edges SCL misses.

# %%
composites = monthly_median(clipped.drop_vars("id"))
indices = compute_indices(composites)
composites, indices = dask.compute(composites, indices)
valid = composites.values[np.isfinite(composites.values)]
print(
    f"{composites.sizes['time']} monthly composites; "
    f"reflectance from {valid.min():.3f} to {valid.max():.3f}"
)
ndvi_means = indices["ndvi"].mean(dim=("y", "x")).to_series()
ndvi_means.index = ndvi_means.index.strftime("%b")
ndvi_means.round(2).rename("mean NDVI").to_frame().T

# %% [markdown]
# ## 6. The analysis-ready cube: zarr for ML, COG for GIS
# `ensure_project_cube` runs the same steps for all 11 bands over the project's grid and writes
# zarr **atomically** (to a temporary name, then renamed) with all months and bands of a
# 256 x 256 tile in one chunk: the access pattern of patch-based training. Later notebooks call
# the same function, so they never depend on this notebook having run.

# %%
started = time.perf_counter()
cube = ensure_project_cube(
    project, profile, data_dir, rebuild=rebuild_cube, labels=prepared
)
path = project_cube_path(project, profile, data_dir)
print(f"cube ready in {time.perf_counter() - started:.1f} s: {path.relative_to(root)}")
print("dimensions:", dict(cube.sizes))
print("variables:", ", ".join(f"{k} {v.dtype}" for k, v in cube.data_vars.items()))
chunks = cube["reflectance"].encoding["chunks"]
mb = np.prod(chunks) * 4 / 1e6
print(f"zarr chunks (time, band, y, x): {chunks} = {mb:.1f} MB each")
if project.is_demo and cube.sizes["time"] != composites.sizes["time"]:
    print(f"{cube.sizes['time']} months here, {composites.sizes['time']} in section 5: "
          "the demo's cube uses every scene, clouds masked pixel by pixel; "
          f"01 kept the scenes under {project.max_cloud_cover:g} % cloud")

# %% [markdown]
# The clearest month of the cube, as the models will see it (the composite of its clear
# observations), beside the COG that GIS users open:

# %%
clear_share = (cube["clear_count"] > 0).mean(("y", "x")).compute()
best = int(np.argmax(clear_share.values))
month = str(cube["time"].values[best])[:7]
title = f"Monthly composite {month} ({float(clear_share[best]):.0%} of the AOI clear)"
composite_plot = rgb_plot(
    composite_rgb(cube["reflectance"].isel(time=best)),
    title=title,
    width=560,
    height=520,
)
record_plot_bounds(composite_plot, cube)
cog = ensure_project_composite(project, profile, data_dir)
valid_cog, errors = is_valid_cog(cog)
print(
    f"annual median COG: {cog.relative_to(root)} ({cog.stat().st_size / 1e6:.1f} MB), "
    f"valid COG: {valid_cog}"
)
composite_plot

# %% [markdown]
# ## 7. How big is this, and where should it live?
# The rule of thumb: **under 10 GB** stream it from object storage (COGs + STAC, as we just did);
# **under 1 TB** copy it to local disk next to the compute; **far over 1 TB** reshape it once
# into zarr on object storage, chunked for the analysis. Measured on this dataset:


# %%
def tier(nbytes):
    if nbytes < 10e9:
        return "stream from object storage"
    return (
        "copy to local disk" if nbytes < 1e12 else "reshape to zarr on object storage"
    )


wanted = {*cube["band"].values, "scl"}
hrefs = [a.href for i in items for k, a in i.assets.items() if k in wanted]
if all(h.startswith("file://") for h in hrefs):  # measured: compressed COG bytes
    asset_bytes = sum(Path(h.removeprefix("file://")).stat().st_size for h in hrefs)
else:  # remote assets: 12 uint16 bands per pixel and date, uncompressed
    asset_bytes = len(items) * grid.shape[0] * grid.shape[1] * 12 * 2
area_km2 = grid.shape[0] * grid.shape[1] * grid.resolution**2 / 1e6
per_km2_date = asset_bytes / len(items) / area_km2
zarr_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
print(
    f"COG bytes per km2 and date (11 bands + SCL): {per_km2_date / 1e3:.1f} kB; "
    f"this cube as zarr: {zarr_bytes / 1e6:.1f} MB"
)

# %%
scenarios = {
    f"this AOI, {len(items)} dates": asset_bytes,
    "one S2 tile (110 km x 110 km), 1 year (73 dates)": per_km2_date * 110 * 110 * 73,
    "Western Cape (130 000 km2), 5 years": per_km2_date * 130_000 * 73 * 5,
    "South Africa (1.22 M km2), 8 years": per_km2_date * 1.22e6 * 73 * 8,
}
sizes = pd.DataFrame({"GB": {k: v / 1e9 for k, v in scenarios.items()}})
sizes["where"] = [tier(v) for v in scenarios.values()]
sizes.round(3)

# %% [markdown]
# ## 8. Scaling out: a dask cluster on this machine
# The same lazy arrays run on a `distributed` cluster. Here it lives inside this kernel (threads,
# in-process communication) and its dashboard binds to 127.0.0.1 only: open the cluster's own
# link to watch the task stream while it computes. On a real cluster only the cluster changes
# (e.g. `start_cluster("coiled")`, see notebook 07). `with` closes it cleanly at the end.

# %%
with start_cluster(
    "local", n_workers=1, threads_per_worker=2, processes=False
) as handle:
    print("dask dashboard:", handle.dashboard_link)
    future = handle.client.compute(cube["ndvi"].mean(dim=("y", "x")))
    mean_ndvi = future.result()
months = pd.to_datetime(mean_ndvi["time"].values).strftime("%b")
pd.Series(mean_ndvi.values, index=months).round(3).rename("mean NDVI").to_frame().T

# %% [markdown]
# ## Check your understanding
# 1. An Earth Search item has `s2:processing_baseline: "05.10"`, `earthsearch:boa_offset_applied: true` and
#    `raster:bands` offset `-0.1`. A pixel has DN 1500. What is its reflectance?
# 2. Why is the zarr cube chunked `(all months, all bands, 256, 256)` rather than one chunk per month and band?
#
# <details><summary>Solution</summary>
#
# 1. 0.15 = 1500 x 0.0001 + 0: the pixels are already harmonised, so the declared offset must not be applied again
#    (0.05 would be the trap).
# 2. Training reads patches with every band and time step of a small area. With this layout one patch touches
#    one or a few chunks; with one chunk per month and band it would touch 11 x 12 chunks.
#
# </details>
#
# ## Summary
# - stackstac and odc-stac load the same items onto the same grid; we ask both for raw DNs and scale per item.
# - The BOA-offset trap is 0.1 reflectance — enough to wreck NDVI of dark surfaces; the item's property wins.
# - SCL masking was checked against the item metadata; composites were checked against the reflectance range.
# - The cube is zarr (atomic, chunked for ML) plus a COG; the size tiers put numbers on where data should live.
#
# **Next:** [03 · Explore with HoloViz](03_explore_with_holoviz.ipynb) plots the cube in the right place.
