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
# - Turn DNs into reflectance with each item's scale/offset, and avoid the Earth Search BOA-offset trap.
# - Mask clouds and shadows with the scene classification (SCL) and clip to the AOI with rioxarray.
# - Compute NDVI, NDWI, NBR and monthly median composites; write an analysis-ready zarr cube and a COG.
# - Put numbers on the size tiers: when to stream from object storage, copy to local disk, or reshape to zarr.
#
# **Prerequisites:** [01 · Discover data](01_discover_data.ipynb) (its saved items are used when present, otherwise
# the search is repeated); xarray basics.
#
# **Expected run time:** `ci` about 30-50 s, `workshop` about 1-3 min (the cube is built once), `full` 10-30 min on a
# laptop (much faster next to the data in the cloud).

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
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401
import stackstac
from dask.diagnostics import ProgressBar

import pystac

from geoml_helpers.core import resolve_project
from geoml_helpers.discover import prepare_labels
from geoml_helpers.load import ensure_project_composite, ensure_project_cube
from geoml_helpers.load import project_cube_path, project_outputs_dir
from geoml_helpers.load import search_project_items
from geoml_helpers.load import (
    DEFAULT_MASK_CLASSES,
    SCL_NAMES,
    Grid,
    apply_scaling,
    clip_to_aoi,
    compute_indices,
    load_odc,
    load_stackstac,
    mask_clouds,
    masked_fraction,
    monthly_median,
    odc_to_array,
    read_saved_items,
    scaling_table,
)

warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)

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
    print(f"{len(items)} items read from {saved}")
else:
    found = search_project_items(project, profile, data_dir, bbox=prepared.aoi_lonlat)
    items = [pystac.Item.from_dict(item) for item in found]
    print(f"{len(items)} items found with a new search of {project.stac}")
epsg = int(prepared.crs.split(":")[1])
grid = Grid(epsg, prepared.bounds, prepared.resolution)
print("target grid:", grid.crs, grid.shape, f"{grid.resolution:g} m, bounds {grid.bounds}")

# %% [markdown]
# ## 2. Two loaders, one grid
# Both are asked for raw `uint16` DNs (0 = nodata) on the same 10 m grid, so we control the scaling ourselves.
# Nothing is read yet: the arrays are lazy dask graphs.

# %%
bands = ["blue", "green", "red", "nir", "swir16", "swir22"]
with_stackstac = load_stackstac(items, grid, bands, chunksize=chunksize)
with_odc = odc_to_array(load_odc(items, grid, bands, chunks={"x": chunksize, "y": chunksize}), bands)
with_stackstac

# %%
def describe(da, name):
    return {
        "loader": name,
        "type": type(da.data).__module__.split(".")[0] + " " + type(da.data).__name__,
        "shape (t, band, y, x)": da.shape,
        "dtype": str(da.dtype),
        "CRS": str(da.rio.crs),
        "transform (a, c, e, f)": tuple(round(v, 2) for v in (da.rio.transform().a, da.rio.transform().c, da.rio.transform().e, da.rio.transform().f)),
        "chunks (t, band, y, x)": tuple(c[0] for c in da.chunks),
        "n chunks": da.data.npartitions,
        "resampling": "nearest (default of both)",
    }


comparison = pd.DataFrame([describe(with_stackstac, "stackstac"), describe(with_odc, "odc-stac")]).set_index("loader").T
comparison

# %% [markdown]
# The grids must agree with each other *and* with the item metadata (`proj:transform`, `proj:shape` of the 10 m bands):

# %%
asset = items[0].assets["red"].extra_fields
assert with_stackstac.rio.transform().almost_equals(with_odc.rio.transform())
native = tuple(asset["proj:transform"][:6]) == tuple(with_stackstac.rio.transform())[:6]
print("the project grid is the items' own 10 m grid:", native)
if project.is_demo:  # the demo's grid is the scene's; any other project's is its own
    assert native and list(asset["proj:shape"]) == list(with_stackstac.shape[2:])
sample = dict(time=slice(0, 2))
assert (with_stackstac.isel(**sample).values == with_odc.isel(**sample).values).all(), "both loaders read the same pixels"
print("grids and pixels agree")

# %% [markdown]
# **Resampling matters for the 20 m bands.** On a 10 m grid, `nearest` repeats each 20 m pixel 2 x 2; `bilinear`
# interpolates. Neither adds information; `nearest` keeps values exact (and SCL classes must always use `nearest`).

# %%
nearest = load_stackstac(items[:1], grid, ["swir16"], resampling="nearest").astype("float32")
bilinear = load_stackstac(items[:1], grid, ["swir16"], resampling="bilinear").astype("float32")
difference = float(abs(nearest - bilinear).where((nearest > 0) & (bilinear > 0)).mean())
print(f"mean |nearest - bilinear| for swir16: {difference:.1f} DN ({difference * 1e-4:.4f} reflectance)")

# %% [markdown]
# ## 3. Scale and offset, and the Earth Search BOA-offset trap
# Since processing baseline 04.00, L2A DNs carry +1000: `reflectance = DN * 0.0001 - 0.1`. Earth Search v1 removed that
# offset from the pixels of many items and marks them `earthsearch:boa_offset_applied: true` — yet still declares
# `offset: -0.1` in `raster:bands`. A loader that trusts `raster:bands` (stackstac's default `rescale=True`) makes
# every reflectance 0.1 too low. `reflectance_scaling` lets the property win.

# %%
real_stac = Path("..") / ".." / "shared" / "fixtures" / "real-stac"
real_stac = next((p for p in [real_stac, Path.cwd().parent.parent / "shared" / "fixtures" / "real-stac"] if p.is_dir()), None)
if real_stac is None:
    print("The real Earth Search fixtures (../shared/fixtures/real-stac) are not present: skipping the real-item table.")
else:
    rows = []
    for path in sorted(real_stac.glob("earth-search-v1_sentinel-2-l2a_item_*.json")):
        item = json.loads(path.read_text())
        declared = item["assets"]["red"]["raster:bands"][0]
        used = scaling_table([item], ["red"]).iloc[0]
        rows.append(
            {
                "item": item["id"],
                "baseline": item["properties"].get("s2:processing_baseline"),
                "boa_offset_applied": item["properties"].get("earthsearch:boa_offset_applied"),
                "declared offset": declared.get("offset"),
                "offset used": used["offset"],
                "why": used["source"],
            }
        )
    trap_table = pd.DataFrame(rows)
    assert (trap_table.loc[trap_table["boa_offset_applied"] == True, "offset used"] == 0).all()  # noqa: E712
    display(trap_table)

# %% [markdown]
# The demo items are *not* harmonised (`boa_offset_applied: false`), so the offset applies. To see the size of the
# error, we pretend one item were harmonised and load it both ways:

# %%
item = copy.deepcopy(items[0].to_dict())
item["properties"]["earthsearch:boa_offset_applied"] = True
import pystac

harmonised = pystac.Item.from_dict(item)
naive = stackstac.stack([harmonised], assets=["red"], epsg=grid.epsg, resolution=grid.resolution, bounds=grid.bounds, snap_bounds=False, xy_coords="center", rescale=True)
correct = apply_scaling(load_stackstac([harmonised], grid, ["red"]), [harmonised])
bias = float((correct - naive).mean())
print(f"stackstac rescale=True vs the item's own rule: {bias:.4f} reflectance")
assert abs(bias - 0.1) < 1e-4

# %% [markdown]
# ## 4. Reflectance, the SCL cloud mask and the AOI
# SCL is loaded with `nearest` onto the same grid. We drop nodata, saturated, cloud shadow, medium/high cloud and
# thin cirrus; the check: the masked share equals what the item metadata report from the same SCL.

# %%
print("masked SCL classes:", {c: SCL_NAMES[c] for c in DEFAULT_MASK_CLASSES})
reflectance = apply_scaling(with_stackstac, items)
scl = load_stackstac(items, grid, ["scl"], chunksize=chunksize).squeeze("band", drop=True)
clear = mask_clouds(reflectance, scl)
fraction = masked_fraction(scl).compute()

# %%
props = pd.DataFrame([i.properties for i in items])
nodata = props["s2:nodata_pixel_percentage"] / 100
bad = (props["eo:cloud_cover"] + props["s2:cloud_shadow_percentage"] + props["s2:saturated_defective_pixel_percentage"]) / 100
expected = nodata + (1 - nodata) * bad
check = pd.DataFrame(
    {
        "date": pd.to_datetime(fraction["time"].values).date,
        "masked (from pixels)": fraction.values,
        "expected (from metadata)": expected.values,
    }
)
if native:  # the metadata describe the whole scene: comparable on the scene's grid only
    assert np.allclose(check.iloc[:, 1], check.iloc[:, 2], atol=1e-3), check
check.round(3)

# %% [markdown]
# Clip to an AOI with rioxarray — here the region of the validation polygons (their convex hull plus 100 m), as if
# that were the area a partner cares about. Pixels outside become NaN and the array shrinks to the AOI's bounding box.

# %%
labels = prepared.labels
aoi = labels[labels["split"] == "val"].union_all().convex_hull.buffer(100)
clipped = clip_to_aoi(clear, [aoi], prepared.crs)
outside = float(clipped.isel(time=0, band=0).isnull().mean() - clear.isel(time=0, band=0).isnull().mean())
print("before:", dict(clear.sizes), "after:", dict(clipped.sizes), f"| extra NaN outside the AOI polygon: {outside:.0%}")
assert clipped.sizes["y"] * clipped.sizes["x"] <= clear.sizes["y"] * clear.sizes["x"]
cb, ab = clipped.rio.bounds(), aoi.bounds
assert cb[0] >= ab[0] - grid.resolution and cb[2] <= ab[2] + grid.resolution and cb[1] >= ab[1] - grid.resolution and cb[3] <= ab[3] + grid.resolution

# %% [markdown]
# ## 5. Indices and monthly median composites
# The median of the clear observations in each month is robust to the cloud edges SCL misses.

# %%
composites = monthly_median(clipped.drop_vars("id"))
indices = compute_indices(composites)
with ProgressBar():
    composites, indices = dask.compute(composites, indices)
valid = composites.values[np.isfinite(composites.values)]
print(f"{composites.sizes['time']} monthly composites; reflectance from {valid.min():.3f} to {valid.max():.3f}")
assert -0.1 <= valid.min() and valid.max() <= 1.0, "composites lie within the reflectance range"
assert float(np.nanmin(indices["ndvi"])) >= -1 and float(np.nanmax(indices["ndvi"])) <= 1
indices["ndvi"].mean(dim=("y", "x")).to_series().round(3).rename("mean NDVI").to_frame().T

# %% [markdown]
# ## 6. The analysis-ready cube: zarr for ML, COG for GIS
# `ensure_project_cube` runs the same steps for all 11 bands over the project's grid and writes zarr
# **atomically** (to a temporary name, then renamed) with all months and bands of a 256 x 256 tile in one chunk —
# the access pattern of patch-based training. Later notebooks call the same function, so they never depend on this
# notebook having run.

# %%
started = time.perf_counter()
cube = ensure_project_cube(
    project, profile, data_dir, rebuild=rebuild_cube, labels=prepared
)
path = project_cube_path(project, profile, data_dir)
print(f"cube ready in {time.perf_counter() - started:.1f} s at {path}")
cube

# %%
chunks = cube["reflectance"].encoding["chunks"]
print("zarr chunks (time, band, y, x):", chunks, f"= {np.prod(chunks) * 4 / 1e6:.1f} MB per chunk")
assert cube["reflectance"].rio.transform().almost_equals(grid.transform) and cube.rio.crs.to_epsg() == grid.epsg
month = composites["time"].values[0]
ours = composites.sel(time=month, band="red")
theirs = cube["reflectance"].sel(time=month, band="red").sel(y=ours["y"], x=ours["x"]).values
inside = np.isfinite(ours.values)
assert np.allclose(ours.values[inside], theirs[inside], atol=1e-6), "the cube holds the same composites"

# %%
cog = ensure_project_composite(project, profile, data_dir)
from geoml_helpers.load import is_valid_cog

valid_cog, errors = is_valid_cog(cog)
assert valid_cog, errors
print(f"annual median composite COG: {cog} ({cog.stat().st_size / 1e6:.1f} MB), valid COG: {valid_cog}")

# %% [markdown]
# ## 7. How big is this, and where should it live?
# The seed's rule of thumb: **under 10 GB** stream it from object storage (COGs + STAC, as we just did);
# **under 1 TB** copy it to local disk next to the compute; **far over 1 TB** reshape it once into zarr on object
# storage, chunked for the analysis. Measured on this dataset:

# %%
def tier(nbytes):
    return "stream from object storage" if nbytes < 10e9 else ("copy to local disk" if nbytes < 1e12 else "reshape to zarr on object storage")


wanted = {*cube["band"].values, "scl"}
hrefs = [a.href for i in items for k, a in i.assets.items() if k in wanted]
if all(h.startswith("file://") for h in hrefs):  # measured: compressed COG bytes
    asset_bytes = sum(Path(h.removeprefix("file://")).stat().st_size for h in hrefs)
else:  # remote assets: 12 uint16 bands per pixel and date, uncompressed
    asset_bytes = len(items) * grid.shape[0] * grid.shape[1] * 12 * 2
area_km2 = grid.shape[0] * grid.shape[1] * grid.resolution**2 / 1e6
per_km2_date = asset_bytes / len(items) / area_km2
zarr_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
scenarios = {
    f"this AOI, {len(items)} dates": asset_bytes,
    "one S2 tile (110 km x 110 km), 1 year (73 dates)": per_km2_date * 110 * 110 * 73,
    "Western Cape (130 000 km2), 5 years": per_km2_date * 130_000 * 73 * 5,
    "South Africa (1.22 M km2), 8 years": per_km2_date * 1.22e6 * 73 * 8,
}
sizes = pd.DataFrame({"bytes": scenarios}).assign(GB=lambda d: (d["bytes"] / 1e9).round(3), where=lambda d: d["bytes"].map(tier))
print(f"compressed COG bytes per km2 per date (11 bands + SCL): {per_km2_date / 1e3:.1f} kB; this cube as zarr: {zarr_bytes / 1e6:.1f} MB")
sizes[["GB", "where"]]

# %% [markdown]
# ## 8. Scaling out: a dask cluster on this machine
# The same lazy arrays run on a `distributed` cluster. Here it lives inside this kernel (threads, in-process
# communication) and its dashboard binds to 127.0.0.1 only; open the link to watch the task stream while it
# computes. On a real cluster only `LocalCluster(...)` changes (e.g. to a Kubernetes or Coiled cluster). We close it at the end.

# %%
from dask.distributed import Client, LocalCluster, progress

dask.config.set({"distributed.dashboard.link": "http://127.0.0.1:{port}/status"})  # the link names the address it is bound to
cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0")
client = Client(cluster)
print("dask dashboard:", client.dashboard_link)
assert client.dashboard_link.startswith("http://127.0.0.1:")
future = client.compute(cube["ndvi"].mean(dim=("y", "x")))
progress(future, notebook=False)
mean_ndvi = future.result()
assert np.allclose(mean_ndvi.values, cube["ndvi"].mean(dim=("y", "x")).compute(scheduler="threads").values, equal_nan=True)
client.close()
cluster.close()
print("\nmonthly mean NDVI:", np.round(mean_ndvi.values, 3))

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
